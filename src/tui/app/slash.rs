//! Carrying out slash commands (parsed in `commands`).

use super::App;
use crate::client::Command;
use crate::protocol::Payload;
use crate::tui::commands::{self, CommandError, SlashCommand};
use crate::tui::overlay::{Help, Overlay, Search};
use crate::tui::state::{Buffer, BufferKind, LineKind, Membership, NoteLevel};

impl App {
    pub(super) fn run_command(&mut self, command: SlashCommand) -> Vec<Command> {
        match command {
            SlashCommand::Join(group) => self.join(&group),
            SlashCommand::Leave(group) => self.leave_command(group),
            SlashCommand::Send { group, text } => self.send(&group, Payload::Text(text)),
            SlashCommand::Json(payload) => self.send_current(payload),
            SlashCommand::Binary(source) => self.send_binary(source),
            SlashCommand::Event { name, payload } => self.send_event(name, payload),
            SlashCommand::Invoke { name, payload } => self.invoke(name, payload),
            SlashCommand::Type(data_type) => {
                self.state.settings.data_type = data_type;
                self.note(NoteLevel::Info, &format!("typing {data_type} from now on"));
                Vec::new()
            }
            SlashCommand::NoEcho(on) => {
                self.state.settings.no_echo = on;
                let what = if on { "on" } else { "off" };
                self.note(NoteLevel::Info, &format!("noecho {what}"));
                Vec::new()
            }
            SlashCommand::History(on) => {
                self.effects.push(super::Effect::RecordHistory(on));
                Vec::new()
            }
            SlashCommand::Reconnect => {
                self.system(LineKind::Notice, "reconnecting on request");
                self.state.conn.reconnect_requested = true;
                vec![Command::Reconnect]
            }
            SlashCommand::Clear => {
                let buffer = self.current_mut();
                buffer.first_seq = buffer.end_seq();
                buffer.lines.clear();
                buffer.anchor = None;
                buffer.first_unread = None;
                Vec::new()
            }
            SlashCommand::Search(query) => {
                let outcome = Search::new(query, &self.state).submit();
                self.apply(outcome)
            }
            SlashCommand::Goto(when) => {
                self.goto(when);
                Vec::new()
            }
            SlashCommand::Raw => self.toggle_raw_frames(),
            SlashCommand::Help(topic) => {
                self.help(topic);
                Vec::new()
            }
            SlashCommand::Quit => self.quit(),
            SlashCommand::Close(group) => self.close_command(group),
            SlashCommand::Buffer(number) => {
                match number.checked_sub(1) {
                    Some(index) if index < self.state.buffers.len() => self.switch_to(index),
                    _ => {
                        let count = self.state.buffers.len();
                        let text = format!("no buffer {number}; there are {count}");
                        self.note(NoteLevel::Error, &text);
                    }
                }
                Vec::new()
            }
            SlashCommand::Names => {
                self.names();
                Vec::new()
            }
            SlashCommand::Open(number) => {
                self.open_link(number);
                Vec::new()
            }
        }
    }

    /// `/leave [group]`: the group named, else the one in view.
    fn leave_command(&mut self, group: Option<String>) -> Vec<Command> {
        if let Some(group) = group {
            return self.leave(&group);
        }
        let buffer = self.state.current_buffer();
        if buffer.is_group() || self.is_simple() {
            let group = buffer.name.clone();
            self.leave(&group)
        } else {
            let text = format!("{} is not a group; /leave <group>", buffer.display);
            self.note(NoteLevel::Error, &text);
            Vec::new()
        }
    }

    /// `/close [group]`: a joined group is left (its buffer goes when the service confirms);
    /// a group buffer that is not joined (a failed join) and the frames buffer close at once.
    fn close_command(&mut self, group: Option<String>) -> Vec<Command> {
        let index = match &group {
            Some(group) => self.state.group_index(group),
            None => Some(self.state.current),
        };
        let Some(index) = index else {
            return self.leave_command(group);
        };
        let buffer = &self.state.buffers[index];
        match buffer.kind {
            BufferKind::Group if buffer.membership == Membership::Joined => {
                let group = buffer.name.clone();
                self.leave(&group)
            }
            BufferKind::Group => {
                let text = format!("closed {}", buffer.display);
                self.remove_buffer(index);
                self.system(LineKind::Notice, &text);
                Vec::new()
            }
            BufferKind::Frames => self.toggle_raw_frames(),
            _ => {
                let text = format!("the {} buffer stays open", buffer.display);
                self.note(NoteLevel::Error, &text);
                Vec::new()
            }
        }
    }

    /// `/open`: lists the current buffer's newest links as a notice; `/open n` asks the
    /// event loop to open link n.
    fn open_link(&mut self, number: Option<usize>) {
        let links = crate::tui::links::recent_links(self.state.current_buffer());
        if links.is_empty() {
            self.note(NoteLevel::Error, "no links in this buffer");
            return;
        }
        match number {
            None => {
                let list: Vec<String> = (1..)
                    .zip(&links)
                    .map(|(n, url)| format!("{n} {url}"))
                    .collect();
                let text = format!("links (/open n opens one): {}", list.join(" · "));
                let index = self.state.current;
                self.append_line(index, LineKind::Notice, text);
            }
            Some(n) => match links.get(n - 1) {
                Some(url) => {
                    self.note(NoteLevel::Info, &format!("opening {url}"));
                    self.effects.push(super::Effect::OpenUrl(url.clone()));
                }
                None => {
                    let text = format!("no link {n}; /open lists the {} newest", links.len());
                    self.note(NoteLevel::Error, &text);
                }
            },
        }
    }

    /// `/names`: the users seen in this group. Web PubSub tells clients nothing about who is
    /// connected, so this is who sent something here since the group was opened, not who is
    /// online.
    fn names(&mut self) {
        let buffer = self.state.current_buffer();
        if !buffer.is_group() {
            let text = format!(
                "{} is not a group; /names lists a group's users",
                buffer.display
            );
            self.note(NoteLevel::Error, &text);
            return;
        }
        let mut names: Vec<&str> = buffer
            .members_seen
            .iter()
            .map(|&id| self.state.sender_name(id))
            .filter(|name| !name.is_empty())
            .collect();
        names.sort_unstable();
        names.dedup();
        let text = format!(
            "{} seen in {} (Web PubSub has no presence: seen, not online): {}",
            names.len(),
            buffer.display,
            names.join(", ")
        );
        let index = self.state.current;
        self.append_line(index, LineKind::Notice, crate::text::sanitize_line(&text));
    }

    /// `/raw`: opens the frames buffer (and shows it), or closes it and goes back to where
    /// `/raw` was typed.
    fn toggle_raw_frames(&mut self) -> Vec<Command> {
        let on = !self.state.raw_frames();
        if on {
            let from = self.state.current_buffer();
            self.state.before_frames = Some((from.kind, from.name.clone()));
            let frames = Buffer::new(BufferKind::Frames, "frames");
            self.state.buffers.push(frames);
            self.switch_to(self.state.buffers.len() - 1);
        } else if let Some(index) = self.state.buffer_of_kind(BufferKind::Frames) {
            let viewing = self.state.current == index;
            self.remove_buffer(index);
            // Back to where /raw was typed, if that buffer is still there.
            let back = self
                .state
                .before_frames
                .take()
                .and_then(|(kind, name)| self.state.find_buffer(kind, &name));
            if let (true, Some(back)) = (viewing, back) {
                self.switch_to(back);
            }
        }
        vec![Command::InspectFrames(on)]
    }

    /// `/help [command]`.
    fn help(&mut self, topic: Option<String>) {
        if let Some(t) = &topic
            && !commands::COMMANDS.iter().any(|c| c.name == t)
        {
            self.note(
                NoteLevel::Error,
                &CommandError::Unknown(t.clone()).to_string(),
            );
            return;
        }
        self.state.overlay = Overlay::Help(Help { scroll: 0, topic });
    }
}
