//! A hand-written reader for the frame a flood is made of: a data message whose fields are plain
//! strings (no escapes) and a sequence id. serde's borrowing parse was the largest cost on the
//! engine's thread; this reads the same frames in about half its time. Whatever it is not
//! sure of (an escape, an unknown or repeated field, `null`, a number it would have to think
//! about, JSON or missing data, anything but `message`) it leaves to serde, so every answer it
//! gives is the one serde would give: the fuzz target `client_json_frame` and the tests below
//! compare the two.

/// A data message as it was in the frame: every string borrowed, none with an escape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PlainMessage<'a> {
    pub source: PlainSource<'a>,
    pub data: PlainData<'a>,
    pub sequence_id: Option<u64>,
}

/// Data that is a JSON string, by its `dataType`, with the string's content (between its
/// quotes). JSON data is left to serde.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PlainData<'a> {
    Text(&'a str),
    /// Base64.
    Binary(&'a str),
    /// Base64.
    Protobuf(&'a str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum PlainSource<'a> {
    Group {
        group: &'a str,
        from_user_id: Option<&'a str>,
    },
    Server,
}

/// The fields as read, each at most once.
#[derive(Default)]
struct Fields<'a> {
    kind: Option<&'a str>,
    from: Option<&'a str>,
    group: Option<&'a str>,
    from_user_id: Option<&'a str>,
    data_type: Option<&'a str>,
    data: Option<&'a str>,
    sequence_id: Option<u64>,
}

/// The frame as a plain data message, or None to leave it to serde.
pub(super) fn plain_data_message(frame: &str) -> Option<PlainMessage<'_>> {
    let fields = read_object(frame)?;
    if fields.kind? != "message" {
        return None;
    }
    let content = fields.data?;
    let data = match fields.data_type? {
        "text" => PlainData::Text(content),
        "binary" => PlainData::Binary(content),
        "protobuf" => PlainData::Protobuf(content),
        _ => return None,
    };
    let source = match fields.from? {
        "group" => PlainSource::Group {
            group: fields.group?,
            from_user_id: fields.from_user_id,
        },
        "server" => PlainSource::Server,
        _ => return None,
    };
    Some(PlainMessage {
        source,
        data,
        sequence_id: fields.sequence_id,
    })
}

/// One JSON object of known fields, with nothing after it but whitespace.
fn read_object(frame: &str) -> Option<Fields<'_>> {
    let mut reader = Reader { text: frame, at: 0 };
    let mut fields = Fields::default();
    reader.skip_whitespace();
    reader.expect(b'{')?;
    loop {
        reader.skip_whitespace();
        let key = reader.known_key()?;
        reader.skip_whitespace();
        reader.expect(b':')?;
        reader.skip_whitespace();
        let slot = match key {
            Key::SequenceId => {
                once(&mut fields.sequence_id, reader.plain_integer()?)?;
                reader.skip_whitespace();
                if reader.next_field()? {
                    continue;
                }
                break;
            }
            Key::Type => &mut fields.kind,
            Key::From => &mut fields.from,
            Key::Group => &mut fields.group,
            Key::FromUserId => &mut fields.from_user_id,
            Key::DataType => &mut fields.data_type,
            Key::Data => &mut fields.data,
        };
        once(slot, reader.plain_string()?)?;
        reader.skip_whitespace();
        if !reader.next_field()? {
            break;
        }
    }
    reader.skip_whitespace();
    (reader.at == frame.len()).then_some(fields)
}

/// The fields a data message has.
#[derive(Clone, Copy)]
enum Key {
    Type,
    From,
    Group,
    FromUserId,
    DataType,
    Data,
    SequenceId,
}

impl Key {
    /// The key `rest` starts with, as written with its closing quote (so that a longer name
    /// that starts the same way does not match), and the length of that.
    fn at_start_of(rest: &[u8]) -> Option<(Key, usize)> {
        // Each comparison has a fixed length, so it compiles to a few integer compares rather
        // than a call to memcmp.
        fn written<const N: usize>(
            key: Key,
            rest: &[u8],
            written: &[u8; N],
        ) -> Option<(Key, usize)> {
            (rest.get(..N)? == written).then_some((key, N))
        }
        match (rest.first()?, rest.get(4)) {
            (b't', _) => written(Key::Type, rest, b"type\""),
            (b'f', Some(b'"')) => written(Key::From, rest, b"from\""),
            (b'f', _) => written(Key::FromUserId, rest, b"fromUserId\""),
            (b'g', _) => written(Key::Group, rest, b"group\""),
            (b'd', Some(b'"')) => written(Key::Data, rest, b"data\""),
            (b'd', _) => written(Key::DataType, rest, b"dataType\""),
            (b's', _) => written(Key::SequenceId, rest, b"sequenceId\""),
            _ => None,
        }
    }
}

/// Fills an empty slot; None for a field seen twice, which serde refuses.
fn once<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    slot.replace(value).is_none().then_some(())
}

struct Reader<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    /// JSON's whitespace, exactly: space, tab, line feed, carriage return.
    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// After a value: true for `,` (another field follows), false for `}`.
    fn next_field(&mut self) -> Option<bool> {
        let more = match self.peek()? {
            b',' => true,
            b'}' => false,
            _ => return None,
        };
        self.at += 1;
        Some(more)
    }

    /// One of the keys of a data message, matched as written (a key with an escape is left to
    /// serde like any unknown one).
    fn known_key(&mut self) -> Option<Key> {
        self.expect(b'"')?;
        let (key, written) = Key::at_start_of(&self.text.as_bytes()[self.at..])?;
        self.at += written;
        Some(key)
    }

    /// A string with no escape and no control character (which JSON forbids raw), as its
    /// content; None for anything else.
    fn plain_string(&mut self) -> Option<&'a str> {
        self.expect(b'"')?;
        let start = self.at;
        let end = start + first_special_byte(&self.text.as_bytes()[start..])?;
        if self.text.as_bytes()[end] != b'"' {
            return None;
        }
        self.at = end + 1;
        // Both ends are at an ASCII quote, so on character boundaries.
        self.text.get(start..end)
    }

    /// A non-negative integer serde would read as a u64: `0`, or up to 19 digits with no
    /// leading zero (always in range). Signs and longer numbers are left to serde, and so are
    /// fractions and exponents, since what follows a value must be `,` or `}`.
    fn plain_integer(&mut self) -> Option<u64> {
        let digits = self.text.as_bytes()[self.at..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let text = &self.text.as_bytes()[self.at..self.at + digits];
        if digits == 0 || digits > 19 || (digits > 1 && text[0] == b'0') {
            return None;
        }
        self.at += digits;
        // 19 digits cannot overflow a u64.
        Some(text.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0')))
    }
}

/// The index of the first `"`, `\` or control character in `bytes`, eight bytes at a time.
/// `bytes` runs to the end of the frame, so a short name is found in one step.
fn first_special_byte(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // The high bit of each byte of `x` that is zero; bits above the lowest may be wrong (a
    // borrow), so only the lowest is used.
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let mut words = bytes.chunks_exact(8);
    let mut offset = 0;
    for word in words.by_ref() {
        let word = u64::from_le_bytes(word.try_into().unwrap_or_default());
        let hits = zero(word ^ (ONES * u64::from(b'"')))
            | zero(word ^ (ONES * u64::from(b'\\')))
            | (word.wrapping_sub(ONES * 0x20) & !word & HIGHS);
        if hits != 0 {
            return Some(offset + hits.trailing_zeros() as usize / 8);
        }
        offset += 8;
    }
    let special = |b: &u8| *b == b'"' || *b == b'\\' || *b < 0x20;
    words
        .remainder()
        .iter()
        .position(special)
        .map(|at| offset + at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_frame_is_read_with_every_field() {
        let frame = r#"{"sequenceId":42,"type":"message","from":"group","group":"flood","fromUserId":"bot","dataType":"text","data":"hello, world"}"#;
        assert_eq!(
            plain_data_message(frame),
            Some(PlainMessage {
                source: PlainSource::Group {
                    group: "flood",
                    from_user_id: Some("bot"),
                },
                data: PlainData::Text("hello, world"),
                sequence_id: Some(42),
            })
        );
        let spaced = " {\n\"type\" : \"message\" ,\t\"from\":\"server\",\"dataType\":\"binary\",\"data\":\"AAE=\"\r} ";
        assert_eq!(
            plain_data_message(spaced).map(|m| (m.source, m.data)),
            Some((PlainSource::Server, PlainData::Binary("AAE=")))
        );
    }

    #[test]
    fn what_it_is_not_sure_of_is_left_to_serde() {
        let base = r#""type":"message","from":"group","group":"g","dataType":"text","data":"x""#;
        let left = [
            format!(r#"{{{base},"data":"y"}}"#),
            format!(r#"{{{base},"other":1}}"#),
            format!(r#"{{{base},"sequenceId":01}}"#),
            format!(r#"{{{base},"sequenceId":1.0}}"#),
            format!(r#"{{{base},"sequenceId":-1}}"#),
            format!(r#"{{{base},"sequenceId":18446744073709551615}}"#),
            format!(r#"{{{base},"fromUserId":null}}"#),
            format!(r#"{{{base},}}"#),
            format!(r#"{{{base}}} x"#),
            format!(r#"[{base}]"#),
            r#"{"type":"message","from":"group","group":"g","dataType":"text","data":"a\"b"}"#
                .to_string(),
            "{\"type\":\"message\",\"from\":\"group\",\"group\":\"g\",\"dataType\":\"text\",\"data\":\"a\tb\"}".to_string(),
            r#"{"type":"message","from":"group","group":"g","dataType":"json","data":"x"}"#
                .to_string(),
            r#"{"type":"message","from":"group","group":"g","data":"x"}"#.to_string(),
            r#"{"type":"message","from":"group","dataType":"text","data":"x"}"#.to_string(),
            r#"{"type":"ack","from":"group","group":"g","dataType":"text","data":"x"}"#
                .to_string(),
            r#"{"type":"message","from":"nowhere","group":"g","dataType":"text","data":"x"}"#
                .to_string(),
        ];
        for frame in &left {
            assert_eq!(plain_data_message(frame), None, "{frame}");
        }
        assert!(plain_data_message(&format!("{{{base}}}")).is_some());
        assert_eq!(
            plain_data_message(&format!(r#"{{{base},"sequenceId":9999999999999999999}}"#))
                .and_then(|m| m.sequence_id),
            Some(9_999_999_999_999_999_999)
        );
    }

    #[test]
    fn the_first_special_byte_is_found_wherever_it_is() {
        for len in 0..40 {
            for at in 0..len {
                for special in [b'"', b'\\', 0x00, 0x1f] {
                    // Bytes around the hit that a word-at-a-time test could confuse.
                    let mut bytes = vec![0x20u8; len];
                    bytes.iter_mut().skip(at + 1).for_each(|b| *b = 0x21);
                    bytes[at] = special;
                    assert_eq!(first_special_byte(&bytes), Some(at), "{len} {at} {special}");
                }
            }
            assert_eq!(first_special_byte(&vec![0xffu8; len]), None);
            assert_eq!(first_special_byte(&vec![b'a'; len]), None);
        }
    }
}
