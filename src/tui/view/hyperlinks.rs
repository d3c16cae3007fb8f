//! The last pass of a frame: links the log drew (plain, underlined) become OSC 8 hyperlinks,
//! two columns per cell, each cell opening and closing its own link.
//!
//! Why cells of their own: ratatui redraws only the cells that changed, so a link opened in
//! one cell and closed in a later one would stay open over whatever a partial redraw writes
//! next. Why a forced width: ratatui measures a symbol by its text, and the escape's URL
//! counts as dozens of columns, which would make it skip the cells after it when diffing; the
//! cell says how wide it really is and the covered cell is skipped.

use std::num::NonZeroU16;

use ratatui::buffer::{Buffer, CellDiffOption};
use ratatui::style::Modifier;

use crate::tui::links::hyperlink_symbol;

/// A link piece drawn on one row: `width` ASCII columns from (`x`, `y`), linking to `url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hyperlink {
    pub(crate) x: u16,
    pub(crate) y: u16,
    pub(crate) width: u16,
    pub(crate) url: String,
}

/// Columns per hyperlink cell: the most a cell may hold (a wide character's two).
const CHUNK: u16 = 2;

/// Turns each piece into hyperlink cells. A chunk is changed only if its cells still hold what
/// the log drew there (underlined ASCII), so an overlay drawn over a link stays as it is.
pub(crate) fn draw_hyperlinks(buffer: &mut Buffer, links: &[Hyperlink]) {
    let area = buffer.area;
    for link in links {
        let end = link.x.saturating_add(link.width).min(area.right());
        if link.y >= area.bottom() || link.y < area.top() || link.x < area.left() {
            continue;
        }
        let mut x = link.x;
        while x < end {
            let width = CHUNK.min(end - x);
            link_chunk(buffer, x, link.y, width, &link.url);
            x += width;
        }
    }
}

/// One cell of `width` columns at (`x`, `y`) linking to `url`, the next `width - 1` skipped.
fn link_chunk(buffer: &mut Buffer, x: u16, y: u16, width: u16, url: &str) {
    let mut text = String::with_capacity(usize::from(width));
    for column in x..x + width {
        let cell = &buffer[(column, y)];
        let symbol = cell.symbol();
        let drawn_by_log = symbol.len() == 1
            && symbol.as_bytes()[0].is_ascii_graphic()
            && cell.modifier.contains(Modifier::UNDERLINED)
            && cell.diff_option == CellDiffOption::None;
        if !drawn_by_log {
            return;
        }
        text.push_str(symbol);
    }
    let (Some(symbol), Some(forced)) = (hyperlink_symbol(url, &text), NonZeroU16::new(width))
    else {
        return;
    };
    buffer[(x, y)]
        .set_symbol(&symbol)
        .set_diff_option(CellDiffOption::ForcedWidth(forced));
    for covered in x + 1..x + width {
        buffer[(covered, y)].set_diff_option(CellDiffOption::Skip);
    }
}

#[cfg(test)]
mod tests {
    use ratatui::buffer::CellWidth;
    use ratatui::layout::Rect;
    use ratatui::style::Style;

    use super::*;

    const URL: &str = "https://example.com/a";

    fn underlined() -> Style {
        Style::new().add_modifier(Modifier::UNDERLINED)
    }

    fn linked_row(text_x: u16, link: &str) -> Buffer {
        let mut buffer = Buffer::empty(Rect::new(0, 0, 40, 2));
        buffer.set_string(0, 0, "see ", Style::new());
        buffer.set_string(text_x, 0, link, underlined());
        buffer.set_string(text_x + link.len() as u16, 0, " end", Style::new());
        draw_hyperlinks(
            &mut buffer,
            &[Hyperlink {
                x: text_x,
                y: 0,
                width: link.len() as u16,
                url: URL.to_string(),
            }],
        );
        buffer
    }

    /// The link's text as the terminal would show it: each cell's symbol with the escapes
    /// removed, skipped cells contributing nothing.
    fn shown(buffer: &Buffer, y: u16) -> String {
        let mut text = String::new();
        for x in 0..buffer.area.width {
            let cell = &buffer[(x, y)];
            if cell.diff_option == CellDiffOption::Skip {
                continue;
            }
            let symbol = cell.symbol();
            let opened = format!("\x1b]8;;{URL}\x1b\\");
            text.push_str(
                symbol
                    .strip_prefix(&opened)
                    .and_then(|s| s.strip_suffix("\x1b]8;;\x1b\\"))
                    .unwrap_or(symbol),
            );
        }
        text.trim_end().to_string()
    }

    /// (tests/tui_hyperlinks.rs checks each cell's escape over whole frames.)
    #[test]
    fn link_cells_cover_the_link_two_columns_each() {
        let buffer = linked_row(4, URL);
        let widths: Vec<u16> = (0..buffer.area.width)
            .filter_map(|x| match buffer[(x, 0)].diff_option {
                CellDiffOption::ForcedWidth(width) => Some(width.get()),
                _ => None,
            })
            .collect();
        assert_eq!(widths.iter().sum::<u16>(), URL.len() as u16);
        assert!(widths[..widths.len() - 1].iter().all(|&w| w == CHUNK));
        assert_eq!(shown(&buffer, 0), format!("see {URL} end"));
    }

    #[test]
    fn an_odd_link_ends_in_a_one_column_cell() {
        let link = "https://ex.io";
        let buffer = linked_row(5, link);
        assert_eq!(shown(&buffer, 0), format!("see  {link} end"));
        let last = &buffer[(5 + link.len() as u16 - 1, 0)];
        assert_eq!(
            last.diff_option,
            CellDiffOption::ForcedWidth(NonZeroU16::MIN)
        );
    }

    /// ratatui measures a link cell by its text, escapes included: far more than the two
    /// columns it draws. Without the forced width the diff would skip the cells after it.
    #[test]
    fn the_diff_redraws_every_link_cell_and_nothing_it_covers() {
        let symbol = hyperlink_symbol(URL, "ht").unwrap();
        assert!(symbol.as_str().cell_width() > 20);
        let before = {
            let mut buffer = Buffer::empty(Rect::new(0, 0, 40, 2));
            buffer.set_string(0, 0, format!("see {URL} end"), Style::new());
            buffer
        };
        let after = linked_row(4, URL);
        let updates = before.diff(&after);
        let columns: Vec<u16> = updates.iter().map(|(x, _, _)| *x).collect();
        let expected: Vec<u16> = (4..4 + URL.len() as u16).step_by(2).collect();
        assert_eq!(columns, expected, "one update per link cell");
        // And back to plain text: every column of the link is written again.
        let updates = after.diff(&before);
        let columns: Vec<u16> = updates.iter().map(|(x, _, _)| *x).collect();
        assert_eq!(columns, (4..4 + URL.len() as u16).collect::<Vec<_>>());
    }

    #[test]
    fn a_chunk_something_else_drew_over_stays_plain() {
        let mut buffer = Buffer::empty(Rect::new(0, 0, 40, 1));
        buffer.set_string(4, 0, URL, underlined());
        // An overlay's border over the link's third column.
        buffer.set_string(6, 0, "│", Style::new());
        draw_hyperlinks(
            &mut buffer,
            &[Hyperlink {
                x: 4,
                y: 0,
                width: URL.len() as u16,
                url: URL.to_string(),
            }],
        );
        assert!(buffer[(4, 0)].symbol().contains('\x1b'));
        for x in 6..8 {
            assert_eq!(buffer[(x, 0)].diff_option, CellDiffOption::None);
            assert!(!buffer[(x, 0)].symbol().contains('\x1b'));
        }
        assert!(buffer[(8, 0)].symbol().contains('\x1b'));
    }
}
