//! The bytes that make a highlight reach the user outside the chat's window: the terminal bell
//! and a desktop notification in one of the two escape sequences terminals understand. The
//! title and text are already sanitized (no controls); this module also keeps them short and
//! free of the separators the sequences use.

use super::state::Notify;
use crate::text::truncate;

/// The longest notification text, in cells.
const MAX_TEXT: usize = 120;

/// What to write to the terminal for one highlight (empty: nothing).
pub fn sequence(bell: bool, notify: Notify, title: &str, text: &str) -> String {
    let mut out = String::new();
    let field = |value: &str, max: usize| {
        // `;` separates OSC 777's fields; controls cannot be here (sanitized), but a stray
        // ESC or BEL would end the sequence early: blank them all the same.
        let flat: String = value
            .chars()
            .map(|c| if c == ';' || c.is_control() { ' ' } else { c })
            .collect();
        truncate(&flat, max)
    };
    match notify {
        Notify::Off => {}
        Notify::Osc9 => {
            let body = format!("{}: {}", field(title, 40), field(text, MAX_TEXT));
            out.push_str(&format!("\u{1b}]9;{body}\u{7}"));
        }
        Notify::Osc777 => out.push_str(&format!(
            "\u{1b}]777;notify;{};{}\u{7}",
            field(title, 40),
            field(text, MAX_TEXT)
        )),
    }
    if bell {
        out.push('\u{7}');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn osc_sequences_carry_title_and_text_without_separators() {
        assert_eq!(sequence(true, Notify::Off, "t", "x"), "\u{7}");
        assert_eq!(
            sequence(false, Notify::Osc9, "wpchat #ops", "bob: alice; look"),
            "\u{1b}]9;wpchat #ops: bob: alice  look\u{7}"
        );
        assert_eq!(
            sequence(false, Notify::Osc777, "wpchat #ops", "bob: hi\u{1b}]0;x"),
            "\u{1b}]777;notify;wpchat #ops;bob: hi ]0 x\u{7}"
        );
        let long = "x".repeat(500);
        assert!(sequence(false, Notify::Osc9, "t", &long).len() < 200);
    }
}
