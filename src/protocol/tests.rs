//! Round trips of every example frame in protocol.md §4, and tolerance of odd input.

use super::*;

fn json_eq(a: &str, b: &str) {
    let a: serde_json::Value = serde_json::from_str(a).unwrap();
    let b: serde_json::Value = serde_json::from_str(b).unwrap();
    assert_eq!(a, b);
}

const CLIENT_EXAMPLES: &[&str] = &[
    r#"{"type":"joinGroup","group":"room1","ackId":1}"#,
    r#"{"type":"leaveGroup","group":"room1","ackId":2}"#,
    r#"{"type":"sendToGroup","group":"room1","ackId":3,"noEcho":false,"dataType":"text","data":"hi"}"#,
    r#"{"type":"sendToGroup","group":"room1","noEcho":false,"dataType":"json","data":{"hello":"world"}}"#,
    r#"{"type":"sendToGroup","group":"room1","ackId":4,"noEcho":false,"dataType":"binary","data":"AAEC"}"#,
    r#"{"type":"event","event":"chat","ackId":5,"dataType":"json","data":{"text":"hi"}}"#,
    r#"{"type":"sequenceAck","sequenceId":42}"#,
    r#"{"type":"ping"}"#,
];

#[test]
fn client_examples_round_trip() {
    for example in CLIENT_EXAMPLES {
        let message = decode_client(example).unwrap_or_else(|e| panic!("{example}: {e}"));
        let encoded = encode_client(&message);
        json_eq(&encoded, example);
        assert_eq!(decode_client(&encoded).unwrap(), message);
    }
}

#[test]
fn client_decoding_fills_defaults() {
    // Omitted dataType is json; omitted noEcho is false.
    let m = decode_client(r#"{"type":"sendToGroup","group":"g","data":"x"}"#).unwrap();
    assert_eq!(
        m,
        ClientMessage::SendToGroup {
            group: "g".into(),
            ack_id: None,
            no_echo: false,
            data: Payload::json("\"x\"").unwrap()
        }
    );
    // The docs show sequenceId as a string.
    let m = decode_client(r#"{"type":"sequenceAck","sequenceId":"7"}"#).unwrap();
    assert_eq!(m, ClientMessage::SequenceAck { sequence_id: 7 });
}

#[test]
fn client_decoding_rejects_bad_requests() {
    let long = "g".repeat(1025);
    let cases = [
        r#"{"type":"nope"}"#.to_string(),
        "not json".to_string(),
        r#"{"type":"joinGroup"}"#.to_string(),
        r#"{"type":"joinGroup","group":"   "}"#.to_string(),
        format!(r#"{{"type":"joinGroup","group":"{long}"}}"#),
        r#"{"type":"sendToGroup","group":"g","dataType":"binary","data":"***"}"#.to_string(),
        r#"{"type":"sendToGroup","group":"g","dataType":"text","data":5}"#.to_string(),
        r#"{"type":"sendToGroup","group":"g","dataType":"json","data":null}"#.to_string(),
        r#"{"type":"sendToGroup","group":"g","dataType":"protobuf","data":"AA=="}"#.to_string(),
        r#"{"type":"event","event":"1bad","data":"x"}"#.to_string(),
        r#"{"type":"joinGroup","group":"g","ackId":-1}"#.to_string(),
        r#"{"type":"joinGroup","group":"g","ackId":99999999999999999999999}"#.to_string(),
    ];
    for case in &cases {
        assert!(decode_client(case).is_err(), "accepted: {case}");
    }
    assert_eq!(
        decode_client(r#"{"type":"nope"}"#),
        Err(DecodeError::UnknownType("nope".into()))
    );
}

const SERVICE_EXAMPLES: &[&str] = &[
    r#"{"type":"ack","ackId":1,"success":true}"#,
    r#"{"type":"ack","ackId":3,"success":false,"error":{"name":"Forbidden","message":"The client does not have permission to send to group 'room1'."}}"#,
    r#"{"type":"ack","ackId":3,"success":false,"error":{"name":"Duplicate","message":"Message with ack-id: 3 has been processed"}}"#,
    r#"{"type":"message","from":"group","group":"room1","fromUserId":"alice","dataType":"text","data":"hi"}"#,
    r#"{"sequenceId":7,"type":"message","from":"group","group":"room1","fromUserId":"alice","dataType":"json","data":{"hello":"world"}}"#,
    r#"{"type":"message","from":"server","dataType":"binary","data":"AAEC/w=="}"#,
    r#"{"sequenceId":8,"type":"message","from":"server","dataType":"text","data":"Hello World"}"#,
    r#"{"type":"system","event":"connected","userId":"alice","connectionId":"abcdefghijklmnop","reconnectionToken":"opaque"}"#,
    r#"{"type":"system","event":"connected","userId":null,"connectionId":"abc"}"#,
    r#"{"type":"system","event":"disconnected","message":"reason"}"#,
    r#"{"type":"pong"}"#,
];

#[test]
fn service_examples_round_trip() {
    for example in SERVICE_EXAMPLES {
        let message = decode_service(example).unwrap_or_else(|e| panic!("{example}: {e}"));
        let encoded = encode_service(&message);
        json_eq(&encoded, example);
        assert_eq!(decode_service(&encoded).unwrap(), message);
    }
}

#[test]
fn service_decoding_tolerates_the_unknown() {
    assert_eq!(
        // invokeResponse is known now; streaming is not.
        decode_service(r#"{"type":"streamAck","streamId":"1"}"#).unwrap(),
        ServiceMessage::Unknown {
            kind: "streamAck".into()
        }
    );
    assert_eq!(
        decode_service(r#"{"type":"system","event":"somethingNew"}"#).unwrap(),
        ServiceMessage::Unknown {
            kind: "system/somethingNew".into()
        }
    );
    let ack = decode_service(
        r#"{"type":"ack","ackId":9,"success":false,"error":{"name":"Brand new","message":"m"},"extra":[1]}"#,
    )
    .unwrap();
    let ServiceMessage::Ack {
        error: Some(error), ..
    } = ack
    else {
        panic!("{ack:?}")
    };
    assert_eq!(error.name, AckErrorName::Other("Brand new".into()));
    // fromUserId absent and null both mean an anonymous sender.
    for frame in [
        r#"{"type":"message","from":"group","group":"g","dataType":"text","data":"x"}"#,
        r#"{"type":"message","from":"group","group":"g","fromUserId":null,"dataType":"text","data":"x"}"#,
    ] {
        let ServiceMessage::Message(m) = decode_service(frame).unwrap() else {
            panic!()
        };
        assert_eq!(
            m.source,
            MessageSource::Group {
                group: "g".into(),
                from_user_id: None
            }
        );
    }
    let ServiceMessage::Message(m) =
        decode_service(r#"{"type":"message","from":"server","dataType":"protobuf","data":"CgI="}"#)
            .unwrap()
    else {
        panic!()
    };
    assert_eq!(m.payload, Payload::Protobuf(vec![0x0a, 0x02]));
}

#[test]
fn group_frame_shares_the_body() {
    let frame = GroupFrame::new(
        &MessageSource::Group {
            group: "g".into(),
            from_user_id: Some("bob".into()),
        },
        &Payload::Binary(vec![0, 159, 255]),
    );
    let ServiceMessage::Message(plain) = decode_service(frame.text()).unwrap() else {
        panic!()
    };
    assert_eq!(plain.sequence_id, None);
    let ServiceMessage::Message(seq) = decode_service(&frame.with_sequence(42)).unwrap() else {
        panic!()
    };
    assert_eq!(seq.sequence_id, Some(42));
    assert_eq!(seq.payload, Payload::Binary(vec![0, 159, 255]));
}

#[test]
fn names_are_validated() {
    assert!(validate_group_name("lobby").is_ok());
    assert!(validate_group_name(&"é".repeat(1024)).is_ok());
    assert_eq!(
        validate_group_name(&"g".repeat(1025)),
        Err(NameError::TooLong(1025))
    );
    assert_eq!(validate_group_name(" \t"), Err(NameError::Whitespace));
    assert_eq!(validate_group_name(""), Err(NameError::Empty));
    assert!(validate_event_name("chat.login-2_x").is_ok());
    assert!(validate_event_name("2chat").is_err());
    assert!(validate_event_name(&format!("a{}", "b".repeat(128))).is_err());
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// One of `usual` four times in five, else one of `odd`.
    fn mostly(usual: &[&'static str], odd: &[&'static str]) -> impl Strategy<Value = &'static str> {
        prop_oneof![
            4 => prop::sample::select(usual.to_vec()),
            1 => prop::sample::select(odd.to_vec()),
        ]
    }

    proptest! {
        #[test]
        fn decoders_never_panic(frame in "\\PC*") {
            let _ = decode_service(&frame);
            let _ = decode_client(&frame);
        }

        #[test]
        fn decoders_never_panic_on_near_frames(
            kind in prop::sample::select(vec!["ack", "message", "system", "pong", "joinGroup", "sendToGroup", "sequenceAck", "event"]),
            field in prop::sample::select(vec!["ackId", "data", "dataType", "group", "from", "sequenceId", "event", "success", "error"]),
            value in prop::sample::select(vec!["null", "1e400", "-1", "18446744073709551616", "\"x\"", "[]", "{}", "true", "\"AA==\""]),
        ) {
            let frame = format!(r#"{{"type":"{kind}","{field}":{value}}}"#);
            let _ = decode_service(&frame);
            let _ = decode_client(&frame);
        }

        #[test]
        fn text_round_trips(group in "\\PC{1,40}", user in "\\PC{0,20}", text in "\\PC*", seq in 1u64..) {
            prop_assume!(validate_group_name(&group).is_ok());
            let source = MessageSource::Group { group: group.into(), from_user_id: Some(user.into()) };
            let payload = Payload::Text(text);
            let frame = GroupFrame::new(&source, &payload).with_sequence(seq);
            let decoded = decode_service(&frame).unwrap();
            prop_assert_eq!(decoded, ServiceMessage::Message(DataMessage { source, sequence_id: Some(seq), payload }));
        }

        #[test]
        fn binary_round_trips(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let message = ClientMessage::SendToGroup { group: "g".into(), ack_id: Some(1), no_echo: true, data: Payload::Binary(bytes) };
            prop_assert_eq!(decode_client(&encode_client(&message)).unwrap(), message);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        /// Frames near a flood's, field by field and in any order: the hand-written reader of
        /// plain data messages must answer exactly as serde does, or leave the frame to it.
        #[test]
        fn the_plain_message_reader_agrees_with_serde(
            kind in mostly(&[r#""message""#], &[r#""ack""#, "null"]),
            from in mostly(&[r#""group""#, r#""server""#], &[r#""x""#, "null", "1"]),
            group in mostly(&[r#""g""#, r#""""#, r#"" ""#], &[r#""a\"b""#, "null"]),
            user in mostly(&[r#""u""#], &[r#""\u00e9""#, "null", "[]"]),
            data_type in mostly(&[r#""text""#, r#""binary""#, r#""protobuf""#], &[r#""json""#, r#""x""#, "null"]),
            data in mostly(&[r#""hello""#, r#""AAE=""#, r#""""#], &[r#""!!""#, r#""a\nb""#, "{}", "null", "5"]),
            seq in mostly(&["0", "42", "9999999999999999999"], &["01", "-1", "1.0", "1e2", "18446744073709551615", "18446744073709551616", "null"]),
            present in prop::array::uniform7(prop::bool::weighted(0.97)),
            with_extra in prop::bool::weighted(0.1),
            extra in prop::sample::select(vec![r#""data":"x""#, r#""other":1"#, r#""sequenceId":7"#, r#""type":"message""#]),
            order in Just((0..8).collect::<Vec<usize>>()).prop_shuffle(),
            space in prop::sample::select(vec!["", " ", "\n\t "]),
        ) {
            let fields = [
                format!(r#""type":{kind}"#),
                format!(r#""from":{from}"#),
                format!(r#""group":{group}"#),
                format!(r#""fromUserId":{user}"#),
                format!(r#""dataType":{data_type}"#),
                format!(r#""data":{data}"#),
                format!(r#""sequenceId":{seq}"#),
                extra.to_string(),
            ];
            let body: Vec<&str> = order.iter().filter(|&&i| present.get(i).copied().unwrap_or(with_extra)).map(|&i| fields[i].as_str()).collect();
            let frame = format!("{space}{{{space}{}{space}}}{space}", body.join(&format!("{space},{space}")));
            prop_assert_eq!(decode_service(&frame), decode_service_by_serde(&frame), "{}", frame);
        }
    }
}

#[test]
fn text_payloads_with_and_without_escapes() {
    for (frame, text) in [
        (
            r#"{"type":"message","from":"server","dataType":"text","data":"plain é"}"#,
            "plain é",
        ),
        (
            r#"{"type":"message","from":"server","dataType":"text","data" : "a\"b\\c\n\u0041" }"#,
            "a\"b\\c\nA",
        ),
        (
            r#"{"type":"message","from":"server","dataType":"text","data":""}"#,
            "",
        ),
    ] {
        let ServiceMessage::Message(m) = decode_service(frame).unwrap() else {
            panic!("{frame}")
        };
        assert_eq!(m.payload, Payload::Text(text.to_string()), "{frame}");
    }
    assert!(
        decode_service(r#"{"type":"message","from":"server","dataType":"text","data":5}"#).is_err()
    );
}

#[test]
fn subprotocol_names_compare_without_regard_to_case() {
    for protocol in [
        Subprotocol::Json,
        Subprotocol::JsonReliable,
        Subprotocol::Protobuf,
        Subprotocol::ProtobufReliable,
    ] {
        assert_eq!(
            Subprotocol::from_name(&protocol.name().to_uppercase()),
            Some(protocol)
        );
        assert_eq!(
            Subprotocol::from_short_name(&format!(" {} ", protocol.short_name())),
            Some(protocol)
        );
    }
    assert_eq!(Subprotocol::from_name("protobuf.webpubsub.azure.v2"), None);
    assert!(Subprotocol::ProtobufReliable.is_reliable() && !Subprotocol::Protobuf.is_reliable());
    let ping = Subprotocol::Protobuf.encode_client(&ClientMessage::Ping);
    assert_eq!(ping, Frame::Binary(vec![0x4a, 0]));
    assert_eq!(
        Subprotocol::Json.encode_client(&ClientMessage::Ping),
        Frame::Text(r#"{"type":"ping"}"#.into())
    );
}

#[test]
fn a_client_writes_json_compactly_on_protobuf_and_as_given_on_json() {
    let message = ClientMessage::SendToGroup {
        group: "g".into(),
        ack_id: Some(1),
        no_echo: false,
        data: Payload::json("{ \"a\" : [1, 2], \"s\": \"x y\" }").unwrap(),
    };
    let Frame::Binary(frame) = Subprotocol::Protobuf.encode_client(&message) else {
        panic!("protobuf frames are binary");
    };
    let Ok(ClientMessage::SendToGroup { data, .. }) = protobuf::decode_client(&frame) else {
        panic!("a send decodes");
    };
    assert_eq!(data, Payload::json(r#"{"a":[1,2],"s":"x y"}"#).unwrap());
    let Frame::Text(text) = Subprotocol::Json.encode_client(&message) else {
        panic!("JSON frames are text");
    };
    assert!(
        text.contains(r#""data":{ "a" : [1, 2], "s": "x y" }"#),
        "{text}"
    );
}
