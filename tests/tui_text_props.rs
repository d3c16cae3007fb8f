//! Properties of the text sanitiser: whatever arrives from the network, nothing that reaches
//! the terminal is a control character or a bidi control, and sanitising never panics.

use proptest::prelude::*;
use wpchat::text::{
    display_width, is_bidi_control, sanitize, sanitize_line, truncate, wrap_ranges,
};

/// Strings biased towards the dangerous parts of Unicode.
fn hostile_text() -> impl Strategy<Value = String> {
    let dangerous = prop_oneof![
        (0u32..0x20).prop_map(|c| char::from_u32(c).unwrap_or('a')),
        Just('\u{7f}'),
        (0x80u32..0xa0).prop_map(|c| char::from_u32(c).unwrap_or('a')),
        (0x202Au32..=0x202E).prop_map(|c| char::from_u32(c).unwrap_or('a')),
        (0x2066u32..=0x2069).prop_map(|c| char::from_u32(c).unwrap_or('a')),
        (0x200Bu32..=0x200F).prop_map(|c| char::from_u32(c).unwrap_or('a')),
        Just('\u{2060}'),
        Just('\u{FEFF}'),
        Just('👨'),
        Just('日'),
        Just('\r'),
        Just('\n'),
        Just('\t'),
        any::<char>(),
    ];
    prop::collection::vec(dangerous, 0..64).prop_map(|chars| chars.into_iter().collect())
}

proptest! {
    #[test]
    fn sanitize_lets_no_control_through(input in hostile_text()) {
        let out = sanitize(&input);
        for c in out.chars() {
            prop_assert!(c == '\n' || !c.is_control(), "control {:?} in {:?}", c, out);
            prop_assert!(!is_bidi_control(c), "bidi control {:?} in {:?}", c, out);
            prop_assert!(!matches!(c, '\u{200B}' | '\u{FEFF}' | '\u{2060}'), "zero width {:?}", c);
        }
    }

    #[test]
    fn sanitize_line_is_one_line(input in hostile_text()) {
        let out = sanitize_line(&input);
        for c in out.chars() {
            prop_assert!(!c.is_control(), "control {:?} in {:?}", c, out);
            prop_assert!(!is_bidi_control(c));
        }
    }

    #[test]
    fn sanitize_is_idempotent(input in hostile_text()) {
        let once = sanitize(&input);
        prop_assert_eq!(sanitize(&once), once.clone());
    }

    #[test]
    fn any_string_is_safe(input in any::<String>()) {
        let out = sanitize(&input);
        prop_assert!(out.chars().all(|c| c == '\n' || !c.is_control()));
    }

    #[test]
    fn wrapped_rows_fit_their_width(input in hostile_text(), width in 2usize..40) {
        let safe = sanitize(&input);
        for range in wrap_ranges(&safe, width, 1000) {
            let row = &safe[range];
            prop_assert!(display_width(row) <= width, "row {:?} wider than {}", row, width);
        }
        prop_assert!(display_width(&truncate(&safe, width)) <= width);
    }
}

#[test]
fn osc_title_and_clear_screen_are_inert() {
    let out = sanitize("\u{1b}]0;pwned\u{7}\u{1b}[2J\u{1b}[6n");
    assert_eq!(out, "␛]0;pwned␇␛[2J␛[6n");
}

#[test]
fn crlf_is_one_newline_and_lone_cr_is_visible() {
    assert_eq!(sanitize("one\r\ntwo\rthree"), "one\ntwo␍three");
}
