//! The input line editor: readline motions and kills, multi-line text, input history with
//! reverse search, and cycling Tab completion (the candidates come from the App).

use unicode_segmentation::UnicodeSegmentation;

use super::keymap::Action;

/// How many sent lines the history keeps.
const HISTORY_LIMIT: usize = 500;

/// An active Ctrl+R search.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistorySearch {
    pub query: String,
    /// Index into the history of the shown match.
    pub found: Option<usize>,
}

/// An active Tab completion: repeated Tab cycles through `candidates`.
#[derive(Debug, Clone, PartialEq)]
struct Completion {
    start: usize,
    candidates: Vec<String>,
    index: usize,
    /// The text after completing, to notice when the user typed something else.
    applied: String,
}

/// The editor's state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Editor {
    text: String,
    /// Byte offset of the cursor, always on a grapheme boundary.
    cursor: usize,
    kill_ring: String,
    history: Vec<String>,
    history_pos: Option<usize>,
    draft: String,
    pub search: Option<HistorySearch>,
    completion: Option<Completion>,
}

fn is_word_char(g: &str) -> bool {
    g.chars()
        .next()
        .is_some_and(|c| c.is_alphanumeric() || c == '_')
}

impl Editor {
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn cursor(&self) -> usize {
        self.cursor
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    pub(crate) fn history(&self) -> &[String] {
        &self.history
    }

    /// Brings back the input history of an earlier session (oldest first).
    pub(crate) fn set_history(&mut self, mut history: Vec<String>) {
        history.truncate(HISTORY_LIMIT);
        self.history = history;
        self.history_pos = None;
    }

    /// Replaces the text and puts the cursor at the end.
    pub(crate) fn set_text(&mut self, text: &str) {
        self.text = text.to_string();
        self.cursor = self.text.len();
        self.completion = None;
    }

    pub fn clear(&mut self) {
        self.set_text("");
        self.history_pos = None;
    }

    /// Takes the text out (for sending) and records it in the history.
    pub fn take(&mut self) -> String {
        let text = std::mem::take(&mut self.text);
        self.cursor = 0;
        self.history_pos = None;
        self.completion = None;
        if !text.trim().is_empty() && self.history.last() != Some(&text) {
            self.history.push(text.clone());
            if self.history.len() > HISTORY_LIMIT {
                self.history.remove(0);
            }
        }
        text
    }

    pub(crate) fn insert_char(&mut self, c: char) {
        self.text.insert(self.cursor, c);
        self.cursor += c.len_utf8();
        self.completion = None;
    }

    pub(crate) fn insert_str(&mut self, s: &str) {
        self.text.insert_str(self.cursor, s);
        self.cursor += s.len();
        self.completion = None;
    }

    fn prev_boundary(&self, from: usize) -> usize {
        self.text[..from]
            .grapheme_indices(true)
            .next_back()
            .map_or(0, |(i, _)| i)
    }

    fn next_boundary(&self, from: usize) -> usize {
        self.text[from..]
            .graphemes(true)
            .next()
            .map_or(from, |g| from + g.len())
    }

    pub fn left(&mut self) {
        self.cursor = self.prev_boundary(self.cursor);
    }

    pub fn right(&mut self) {
        self.cursor = self.next_boundary(self.cursor);
    }

    pub(crate) fn backspace(&mut self) {
        let start = self.prev_boundary(self.cursor);
        self.text.replace_range(start..self.cursor, "");
        self.cursor = start;
        self.completion = None;
    }

    pub fn delete(&mut self) {
        let end = self.next_boundary(self.cursor);
        self.text.replace_range(self.cursor..end, "");
        self.completion = None;
    }

    fn line_start_of(&self, at: usize) -> usize {
        self.text[..at].rfind('\n').map_or(0, |i| i + 1)
    }

    fn line_end_of(&self, at: usize) -> usize {
        self.text[at..]
            .find('\n')
            .map_or(self.text.len(), |i| at + i)
    }

    pub fn line_start(&mut self) {
        self.cursor = self.line_start_of(self.cursor);
    }

    pub(crate) fn line_end(&mut self) {
        self.cursor = self.line_end_of(self.cursor);
    }

    /// Start of the word before the cursor (readline Alt+B).
    fn word_left_pos(&self) -> usize {
        let mut pos = self.cursor;
        let graphemes: Vec<(usize, &str)> =
            self.text[..self.cursor].grapheme_indices(true).collect();
        let mut iter = graphemes.iter().rev().peekable();
        while let Some((i, g)) = iter.peek() {
            if is_word_char(g) {
                break;
            }
            pos = *i;
            iter.next();
        }
        while let Some((i, g)) = iter.peek() {
            if !is_word_char(g) {
                break;
            }
            pos = *i;
            iter.next();
        }
        pos
    }

    /// End of the word after the cursor (readline Alt+F).
    fn word_right_pos(&self) -> usize {
        let mut pos = self.cursor;
        let mut iter = self.text[self.cursor..].graphemes(true).peekable();
        while let Some(g) = iter.peek() {
            if is_word_char(g) {
                break;
            }
            pos += g.len();
            iter.next();
        }
        while let Some(g) = iter.peek() {
            if !is_word_char(g) {
                break;
            }
            pos += g.len();
            iter.next();
        }
        pos
    }

    pub(crate) fn word_left(&mut self) {
        self.cursor = self.word_left_pos();
    }

    pub(crate) fn word_right(&mut self) {
        self.cursor = self.word_right_pos();
    }

    fn kill(&mut self, range: std::ops::Range<usize>) {
        if range.is_empty() {
            return;
        }
        self.kill_ring = self.text[range.clone()].to_string();
        self.text.replace_range(range.clone(), "");
        self.cursor = range.start;
        self.completion = None;
    }

    /// Ctrl+W: delete the whitespace-delimited word before the cursor.
    pub(crate) fn kill_word_back(&mut self) {
        let before = &self.text[..self.cursor];
        let trimmed = before.trim_end_matches([' ', '\t']);
        let start = trimmed.rfind([' ', '\t', '\n']).map_or(0, |i| i + 1);
        self.kill(start..self.cursor);
    }

    /// Ctrl+U: delete from the start of the line to the cursor.
    pub(crate) fn kill_line_back(&mut self) {
        let start = self.line_start_of(self.cursor);
        self.kill(start..self.cursor);
    }

    /// Alt+K: delete from the cursor to the end of the line (readline's Ctrl+K, which is the
    /// switcher here).
    pub(crate) fn kill_line_forward(&mut self) {
        let end = self.line_end_of(self.cursor);
        self.kill(self.cursor..end);
    }

    /// Alt+D: delete the word after the cursor.
    pub(crate) fn kill_word_forward(&mut self) {
        let end = self.word_right_pos();
        self.kill(self.cursor..end);
    }

    /// Ctrl+Y: insert the last killed text.
    pub(crate) fn yank(&mut self) {
        let text = self.kill_ring.clone();
        self.insert_str(&text);
    }

    /// (line index, number of lines).
    pub(crate) fn line_position(&self) -> (usize, usize) {
        let line = self.text[..self.cursor].matches('\n').count();
        (line, self.text.matches('\n').count() + 1)
    }

    /// Up: previous line, or history back when on the first line.
    pub fn up(&mut self) {
        let (line, _) = self.line_position();
        if line > 0 {
            self.move_vertically(false);
        } else {
            self.history_back();
        }
    }

    /// Down: next line, or history forward when on the last line.
    pub fn down(&mut self) {
        let (line, lines) = self.line_position();
        if line + 1 < lines {
            self.move_vertically(true);
        } else {
            self.history_forward();
        }
    }

    fn move_vertically(&mut self, down: bool) {
        let start = self.line_start_of(self.cursor);
        let column = self.text[start..self.cursor].graphemes(true).count();
        let target_start = if down {
            self.line_end_of(self.cursor) + 1
        } else {
            self.line_start_of(start.saturating_sub(1))
        };
        let target_end = self.line_end_of(target_start.min(self.text.len()));
        let mut pos = target_start;
        for g in self.text[target_start..target_end]
            .graphemes(true)
            .take(column)
        {
            pos += g.len();
        }
        self.cursor = pos;
    }

    fn history_back(&mut self) {
        let next = match self.history_pos {
            None if self.history.is_empty() => return,
            None => {
                self.draft = self.text.clone();
                self.history.len() - 1
            }
            Some(0) => return,
            Some(i) => i - 1,
        };
        self.history_pos = Some(next);
        let text = self.history[next].clone();
        self.set_text(&text);
    }

    fn history_forward(&mut self) {
        match self.history_pos {
            None => {}
            Some(i) if i + 1 < self.history.len() => {
                self.history_pos = Some(i + 1);
                let text = self.history[i + 1].clone();
                self.set_text(&text);
            }
            Some(_) => {
                self.history_pos = None;
                let draft = std::mem::take(&mut self.draft);
                self.set_text(&draft);
            }
        }
    }

    /// Ctrl+R: start a history search, or look further back for the same query.
    pub(crate) fn history_search(&mut self) {
        match &mut self.search {
            None => self.search = Some(HistorySearch::default()),
            Some(search) => {
                let before = search.found.unwrap_or(self.history.len());
                search.found = find_back(&self.history, &search.query, before).or(search.found);
            }
        }
    }

    /// Typing while searching edits the query.
    pub(crate) fn search_edit(&mut self, edit: impl FnOnce(&mut String)) {
        if let Some(search) = &mut self.search {
            edit(&mut search.query);
            search.found = find_back(&self.history, &search.query, self.history.len());
        }
    }

    /// Enter while searching: take the match into the input.
    pub(crate) fn search_accept(&mut self) {
        if let Some(search) = self.search.take()
            && let Some(found) = search.found
            && let Some(text) = self.history.get(found).cloned()
        {
            self.set_text(&text);
        }
    }

    /// The word being completed: (byte start, text).
    pub(crate) fn word_at_cursor(&self) -> (usize, &str) {
        let before = &self.text[..self.cursor];
        let start = before.rfind([' ', '\n']).map_or(0, |i| i + 1);
        (start, &before[start..])
    }

    /// True when repeated Tab should cycle the current completion.
    pub(crate) fn completing(&self) -> bool {
        self.completion
            .as_ref()
            .is_some_and(|c| c.applied == self.text)
    }

    /// Starts completing the word at the cursor with these candidates.
    pub(crate) fn start_completion(&mut self, candidates: Vec<String>, backwards: bool) -> bool {
        if candidates.is_empty() {
            return false;
        }
        let (start, _) = self.word_at_cursor();
        let index = if backwards { candidates.len() - 1 } else { 0 };
        self.completion = Some(Completion {
            start,
            candidates,
            index,
            applied: String::new(),
        });
        self.apply_completion();
        true
    }

    /// Moves to the next (or previous) candidate.
    pub(crate) fn cycle_completion(&mut self, backwards: bool) {
        if let Some(completion) = &mut self.completion {
            let n = completion.candidates.len();
            completion.index = if backwards {
                (completion.index + n - 1) % n
            } else {
                (completion.index + 1) % n
            };
        }
        self.apply_completion();
    }

    fn apply_completion(&mut self) {
        let Some(mut completion) = self.completion.take() else {
            return;
        };
        let Some(candidate) = completion.candidates.get(completion.index) else {
            return;
        };
        let rest = self.text[self.cursor..].to_string();
        let mut text = self.text[..completion.start].to_string();
        text.push_str(candidate);
        if !rest.starts_with(' ') {
            text.push(' ');
        }
        let cursor = text.len();
        text.push_str(&rest);
        self.text = text;
        self.cursor = cursor;
        completion.applied = self.text.clone();
        self.completion = Some(completion);
    }
}

impl Editor {
    /// Applies a line-editing action (typing, cursor moves, deletions, yank), the same in the
    /// input and in one-line prompts; false for any other action.
    pub(crate) fn apply(&mut self, action: &Action) -> bool {
        match action {
            Action::Insert(c) => self.insert_char(*c),
            Action::Backspace => self.backspace(),
            Action::Delete => self.delete(),
            Action::Left => self.left(),
            Action::Right => self.right(),
            Action::LineStart | Action::Home => self.line_start(),
            Action::LineEnd | Action::End => self.line_end(),
            Action::WordLeft => self.word_left(),
            Action::WordRight => self.word_right(),
            Action::KillWordBack => self.kill_word_back(),
            Action::KillLineBack => self.kill_line_back(),
            Action::KillWordForward => self.kill_word_forward(),
            Action::KillLineForward => self.kill_line_forward(),
            Action::Yank => self.yank(),
            _ => return false,
        }
        true
    }
}

fn find_back(history: &[String], query: &str, before: usize) -> Option<usize> {
    if query.is_empty() {
        return None;
    }
    history[..before.min(history.len())]
        .iter()
        .rposition(|h| h.contains(query))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn editor(text: &str) -> Editor {
        let mut e = Editor::default();
        e.set_text(text);
        e
    }

    #[test]
    fn readline_kills_and_yank() {
        let mut e = editor("hello big world");
        e.kill_word_back();
        assert_eq!(e.text(), "hello big ");
        e.yank();
        assert_eq!(e.text(), "hello big world");
        e.line_start();
        e.kill_word_forward();
        assert_eq!(e.text(), " big world");
        e.line_end();
        e.kill_line_back();
        assert_eq!(e.text(), "");
    }

    #[test]
    fn word_motions_and_graphemes() {
        let mut e = editor("日本 👨\u{200D}👩 ok");
        e.left();
        e.left();
        e.left();
        assert_eq!(&e.text()[e.cursor()..], " ok");
        e.left();
        assert_eq!(&e.text()[e.cursor()..], "👨\u{200D}👩 ok");
        e.word_left();
        assert_eq!(e.cursor(), 0);
        e.word_right();
        assert_eq!(&e.text()[e.cursor()..], " 👨\u{200D}👩 ok");
        e.backspace();
        assert_eq!(e.text(), "日 👨\u{200D}👩 ok");
    }

    #[test]
    fn history_on_first_and_last_line() {
        let mut e = Editor::default();
        e.set_text("one");
        e.take();
        e.set_text("two");
        e.take();
        e.set_text("draft");
        e.up();
        assert_eq!(e.text(), "two");
        e.up();
        assert_eq!(e.text(), "one");
        e.down();
        e.down();
        assert_eq!(e.text(), "draft");
        e.set_text("a\nb");
        e.up();
        assert_eq!(e.text(), "a\nb", "up on the second line moves the cursor");
        assert_eq!(e.line_position(), (0, 2));
    }

    #[test]
    fn reverse_search_and_completion() {
        let mut e = Editor::default();
        for line in ["deploy now", "hello", "deploy later"] {
            e.set_text(line);
            e.take();
        }
        e.history_search();
        e.search_edit(|q| q.push_str("deploy"));
        e.history_search();
        e.search_accept();
        assert_eq!(e.text(), "deploy now");

        let mut e = editor("/jo");
        assert!(e.start_completion(vec!["/join".into()], false));
        assert_eq!(e.text(), "/join ");
        let mut e = editor("hi al");
        e.start_completion(vec!["alice".into(), "alan".into()], false);
        assert!(e.completing());
        e.cycle_completion(false);
        assert_eq!(e.text(), "hi alan ");
    }
}
