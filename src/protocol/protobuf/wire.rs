//! The protobuf subprotocols' messages as prost structs, written by hand from the field table in
//! protobuf.md (no build script, no protoc). Only the members wpchat uses are declared; prost
//! skips the others (metadata, streams, invocations, group state) when decoding.

/// Client → service: one member of the `Up` oneof per frame.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct Up {
    #[prost(oneof = "UpKind", tags = "1, 5, 6, 7, 8, 9")]
    pub kind: Option<UpKind>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub(super) enum UpKind {
    #[prost(message, tag = "1")]
    SendToGroup(SendToGroup),
    #[prost(message, tag = "5")]
    Event(Event),
    #[prost(message, tag = "6")]
    JoinGroup(GroupRequest),
    #[prost(message, tag = "7")]
    LeaveGroup(GroupRequest),
    #[prost(message, tag = "8")]
    SequenceAck(SequenceAck),
    #[prost(message, tag = "9")]
    Ping(Empty),
}

#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct SendToGroup {
    #[prost(string, tag = "1")]
    pub group: String,
    #[prost(uint64, optional, tag = "2")]
    pub ack_id: Option<u64>,
    #[prost(message, optional, tag = "3")]
    pub data: Option<MessageData>,
    #[prost(bool, optional, tag = "4")]
    pub no_echo: Option<bool>,
    /// Read only to decline a ttl above the service's limit; wpchat never sets it.
    #[prost(uint32, optional, tag = "5")]
    pub ttl_seconds: Option<u32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct Event {
    #[prost(string, tag = "1")]
    pub event: String,
    #[prost(message, optional, tag = "2")]
    pub data: Option<MessageData>,
    /// Member 3, not 2: the event's data came first in the schema.
    #[prost(uint64, optional, tag = "3")]
    pub ack_id: Option<u64>,
}

/// joinGroup and leaveGroup share one shape.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct GroupRequest {
    #[prost(string, tag = "1")]
    pub group: String,
    #[prost(uint64, optional, tag = "2")]
    pub ack_id: Option<u64>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct SequenceAck {
    #[prost(uint64, tag = "1")]
    pub sequence_id: u64,
}

/// ping and pong carry nothing.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct Empty {}

/// Service → client: one member of the `Down` oneof per frame.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct Down {
    #[prost(oneof = "DownKind", tags = "1, 2, 3, 4")]
    pub kind: Option<DownKind>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub(super) enum DownKind {
    #[prost(message, tag = "1")]
    Ack(Ack),
    #[prost(message, tag = "2")]
    Data(Data),
    #[prost(message, tag = "3")]
    System(System),
    #[prost(message, tag = "4")]
    Pong(Empty),
}

#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct Ack {
    #[prost(uint64, tag = "1")]
    pub ack_id: u64,
    #[prost(bool, tag = "2")]
    pub success: bool,
    #[prost(message, optional, tag = "3")]
    pub error: Option<AckError>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct AckError {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub message: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct Data {
    /// "group" or "server".
    #[prost(string, tag = "1")]
    pub from: String,
    #[prost(string, optional, tag = "2")]
    pub group: Option<String>,
    #[prost(message, optional, tag = "3")]
    pub data: Option<MessageData>,
    #[prost(uint64, optional, tag = "4")]
    pub sequence_id: Option<u64>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct System {
    #[prost(oneof = "SystemKind", tags = "1, 2")]
    pub kind: Option<SystemKind>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub(super) enum SystemKind {
    #[prost(message, tag = "1")]
    Connected(Connected),
    #[prost(message, tag = "2")]
    Disconnected(Disconnected),
}

#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct Connected {
    #[prost(string, tag = "1")]
    pub connection_id: String,
    #[prost(string, tag = "2")]
    pub user_id: String,
    #[prost(string, optional, tag = "3")]
    pub reconnection_token: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct Disconnected {
    /// Member 2: member 1 is not used.
    #[prost(string, tag = "2")]
    pub reason: String,
}

/// A payload: the member that is set is the data type.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct MessageData {
    #[prost(oneof = "DataKind", tags = "1, 2, 3, 4")]
    pub kind: Option<DataKind>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub(super) enum DataKind {
    #[prost(string, tag = "1")]
    Text(String),
    #[prost(bytes = "vec", tag = "2")]
    Binary(Vec<u8>),
    #[prost(message, tag = "3")]
    Protobuf(Any),
    #[prost(string, tag = "4")]
    Json(String),
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Any {
    #[prost(string, tag = "1")]
    pub type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}
