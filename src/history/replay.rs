//! What `wpchat history replay` re-publishes: the messages of a stored slice (markers and
//! gaps are not messages) as payloads, each with the pause before it, scaled by the speed.

use std::time::Duration;

use serde_json::value::RawValue;

use super::record::Kind;
use super::store::StoredLine;
use crate::protocol::Payload;

/// A pause longer than this (scaled) is cut to it, so that a night of silence in the slice
/// does not stall the replay; the order and every shorter rhythm are kept.
pub const MAX_PAUSE: Duration = Duration::from_secs(10);

/// One message to publish again, after `pause`.
#[derive(Debug, Clone)]
pub struct Replayed {
    pub pause: Duration,
    pub payload: Payload,
}

/// Parses a speed like `10x`, `0.5x` or `2`: how many times faster than recorded.
pub fn parse_speed(text: &str) -> Result<f64, String> {
    let number = text.trim().trim_end_matches(['x', 'X']);
    match number.parse::<f64>() {
        Ok(speed) if speed.is_finite() && speed > 0.0 => Ok(speed),
        _ => Err(format!(
            "'{text}' is not a speed; use e.g. 1x (as recorded), 10x (ten times faster), 0.5x"
        )),
    }
}

/// The messages of `lines` (oldest first) with the recorded gaps between them divided by
/// `speed`; the first goes at once.
pub fn schedule(lines: &[StoredLine], speed: f64) -> Vec<Replayed> {
    let mut previous: Option<i64> = None;
    lines
        .iter()
        .filter_map(|line| {
            let payload = payload_of(line)?;
            let gap_ms = previous.map_or(0, |at| (line.ts_ms - at).max(0));
            previous = Some(line.ts_ms);
            let pause = Duration::from_secs_f64(gap_ms as f64 / 1000.0 / speed).min(MAX_PAUSE);
            Some(Replayed { pause, payload })
        })
        .collect()
}

/// A stored message as the payload it was; `None` for markers, and for JSON that no longer
/// parses (sent as text instead would change its type).
fn payload_of(line: &StoredLine) -> Option<Payload> {
    let text = || String::from_utf8_lossy(&line.body).into_owned();
    match line.kind {
        Kind::Text => Some(Payload::Text(text())),
        Kind::Json => RawValue::from_string(text()).ok().map(Payload::Json),
        Kind::Binary => Some(Payload::Binary(line.body.clone())),
        Kind::Protobuf => Some(Payload::Protobuf(line.body.clone())),
        Kind::Notice | Kind::Error | Kind::Gap | Kind::HistoryGap => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Dir, Record};

    fn line(ts_ms: i64, kind: Kind, body: &[u8]) -> StoredLine {
        StoredLine {
            id: ts_ms,
            record: Record::message("g", ts_ms, kind, Dir::In, body.to_vec()),
            session: None,
        }
    }

    #[test]
    fn pauses_follow_the_recorded_gaps_scaled_and_markers_are_skipped() {
        let lines = [
            line(1_000, Kind::Text, b"a"),
            line(1_500, Kind::Gap, b"recovered"),
            line(3_000, Kind::Json, br#"{"n":1}"#),
            line(100_000_000, Kind::Binary, &[0, 255]),
        ];
        let replayed = schedule(&lines, 10.0);
        let pauses: Vec<Duration> = replayed.iter().map(|r| r.pause).collect();
        assert_eq!(
            pauses,
            [Duration::ZERO, Duration::from_millis(200), MAX_PAUSE]
        );
        assert!(matches!(&replayed[0].payload, Payload::Text(t) if t == "a"));
        assert!(matches!(&replayed[1].payload, Payload::Json(j) if j.get() == r#"{"n":1}"#));
        assert!(matches!(&replayed[2].payload, Payload::Binary(b) if b == &[0, 255]));
    }

    #[test]
    fn speeds_are_positive_multipliers() {
        assert_eq!(parse_speed("10x"), Ok(10.0));
        assert_eq!(parse_speed("0.5"), Ok(0.5));
        for bad in ["0x", "-2x", "fast", "NaNx", ""] {
            assert!(parse_speed(bad).is_err(), "{bad}");
        }
    }
}
