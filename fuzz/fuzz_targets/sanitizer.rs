//! Untrusted text on its way to the terminal: no control, escape or bidi character ever comes
//! out of the sanitizer, and wrapping yields ordered ranges on character boundaries.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wpchat::text::{
    display_width, is_bidi_control, sanitize, sanitize_line, truncate, wrap_ranges,
};

fn assert_inert(shown: &str) {
    for c in shown.chars() {
        assert!(
            !(c.is_control() && c != '\n') && !is_bidi_control(c),
            "{c:?} came through in {shown:?}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&width, rest)) = data.split_first() else {
        return;
    };
    let input = String::from_utf8_lossy(rest);
    let line = sanitize_line(&input);
    assert_inert(&line);
    assert!(!line.contains('\n'), "a line keeps no newline: {line:?}");
    assert_inert(&sanitize(&input));
    let width = usize::from(width % 80) + 1;
    let cut = truncate(&line, width);
    assert!(
        display_width(&cut) <= width,
        "{cut:?} is wider than {width}"
    );
    let mut end = 0;
    for range in wrap_ranges(&line, width, 1000) {
        assert!(
            range.start >= end && range.start <= range.end,
            "{range:?} after {end}"
        );
        assert!(line.is_char_boundary(range.start) && line.is_char_boundary(range.end));
        end = range.end;
    }
    assert!(end <= line.len());
});
