//! Web links in messages: found once per body (linkify, `http`/`https` only), shown underlined
//! in the log, listed and opened with `/open [n]`. A message body is already sanitized, so a
//! link found in it holds no control character; opening goes to the platform opener directly,
//! never through a shell.

use std::ops::Range;

use linkify::{LinkFinder, LinkKind};

use super::state::{Buffer, LineKind};

/// How many of the newest links `/open` lists.
pub(crate) const OPEN_LIST_LEN: usize = 9;

/// Byte ranges of the `http(s)://` links in `text`, in order.
pub(crate) fn link_ranges(text: &str) -> Vec<Range<usize>> {
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
}
