//! Reconnect delays: exponential backoff with jitter, so that many clients dropped at once by a
//! service restart do not all come back in the same instant.

use std::time::Duration;

use super::Backoff;

/// The delay before fresh-connection attempt `attempt` (1-based): `initial · 2^(attempt-1)`,
/// capped at `max`, then scaled into `[d/2, d]` by `jitter` (a number in `[0, 1]`).
pub(crate) fn delay(backoff: &Backoff, attempt: u32, jitter: f64) -> Duration {
    let exponent = attempt.saturating_sub(1).min(31);
    let full = backoff
        .initial
        .saturating_mul(1u32 << exponent)
        .min(backoff.max);
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.0
    };
    full / 2 + full.mul_f64(jitter) / 2
}

/// The delay with fresh randomness.
pub(crate) fn random_delay(backoff: &Backoff, attempt: u32) -> Duration {
    delay(backoff, attempt, rand::random::<f64>())
}

/// Whether `attempt` is past the configured limit (never, when the limit is `None`).
pub(crate) fn exhausted(backoff: &Backoff, attempt: u32) -> bool {
    backoff.max_attempts.is_some_and(|max| attempt > max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Backoff {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            max_attempts: Some(5),
        }
    }

    #[test]
    fn doubles_then_caps() {
        let b = policy();
        assert_eq!(delay(&b, 1, 1.0), Duration::from_millis(100));
        assert_eq!(delay(&b, 2, 1.0), Duration::from_millis(200));
        assert_eq!(delay(&b, 3, 1.0), Duration::from_millis(400));
        assert_eq!(delay(&b, 5, 1.0), Duration::from_secs(1));
        assert_eq!(delay(&b, 500, 1.0), Duration::from_secs(1));
    }

    #[test]
    fn jitter_stays_within_half_and_full() {
        let b = policy();
        assert_eq!(delay(&b, 2, 0.0), Duration::from_millis(100));
        assert_eq!(delay(&b, 2, 0.5), Duration::from_millis(150));
        assert_eq!(delay(&b, 2, f64::NAN), Duration::from_millis(100));
        for _ in 0..100 {
            let d = random_delay(&b, 3);
            assert!(d >= Duration::from_millis(200) && d <= Duration::from_millis(400));
        }
    }

    #[test]
    fn limit_counts_attempts() {
        let mut b = policy();
        assert!(!exhausted(&b, 5));
        assert!(exhausted(&b, 6));
        b.max_attempts = None;
        assert!(!exhausted(&b, u32::MAX));
    }
}
