//! Stored history in the chat: answers read from disk shown in the search and history
//! overlays (made safe here, once), and `/goto` opening the current group at a time.

use chrono::{Duration, NaiveDateTime, TimeZone};

use super::{App, Effect};
use crate::history::{Dir, Kind, StoredLine};
use crate::text::sanitize_line;
use crate::tui::commands::GotoTime;
use crate::tui::history_reader::{HistoryAnswer, HistoryRequest};
use crate::tui::overlay::{HistoryPage, Overlay, ShownLine, StoredState};
use crate::tui::state::{Clock, NoteLevel};

impl App {
    /// Shows what stored history answered. An answer to a question the user no longer asks
    /// (the overlay closed, the query changed) is dropped.
    pub fn history_answer(&mut self, answer: HistoryAnswer) {
        match answer {
            HistoryAnswer::Found { text, result } => {
                let state = match result {
                    Ok((hits, behind)) => StoredState::Hits {
                        hits: hits.iter().map(|hit| self.shown(hit)).collect(),
                        behind,
                        selected: 0,
                    },
                    Err(error) => StoredState::Failed(error),
                };
                if let Overlay::Search(search) = &mut self.state.overlay {
                    search.answered(&text, state);
                }
            }
            HistoryAnswer::Page { asked, result } => {
                let result = result.map(|(lines, focus)| {
                    (lines.iter().map(|line| self.shown(line)).collect(), focus)
                });
                if let Overlay::HistoryPage(page) = &mut self.state.overlay {
                    page.answered(&asked, result);
                }
            }
        }
        self.dirty = true;
    }

    /// A stored line flattened to one safe row.
    fn shown(&self, line: &StoredLine) -> ShownLine {
        let text = match line.kind {
            Kind::Binary | Kind::Protobuf => {
                format!("[{} · {} bytes]", line.kind.as_str(), line.body.len())
            }
            _ => sanitize_line(&String::from_utf8_lossy(&line.body)),
        };
        let sender = match (line.dir, &line.sender) {
            (Dir::Out, _) => self.state.user_id.as_deref().unwrap_or("me"),
            (Dir::In, Some(name)) => name,
            (Dir::In, None) if matches!(line.kind, Kind::Gap | Kind::HistoryGap) => "--",
            (Dir::In, None) => "anonymous",
        };
        ShownLine {
            id: line.id,
            group: line.group.clone(),
            group_shown: sanitize_line(&line.group),
            time_ms: line.ts_ms,
            sender: sanitize_line(sender),
            text,
        }
    }

    /// `/goto WHEN`: the current group's stored history from that time.
    pub(super) fn goto(&mut self, when: GotoTime) {
        let buffer = self.state.current_buffer();
        if !buffer.is_group() {
            let text = format!("{} is not a group; /goto works in a group", buffer.display);
            return self.note(NoteLevel::Error, &text);
        }
        let group = buffer.name.clone();
        let request = HistoryRequest::AtTime {
            group: group.clone(),
            ts_ms: resolve(when, &self.state.clock),
        };
        let page = HistoryPage::loading(&group, request.clone(), None);
        self.state.overlay = Overlay::HistoryPage(page);
        self.effects.push(Effect::History(request));
    }
}

/// `when` in Unix milliseconds, read in the clock's time zone.
fn resolve(when: GotoTime, clock: &Clock) -> i64 {
    let local = |at: NaiveDateTime| {
        clock
            .offset
            .from_local_datetime(&at)
            .single()
            .map_or(clock.wall_ms, |t| t.timestamp_millis())
    };
    match when {
        GotoTime::Ago(ms) => clock.wall_ms.saturating_sub(ms),
        GotoTime::Local(at) => local(at),
        GotoTime::TimeOfDay(time) => {
            let today = clock.local(clock.wall_ms).date_naive().and_time(time);
            let at = local(today);
            if at > clock.wall_ms {
                local(today - Duration::days(1))
            } else {
                at
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goto_times_resolve_in_the_local_zone() {
        // 2026-11-30 10:00 UTC.
        let clock = Clock::fixed(1_796_032_800_000, std::time::Instant::now());
        let hm = |h, m| chrono::NaiveTime::from_hms_opt(h, m, 0).unwrap();
        assert_eq!(resolve(GotoTime::Ago(7_200_000), &clock), 1_796_025_600_000);
        assert_eq!(
            resolve(GotoTime::TimeOfDay(hm(9, 30)), &clock),
            1_796_031_000_000
        );
        // 14:05 is still to come today: yesterday's.
        assert_eq!(
            resolve(GotoTime::TimeOfDay(hm(14, 5)), &clock),
            1_796_032_800_000 + 4 * 3_600_000 + 5 * 60_000 - 86_400_000
        );
    }
}
