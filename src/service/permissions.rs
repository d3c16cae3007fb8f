//! What a connection may do, from the roles in its token: join/leave and publish, for every
//! group, for named groups, or for groups matching a wildcard pattern (protocol.md §2). The
//! REST permission API grants, revokes and checks them at runtime.

use std::collections::HashSet;

const JOIN_LEAVE_ALL: &str = "webpubsub.joinLeaveGroup";
const SEND_ALL: &str = "webpubsub.sendToGroup";
const JOIN_LEAVE_ONE: &str = "webpubsub.joinLeaveGroup.";
const SEND_ONE: &str = "webpubsub.sendToGroup.";
const JOIN_LEAVE_PATTERN: &str = "webpubsub.joinLeaveGroups.";
const SEND_PATTERN: &str = "webpubsub.sendToGroups.";

/// The most `*` characters a wildcard role may hold; longer patterns grant nothing.
const MAX_STARS: usize = 5;

/// A permission the REST API can grant, revoke and check (`/permissions/{permission}/…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Permission {
    JoinLeaveGroup,
    SendToGroup,
}

impl Permission {
    /// The REST path name (`joinLeaveGroup`, `sendToGroup`), compared case-insensitively.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        if name.eq_ignore_ascii_case("joinLeaveGroup") {
            Some(Permission::JoinLeaveGroup)
        } else if name.eq_ignore_ascii_case("sendToGroup") {
            Some(Permission::SendToGroup)
        } else {
            None
        }
    }
}

/// Permission to do one kind of group operation.
#[derive(Debug, Clone, Default)]
struct Grant {
    all: bool,
    groups: HashSet<String>,
    patterns: Vec<GroupPattern>,
    /// Groups revoked one by one while a broader grant (all, a pattern) stays.
    revoked: HashSet<String>,
}

impl Grant {
    fn allows(&self, group: &str) -> bool {
        !self.revoked.contains(group)
            && (self.all
                || self.groups.contains(group)
                || self.patterns.iter().any(|p| p.matches(group)))
    }

    /// `Some(group)`: that group; `None`: every group.
    fn grant(&mut self, target: Option<&str>) {
        match target {
            Some(group) => {
                self.revoked.remove(group);
                self.groups.insert(group.to_string());
            }
            None => {
                self.all = true;
                self.revoked.clear();
            }
        }
    }

    /// `Some(group)`: that group only; `None`: everything, roles included.
    fn revoke(&mut self, target: Option<&str>) {
        match target {
            Some(group) => {
                self.groups.remove(group);
                self.revoked.insert(group.to_string());
            }
            None => *self = Grant::default(),
        }
    }

    /// `Some(group)`: allowed for that group; `None`: allowed for every group.
    fn has(&self, target: Option<&str>) -> bool {
        match target {
            Some(group) => self.allows(group),
            None => self.all && self.revoked.is_empty(),
        }
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

    fn grant_of(&mut self, permission: Permission) -> &mut Grant {
        match permission {
            Permission::JoinLeaveGroup => &mut self.join_leave,
            Permission::SendToGroup => &mut self.send,
        }
    }

    /// Grants `permission` for one group (`Some`) or every group (`None`).
    pub(crate) fn grant(&mut self, permission: Permission, target: Option<&str>) {
        self.grant_of(permission).grant(target);
    }

    /// Revokes `permission` for one group (`Some`) or entirely (`None`).
    pub(crate) fn revoke(&mut self, permission: Permission, target: Option<&str>) {
        self.grant_of(permission).revoke(target);
    }

    /// Whether `permission` holds for one group (`Some`) or every group (`None`).
    pub(crate) fn has(&self, permission: Permission, target: Option<&str>) -> bool {
        match permission {
            Permission::JoinLeaveGroup => self.join_leave.has(target),
            Permission::SendToGroup => self.send.has(target),
        }
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
    fn wildcards_match_as_specified() {
        // `*` stops at dots, `**` crosses them, `?` is one character other than a dot.
        let cases: [(&str, &[&str], &[&str]); 5] = [
            (
                "public.*",
                &["public.a", "public."],
                &["public.a.b", "private.a"],
            ),
            ("public.**", &["public.a", "public.a.b"], &[]),
            ("**", &["anything.at.all"], &[]),
            ("a.**.z", &["a.b.c.z"], &[]),
            ("room?", &["room1"], &["room", "room12"]),
        ];
        for (pattern, matching, other) in cases {
            for group in matching {
                assert!(matches(pattern, group), "{pattern} matches {group}");
            }
            for group in other {
                assert!(!matches(pattern, group), "{pattern} does not match {group}");
            }
        }
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

    #[test]
    fn runtime_grant_revoke_and_has() {
        let mut p = Permissions::from_roles::<&str>(&[]);
        assert!(!p.has(Permission::SendToGroup, Some("g")));
        p.grant(Permission::SendToGroup, Some("g"));
        assert!(p.has(Permission::SendToGroup, Some("g")) && p.can_send("g"));
        assert!(!p.has(Permission::SendToGroup, None));
        assert!(!p.can_join_leave("g"));
        p.revoke(Permission::SendToGroup, Some("g"));
        assert!(!p.can_send("g"));

        p.grant(Permission::JoinLeaveGroup, None);
        assert!(p.has(Permission::JoinLeaveGroup, None) && p.can_join_leave("any"));
        // Revoking one group leaves the others, and "every group" no longer holds.
        p.revoke(Permission::JoinLeaveGroup, Some("secret"));
        assert!(!p.can_join_leave("secret") && p.can_join_leave("other"));
        assert!(!p.has(Permission::JoinLeaveGroup, None));
        p.grant(Permission::JoinLeaveGroup, Some("secret"));
        assert!(p.can_join_leave("secret"));
        p.revoke(Permission::JoinLeaveGroup, None);
        assert!(!p.can_join_leave("other") && !p.can_join_leave("secret"));
    }

    #[test]
    fn revoking_everything_removes_token_roles_too() {
        let mut p = Permissions::from_roles(&["webpubsub.sendToGroups.news.*"]);
        assert!(p.has(Permission::SendToGroup, Some("news.a")));
        p.revoke(Permission::SendToGroup, Some("news.a"));
        assert!(!p.can_send("news.a") && p.can_send("news.b"));
        p.revoke(Permission::SendToGroup, None);
        assert!(!p.can_send("news.b"));
        assert_eq!(
            Permission::from_name("SENDTOGROUP"),
            Some(Permission::SendToGroup)
        );
        assert_eq!(
            Permission::from_name("joinleavegroup"),
            Some(Permission::JoinLeaveGroup)
        );
        assert_eq!(Permission::from_name("invoke"), None);
    }
}
