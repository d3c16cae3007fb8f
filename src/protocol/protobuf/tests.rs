//! Round trips of every message in both directions, the wire facts of protobuf.md that a
//! round trip cannot see (field numbers, presence, empty members), and decoders that never
//! panic on arbitrary bytes.

use super::*;

fn json(text: &str) -> Payload {
    Payload::json(text).unwrap()
}

fn every_payload() -> Vec<Payload> {
    vec![
        Payload::Text("héllo".into()),
        Payload::Text(String::new()),
        json(r#"{"a":[1,2,{"b":null}]}"#),
        json("\"just a string\""),
        Payload::Binary(vec![0, 1, 2, 255]),
        Payload::Binary(Vec::new()),
        pack_any("type.googleapis.com/chat.Note", &[8, 150, 1]),
    ]
}

fn every_client_message() -> Vec<ClientMessage> {
    let mut messages = vec![
        ClientMessage::JoinGroup {
            group: "room".into(),
            ack_id: Some(0),
        },
        ClientMessage::JoinGroup {
            group: "room".into(),
            ack_id: None,
        },
        ClientMessage::LeaveGroup {
            group: "röom 2".into(),
            ack_id: Some(u64::MAX),
        },
        ClientMessage::SequenceAck { sequence_id: 0 },
        ClientMessage::SequenceAck {
            sequence_id: u64::MAX,
        },
        ClientMessage::Ping,
    ];
    for (n, data) in every_payload().into_iter().enumerate() {
        messages.push(ClientMessage::SendToGroup {
            group: "room".into(),
            ack_id: Some(n as u64),
            no_echo: n % 2 == 0,
            data: data.clone(),
        });
        messages.push(ClientMessage::Event {
            event: "chat.note".into(),
            ack_id: (n % 2 == 1).then_some(n as u64),
            data,
        });
    }
    messages
}

fn every_service_message() -> Vec<ServiceMessage> {
    let mut messages = vec![
        ServiceMessage::Ack {
            ack_id: 0,
            success: true,
            error: None,
        },
        ServiceMessage::Ack {
            ack_id: u64::MAX,
            success: false,
            error: Some(AckError {
                name: AckErrorName::Forbidden,
                message: "no role".into(),
            }),
        },
        ServiceMessage::Ack {
            ack_id: 7,
            success: false,
            error: Some(AckError {
                name: AckErrorName::Other("NewError".into()),
                message: String::new(),
            }),
        },
        ServiceMessage::Connected {
            connection_id: "c1".into(),
            user_id: Some("alice".into()),
            reconnection_token: Some("r".into()),
        },
        ServiceMessage::Connected {
            connection_id: "c2".into(),
            user_id: None,
            reconnection_token: None,
        },
        ServiceMessage::Disconnected {
            message: Some("bye".into()),
        },
        ServiceMessage::Disconnected { message: None },
        ServiceMessage::Pong,
    ];
    for (n, payload) in every_payload().into_iter().enumerate() {
        messages.push(ServiceMessage::Message(DataMessage {
            source: MessageSource::Group {
                group: "room".into(),
                from_user_id: None,
            },
            sequence_id: (n % 2 == 0).then_some(n as u64 + 1),
            payload: payload.clone(),
        }));
        messages.push(ServiceMessage::Message(DataMessage {
            source: MessageSource::Server,
            sequence_id: None,
            payload,
        }));
    }
    messages
}

#[test]
fn every_client_message_round_trips() {
    for message in every_client_message() {
        let frame = encode_client(&message);
        assert_eq!(decode_client(&frame), Ok(message.clone()), "{frame:?}");
    }
}

#[test]
fn every_service_message_round_trips() {
    for message in every_service_message() {
        let frame = encode_service(&message);
        assert_eq!(decode_service(&frame), Ok(message.clone()), "{frame:?}");
    }
}

#[test]
fn field_numbers_match_the_table() {
    // Up.joinGroup (6) {group "g" (1), ackId 0 (2, present)}.
    let join = encode_client(&ClientMessage::JoinGroup {
        group: "g".into(),
        ack_id: Some(0),
    });
    assert_eq!(join, [0x32, 5, 0x0a, 1, b'g', 0x10, 0]);
    // Up.event (5) {event "e" (1), data (2) {text "" (1)}, ackId 1 (3)}.
    let event = encode_client(&ClientMessage::Event {
        event: "e".into(),
        ack_id: Some(1),
        data: Payload::Text(String::new()),
    });
    assert_eq!(event, [0x2a, 9, 0x0a, 1, b'e', 0x12, 2, 0x0a, 0, 0x18, 1]);
    // Up.ping (9) {}.
    assert_eq!(encode_client(&ClientMessage::Ping), [0x4a, 0]);
    // Down.system (3) {disconnected (2) {reason "x" (2)}}.
    let disconnected = encode_service(&ServiceMessage::Disconnected {
        message: Some("x".into()),
    });
    assert_eq!(disconnected, [0x1a, 5, 0x12, 3, 0x12, 1, b'x']);
}

#[test]
fn json_travels_as_member_4_and_binary_as_member_2() {
    let send = |data| {
        encode_client(&ClientMessage::SendToGroup {
            group: "g".into(),
            ack_id: None,
            no_echo: false,
            data,
        })
    };
    // ... data (3) {json (4) "1"}
    let frame = send(json("1"));
    assert!(
        frame.windows(5).any(|w| w == [0x1a, 3, 0x22, 1, b'1']),
        "{frame:?}"
    );
    let frame = send(Payload::Binary(vec![9]));
    assert!(
        frame.windows(5).any(|w| w == [0x1a, 3, 0x12, 1, 9]),
        "{frame:?}"
    );
}

#[test]
fn protobuf_data_has_no_sender_and_an_empty_user_id_is_anonymous() {
    let from_alice = ServiceMessage::Message(DataMessage {
        source: MessageSource::Group {
            group: "room".into(),
            from_user_id: Some("alice".into()),
        },
        sequence_id: None,
        payload: Payload::Text("hi".into()),
    });
    let Ok(ServiceMessage::Message(decoded)) = decode_service(&encode_service(&from_alice)) else {
        panic!("a data message");
    };
    assert_eq!(
        decoded.source,
        MessageSource::Group {
            group: "room".into(),
            from_user_id: None
        }
    );
    let anonymous = wire::Down {
        kind: Some(system(SystemKind::Connected(wire::Connected {
            connection_id: "c".into(),
            user_id: String::new(),
            reconnection_token: None,
        }))),
    }
    .encode_to_vec();
    assert!(matches!(
        decode_service(&anonymous),
        Ok(ServiceMessage::Connected { user_id: None, .. })
    ));
}

#[test]
fn unknown_and_reserved_members_are_declined_by_the_service_and_kept_by_the_client() {
    // Up member 10 (invoke) with an empty body, and an empty Up.
    for frame in [&[0x52, 0][..], &[][..]] {
        let error = decode_client(frame).unwrap_err();
        assert!(
            error.to_string().contains("no member wpchat knows"),
            "{error}"
        );
    }
    // Down member 5 (invokeResponse).
    assert!(matches!(
        decode_service(&[0x2a, 0]),
        Ok(ServiceMessage::Unknown { .. })
    ));
    // Unknown fields inside a known message are skipped: Up.ping {field 15: varint 1}.
    assert_eq!(decode_client(&[0x4a, 2, 0x78, 1]), Ok(ClientMessage::Ping));
}

#[test]
fn bad_payloads_and_names_say_what_is_wrong() {
    let no_member = wire::Up {
        kind: Some(UpKind::SendToGroup(wire::SendToGroup {
            group: "g".into(),
            ack_id: Some(1),
            data: Some(wire::MessageData { kind: None }),
            no_echo: None,
            ttl_seconds: None,
        })),
    }
    .encode_to_vec();
    assert_eq!(
        decode_client(&no_member).unwrap_err().to_string(),
        "invalid payload: 'data' is missing"
    );
    let bad_json = wire::Up {
        kind: Some(UpKind::Event(wire::Event {
            event: "e".into(),
            data: Some(wire::MessageData {
                kind: Some(DataKind::Json("{not json".into())),
            }),
            ack_id: None,
        })),
    }
    .encode_to_vec();
    let error = decode_client(&bad_json).unwrap_err().to_string();
    assert!(
        error.starts_with("invalid payload: not valid JSON"),
        "{error}"
    );
    let empty_group = encode_client(&ClientMessage::JoinGroup {
        group: String::new(),
        ack_id: None,
    });
    assert_eq!(
        decode_client(&empty_group).unwrap_err().to_string(),
        "invalid group name: the name is empty"
    );
    let error = decode_client(&[0xff, 0xff]).unwrap_err().to_string();
    assert!(
        error.starts_with("frame is not a valid protobuf message"),
        "{error}"
    );
}

#[test]
fn an_any_packs_and_unpacks() {
    let Payload::Protobuf(bytes) = pack_any("type.googleapis.com/x.Y", b"\x08\x01") else {
        panic!("a protobuf payload");
    };
    assert_eq!(
        unpack_any(&bytes),
        Some(("type.googleapis.com/x.Y".to_string(), b"\x08\x01".to_vec()))
    );
    assert_eq!(unpack_any(&[0xff]), None);
}

proptest::proptest! {
    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
        let _ = decode_client(&bytes);
        let _ = decode_service(&bytes);
        let _ = unpack_any(&bytes);
    }

    #[test]
    fn text_sends_round_trip(group in "[a-z]{1,20}", text in "\\PC{0,64}", ack in proptest::option::of(proptest::num::u64::ANY)) {
        let message = ClientMessage::SendToGroup { group, ack_id: ack, no_echo: false, data: Payload::Text(text) };
        proptest::prop_assert_eq!(decode_client(&encode_client(&message)), Ok(message));
    }
}

#[test]
fn a_ttl_above_300_seconds_is_declined() {
    let send = |ttl| {
        wire::Up {
            kind: Some(UpKind::SendToGroup(wire::SendToGroup {
                group: "g".into(),
                ack_id: None,
                data: Some(to_wire(&Payload::Text("x".into()))),
                no_echo: None,
                ttl_seconds: Some(ttl),
            })),
        }
        .encode_to_vec()
    };
    assert!(decode_client(&send(300)).is_ok());
    let error = decode_client(&send(301)).unwrap_err().to_string();
    assert!(error.contains("ttlSeconds is 301; at most 300"), "{error}");
}

#[test]
fn a_group_frame_with_a_sequence_id_is_the_whole_message_encoded() {
    let source = MessageSource::Group {
        group: "room".into(),
        from_user_id: Some("alice".into()),
    };
    for payload in every_payload() {
        let frame = GroupFrame::new(&source, &payload);
        for sequence_id in [None, Some(0), Some(1), Some(300), Some(u64::MAX)] {
            let bytes = match sequence_id {
                Some(id) => frame.with_sequence(id),
                None => frame.frame(),
            };
            let expected = ServiceMessage::Message(DataMessage {
                // The sender is not on the protobuf wire.
                source: MessageSource::Group {
                    group: "room".into(),
                    from_user_id: None,
                },
                sequence_id,
                payload: payload.clone(),
            });
            assert_eq!(bytes, encode_service(&expected));
            assert_eq!(decode_service(&bytes), Ok(expected));
        }
    }
}

#[test]
fn a_reserved_member_is_declined_even_next_to_a_known_one() {
    // Up.ping, then Up member 10 (invoke) with an empty message.
    let error = decode_client(&[0x4a, 0, 0x52, 0]).unwrap_err().to_string();
    assert!(error.contains("Up member 10"), "{error}");
    // Member 17 alone is declined too; member 18 is not reserved: skipped like any unknown.
    assert!(decode_client(&[0x8a, 0x01, 0]).is_err());
    assert_eq!(
        decode_client(&[0x4a, 0, 0x92, 0x01, 0]),
        Ok(ClientMessage::Ping)
    );
}
