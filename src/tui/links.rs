//! Web links in messages: found once per body (linkify, `http`/`https` only), shown underlined
//! in the log, listed and opened with `/open [n]`. A message body is already sanitized, so a
//! link found in it holds no control character; opening goes to the platform opener directly,
//! never through a shell. Where the terminal supports OSC 8, a link is also a terminal
//! hyperlink: the URL inside that escape is untrusted, so only a strict allow-list gets there.

use std::ops::Range;

use linkify::{LinkFinder, LinkKind};

use super::state::{Buffer, LineKind};

/// How many of the newest links `/open` lists.
pub(crate) const OPEN_LIST_LEN: usize = 9;

/// Byte ranges of the `http(s)://` links in `text`, in order.
pub(crate) fn link_ranges(text: &str) -> Vec<Range<usize>> {
    // Runs for every line on screen in every frame, and most lines hold no link: a text
    // without `http` (which every link kept below starts with) skips the link finder.
    if memchr::memmem::find(text.as_bytes(), b"http").is_none() {
        return Vec::new();
    }
    let mut finder = LinkFinder::new();
    finder.kinds(&[LinkKind::Url]);
    finder
        .links(text)
        .filter(|link| {
            let url = link.as_str();
            url.starts_with("https://") || url.starts_with("http://")
        })
        .map(|link| link.start()..link.end())
        .collect()
}

/// Longest URL put inside an OSC 8 escape; a longer link is drawn underlined only.
pub(crate) const HYPERLINK_MAX_URL: usize = 2048;

/// Whether `url` may go inside an OSC 8 escape: an `http`, `https` or `mailto` URL of at most
/// [`HYPERLINK_MAX_URL`] bytes of printable ASCII (no space, no control character of any kind,
/// so nothing in it can end the escape early or start another one).
pub(crate) fn is_safe_hyperlink(url: &str) -> bool {
    let scheme_ok = ["https://", "http://", "mailto:"]
        .iter()
        .any(|scheme| url.len() > scheme.len() && url.starts_with(scheme));
    scheme_ok && url.len() <= HYPERLINK_MAX_URL && url.bytes().all(|b| b.is_ascii_graphic())
}

/// One cell's symbol drawing `text` as a hyperlink to `url`: the link is opened and closed
/// inside the symbol, so that a redraw of any other cell can never leave a link open. `None`
/// when the URL is not [safe](is_safe_hyperlink) or `text` is not printable ASCII.
pub fn hyperlink_symbol(url: &str, text: &str) -> Option<String> {
    let text_ok = !text.is_empty() && text.bytes().all(|b| b == b' ' || b.is_ascii_graphic());
    (text_ok && is_safe_hyperlink(url)).then(|| format!("\x1b]8;;{url}\x1b\\{text}\x1b]8;;\x1b\\"))
}

/// Whether the terminal we run in is known to draw OSC 8 hyperlinks, from its environment
/// (`var` reads a variable). Conservative: an unknown terminal, or any multiplexer (tmux
/// before 3.4 and screen swallow the escape, and we cannot see the terminal outside), is no.
pub(crate) fn terminal_supports_hyperlinks(var: impl Fn(&str) -> Option<String>) -> bool {
    let has = |name: &str| var(name).is_some_and(|value| !value.is_empty());
    let number = |name: &str| var(name).and_then(|value| value.trim().parse::<u64>().ok());
    let term = var("TERM").unwrap_or_default();
    if has("TMUX") || has("STY") || term.starts_with("screen") || term.starts_with("tmux") {
        return false;
    }
    if matches!(term.as_str(), "" | "dumb" | "linux") {
        return false;
    }
    let program = var("TERM_PROGRAM").unwrap_or_default();
    matches!(
        program.as_str(),
        "iTerm.app" | "WezTerm" | "vscode" | "ghostty"
    ) || has("WT_SESSION")
        || has("KITTY_WINDOW_ID")
        || number("VTE_VERSION").is_some_and(|v| v >= 5000)
        || number("KONSOLE_VERSION").is_some_and(|v| v >= 201_200)
        || matches!(
            term.as_str(),
            "xterm-kitty" | "foot" | "foot-extra" | "wezterm" | "alacritty" | "xterm-ghostty"
        )
}

/// The newest links of a buffer, newest first, at most [`OPEN_LIST_LEN`] (`/open 1` is the
/// newest).
pub(crate) fn recent_links(buffer: &Buffer) -> Vec<String> {
    let mut links = Vec::new();
    // Messages only: not the notice `/open` itself writes.
    let messages = buffer.lines.iter().rev();
    for line in messages.filter(|l| matches!(l.kind, LineKind::Text | LineKind::Json)) {
        let body = &line.body;
        for range in link_ranges(body).into_iter().rev() {
            if links.len() == OPEN_LIST_LEN {
                return links;
            }
            links.push(body[range].to_string());
        }
    }
    links
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_web_links_are_found_without_trailing_punctuation() {
        let text = "see https://example.com/a?b=1, or (http://x.org/p). mail a@b.c, ftp://f.io";
        let found: Vec<&str> = link_ranges(text).into_iter().map(|r| &text[r]).collect();
        assert_eq!(found, ["https://example.com/a?b=1", "http://x.org/p"]);
    }

    #[test]
    fn a_hyperlink_symbol_opens_and_closes_its_link() {
        assert_eq!(
            hyperlink_symbol("https://example.com/a?b=1;c", "ex").as_deref(),
            Some("\x1b]8;;https://example.com/a?b=1;c\x1b\\ex\x1b]8;;\x1b\\")
        );
        assert!(hyperlink_symbol("mailto:a@b.c", "a").is_some());
    }

    #[test]
    fn hostile_urls_never_reach_an_escape() {
        let long = format!("https://example.com/{}", "a".repeat(10 * 1024));
        let hostile = [
            "https://e.com/\x1b]8;;https://evil\x1b\\",
            "https://e.com/\x07bell",
            "https://e.com/st\x1b\\",
            "https://e.com/c1\u{9c}",
            "https://e.com/csi\u{9b}31m",
            "https://e.com/line\nbreak",
            "https://e.com/cr\r",
            "https://e.com/tab\t",
            "https://e.com/del\x7f",
            "https://e.com/a space",
            "https://e.com/\u{202e}bidi",
            "https://ex\u{e4}mple.com/",
            "javascript:alert(1)",
            "file:///etc/passwd",
            "ftp://e.com/",
            "https://",
            "",
            long.as_str(),
        ];
        for url in hostile {
            assert_eq!(hyperlink_symbol(url, "ab"), None, "{url:?}");
        }
        for text in ["\x1b[2J", "a\x07", "\u{9b}", "", "\u{e4}"] {
            assert_eq!(hyperlink_symbol("https://e.com/", text), None, "{text:?}");
        }
        let longest = format!("https://e.com/{}", "a".repeat(HYPERLINK_MAX_URL - 14));
        assert!(hyperlink_symbol(&longest, "ab").is_some());
        assert!(hyperlink_symbol(&format!("{longest}a"), "ab").is_none());
    }

    fn env<'a>(vars: &'a [(&str, &str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn only_terminals_known_to_draw_hyperlinks_get_them() {
        let yes: [&[(&str, &str)]; 6] = [
            &[("TERM", "xterm-256color"), ("TERM_PROGRAM", "iTerm.app")],
            &[("TERM", "xterm-256color"), ("TERM_PROGRAM", "WezTerm")],
            &[("TERM", "xterm-256color"), ("WT_SESSION", "1f2e")],
            &[("TERM", "xterm-256color"), ("VTE_VERSION", "7200")],
            &[("TERM", "xterm-kitty")],
            &[("TERM", "foot")],
        ];
        for vars in yes {
            assert!(terminal_supports_hyperlinks(env(vars)), "{vars:?}");
        }
        let no: [&[(&str, &str)]; 7] = [
            &[("TERM", "xterm-256color")],
            &[("TERM", "xterm-256color"), ("VTE_VERSION", "4601")],
            &[
                ("TERM", "xterm-256color"),
                ("TERM_PROGRAM", "Apple_Terminal"),
            ],
            &[("TERM", "screen-256color"), ("VTE_VERSION", "7200")],
            &[("TERM", "xterm-kitty"), ("TMUX", "/tmp/tmux-0/default,1,0")],
            &[("TERM", "dumb"), ("TERM_PROGRAM", "WezTerm")],
            &[],
        ];
        for vars in no {
            assert!(!terminal_supports_hyperlinks(env(vars)), "{vars:?}");
        }
    }
}
