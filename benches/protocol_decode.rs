//! Decoding the frames a busy group sends (reliable group messages with a 100-byte payload, as
//! text, JSON and binary, on the JSON and the protobuf subprotocols) and encoding the frame a
//! client sends to publish one.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wpchat::protocol::{
    self, ClientMessage, DataMessage, DecodeCache, MessageSource, Payload, ServiceMessage,
    decode_service, decode_service_with, encode_client, encode_service,
};

const PAYLOAD_BYTES: usize = 100;

fn group_message(payload: Payload) -> ServiceMessage {
    ServiceMessage::Message(DataMessage {
        source: MessageSource::Group {
            group: "general".into(),
            from_user_id: Some("alice".into()),
        },
        sequence_id: Some(123_456),
        payload,
    })
}

fn text_payload() -> String {
    "the quick brown fox jumps over the lazy dog "
        .repeat(3)
        .chars()
        .take(PAYLOAD_BYTES)
        .collect()
}

fn json_payload() -> Payload {
    // About 100 bytes of a typical chat-bot JSON object.
    let text = r#"{"kind":"chat","user":"alice","text":"the quick brown fox jumps","ts":1764266400123,"tags":["a","b"]}"#;
    Payload::json(text).expect("valid JSON")
}

fn bench_decode(c: &mut Criterion) {
    let messages = [
        ("text", group_message(Payload::Text(text_payload()))),
        ("json", group_message(json_payload())),
        (
            "binary",
            group_message(Payload::Binary(vec![0xa5; PAYLOAD_BYTES])),
        ),
    ];
    let mut group = c.benchmark_group("decode_service/reliable_group_message");
    group.throughput(Throughput::Elements(1));
    for (name, message) in &messages {
        let frame = encode_service(message);
        assert!(decode_service(&frame).is_ok(), "{name} frame decodes");
        group.bench_function(*name, |b| b.iter(|| decode_service(black_box(&frame))));
        // serde alone, without the hand-written reader of plain data messages.
        group.bench_function(format!("{name}/serde_only"), |b| {
            b.iter(|| protocol::decode_service_by_serde(black_box(&frame)))
        });
        // As the engine decodes: group and user ids shared through its name cache.
        let mut names = DecodeCache::default();
        group.bench_function(format!("{name}/name_cache"), |b| {
            b.iter(|| decode_service_with(black_box(&frame), &mut names))
        });
    }
    group.finish();
    let mut group = c.benchmark_group("decode_service_protobuf/reliable_group_message");
    group.throughput(Throughput::Elements(1));
    for (name, message) in &messages {
        let frame = protocol::protobuf::encode_service(message);
        assert!(
            protocol::protobuf::decode_service(&frame).is_ok(),
            "{name} frame decodes"
        );
        group.bench_function(*name, |b| {
            b.iter(|| protocol::protobuf::decode_service(black_box(&frame)))
        });
    }
    group.finish();
}

fn bench_encode(c: &mut Criterion) {
    let message = ClientMessage::SendToGroup {
        group: "general".into(),
        ack_id: Some(42),
        no_echo: false,
        data: Payload::Text(text_payload()),
    };
    let mut group = c.benchmark_group("encode_client");
    group.throughput(Throughput::Elements(1));
    group.bench_function("send_to_group_text", |b| {
        b.iter(|| encode_client(black_box(&message)))
    });
    group.finish();
}

criterion_group!(benches, bench_decode, bench_encode);
criterion_main!(benches);
