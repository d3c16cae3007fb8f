//! Groups and buffers: joining, leaving, switching (keys, clicks in the group pane, next
//! activity) and removing buffers.

use super::App;
use crate::client::Command;
use crate::protocol::validate_group_name;
use crate::tui::commands::NAME_SHOWN;
use crate::tui::keymap::Action;
use crate::tui::layout::{group_pane_rows, layout};
use crate::tui::overlay::{LeaveConfirm, Overlay};
use crate::tui::state::{Buffer, BufferKind, Membership, NoteLevel, PendingOp};

impl App {
    pub(super) fn navigate(&mut self, action: Action) {
        let n = self.state.buffers.len();
        match action {
            Action::GoToGroup(number) => {
                let index = usize::from(number).saturating_sub(1);
                if index < self.state.group_count() {
                    self.switch_to(index);
                } else {
                    self.note(NoteLevel::Info, &format!("no group {number}"));
                }
            }
            Action::NextGroup => self.switch_to((self.state.current + 1) % n),
            Action::PrevGroup => self.switch_to((self.state.current + n - 1) % n),
            Action::NextActivity => self.next_activity(),
            Action::MoveGroupUp => self.move_group(false),
            Action::MoveGroupDown => self.move_group(true),
            Action::Click { column, row } => self.click(column, row),
            _ => {}
        }
    }

    /// Joins a group (also used for the groups given on the command line).
    pub fn join(&mut self, group: &str) -> Vec<Command> {
        if self.is_simple() {
            self.no_groups();
            return Vec::new();
        }
        if let Err(e) = validate_group_name(group) {
            let shown = crate::text::truncate(group, NAME_SHOWN);
            self.note(NoteLevel::Error, &format!("cannot join '{shown}': {e}"));
            return Vec::new();
        }
        if let Some(index) = self.state.group_index(group) {
            self.switch_to(index);
            return Vec::new();
        }
        let mut buffer = Buffer::new(BufferKind::Group, group);
        buffer.membership = Membership::Joining;
        let at = self.state.group_count();
        self.state.buffers.insert(at, buffer);
        if self.state.current >= at {
            self.state.current += 1;
        }
        self.state.known_groups.retain(|g| g != group);
        self.switch_to(at);
        let group = group.to_string();
        let op = self.state.ops.start(PendingOp::Join {
            group: group.clone(),
        });
        vec![Command::Join { op, group }]
    }

    pub(super) fn leave(&mut self, group: &str) -> Vec<Command> {
        if self.is_simple() {
            self.no_groups();
            return Vec::new();
        }
        let Some(index) = self.state.group_index(group) else {
            let shown = crate::text::truncate(group, NAME_SHOWN);
            self.note(NoteLevel::Error, &format!("not in group '{shown}'"));
            return Vec::new();
        };
        self.state.buffers[index].membership = Membership::Leaving;
        let group = group.to_string();
        let op = self.state.ops.start(PendingOp::Leave {
            group: group.clone(),
        });
        vec![Command::Leave { op, group }]
    }

    /// Asks before leaving the group in view.
    pub(super) fn leave_prompt(&mut self) {
        let buffer = self.state.current_buffer();
        if buffer.is_group() {
            let group = buffer.name.clone();
            self.state.overlay = Overlay::LeaveConfirm(LeaveConfirm { group });
        } else {
            let text = format!("{} is not a group", buffer.display);
            self.note(NoteLevel::Error, &text);
        }
    }

    pub(super) fn switch_to(&mut self, index: usize) {
        if index >= self.state.buffers.len() {
            return;
        }
        let moving = index != self.state.current;
        if let Some(old) = self.state.buffers.get_mut(self.state.current) {
            old.first_unread = None;
            if moving {
                // Each buffer keeps its own draft (as WeeChat's input per buffer).
                old.draft = self.state.editor.text().to_string();
            }
        }
        self.state.current = index;
        let buffer = &mut self.state.buffers[index];
        buffer.unread = 0;
        buffer.mentions = 0;
        if moving {
            let draft = std::mem::take(&mut buffer.draft);
            self.state.editor.set_text(&draft);
        }
        self.dirty = true;
    }

    /// Brings back an earlier session: joins its groups not open yet (after the ones given
    /// at start), and restores the input history and each group's draft.
    pub fn restore_session(&mut self, saved: &crate::tui::session::SavedSession) -> Vec<Command> {
        let mut commands = Vec::new();
        for group in &saved.groups {
            if self.state.group_index(group).is_none() {
                commands.extend(self.join(group));
            }
        }
        self.state.editor.set_history(saved.input_history.clone());
        for (group, draft) in &saved.drafts {
            if let Some(index) = self.state.group_index(group) {
                self.state.buffers[index].draft = draft.clone();
            }
        }
        let current = self.state.current_buffer();
        if current.is_group() && self.state.editor.is_empty() {
            let draft = std::mem::take(&mut self.state.buffers[self.state.current].draft);
            self.state.editor.set_text(&draft);
        }
        commands
    }

    /// Moves the group in view one place up or down among the groups (Alt+digit numbers
    /// follow); the server and system buffers stay below.
    fn move_group(&mut self, down: bool) {
        let current = self.state.current;
        let groups = self.state.group_count();
        if current >= groups {
            self.note(NoteLevel::Info, "only groups move");
            return;
        }
        let target = if down {
            current + 1
        } else {
            current.wrapping_sub(1)
        };
        if target < groups {
            self.state.buffers.swap(current, target);
            self.state.current = target;
            self.dirty = true;
        }
    }

    pub(super) fn remove_buffer(&mut self, index: usize) {
        if index >= self.state.buffers.len() {
            return;
        }
        let was_current = self.state.current == index;
        self.state.buffers.remove(index);
        // Leaving the group in view shows the one before it (as WeeChat does after /part),
        // not whatever slid into its place.
        if self.state.current > index || (was_current && index > 0) {
            self.state.current -= 1;
        }
        if self.state.current >= self.state.buffers.len() {
            self.state.current = self.state.buffers.len().saturating_sub(1);
        }
        if was_current && let Some(buffer) = self.state.buffers.get_mut(self.state.current) {
            buffer.unread = 0;
            buffer.mentions = 0;
        }
        self.dirty = true;
    }

    fn next_activity(&mut self) {
        let n = self.state.buffers.len();
        let order = (1..n).map(|i| (self.state.current + i) % n);
        let target = order
            .clone()
            .find(|&i| self.state.buffers[i].mentions > 0)
            .or_else(|| order.clone().find(|&i| self.state.buffers[i].unread > 0));
        match target {
            Some(index) => self.switch_to(index),
            None => self.note(NoteLevel::Info, "no activity elsewhere"),
        }
    }

    fn click(&mut self, column: u16, row: u16) {
        let areas = layout(&self.state);
        if let Some(groups) = areas.groups
            && column >= groups.x
            && column < groups.x + groups.width
            && row > groups.y
        {
            let rows = group_pane_rows(&self.state);
            if let Some(Some(index)) = rows.get(usize::from(row - groups.y - 1)) {
                self.switch_to(*index);
            }
        }
    }
}
