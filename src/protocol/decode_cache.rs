//! What a decoder reuses from one frame to the next: the group names and user ids it saw
//! lately, shared as `Arc<str>`, and payload strings that read messages gave back. A flood from
//! one group by a few users then costs no allocation per message at all.

use std::collections::HashSet;
use std::sync::Arc;

/// A decoder's reusable state; see the module doc. Bounded: the names start over when there
/// are too many, and only small strings are kept for reuse.
#[derive(Debug, Default)]
pub struct DecodeCache {
    names: HashSet<Arc<str>>,
    /// The names asked for last, compared before hashing: a flood repeats the same group and
    /// sender message after message.
    recent: [Option<Arc<str>>; DecodeCache::RECENT],
    next_recent: usize,
    /// Payload strings of messages already read, for the next messages' text.
    spare_texts: Vec<String>,
    /// Their capacity in all.
    spare_bytes: usize,
}

impl DecodeCache {
    /// Most names kept; a flood of distinct names only costs what it would without a cache.
    const MAX_NAMES: usize = 4096;
    /// Names compared before hashing.
    const RECENT: usize = 4;
    /// Most bytes the spare strings hold. Enough for every message a full event channel holds
    /// (4096 by default) when they are small: with fewer, a reader that falls behind and
    /// catches up makes the engine free strings and then allocate new ones.
    const SPARE_BYTES: usize = 1024 * 1024;
    /// Larger strings are freed rather than kept.
    const SPARE_TEXT_BYTES: usize = 1024;

    /// The shared copy of `name`.
    pub fn name(&mut self, name: &str) -> Arc<str> {
        if let Some(shared) = self.recent.iter().flatten().find(|n| ***n == *name) {
            return shared.clone();
        }
        let shared = match self.names.get(name) {
            Some(shared) => shared.clone(),
            None => {
                if self.names.len() >= Self::MAX_NAMES {
                    self.names.clear();
                }
                let shared: Arc<str> = Arc::from(name);
                self.names.insert(shared.clone());
                shared
            }
        };
        self.recent[self.next_recent] = Some(shared.clone());
        self.next_recent = (self.next_recent + 1) % Self::RECENT;
        shared
    }

    /// Keeps a read message's payload string for reuse, if it is small and there is room.
    pub fn give_back(&mut self, text: String) {
        let bytes = text.capacity();
        if bytes <= Self::SPARE_TEXT_BYTES && self.spare_bytes + bytes <= Self::SPARE_BYTES {
            self.spare_bytes += bytes;
            self.spare_texts.push(text);
        }
    }

    /// A string kept by `give_back`, if any (its old content still in it).
    pub(crate) fn spare_text(&mut self) -> Option<String> {
        let text = self.spare_texts.pop()?;
        self.spare_bytes -= text.capacity();
        Some(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_seen_again_is_the_same_shared_copy() {
        let mut cache = DecodeCache::default();
        let first = cache.name("flood");
        // More names than the recent ones compared before hashing.
        for n in 0..10 {
            cache.name(&format!("user{n}"));
        }
        assert!(Arc::ptr_eq(&first, &cache.name("flood")));
        assert!(Arc::ptr_eq(&first, &cache.name("flood")));
        assert_eq!(&*cache.name("other"), "other");
    }

    #[test]
    fn only_small_strings_are_kept_and_only_so_many_bytes_of_them() {
        let mut cache = DecodeCache::default();
        cache.give_back(String::with_capacity(DecodeCache::SPARE_TEXT_BYTES + 1));
        assert!(cache.spare_text().is_none(), "a large string is freed");
        let each = 100;
        let room = DecodeCache::SPARE_BYTES / each;
        for _ in 0..room + 10 {
            cache.give_back(String::with_capacity(each));
        }
        let mut kept = 0;
        while cache.spare_text().is_some() {
            kept += 1;
        }
        assert_eq!(kept, room);
        // Taking them all gave their bytes back: there is room for as many again.
        for _ in 0..room {
            cache.give_back(String::with_capacity(each));
        }
        assert_eq!(cache.spare_bytes, room * each);
    }
}
