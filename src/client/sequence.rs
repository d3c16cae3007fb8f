//! Reliable-subprotocol bookkeeping: the highest sequence id received, duplicate detection, and
//! when to send the cumulative `sequenceAck`.

/// Send a `sequenceAck` at once when this many ids arrived since the last one (the JS SDK's
/// rule), so the service's 1000-message buffer never fills during a burst.
pub(crate) const URGENT_ACK_GAP: u64 = 300;

/// Tracks the sequence ids of one reliable session.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct SequenceTracker {
    highest: u64,
    last_acked: u64,
    ack_needed: bool,
}

impl SequenceTracker {
    /// Records a received id. Returns `true` for a new message and `false` for a duplicate or
    /// replay, which the caller drops. Either way an ack becomes due: after a recovery the
    /// service must hear the highest id again.
    pub(crate) fn receive(&mut self, sequence_id: u64) -> bool {
        self.ack_needed = true;
        if sequence_id > self.highest {
            self.highest = sequence_id;
            true
        } else {
            false
        }
    }

    #[cfg(test)]
    pub(crate) fn ack_needed(&self) -> bool {
        self.ack_needed
    }

    /// True when so many ids are unacked that the ack should go out now.
    pub(crate) fn urgent(&self) -> bool {
        self.ack_needed && self.highest.saturating_sub(self.last_acked) > URGENT_ACK_GAP
    }

    /// How many ids arrived since the last ack went out (0 when none is due).
    pub(crate) fn unacked(&self) -> u64 {
        if self.ack_needed {
            self.highest.saturating_sub(self.last_acked)
        } else {
            0
        }
    }

    /// The id to put in the next `sequenceAck`, if one is due; marks it as sent.
    pub(crate) fn take_ack(&mut self) -> Option<u64> {
        if !self.ack_needed || self.highest == 0 {
            self.ack_needed = false;
            return None;
        }
        self.ack_needed = false;
        self.last_acked = self.highest;
        Some(self.highest)
    }

    /// A brand-new session starts counting from zero again.
    pub(crate) fn reset(&mut self) {
        *self = SequenceTracker::default();
    }

    #[cfg(test)]
    pub(crate) fn highest(&self) -> u64 {
        self.highest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_duplicates_and_replays_but_still_acks() {
        let mut s = SequenceTracker::default();
        assert!(s.receive(1));
        assert!(s.receive(2));
        assert_eq!(s.take_ack(), Some(2));
        assert!(!s.ack_needed());
        assert!(!s.receive(2));
        assert!(!s.receive(1));
        assert!(s.ack_needed());
        assert_eq!(s.take_ack(), Some(2));
        assert!(s.receive(3));
        assert_eq!(s.highest(), 3);
    }

    #[test]
    fn gaps_are_accepted_in_order() {
        let mut s = SequenceTracker::default();
        assert!(s.receive(5));
        assert!(!s.receive(4));
        assert!(s.receive(9));
    }

    #[test]
    fn urgent_after_300_unacked() {
        let mut s = SequenceTracker::default();
        for id in 1..=300 {
            s.receive(id);
        }
        assert!(!s.urgent());
        s.receive(301);
        assert!(s.urgent());
        assert_eq!(s.take_ack(), Some(301));
        assert!(!s.urgent());
    }

    #[test]
    fn unacked_counts_since_the_last_ack() {
        let mut s = SequenceTracker::default();
        assert_eq!(s.unacked(), 0);
        for id in 1..=40 {
            s.receive(id);
        }
        assert_eq!(s.unacked(), 40);
        s.take_ack();
        assert_eq!(s.unacked(), 0);
    }

    #[test]
    fn reset_starts_over() {
        let mut s = SequenceTracker::default();
        s.receive(10);
        s.reset();
        assert_eq!(s.take_ack(), None);
        assert!(s.receive(1));
    }
}
