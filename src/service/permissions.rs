//! What a connection may do, from the roles in its token: join/leave and publish, for every
//! group, for named groups, or for groups matching a wildcard pattern (protocol.md §2).

use std::collections::HashSet;

const JOIN_LEAVE_ALL: &str = "webpubsub.joinLeaveGroup";
const SEND_ALL: &str = "webpubsub.sendToGroup";
const JOIN_LEAVE_ONE: &str = "webpubsub.joinLeaveGroup.";
const SEND_ONE: &str = "webpubsub.sendToGroup.";
const JOIN_LEAVE_PATTERN: &str = "webpubsub.joinLeaveGroups.";
const SEND_PATTERN: &str = "webpubsub.sendToGroups.";

/// The most `*` characters a wildcard role may hold; longer patterns grant nothing.
const MAX_STARS: usize = 5;

/// Permission to do one kind of group operation.
#[derive(Debug, Clone, Default)]
struct Grant {
    all: bool,
    groups: HashSet<String>,
    patterns: Vec<GroupPattern>,
}

impl Grant {
    fn allows(&self, group: &str) -> bool {
        self.all || self.groups.contains(group) || self.patterns.iter().any(|p| p.matches(group))
    }
}

/// The permissions of one connection.
#[derive(Debug, Clone, Default)]
pub(crate) struct Permissions {
    join_leave: Grant,
    send: Grant,
}

impl Permissions {
    /// Reads the roles of a token; unknown roles are ignored.
    pub(crate) fn from_roles<S: AsRef<str>>(roles: &[S]) -> Self {
        let mut permissions = Permissions::default();
        for role in roles {
            let role = role.as_ref();
            if role == JOIN_LEAVE_ALL {
                permissions.join_leave.all = true;
            } else if role == SEND_ALL {
                permissions.send.all = true;
            } else if let Some(group) = role.strip_prefix(JOIN_LEAVE_ONE) {
                permissions.join_leave.groups.insert(group.to_string());
            } else if let Some(group) = role.strip_prefix(SEND_ONE) {
                permissions.send.groups.insert(group.to_string());
            } else if let Some(pattern) = role.strip_prefix(JOIN_LEAVE_PATTERN) {
                permissions
                    .join_leave
                    .patterns
                    .extend(GroupPattern::parse(pattern));
            } else if let Some(pattern) = role.strip_prefix(SEND_PATTERN) {
                permissions
                    .send
                    .patterns
                    .extend(GroupPattern::parse(pattern));
            }
        }
        permissions
    }

    pub(crate) fn can_join_leave(&self, group: &str) -> bool {
        self.join_leave.allows(group)
    }

    pub(crate) fn can_send(&self, group: &str) -> bool {
        self.send.allows(group)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Literal(char),
    /// `?`: one character other than `.`.
    One,
    /// `*`: any run of characters without `.`.
    Star,
    /// `**`: any run of characters.
    DoubleStar,
}

/// A wildcard group pattern: `?`, `*`, `**`, and `\` escaping `\`, `*` and `?`; case-sensitive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupPattern {
    tokens: Vec<Token>,
}

impl GroupPattern {
    /// Parses a pattern; `None` when it is empty, ends in a lone `\` or has too many stars.
    pub(crate) fn parse(pattern: &str) -> Option<Self> {
        let mut tokens = Vec::new();
        let mut stars = 0;
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(escaped @ ('\\' | '*' | '?')) => tokens.push(Token::Literal(escaped)),
                    // Only the three special characters may be escaped.
                    _ => return None,
                },
                '?' => tokens.push(Token::One),
                '*' => {
                    stars += 1;
                    if chars.peek() == Some(&'*') {
                        chars.next();
                        stars += 1;
                        tokens.push(Token::DoubleStar);
                    } else {
                        tokens.push(Token::Star);
                    }
                }
                other => tokens.push(Token::Literal(other)),
            }
        }
        (!tokens.is_empty() && stars <= MAX_STARS).then_some(GroupPattern { tokens })
    }

    /// Whether `group` matches; linear-space dynamic programming, so no pattern can make
    /// matching blow up.
    pub(crate) fn matches(&self, group: &str) -> bool {
        let text: Vec<char> = group.chars().collect();
        // reachable[j]: the tokens seen so far can match text[..j].
        let mut reachable = vec![false; text.len() + 1];
        reachable[0] = true;
        for token in &self.tokens {
            let mut next = vec![false; text.len() + 1];
            match token {
                Token::Literal(c) => {
                    for j in 0..text.len() {
                        next[j + 1] = reachable[j] && text[j] == *c;
                    }
                }
                Token::One => {
                    for j in 0..text.len() {
                        next[j + 1] = reachable[j] && text[j] != '.';
                    }
                }
                Token::Star => {
                    next[0] = reachable[0];
                    for j in 0..text.len() {
                        next[j + 1] = reachable[j + 1] || (next[j] && text[j] != '.');
                    }
                }
                Token::DoubleStar => {
                    next[0] = reachable[0];
                    for j in 0..text.len() {
                        next[j + 1] = reachable[j + 1] || next[j];
                    }
                }
            }
            reachable = next;
        }
        reachable[text.len()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, group: &str) -> bool {
        GroupPattern::parse(pattern).is_some_and(|p| p.matches(group))
    }

    #[test]
    fn single_star_stops_at_dots() {
        assert!(matches("public.*", "public.a"));
        assert!(matches("public.*", "public."));
        assert!(!matches("public.*", "public.a.b"));
        assert!(!matches("public.*", "private.a"));
    }

    #[test]
    fn double_star_crosses_dots() {
        assert!(matches("public.**", "public.a"));
        assert!(matches("public.**", "public.a.b"));
        assert!(matches("**", "anything.at.all"));
        assert!(matches("a.**.z", "a.b.c.z"));
    }

    #[test]
    fn question_mark_is_one_non_dot_character() {
        assert!(matches("room?", "room1"));
        assert!(!matches("room?", "room"));
        assert!(!matches("room?", "room12"));
        assert!(!matches("a?b", "a.b"));
    }

    #[test]
    fn escapes_and_case() {
        assert!(matches(r"a\*b", "a*b"));
        assert!(!matches(r"a\*b", "axb"));
        assert!(matches(r"q\?", "q?"));
        assert!(matches(r"back\\slash", r"back\slash"));
        assert!(!matches("Room", "room"));
        assert!(GroupPattern::parse(r"bad\x").is_none());
        assert!(GroupPattern::parse("trailing\\").is_none());
    }

    #[test]
    fn too_many_stars_grant_nothing() {
        assert!(GroupPattern::parse("*.*.*.*.*").is_some());
        assert!(GroupPattern::parse("*.*.*.*.*.*").is_none());
        assert!(GroupPattern::parse("**.**.**").is_none());
    }

    #[test]
    fn roles_grant_what_they_name() {
        let p = Permissions::from_roles(&[
            "webpubsub.joinLeaveGroup.room1",
            "webpubsub.sendToGroups.news.*",
        ]);
        assert!(p.can_join_leave("room1"));
        assert!(!p.can_join_leave("room2"));
        assert!(p.can_send("news.today"));
        assert!(!p.can_send("news.today.late"));
        assert!(!p.can_send("room1"));
        let all = Permissions::from_roles(&["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"]);
        assert!(all.can_join_leave("x") && all.can_send("y"));
        let none = Permissions::from_roles::<&str>(&[]);
        assert!(!none.can_join_leave("x") && !none.can_send("x"));
    }
}
