//! What one row of history says: a message in or out, a marker, or a count of what was lost.

/// The kind of a stored line. The numbers are the `msg.kind` column: never renumber them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Text = 0,
    Json = 1,
    Binary = 2,
    Protobuf = 3,
    Notice = 4,
    Error = 5,
    /// The link dropped or a session was lost: messages may be missing here.
    Gap = 6,
    /// The recorder could not keep up and dropped messages; the body says how many.
    HistoryGap = 7,
}

impl Kind {
    pub(crate) fn from_db(value: i64) -> Kind {
        match value {
            0 => Kind::Text,
            1 => Kind::Json,
            2 => Kind::Binary,
            3 => Kind::Protobuf,
            4 => Kind::Notice,
            6 => Kind::Gap,
            7 => Kind::HistoryGap,
            _ => Kind::Error,
        }
    }

    /// A message's data, not a line the chat wrote (a notice, an error, a gap).
    pub fn is_message(self) -> bool {
        matches!(
            self,
            Kind::Text | Kind::Json | Kind::Binary | Kind::Protobuf
        )
    }

    /// The `dataType` name of a message kind, as `listen` writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::Json => "json",
            Kind::Binary => "binary",
            Kind::Protobuf => "protobuf",
            Kind::Notice => "notice",
            Kind::Error => "error",
            Kind::Gap => "gap",
            Kind::HistoryGap => "history_gap",
        }
    }
}

impl From<crate::protocol::DataType> for Kind {
    fn from(data_type: crate::protocol::DataType) -> Self {
        use crate::protocol::DataType;
        match data_type {
            DataType::Text => Kind::Text,
            DataType::Json => Kind::Json,
            DataType::Binary => Kind::Binary,
            DataType::Protobuf => Kind::Protobuf,
        }
    }
}

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    In = 0,
    Out = 1,
}

/// Where one of our own messages got to. The numbers are the `msg.delivery` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Queued = 0,
    Pending = 1,
    Acked = 2,
    Failed = 3,
}

impl Delivery {
    pub(crate) fn from_db(value: i64) -> Delivery {
        match value {
            0 => Delivery::Queued,
            2 => Delivery::Acked,
            3 => Delivery::Failed,
            _ => Delivery::Pending,
        }
    }
}

/// One line of history as the recorder receives it. `body` is the raw payload (text and JSON
/// as their UTF-8 bytes, binary as is): it is sanitised when shown, never when stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The buffer: a group name, or `server` / `system`.
    pub group: String,
    /// Milliseconds since the epoch (UTC).
    pub ts_ms: i64,
    pub kind: Kind,
    pub dir: Dir,
    pub sender: Option<String>,
    /// The reliable session's `sequenceId`.
    pub seq: Option<u64>,
    pub delivery: Option<Delivery>,
    pub body: Vec<u8>,
}

impl Record {
    /// A received (or sent) message.
    pub fn message(group: &str, ts_ms: i64, kind: Kind, dir: Dir, body: Vec<u8>) -> Record {
        Record {
            group: group.to_string(),
            ts_ms,
            kind,
            dir,
            sender: None,
            seq: None,
            delivery: None,
            body,
        }
    }

    /// A marker line (gap, session lost, recovery) in `group`.
    pub fn marker(group: &str, ts_ms: i64, kind: Kind, text: &str) -> Record {
        Record::message(group, ts_ms, kind, Dir::In, text.as_bytes().to_vec())
    }

    /// What the record costs the queue's byte budget.
    pub(crate) fn weight(&self) -> usize {
        weight_of(&self.group, self.sender.as_deref(), self.body.len())
    }
}

/// What a record costs the queue's byte budget: its strings, and a fixed part for the rest.
pub(crate) fn weight_of(group: &str, sender: Option<&str>, body_bytes: usize) -> usize {
    body_bytes + group.len() + sender.map_or(0, str::len) + 64
}

/// A received message as [`Record`] says it, borrowed from the event that carries it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecordRef<'a> {
    pub group: &'a str,
    pub ts_ms: i64,
    pub kind: Kind,
    pub dir: Dir,
    pub sender: Option<&'a str>,
    pub seq: Option<u64>,
    pub body: &'a [u8],
}

impl RecordRef<'_> {
    pub(crate) fn weight(&self) -> usize {
        weight_of(self.group, self.sender, self.body.len())
    }

    /// The owned record, for the queue.
    pub fn to_record(&self) -> Record {
        Record {
            group: self.group.to_string(),
            ts_ms: self.ts_ms,
            kind: self.kind,
            dir: self.dir,
            sender: self.sender.map(str::to_string),
            seq: self.seq,
            delivery: None,
            body: self.body.to_vec(),
        }
    }
}

/// One connection session (a new connection id), as the `session` table keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub connection_id: String,
    pub user_id: Option<String>,
    /// The subprotocol, e.g. `json.reliable.webpubsub.azure.v1`.
    pub protocol: Option<String>,
    pub started_ms: i64,
}
