//! What a data message from the service may hold before the engine passes it on: a group name
//! the service could have accepted, and a user id of bounded length, so that a hostile or
//! broken service cannot make every reader (chat, listen, history) keep megabytes per name.

use crate::protocol::{DataMessage, MessageSource, validate_group_name};

/// Longest user id passed on; a longer one is cut, with a marker. Web PubSub's own limit on
/// names is 1024 characters, and no real service sends more.
pub(crate) const MAX_USER_ID_CHARS: usize = 1024;

/// Longest error text an `Event::Unrecognized` carries: a decoder's message may quote what
/// the service sent (a megabyte message type, say).
pub(crate) const MAX_ERROR_CHARS: usize = 512;

/// Cuts `text` to [`MAX_ERROR_CHARS`], with a marker.
pub(crate) fn cap_error(text: &mut String) {
    if let Some(shorter) = cut(text, MAX_ERROR_CHARS) {
        *text = shorter;
    }
}

/// `text` cut after `max` characters, the cut marked with `…`; None when it is short enough.
fn cut(text: &str, max: usize) -> Option<String> {
    // No more bytes than `max` means no more characters: no count for the usual short id.
    if text.len() <= max {
        return None;
    }
    let (at, _) = text.char_indices().nth(max)?;
    Some(format!("{}…", &text[..at]))
}

/// The message as readers may take it, or why it is not one: a group name no service can have
/// is refused (the message would land in a group nobody joined); a long user id is cut.
pub(crate) fn bounded(mut message: DataMessage) -> Result<DataMessage, String> {
    if let MessageSource::Group {
        group,
        from_user_id,
    } = &mut message.source
    {
        if let Err(error) = validate_group_name(group) {
            return Err(format!(
                "a message for a group no service can have: {error}"
            ));
        }
        if let Some(user) = from_user_id
            && let Some(shorter) = cut(user, MAX_USER_ID_CHARS)
        {
            *user = shorter.into();
        }
    }
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Payload;

    fn from(group: &str, user: &str) -> DataMessage {
        DataMessage {
            source: MessageSource::Group {
                group: group.into(),
                from_user_id: Some(user.into()),
            },
            sequence_id: None,
            payload: Payload::Text("hi".into()),
        }
    }

    #[test]
    fn a_huge_group_name_is_refused_and_a_huge_user_id_cut() {
        let huge = "g".repeat(1 << 20);
        let refused = bounded(from(&huge, "alice")).unwrap_err();
        assert!(refused.contains("at most 1024"), "{refused}");
        let cut = bounded(from("room", &"é".repeat(1 << 20))).unwrap();
        let MessageSource::Group { from_user_id, .. } = cut.source else {
            panic!("a group message");
        };
        let user = from_user_id.unwrap();
        assert_eq!(user.chars().count(), MAX_USER_ID_CHARS + 1);
        assert!(user.ends_with("é…"));
        assert_eq!(
            bounded(from("room", "alice")).unwrap(),
            from("room", "alice")
        );
    }
}
