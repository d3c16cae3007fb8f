//! The connection's clock: flushing and dead-link detection, keepalive pings, ack timeouts
//! and retries, invocation deadlines and the delayed `sequenceAck`; one deadline for them all.

use std::time::{Duration, Instant};

use futures_util::SinkExt;

use super::{End, Engine, READ_PAUSE_AT};
use crate::protocol::ClientMessage;

impl Engine {
    /// Flushes pending writes; reports a failed link.
    pub(super) async fn check_link(&mut self) -> Option<End> {
        let timeout = self.config.keepalive_timeout;
        let link = self.link.as_mut()?;
        if link.failed.is_none() && link.unflushed {
            link.unflushed = false;
            match tokio::time::timeout(timeout, link.sink.flush()).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    link.failed = Some(format!("writing to the service failed: {error}"))
                }
                Err(_) => {
                    link.failed = Some(format!(
                        "writing to the service stalled for {} s",
                        timeout.as_secs_f32()
                    ))
                }
            }
        }
        let reason = link.failed.take()?;
        Some(End::Dropped { code: None, reason })
    }

    pub(super) fn next_deadline(&self) -> Instant {
        let mut deadline = match (&self.link, self.acks.next_deadline()) {
            (Some(link), acks) => {
                let dead_at = link.last_inbound + self.config.keepalive_timeout;
                acks.map_or(dead_at, |at| at.min(dead_at))
            }
            (None, Some(at)) => at,
            (None, None) => Instant::now() + Duration::from_secs(3600),
        };
        if let Some(link) = &self.link
            && link.ready
        {
            deadline = deadline.min(link.next_ping);
            if let Some(at) = link.sequence_ack_at {
                deadline = deadline.min(at);
            }
        }
        if let Some(at) = self.invocations.next_deadline() {
            deadline = deadline.min(at);
        }
        deadline
    }

    /// Timers: ack timeouts and retries, dead-link detection, keepalive, sequence acks.
    pub(super) async fn tick(&mut self) -> Option<End> {
        let now = Instant::now();
        self.expire_invocations(now).await;
        let (expired, resend) = self.acks.due(now);
        for settled in expired {
            self.settle(settled);
        }
        for request in resend {
            self.write(&request).await;
        }
        let reading_paused = self.queue.len() >= READ_PAUSE_AT;
        let timeout = self.config.keepalive_timeout;
        let interval = self.config.keepalive_interval;
        let link = self.link.as_mut()?;
        if reading_paused {
            // We are not reading: silence says nothing about the link.
            link.last_inbound = now;
        }
        if now.saturating_duration_since(link.last_inbound) >= timeout {
            return Some(End::Dropped {
                code: None,
                reason: format!(
                    "no frame from the service for {} s: the link is dead",
                    timeout.as_secs_f32()
                ),
            });
        }
        if !link.ready {
            return None;
        }
        let mut send_ping = false;
        if now >= link.next_ping {
            link.next_ping = now + interval;
            if link
                .ping_sent
                .is_none_or(|at| now.saturating_duration_since(at) >= timeout)
            {
                link.ping_sent = Some(now);
            }
            send_ping = true;
        }
        let ack_due = link.sequence_ack_at.is_some_and(|at| at <= now);
        if ack_due {
            link.sequence_ack_at = None;
        }
        if send_ping {
            self.write(&ClientMessage::Ping).await;
        }
        if ack_due {
            self.send_sequence_ack().await;
        }
        None
    }
}
