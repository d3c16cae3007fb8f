//! A ratatui test buffer read as a person would: the screen as text, one line per row.

use ratatui::buffer::Buffer;

pub fn text_of(buffer: &Buffer) -> String {
    let width = usize::from(buffer.area.width);
    buffer
        .content
        .chunks(width)
        .map(|row| row.iter().map(|cell| cell.symbol()).collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}
