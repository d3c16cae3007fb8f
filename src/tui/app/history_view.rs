//! Stored history in the chat: answers read from disk shown in the search and history
//! overlays (made safe here, once), `/goto` opening the current group at a time, and older
//! lines paged into a buffer scrolled to its top (a "loading" row shows until they come).

use std::collections::HashMap;

use chrono::{Duration, NaiveDateTime, TimeZone};

use super::{App, Effect};
use crate::history::{Dir, Kind, StoredLine};
use crate::text::sanitize_line;
use crate::tui::commands::GotoTime;
use crate::tui::history_reader::{HistoryAnswer, HistoryRequest, OFFLINE, PAGE_LINES};
use crate::tui::layout::{layout, message_height};
use crate::tui::overlay::{HistoryPage, Overlay, ShownLine, StoredState};
use crate::tui::state::{
    Buffer, BufferKind, Clock, Delivery, LineKind, LogLine, NO_SENDER, NoteLevel,
};

/// The row a buffer shows at its top while older lines are read.
const LOADING_OLDER: &str = "loading older lines from history…";

/// What the App knows of paging buffers' older lines in from disk.
#[derive(Debug, Default)]
pub(super) struct HistoryPaging {
    /// Per group, the history id of the oldest line in memory, while older ones may be on disk.
    pub(super) oldest: HashMap<String, i64>,
    /// The group whose older page is being read.
    loading: Option<String>,
}

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
            HistoryAnswer::Page {
                asked: HistoryRequest::BufferOlder { group, .. },
                result,
            } => self.older_loaded(&group, result.map(|(lines, _)| lines)),
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

    /// `--offline`: a buffer for each stored group (no join is sent), and the status bar
    /// saying there is no connection.
    pub fn open_offline(&mut self, groups: &[String]) {
        for group in groups {
            if self.state.group_index(group).is_none() {
                let at = self.state.group_count();
                let buffer = Buffer::new(BufferKind::Group, group);
                self.state.buffers.insert(at, buffer);
                if self.state.current >= at {
                    self.state.current += 1;
                }
            }
        }
        self.update(crate::client::ConnState::Stopped {
            reason: OFFLINE.into(),
        });
    }

    /// `/goto WHEN`: the current group's stored history from that time.
    pub(super) fn goto(&mut self, when: GotoTime) {
        let buffer = self.state.current_buffer();
        if !buffer.is_group() {
            let text = format!("{} is not a group; /goto works in a group", buffer.display);
            return self.note(NoteLevel::Error, &text);
        }
        let group = buffer.name.clone();
        self.open_stored_at(group, resolve(when, &self.state.clock));
    }

    /// The history page of `group`'s stored lines around `ts_ms`.
    fn open_stored_at(&mut self, group: String, ts_ms: i64) {
        let page_of = group.clone();
        let request = HistoryRequest::AtTime { group, ts_ms };
        let page = HistoryPage::loading(&page_of, request.clone(), None);
        self.state.overlay = Overlay::HistoryPage(page);
        self.effects.push(Effect::History(request));
    }
}

impl App {
    /// The current group is scrolled up to its oldest line in memory: read the page before
    /// it, unless one is being read or none is left. A buffer whose scrollback is full has no
    /// room for it: pushed up once more at its top (`pushed_past_top`), it opens the stored
    /// history there instead, where older lines page in from disk.
    pub(super) fn load_older_if_at_top(&mut self, pushed_past_top: bool) {
        let index = self.state.current;
        let buffer = &self.state.buffers[index];
        let full = buffer.lines.len() >= self.state.settings.scrollback;
        if self.history_paging.loading.is_some() {
            return;
        }
        if buffer.first_seq > 0 || full {
            if pushed_past_top
                && buffer.is_group()
                && let Some(first) = buffer.lines.front()
            {
                self.open_stored_at(buffer.name.clone(), first.time_ms);
            }
            return;
        }
        let Some(&before) = self.history_paging.oldest.get(&buffer.name) else {
            return;
        };
        if !self.top_in_view() {
            return;
        }
        let group = buffer.name.clone();
        let loading = LogLine {
            time_ms: buffer.lines.front().map_or(0, |line| line.time_ms),
            sender: NO_SENDER,
            kind: LineKind::Gap,
            delivery: Delivery::None,
            body: LOADING_OLDER.into(),
        };
        self.replace_front(index, 0, vec![loading]);
        self.history_paging.loading = Some(group.clone());
        self.effects
            .push(Effect::History(HistoryRequest::BufferOlder {
                group,
                before,
            }));
    }

    /// Whether the current buffer's first line is on screen.
    pub(super) fn top_in_view(&self) -> bool {
        let inner = layout(&self.state).log_inner;
        let (width, height) = (usize::from(inner.width), usize::from(inner.height));
        let buffer = self.state.current_buffer();
        let mut rows = 0;
        for index in (0..buffer.view_end()).rev() {
            rows += message_height(&self.state, buffer, index, width);
            if rows > height {
                return false;
            }
        }
        true
    }

    /// An older page for `group`'s buffer came: it replaces the "loading" row.
    fn older_loaded(&mut self, group: &str, result: Result<Vec<StoredLine>, String>) {
        if self.history_paging.loading.as_deref() != Some(group) {
            return;
        }
        self.history_paging.loading = None;
        let Some(index) = self.state.group_index(group) else {
            return;
        };
        let buffer = &mut self.state.buffers[index];
        let placeholder = buffer.first_seq == 0
            && buffer
                .lines
                .front()
                .is_some_and(|l| l.body == LOADING_OLDER);
        if !placeholder {
            // Evicted while reading: memory is full again, the page is not wanted.
            self.history_paging.oldest.remove(group);
            return;
        }
        let lines = match result {
            Ok(lines) => lines,
            Err(error) => {
                self.replace_front(index, 1, Vec::new());
                return self.note(NoteLevel::Error, &error);
            }
        };
        // The loading row goes; the page fills what the scrollback has room for.
        let room = (self.state.settings.scrollback + 1).saturating_sub(buffer.lines.len());
        let kept = &lines[lines.len().saturating_sub(room)..];
        match kept.first() {
            Some(first) if lines.len() >= PAGE_LINES || kept.len() < lines.len() => {
                self.history_paging
                    .oldest
                    .insert(group.to_string(), first.id);
            }
            _ => {
                self.history_paging.oldest.remove(group);
            }
        }
        let old: Vec<LogLine> = kept.iter().map(|line| self.stored_line(line)).collect();
        self.replace_front(index, 1, old);
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
