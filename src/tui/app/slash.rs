//! Carrying out slash commands (parsed in `commands`).

use super::App;
use crate::client::Command;
use crate::protocol::Payload;
use crate::tui::commands::{self, CommandError, SlashCommand};
use crate::tui::overlay::{Help, Overlay, Search};
use crate::tui::state::{Buffer, BufferKind, LineKind, NoteLevel, PendingOp};

impl App {
    pub(super) fn run_command(&mut self, command: SlashCommand) -> Vec<Command> {
        match command {
            SlashCommand::Join(group) => self.join(&group),
            SlashCommand::Leave(group) => self.leave_command(group),
            SlashCommand::Send { group, text } => self.send(&group, Payload::Text(text)),
            SlashCommand::Json(payload) => self.send_current(payload),
            SlashCommand::Binary(source) => self.send_binary(source),
            SlashCommand::Event { name, payload } => self.send_event(name, payload),
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
            SlashCommand::Quit => {
                self.state.quit = true;
                vec![Command::Shutdown]
            }
        }
    }

    /// `/leave [group]`: the group named, else the one in view.
    fn leave_command(&mut self, group: Option<String>) -> Vec<Command> {
        if let Some(group) = group {
            return self.leave(&group);
        }
        let buffer = self.state.current_buffer();
        if buffer.is_group() {
            let group = buffer.name.clone();
            self.leave(&group)
        } else {
            let text = format!("{} is not a group; /leave <group>", buffer.display);
            self.note(NoteLevel::Error, &text);
            Vec::new()
        }
    }

    fn send_event(&mut self, name: String, payload: Payload) -> Vec<Command> {
        let op = self
            .state
            .ops
            .start(PendingOp::Event { name: name.clone() });
        self.system(LineKind::Notice, &format!("→ event {name}"));
        vec![Command::SendEvent {
            op,
            event: name,
            payload,
            fire_and_forget: false,
        }]
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
