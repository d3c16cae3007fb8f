//! Ack tracking: allocates ack ids, matches acks to operations, times them out, and schedules
//! retries of transient failures with the *same* ack id, so the service's per-session dedupe
//! turns an already-applied retry into `Duplicate` instead of a second delivery.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use super::{OpError, OpId};
use crate::protocol::{AckError, AckErrorName, ClientMessage};

/// Who waits for an ack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Owner {
    /// A caller's operation, reported with `Event::OpResult`.
    User(OpId),
    /// A group rejoin after a fresh connection, reported only when it fails.
    Rejoin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Written; the ack is due by `deadline`.
    InFlight { sent_at: Instant, deadline: Instant },
    /// A transient failure; write it again at this time.
    RetryAt(Instant),
    /// The link dropped; write it again once a connection is ready.
    AwaitingLink,
}

#[derive(Debug, Clone)]
struct Pending {
    owner: Owner,
    request: ClientMessage,
    /// How many times it was written.
    sends: u32,
    stage: Stage,
}

/// How an ack (or its absence) ended an operation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Settled {
    Done {
        owner: Owner,
        request: ClientMessage,
        duplicate: bool,
        round_trip: Duration,
    },
    Failed {
        owner: Owner,
        request: ClientMessage,
        error: OpError,
    },
}

/// Operations waiting for acks, keyed by ack id.
#[derive(Debug)]
pub(crate) struct AckTracker {
    next_ack_id: u64,
    pending: BTreeMap<u64, Pending>,
    /// (when, ack id) for every entry in flight or waiting to retry: the next timer in
    /// O(log n), since thousands of operations may be in flight at once.
    timers: BTreeSet<(Instant, u64)>,
    retries: u32,
    timeout: Duration,
    retry_delay: Duration,
}

impl AckTracker {
    pub(crate) fn new(retries: u32, timeout: Duration, retry_delay: Duration) -> Self {
        AckTracker {
            next_ack_id: 1,
            pending: BTreeMap::new(),
            timers: BTreeSet::new(),
            retries,
            timeout,
            retry_delay,
        }
    }

    /// A new ack id: a counter from 1 that is never reset for the life of the engine.
    pub(crate) fn allocate(&mut self) -> u64 {
        let id = self.next_ack_id;
        self.next_ack_id = self.next_ack_id.wrapping_add(1).max(1);
        id
    }

    /// Records that `request` (which carries an ack id) was written now.
    pub(crate) fn sent(&mut self, owner: Owner, request: ClientMessage, now: Instant) {
        let Some(ack_id) = request.ack_id() else {
            return;
        };
        let deadline = now + self.timeout;
        let old = self.pending.insert(
            ack_id,
            Pending {
                owner,
                request,
                sends: 1,
                stage: Stage::InFlight {
                    sent_at: now,
                    deadline,
                },
            },
        );
        if let Some(when) = old.and_then(|old| timer_of(old.stage)) {
            self.timers.remove(&(when, ack_id));
        }
        self.timers.insert((deadline, ack_id));
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }

    /// Matches an ack. `None` for an ack id we are not waiting for (late, repeated or foreign):
    /// it is ignored.
    pub(crate) fn on_ack(
        &mut self,
        ack_id: u64,
        success: bool,
        error: Option<AckError>,
        now: Instant,
    ) -> Option<Settled> {
        let entry = self.pending.get_mut(&ack_id)?;
        let Stage::InFlight { sent_at, deadline } = entry.stage else {
            // Not written on this link (a stale ack from before a drop): wait for the resend.
            return None;
        };
        if now >= deadline {
            // Too late, even if the timer has not run yet: `due` reports the timeout.
            return None;
        }
        let duplicate = matches!(&error, Some(e) if e.name == AckErrorName::Duplicate);
        if success || duplicate {
            self.timers.remove(&(deadline, ack_id));
            let entry = self.pending.remove(&ack_id)?;
            return Some(Settled::Done {
                owner: entry.owner,
                request: entry.request,
                duplicate,
                round_trip: now.saturating_duration_since(sent_at),
            });
        }
        let error = error.unwrap_or(AckError {
            name: AckErrorName::Other("Unknown".to_string()),
            message: "the service reported a failure without an error".to_string(),
        });
        if error.name.is_transient() && entry.sends <= self.retries {
            let backoff = self
                .retry_delay
                .saturating_mul(1u32 << (entry.sends - 1).min(16));
            entry.stage = Stage::RetryAt(now + backoff);
            self.timers.remove(&(deadline, ack_id));
            self.timers.insert((now + backoff, ack_id));
            return None;
        }
        self.timers.remove(&(deadline, ack_id));
        let entry = self.pending.remove(&ack_id)?;
        Some(Settled::Failed {
            owner: entry.owner,
            request: entry.request,
            error: OpError::Refused {
                name: error.name,
                message: error.message,
            },
        })
    }

    /// Operations whose ack did not come in time (removed), and requests due to be written
    /// again with their same ack id (marked in flight as of `now`).
    pub(crate) fn due(&mut self, now: Instant) -> (Vec<Settled>, Vec<ClientMessage>) {
        let mut expired = Vec::new();
        let mut resend = Vec::new();
        while let Some(&(when, ack_id)) = self.timers.first() {
            if when > now {
                break;
            }
            self.timers.pop_first();
            let Some(entry) = self.pending.get_mut(&ack_id) else {
                continue;
            };
            if timer_of(entry.stage) != Some(when) {
                continue; // stale: the entry moved on since this timer was set
            }
            match entry.stage {
                Stage::InFlight { .. } => {
                    if let Some(entry) = self.pending.remove(&ack_id) {
                        expired.push(Settled::Failed {
                            owner: entry.owner,
                            request: entry.request,
                            error: OpError::Timeout(self.timeout),
                        });
                    }
                }
                Stage::RetryAt(_) => {
                    let deadline = now + self.timeout;
                    entry.sends += 1;
                    entry.stage = Stage::InFlight {
                        sent_at: now,
                        deadline,
                    };
                    resend.push(entry.request.clone());
                    self.timers.insert((deadline, ack_id));
                }
                Stage::AwaitingLink => {}
            }
        }
        (expired, resend)
    }

    /// The next time `due` has something to do.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.timers.first().map(|&(when, _)| when)
    }

    /// The link dropped. A written request whose ack never came counts as a transient
    /// failure: it waits for the next connection if it has retries left, else it fails.
    pub(crate) fn link_lost(&mut self) -> Vec<Settled> {
        let retries = self.retries;
        self.timers.clear();
        let mut failed = Vec::new();
        for (ack_id, entry) in self.pending.iter_mut() {
            match entry.stage {
                Stage::InFlight { .. } if entry.sends > retries => failed.push(*ack_id),
                _ => entry.stage = Stage::AwaitingLink,
            }
        }
        failed
            .into_iter()
            .filter_map(|id| self.pending.remove(&id))
            .map(|entry| Settled::Failed {
                error: OpError::ConnectionLost {
                    attempts: entry.sends,
                },
                owner: entry.owner,
                request: entry.request,
            })
            .collect()
    }

    /// Requests to write on a connection that just became ready, oldest first. On a recovered
    /// session they keep their ack ids (the service dedupes them); on a new session the old ids
    /// mean nothing, so each gets a new one. Rejoins of an old session are dropped: the caller
    /// rejoins from its own list.
    pub(crate) fn resume(&mut self, new_session: bool, now: Instant) -> Vec<ClientMessage> {
        if new_session {
            self.pending.retain(|_, entry| entry.owner != Owner::Rejoin);
            let old = std::mem::take(&mut self.pending);
            for (_, mut entry) in old {
                let ack_id = self.allocate();
                set_ack_id(&mut entry.request, ack_id);
                self.pending.insert(ack_id, entry);
            }
        }
        let timeout = self.timeout;
        let mut out = Vec::new();
        for entry in self.pending.values_mut() {
            if entry.stage == Stage::AwaitingLink {
                entry.sends += 1;
                entry.stage = Stage::InFlight {
                    sent_at: now,
                    deadline: now + timeout,
                };
                out.push(entry.request.clone());
            }
        }
        // Ack ids may have changed: rebuild the timer index (once per connection).
        self.timers = self
            .pending
            .iter()
            .filter_map(|(id, entry)| timer_of(entry.stage).map(|when| (when, *id)))
            .collect();
        out
    }

    /// Removes every pending operation (the engine is stopping).
    pub(crate) fn take_all(&mut self) -> Vec<(Owner, ClientMessage)> {
        self.timers.clear();
        std::mem::take(&mut self.pending)
            .into_values()
            .map(|entry| (entry.owner, entry.request))
            .collect()
    }
}

/// When a stage needs the timer.
fn timer_of(stage: Stage) -> Option<Instant> {
    match stage {
        Stage::InFlight { deadline, .. } => Some(deadline),
        Stage::RetryAt(at) => Some(at),
        Stage::AwaitingLink => None,
    }
}

/// Replaces the ack id of a request that carries one.
pub(crate) fn set_ack_id(request: &mut ClientMessage, id: u64) {
    match request {
        ClientMessage::JoinGroup { ack_id, .. }
        | ClientMessage::LeaveGroup { ack_id, .. }
        | ClientMessage::SendToGroup { ack_id, .. }
        | ClientMessage::Event { ack_id, .. } => {
            if ack_id.is_some() {
                *ack_id = Some(id);
            }
        }
        ClientMessage::SequenceAck { .. }
        | ClientMessage::Ping
        | ClientMessage::Invoke(_)
        | ClientMessage::CancelInvocation { .. } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(5);
    const RETRY: Duration = Duration::from_millis(100);

    fn join(ack_id: u64) -> ClientMessage {
        ClientMessage::JoinGroup {
            group: "room".into(),
            ack_id: Some(ack_id),
        }
    }

    fn error(name: &str) -> Option<AckError> {
        Some(AckError {
            name: AckErrorName::from_name(name),
            message: "m".into(),
        })
    }

    fn tracker() -> AckTracker {
        AckTracker::new(2, TIMEOUT, RETRY)
    }

    #[test]
    fn ack_ids_count_from_one_and_never_reset() {
        let mut t = tracker();
        assert_eq!(t.allocate(), 1);
        assert_eq!(t.allocate(), 2);
        let now = Instant::now();
        t.sent(Owner::User(7), join(3), now);
        t.link_lost();
        t.resume(true, now);
        assert_eq!(t.allocate(), 4, "the resumed op took 3");
    }

    #[test]
    fn success_and_duplicate_are_done() {
        let mut t = tracker();
        let now = Instant::now();
        t.sent(Owner::User(1), join(1), now);
        t.sent(Owner::User(2), join(2), now);
        let one = t.on_ack(1, true, None, now + Duration::from_millis(3));
        assert!(matches!(
            one,
            Some(Settled::Done { owner: Owner::User(1), duplicate: false, round_trip, .. })
                if round_trip == Duration::from_millis(3)
        ));
        let two = t.on_ack(2, false, error("Duplicate"), now);
        assert!(matches!(
            two,
            Some(Settled::Done {
                duplicate: true,
                ..
            })
        ));
        assert_eq!(
            t.on_ack(2, true, None, now),
            None,
            "a second ack is ignored"
        );
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn forbidden_and_unknown_names_fail_at_once() {
        let mut t = tracker();
        let now = Instant::now();
        t.sent(Owner::User(1), join(1), now);
        t.sent(Owner::User(2), join(2), now);
        let forbidden = t.on_ack(1, false, error("Forbidden"), now);
        assert!(matches!(
            forbidden,
            Some(Settled::Failed {
                error: OpError::Refused {
                    name: AckErrorName::Forbidden,
                    ..
                },
                ..
            })
        ));
        let other = t.on_ack(2, false, error("SomethingNew"), now);
        assert!(matches!(other, Some(Settled::Failed { .. })));
        assert_eq!(t.next_deadline(), None);
    }

    #[test]
    fn internal_error_retries_with_same_id_then_fails() {
        let mut t = tracker();
        let now = Instant::now();
        t.sent(Owner::User(1), join(1), now);
        assert_eq!(t.on_ack(1, false, error("InternalServerError"), now), None);
        assert_eq!(t.next_deadline(), Some(now + RETRY));
        let (expired, resend) = t.due(now + RETRY);
        assert!(expired.is_empty());
        assert_eq!(resend, vec![join(1)]);
        assert_eq!(t.on_ack(1, false, error("InternalServerError"), now), None);
        assert_eq!(t.next_deadline(), Some(now + RETRY * 2), "backs off");
        let (_, resend) = t.due(now + RETRY * 2);
        assert_eq!(resend, vec![join(1)]);
        let last = t.on_ack(1, false, error("InternalServerError"), now);
        assert!(
            matches!(last, Some(Settled::Failed { .. })),
            "2 retries = 3 sends"
        );
    }

    #[test]
    fn timeout_fails_and_late_ack_is_ignored() {
        let mut t = tracker();
        let now = Instant::now();
        t.sent(Owner::User(1), join(1), now);
        let (expired, _) = t.due(now + TIMEOUT - Duration::from_millis(1));
        assert!(expired.is_empty());
        let (expired, _) = t.due(now + TIMEOUT);
        assert!(matches!(
            expired.as_slice(),
            [Settled::Failed {
                error: OpError::Timeout(_),
                ..
            }]
        ));
        assert_eq!(t.on_ack(1, true, None, now + TIMEOUT * 2), None);
    }

    #[test]
    fn an_ack_after_the_deadline_is_late_even_before_the_timer_runs() {
        let mut t = tracker();
        let now = Instant::now();
        t.sent(Owner::User(1), join(1), now);
        assert_eq!(t.on_ack(1, true, None, now + TIMEOUT), None);
        let (expired, _) = t.due(now + TIMEOUT);
        assert_eq!(expired.len(), 1);
    }

    #[test]
    fn link_loss_keeps_ids_on_recovery_and_renumbers_on_new_session() {
        let mut t = tracker();
        let now = Instant::now();
        let id = t.allocate();
        t.sent(Owner::User(1), join(id), now);
        assert!(t.link_lost().is_empty());
        assert_eq!(t.next_deadline(), None, "nothing times out while offline");
        assert_eq!(
            t.on_ack(id, true, None, now),
            None,
            "stale ack before resend"
        );
        assert_eq!(t.resume(false, now), vec![join(id)]);
        assert!(t.link_lost().is_empty());
        let resent = t.resume(true, now);
        assert_eq!(resent, vec![join(id + 1)]);
        let lost = t.link_lost();
        assert!(matches!(
            lost.as_slice(),
            [Settled::Failed {
                error: OpError::ConnectionLost { attempts: 3 },
                ..
            }]
        ));
    }

    #[test]
    fn rejoins_are_dropped_on_a_new_session_and_kept_on_recovery() {
        let mut t = tracker();
        let now = Instant::now();
        t.sent(Owner::Rejoin, join(1), now);
        t.link_lost();
        assert_eq!(t.resume(false, now), vec![join(1)]);
        t.link_lost();
        assert!(t.resume(true, now).is_empty());
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn take_all_empties() {
        let mut t = tracker();
        t.sent(Owner::User(4), join(1), Instant::now());
        assert_eq!(t.take_all(), vec![(Owner::User(4), join(1))]);
        assert_eq!(t.len(), 0);
    }
}
