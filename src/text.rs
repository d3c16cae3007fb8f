//! Untrusted text → safe display text, applied once at ingestion (UX.md, Text safety).
//!
//! Everything that came over the network (message data, group names, user ids, error messages)
//! goes through [`sanitize`] or [`sanitize_line`] before anything stores or shows it, so that no
//! sink can be tricked into clearing the screen, setting the title, answering a terminal query
//! or reordering text (CWE-150):
//!
//! - C0 controls become Control Pictures (`ESC` → `␛`), DEL becomes `␡`, C1 controls become
//!   [`C1_MARKER`], so a reader sees that something was there;
//! - `\t` becomes spaces, `\r\n` becomes `\n`, a lone `\r` becomes `␍`;
//! - bidi embeddings, overrides and isolates become [`BIDI_MARKER`];
//! - stray zero-width characters are removed (a zero-width joiner between two emoji is kept,
//!   so family and profession emoji still render as one glyph).

use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthStr;

/// Shown in place of a C1 control character (U+0080–U+009F).
pub(crate) const C1_MARKER: char = '\u{FFFD}';
/// Shown in place of a bidi embedding, override or isolate.
pub(crate) const BIDI_MARKER: char = '\u{2E2E}';
/// Shown in place of a line break by [`sanitize_line`].
pub(crate) const NEWLINE_MARKER: char = '↵';
/// How many spaces a tab becomes.
pub(crate) const TAB_SPACES: &str = "    ";

/// Makes untrusted text safe to show; keeps `\n` so multi-line messages stay multi-line.
pub fn sanitize(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    sanitize_into(input, false, &mut out);
    out
}

/// Like [`sanitize`], for places that show one line (group names, user ids, status bar):
/// line breaks become a visible `↵`.
pub fn sanitize_line(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    sanitize_into(input, true, &mut out);
    out
}

/// [`sanitize`], appended to `out` (no allocation when `out` has room).
pub fn sanitize_text_into(input: &str, out: &mut String) {
    sanitize_into(input, false, out);
}

/// [`sanitize_line`], appended to `out` (no allocation when `out` has room).
pub fn sanitize_line_into(input: &str, out: &mut String) {
    sanitize_into(input, true, out);
}

/// Bidi embeddings, overrides, isolates and the Arabic letter mark.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{061C}')
}

/// Zero-width characters that have no business in chat text (ZWJ is judged in context).
fn is_stray_zero_width(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}'
    )
}

/// A rough "is part of an emoji" test, good enough to keep ZWJ sequences joined.
fn is_emoji_part(c: char) -> bool {
    matches!(
        c,
        '\u{1F000}'..='\u{1FAFF}' | '\u{2600}'..='\u{27BF}' | '\u{2B00}'..='\u{2BFF}'
            | '\u{FE0F}' | '\u{E0020}'..='\u{E007F}'
    )
}

fn sanitize_into(input: &str, one_line: bool, out: &mut String) {
    // Fast path: printable ASCII needs no work.
    if input.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        out.push_str(input);
        return;
    }
    let mut chars = input.chars().peekable();
    let mut previous: Option<char> = None;
    while let Some(c) = chars.next() {
        match c {
            '\n' | '\u{2028}' | '\u{2029}' => {
                if one_line {
                    out.push(NEWLINE_MARKER);
                } else {
                    out.push('\n');
                }
            }
            '\r' if chars.peek() == Some(&'\n') => {
                // `\r\n` becomes the `\n` that follows.
            }
            '\t' => out.push_str(TAB_SPACES),
            '\u{0}'..='\u{1f}' => {
                out.push(char::from_u32(0x2400 + c as u32).unwrap_or(C1_MARKER));
            }
            '\u{7f}' => out.push('\u{2421}'),
            '\u{80}'..='\u{9f}' => out.push(C1_MARKER),
            '\u{200D}' => {
                let joins_emoji = previous.is_some_and(is_emoji_part)
                    && chars.peek().is_some_and(|next| is_emoji_part(*next));
                if joins_emoji {
                    out.push(c);
                }
            }
            c if is_bidi_control(c) => out.push(BIDI_MARKER),
            c if is_stray_zero_width(c) => {}
            c => out.push(c),
        }
        previous = Some(c);
    }
}

/// Display width of `text` in terminal cells, counting each grapheme the way the renderer
/// draws it.
pub fn display_width(text: &str) -> usize {
    if text.is_ascii() {
        return text.len();
    }
    text.graphemes(true).map(grapheme_width).sum()
}

/// Width of one grapheme in cells (0 for graphemes the renderer skips).
pub(crate) fn grapheme_width(grapheme: &str) -> usize {
    if grapheme.len() == 1 {
        return usize::from(!grapheme.as_bytes()[0].is_ascii_control());
    }
    if grapheme.chars().any(char::is_control) {
        return 0;
    }
    grapheme.width()
}

/// What to draw instead of `grapheme` where terminals may disagree with `unicode-width` about
/// its width (`None`: draw it as it is). Regional indicators become their letters (a flag pair
/// `🇯🇵` → `JP`), and a cluster whose width is not the sum of its characters' widths (ZWJ
/// sequences, skin tones, VS16, keycaps) becomes its first character. The fallback is never
/// wider than [`grapheme_width`], so a caller pads it with spaces and every later cell stays
/// where the layout put it (issue 15: one flag used to smear every reader's screen).
pub fn terminal_fallback(grapheme: &str) -> Option<String> {
    if grapheme.len() == 1 {
        return None;
    }
    // One character (a box-drawing line, a CJK ideograph) is drawn as measured: the common
    // case of every frame, answered without measuring anything.
    let mut chars = grapheme.chars();
    if let (Some(only), None) = (chars.next(), chars.next())
        && !is_regional_indicator(only)
    {
        return None;
    }
    if grapheme.chars().any(is_regional_indicator) {
        let letters = grapheme
            .chars()
            .filter_map(|c| {
                let offset = u32::from(c).checked_sub(0x1F1E6)?;
                char::from_u32(u32::from('A') + offset).filter(|_| offset < 26)
            })
            .collect();
        return Some(letters);
    }
    let sum: usize = grapheme
        .chars()
        .map(|c| unicode_width::UnicodeWidthChar::width(c).unwrap_or(0))
        .sum();
    let width = grapheme_width(grapheme);
    if sum == width {
        return None;
    }
    let first = grapheme.chars().next()?;
    let first_width = unicode_width::UnicodeWidthChar::width(first).unwrap_or(0);
    Some(if (1..=width).contains(&first_width) {
        first.to_string()
    } else {
        "?".to_string()
    })
}

fn is_regional_indicator(c: char) -> bool {
    ('\u{1F1E6}'..='\u{1F1FF}').contains(&c)
}

/// Cuts `text` to at most `max` cells, ending with `…` when something was cut.
pub fn truncate(text: &str, max: usize) -> String {
    if display_width(text) <= max {
        return text.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for g in text.graphemes(true) {
        let w = grapheme_width(g);
        if used + w > max - 1 {
            break;
        }
        used += w;
        out.push_str(g);
    }
    out.push('…');
    out
}

/// Cuts `text` to at most `max` cells by taking out its middle (`group 'ggg…ggg': too long`),
/// for messages whose end says what went wrong.
pub fn truncate_middle(text: &str, max: usize) -> String {
    if display_width(text) <= max {
        return text.to_string();
    }
    let head = truncate(text, max.div_ceil(2));
    let mut room = max.saturating_sub(display_width(&head));
    let mut tail: Vec<&str> = Vec::new();
    for g in text.graphemes(true).rev() {
        let w = grapheme_width(g);
        if w > room {
            break;
        }
        room -= w;
        tail.push(g);
    }
    tail.reverse();
    head + &tail.concat()
}

/// Splits `text` into rows of at most `width` cells, breaking at spaces when a word fits on
/// the next row and inside words otherwise. `\n` always breaks. Returns byte ranges.
pub fn wrap_ranges(text: &str, width: usize, max_rows: usize) -> Vec<std::ops::Range<usize>> {
    let width = width.max(1);
    let mut rows = Vec::new();
    let mut line_start = 0;
    for line in text.split('\n') {
        let base = line_start;
        line_start += line.len() + 1;
        if rows.len() >= max_rows {
            break;
        }
        if line.is_ascii() && line.len() <= width {
            rows.push(base..base + line.len());
            continue;
        }
        let mut row_start = 0;
        let mut used = 0;
        let mut last_space: Option<usize> = None;
        let mut indices = line.grapheme_indices(true).peekable();
        while let Some((i, g)) = indices.next() {
            let w = grapheme_width(g);
            if used + w > width && i > row_start {
                // Break at the last space in this row if there is one, else here.
                let cut = match last_space {
                    Some(space) if space > row_start => space + 1,
                    _ => i,
                };
                rows.push(base + row_start..base + cut);
                if rows.len() >= max_rows {
                    break;
                }
                row_start = cut;
                used = display_width(&line[row_start..i]);
                last_space = None;
            }
            used += w;
            if g == " " {
                last_space = Some(i);
            }
            if indices.peek().is_none() {
                rows.push(base + row_start..base + line.len());
            }
        }
        if line.is_empty() {
            rows.push(base..base);
        }
    }
    rows.truncate(max_rows);
    if rows.is_empty() {
        rows.push(0..0);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_become_visible_glyphs() {
        assert_eq!(sanitize("\u{1b}[2Jhi"), "␛[2Jhi");
        assert_eq!(sanitize("\u{1b}]0;title\u{7}"), "␛]0;title␇");
        assert_eq!(sanitize("a\u{0}b"), "a␀b");
        assert_eq!(sanitize("del\u{7f}"), "del␡");
        assert_eq!(sanitize("csi\u{9b}2J"), "csi\u{FFFD}2J");
    }

    #[test]
    fn line_breaks_and_tabs() {
        assert_eq!(sanitize("a\r\nb"), "a\nb");
        assert_eq!(sanitize("a\rb"), "a␍b");
        assert_eq!(sanitize("a\tb"), "a    b");
        assert_eq!(sanitize_line("a\nb"), "a↵b");
        assert_eq!(sanitize_line("a\r\nb"), "a↵b");
    }

    #[test]
    fn bidi_controls_are_marked_and_zero_width_removed() {
        assert_eq!(sanitize("abc\u{202E}def"), "abc\u{2E2E}def");
        assert_eq!(sanitize("x\u{2066}y\u{2069}"), "x\u{2E2E}y\u{2E2E}");
        assert_eq!(sanitize("zero\u{200B}width\u{FEFF}"), "zerowidth");
        assert_eq!(sanitize("a\u{200D}b"), "ab");
    }

    #[test]
    fn emoji_zwj_sequences_survive() {
        let family = "👨\u{200D}👩\u{200D}👧";
        assert_eq!(sanitize(family), family);
        assert_eq!(sanitize("日本語 ok"), "日本語 ok");
    }

    #[test]
    fn graphemes_terminals_may_draw_differently_get_a_fallback_of_the_same_width() {
        let cases = [
            ("🇯🇵", "JP"),
            ("🇫", "F"),
            ("👨\u{200D}👩\u{200D}👧\u{200D}👦", "👨"),
            ("👍🏼", "👍"),
            ("❤\u{FE0F}", "❤"),
            ("1\u{FE0F}\u{20E3}", "1"),
        ];
        for (grapheme, fallback) in cases {
            assert_eq!(
                terminal_fallback(grapheme).as_deref(),
                Some(fallback),
                "{grapheme:?}"
            );
            assert!(
                display_width(fallback) <= grapheme_width(grapheme),
                "{grapheme:?}"
            );
        }
        for plain in ["a", "日", "e\u{301}", "각", "☺"] {
            assert_eq!(terminal_fallback(plain), None, "{plain:?}");
        }
    }

    #[test]
    fn widths_and_truncation() {
        assert_eq!(display_width("日本"), 4);
        assert_eq!(display_width("ab"), 2);
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("日本語", 4), "日…");
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(
            truncate_middle("group 'gggggggggg': too long", 20),
            "group 'gg…: too long"
        );
        assert_eq!(truncate_middle("short", 20), "short");
    }

    #[test]
    fn wrapping_breaks_at_spaces_and_wide_chars() {
        let text = "hello world again";
        let rows: Vec<&str> = wrap_ranges(text, 11, 10)
            .into_iter()
            .map(|r| &text[r])
            .collect();
        assert_eq!(rows, vec!["hello ", "world again"]);
        let cjk = "日本語日本語";
        let rows: Vec<&str> = wrap_ranges(cjk, 5, 10)
            .into_iter()
            .map(|r| &cjk[r])
            .collect();
        assert_eq!(rows, vec!["日本", "語日", "本語"]);
        let multi = "a\n\nb";
        assert_eq!(wrap_ranges(multi, 5, 10).len(), 3);
        assert_eq!(wrap_ranges("abcdefghij", 2, 3).len(), 3);
    }
}
