//! Screen geometry shared by the view and the App: where each pane goes, which group a click
//! hits, and how many rows a message takes, all computed without building styled rows.

use std::borrow::Cow;
use std::ops::Range;

use ratatui::layout::Rect;

use super::format::{line_body, line_tag};
use super::state::{Buffer, LineKind, LineRef, State};
use crate::text::{display_width, truncate, wrap_ranges};

/// Most rows the input grows to.
const MAX_INPUT_ROWS: u16 = 5;
/// Narrower terminals hide the group pane.
const MIN_WIDTH_FOR_GROUPS: u16 = 50;

/// Where each part of the screen goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    pub groups: Option<Rect>,
    pub log: Rect,
    pub log_inner: Rect,
    pub input: Rect,
    pub status: Rect,
}

/// The screen layout for the state's terminal size.
pub(crate) fn layout(state: &State) -> Areas {
    layout_in(state, state.size)
}

/// The screen layout for a given size.
pub(crate) fn layout_in(state: &State, (width, height): (u16, u16)) -> Areas {
    let (_, lines) = state.editor.line_position();
    let input_rows = (lines as u16)
        .clamp(1, MAX_INPUT_ROWS)
        .min(height.saturating_sub(4).max(1));
    let main_height = height.saturating_sub(input_rows + 1);
    let show_groups = state.settings.show_groups && width >= MIN_WIDTH_FOR_GROUPS;
    let groups_width = if show_groups {
        state.settings.group_pane_width.min(width / 3)
    } else {
        0
    };
    let groups = show_groups.then(|| Rect::new(0, 0, groups_width, main_height));
    let log = Rect::new(groups_width, 0, width - groups_width, main_height);
    let log_inner = Rect::new(
        log.x + 1,
        log.y + 1,
        log.width.saturating_sub(2),
        log.height.saturating_sub(2),
    );
    Areas {
        groups,
        log,
        log_inner,
        input: Rect::new(
            0,
            main_height,
            width,
            input_rows.min(height - main_height.min(height)),
        ),
        status: Rect::new(0, height.saturating_sub(1), width, 1.min(height)),
    }
}

/// Row → buffer index in the group pane (`None` for the separator row).
pub(crate) fn group_pane_rows(state: &State) -> Vec<Option<usize>> {
    let groups = state.group_count();
    let mut rows: Vec<Option<usize>> = (0..groups).map(Some).collect();
    rows.push(None);
    rows.extend((groups..state.buffers.len()).map(Some));
    rows
}

/// The columns of one message at a given width: `time nick body … tag`.
pub(crate) struct MessageColumns {
    /// The time, formatted and cut to fit.
    pub time: String,
    pub nick_width: usize,
    /// Columns before the body (time, nick and their spaces).
    pub prefix_width: usize,
    /// The delivery or data-type tag at the right.
    pub tag: Option<String>,
    pub body_width: usize,
}

impl MessageColumns {
    pub(crate) fn of(state: &State, line: &LineRef<'_>, width: usize) -> Self {
        let mut time = String::new();
        {
            use std::fmt::Write;
            // The format was checked when the settings were read.
            let at = state.clock.local(line.time_ms);
            let _ = write!(time, "{}", at.format(&state.settings.time_format));
        }
        let time = truncate(&time, width / 3);
        let time_width = display_width(&time) + 1;
        let nick_width = usize::from(state.settings.nick_width).min(width / 4).max(3);
        let prefix_width = time_width + nick_width + 1;
        let tag = line_tag(&state.names, line);
        let tag_width = tag
            .as_ref()
            .map_or(0, |t| (display_width(t) + 1).min(width / 3));
        let body_width = width.saturating_sub(prefix_width + tag_width).max(4);
        MessageColumns {
            time,
            nick_width,
            prefix_width,
            tag,
            body_width,
        }
    }
}

/// The body of a message wrapped into rows, capped at the configured number of lines.
pub(crate) struct MessageBody<'a> {
    pub text: Cow<'a, str>,
    pub rows: Vec<Range<usize>>,
    /// Rows were cut: a "… more" row follows.
    pub cut: bool,
}

impl<'a> MessageBody<'a> {
    pub(crate) fn of(state: &State, line: &LineRef<'a>, body_width: usize) -> Self {
        let text = line_body(line);
        let max_lines = state.settings.max_message_lines.max(1);
        let mut rows = wrap_ranges(&text, body_width, max_lines + 1);
        let cut = rows.len() > max_lines;
        if cut {
            rows.truncate(max_lines.saturating_sub(1).max(1));
        }
        MessageBody { text, rows, cut }
    }
}

/// Whether a day separator goes above line `index` (the first line, or a new day).
pub(crate) fn needs_day_separator(state: &State, buffer: &Buffer, index: usize) -> bool {
    let Some(line) = buffer.lines.get(index) else {
        return false;
    };
    match index.checked_sub(1).and_then(|i| buffer.lines.get(i)) {
        None => true,
        Some(previous) => state.clock.day_of(previous.time_ms) != state.clock.day_of(line.time_ms),
    }
}

/// Whether the read marker ("new") goes above line `index`: where the unread messages began
/// when this buffer was switched to (not above the first line: then everything is new).
pub(crate) fn needs_read_marker(buffer: &Buffer, index: usize) -> bool {
    index > 0 && buffer.first_unread == Some(buffer.first_seq + index as u64)
}

/// Rows one message takes at `width` (separators included), as the view draws it.
pub(crate) fn message_height(state: &State, buffer: &Buffer, index: usize, width: usize) -> usize {
    let Some(line) = buffer.lines.get(index) else {
        return 0;
    };
    if width == 0 {
        return 0;
    }
    let separators = usize::from(needs_day_separator(state, buffer, index))
        + usize::from(needs_read_marker(buffer, index));
    if line.kind == LineKind::Gap {
        return separators + 1;
    }
    let columns = MessageColumns::of(state, &line, width);
    let body = MessageBody::of(state, &line, columns.body_width);
    separators + body.rows.len() + usize::from(body.cut)
}
