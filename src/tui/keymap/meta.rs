//! Terminals that send ESC as Meta (urxvt, macOS Terminal) turn Alt+↑ into `ESC ESC [ A`;
//! crossterm reads that as Esc, `[`, `A`. This decoder, between the terminal's keys and the
//! key map, puts such a burst back together as the Alt key it was, and turns an unbound
//! Alt+char (Esc and a character read together) back into Esc then the character, so that
//! Esc then `/` does not eat the slash.

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Keys closer than this to the Esc before them came from one escape sequence.
pub(crate) const BURST: Duration = Duration::from_millis(40);

/// Where the decoder is in an `ESC [ final` burst.
#[derive(Debug, Clone, Copy, Default)]
enum Pending {
    #[default]
    Nothing,
    /// An Esc was handed on at this time.
    Esc(Instant),
    /// Esc then `[` (or `O`), held back, at this time.
    Introducer(char, Instant),
}

/// The decoder; see the module comment.
#[derive(Debug, Clone, Default)]
pub(crate) struct MetaDecoder {
    pending: Pending,
}

impl MetaDecoder {
    /// The keys to act on for `key`, read at `now`. `bound` says whether the key map has a
    /// binding for a key.
    pub(crate) fn feed(
        &mut self,
        key: KeyEvent,
        now: Instant,
        bound: impl Fn(KeyEvent) -> bool,
    ) -> Vec<KeyEvent> {
        let plain = key.modifiers.difference(KeyModifiers::SHIFT).is_empty();
        let within = |at: Instant| now.saturating_duration_since(at) <= BURST;
        match (std::mem::take(&mut self.pending), key.code) {
            (Pending::Esc(at), KeyCode::Char(c @ ('[' | 'O'))) if plain && within(at) => {
                self.pending = Pending::Introducer(c, now);
                Vec::new()
            }
            (Pending::Introducer(introducer, at), KeyCode::Char(c)) if plain && within(at) => {
                match arrow(c) {
                    Some(code) => vec![KeyEvent::new(code, KeyModifiers::ALT)],
                    None => vec![char_key(introducer), key],
                }
            }
            (Pending::Introducer(introducer, _), _) => {
                let mut keys = vec![char_key(introducer)];
                keys.extend(self.feed(key, now, bound));
                keys
            }
            (_, KeyCode::Esc) if key.modifiers.is_empty() => {
                self.pending = Pending::Esc(now);
                vec![key]
            }
            (_, KeyCode::Char(c)) if key.modifiers == KeyModifiers::ALT && !bound(key) => {
                vec![KeyEvent::from(KeyCode::Esc), char_key(c)]
            }
            _ => vec![key],
        }
    }

    /// A held `[` that nothing followed in time is typed after all.
    pub(crate) fn flush(&mut self, now: Instant) -> Option<KeyEvent> {
        match self.pending {
            Pending::Introducer(c, at) if now.saturating_duration_since(at) > BURST => {
                self.pending = Pending::Nothing;
                Some(char_key(c))
            }
            _ => None,
        }
    }

    /// Whether a key is held back (the event loop then wakes up after [`BURST`]).
    pub(crate) fn holds_key(&self) -> bool {
        matches!(self.pending, Pending::Introducer(..))
    }
}

fn char_key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

/// The key of a CSI/SS3 final byte.
fn arrow(final_byte: char) -> Option<KeyCode> {
    Some(match final_byte {
        'A' => KeyCode::Up,
        'B' => KeyCode::Down,
        'C' => KeyCode::Right,
        'D' => KeyCode::Left,
        'H' => KeyCode::Home,
        'F' => KeyCode::End,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(keys: &[KeyEvent], gap: Duration) -> Vec<KeyEvent> {
        let mut decoder = MetaDecoder::default();
        let start = Instant::now();
        let mut out = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let now = start + gap * i as u32;
            out.extend(decoder.feed(*key, now, |_| false));
        }
        out.extend(decoder.flush(start + gap * keys.len() as u32 + BURST * 2));
        out
    }

    #[test]
    fn esc_esc_bracket_a_is_alt_up() {
        let keys = [KeyEvent::from(KeyCode::Esc), char_key('['), char_key('A')];
        assert_eq!(
            feed_all(&keys, Duration::ZERO),
            vec![
                KeyEvent::from(KeyCode::Esc),
                KeyEvent::new(KeyCode::Up, KeyModifiers::ALT)
            ]
        );
    }

    #[test]
    fn slow_typing_stays_typing() {
        let keys = [KeyEvent::from(KeyCode::Esc), char_key('['), char_key('A')];
        assert_eq!(feed_all(&keys, BURST * 3), keys.to_vec());
        let keys = [KeyEvent::from(KeyCode::Esc), char_key('[')];
        assert_eq!(feed_all(&keys, Duration::ZERO), keys.to_vec(), "flushed");
    }

    #[test]
    fn unbound_alt_char_is_esc_then_the_char() {
        let alt_slash = KeyEvent::new(KeyCode::Char('/'), KeyModifiers::ALT);
        assert_eq!(
            feed_all(&[alt_slash], Duration::ZERO),
            vec![KeyEvent::from(KeyCode::Esc), char_key('/')]
        );
    }
}
