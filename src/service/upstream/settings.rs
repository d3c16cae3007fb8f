//! Event handler settings: which handler a hub's event goes to (first match wins), and the
//! handler URL for an event (`{hub}` and `{event}` substituted, URL-escaped).

use std::time::Duration;

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use thiserror::Error;

/// The hub name whose handlers serve every hub that has none of its own (as the emulator's).
pub const DEFAULT_HUB: &str = "_default";
/// How long one event handler call may take (the emulator's upstream timeout).
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(100);

/// A system event a handler may subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SystemEvent {
    Connect,
    Connected,
    Disconnected,
}

impl SystemEvent {
    pub const ALL: [SystemEvent; 3] = [
        SystemEvent::Connect,
        SystemEvent::Connected,
        SystemEvent::Disconnected,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SystemEvent::Connect => "connect",
            SystemEvent::Connected => "connected",
            SystemEvent::Disconnected => "disconnected",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        SystemEvent::ALL
            .into_iter()
            .find(|event| event.name().eq_ignore_ascii_case(name.trim()))
    }
}

/// Which user events a handler takes: `*`, a comma list, or one name (case-insensitive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventPattern {
    Any,
    Names(Vec<String>),
}

impl EventPattern {
    /// Parses `*`, `a,b` or `a`; an empty pattern takes no user event.
    pub fn parse(pattern: &str) -> Self {
        if pattern.trim() == "*" {
            return EventPattern::Any;
        }
        EventPattern::Names(
            pattern
                .split(',')
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .map(str::to_string)
                .collect(),
        )
    }

    fn matches(&self, event: &str) -> bool {
        match self {
            EventPattern::Any => true,
            EventPattern::Names(names) => names.iter().any(|n| n.eq_ignore_ascii_case(event)),
        }
    }
}

/// A bad handler setting.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SettingsError {
    #[error(
        "event handler URL template '{0}' is not an absolute http:// or https:// URL (for example http://localhost:3000/eventhandler/{{hub}}/{{event}})"
    )]
    NotHttp(String),
    #[error(
        "event handler URL template '{0}' has a {{...}} placeholder in its host; put {{hub}} and {{event}} in the path or query"
    )]
    PlaceholderInHost(String),
    #[error("'{0}' is not a system event: use connect, connected or disconnected")]
    UnknownSystemEvent(String),
    #[error("the event handler settings file is not valid: {0}")]
    File(String),
}

/// One event handler: where to POST, and which events it takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventHandler {
    /// `http(s)://…` with optional `{hub}` and `{event}` placeholders.
    pub url_template: String,
    pub user_events: EventPattern,
    pub system_events: Vec<SystemEvent>,
}

impl EventHandler {
    /// A handler taking every user event and every system event, after checking the template.
    pub fn all_events(url_template: &str) -> Result<Self, SettingsError> {
        check_template(url_template)?;
        Ok(EventHandler {
            url_template: url_template.to_string(),
            user_events: EventPattern::Any,
            system_events: SystemEvent::ALL.to_vec(),
        })
    }

    /// Narrows the system events to a comma list such as `connect,disconnected`.
    pub fn with_system_events(mut self, list: &str) -> Result<Self, SettingsError> {
        self.system_events = list
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(|name| {
                SystemEvent::from_name(name)
                    .ok_or_else(|| SettingsError::UnknownSystemEvent(name.to_string()))
            })
            .collect::<Result<_, _>>()?;
        Ok(self)
    }

    /// The URL for `event` of `hub`.
    pub(crate) fn url(&self, hub: &str, event: &str) -> String {
        let escape = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
        self.url_template
            .replace("{hub}", &escape(hub))
            .replace("{event}", &escape(event))
    }
}

/// A handler URL fit for logs and the screen: the `?code=` function key (and any token) is
/// blanked, since an Azure Functions handler URL carries its key there.
pub(crate) fn shown_url(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return crate::redact::redact_secrets(url);
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("code") => format!("{key}=***"),
            _ => pair.to_string(),
        })
        .collect();
    crate::redact::redact_secrets(&format!("{base}?{}", query.join("&")))
}

fn check_template(template: &str) -> Result<(), SettingsError> {
    let lower = template.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"))
        .filter(|rest| !rest.is_empty())
        .ok_or_else(|| SettingsError::NotHttp(shown_url(template)))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.contains('{') || host.contains('}') {
        return Err(SettingsError::PlaceholderInHost(shown_url(template)));
    }
    let sample = EventHandler {
        url_template: template.to_string(),
        user_events: EventPattern::Any,
        system_events: Vec::new(),
    }
    .url("hub", "event");
    url::Url::parse(&sample).map_err(|_| SettingsError::NotHttp(shown_url(template)))?;
    Ok(())
}

/// The event handlers of every hub, and the call timeout.
#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    /// (hub name or `_default`, its handlers in order). Hub names compare case-insensitively.
    pub hubs: Vec<(String, Vec<EventHandler>)>,
    pub timeout: Duration,
    /// Abuse-protection (`OPTIONS …/validate`) timeout and the longest retry backoff.
    pub validation_timeout: Duration,
    pub validation_max_backoff: Duration,
    /// Pauses before each retry of a call that failed with 408, a 5xx or a network error
    /// (U20, optional; the emulator's are 1, 3 and 5 s). Empty: no retries.
    pub retry_delays: Vec<Duration>,
    /// Pass clients' `invoke` requests to the handler as user events (U21, a preview whose
    /// upstream mapping is not documented yet: off unless asked for).
    pub invoke: bool,
}

/// The emulator's retry pauses, for `--upstream-retries`.
pub const EMULATOR_RETRY_DELAYS: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(3),
    Duration::from_secs(5),
];

impl Default for UpstreamSettings {
    fn default() -> Self {
        UpstreamSettings {
            hubs: Vec::new(),
            timeout: DEFAULT_UPSTREAM_TIMEOUT,
            validation_timeout: Duration::from_secs(10),
            validation_max_backoff: Duration::from_secs(60),
            retry_delays: Vec::new(),
            invoke: false,
        }
    }
}

/// What an event is, for matching.
#[derive(Debug, Clone, Copy)]
pub(crate) enum EventKind<'a> {
    System(SystemEvent),
    User(&'a str),
}

impl UpstreamSettings {
    /// One handler for every hub.
    pub fn for_all_hubs(handler: EventHandler) -> Self {
        UpstreamSettings {
            hubs: vec![(DEFAULT_HUB.to_string(), vec![handler])],
            ..UpstreamSettings::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.hubs.iter().all(|(_, handlers)| handlers.is_empty())
    }

    /// The hub's own handlers, else the `_default` ones.
    fn handlers(&self, hub: &str) -> &[EventHandler] {
        let find = |name: &str| {
            self.hubs
                .iter()
                .find(|(h, list)| h.eq_ignore_ascii_case(name) && !list.is_empty())
                .map(|(_, list)| list.as_slice())
        };
        find(hub).or_else(|| find(DEFAULT_HUB)).unwrap_or_default()
    }

    /// The first handler of `hub` that takes `event`.
    pub(crate) fn find(&self, hub: &str, event: EventKind<'_>) -> Option<&EventHandler> {
        self.handlers(hub).iter().find(|handler| match event {
            EventKind::System(system) => handler.system_events.contains(&system),
            EventKind::User(name) => handler.user_events.matches(name),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handler(template: &str, pattern: &str) -> EventHandler {
        EventHandler {
            user_events: EventPattern::parse(pattern),
            ..EventHandler::all_events(template).unwrap()
        }
    }

    #[test]
    fn the_first_matching_handler_wins_case_insensitively() {
        let settings = UpstreamSettings {
            hubs: vec![(
                "Chat".into(),
                vec![
                    handler("http://a/", "chat, Poke"),
                    handler("http://b/", "*"),
                ],
            )],
            ..UpstreamSettings::default()
        };
        let url = |event| {
            settings
                .find("chat", EventKind::User(event))
                .unwrap()
                .url_template
                .clone()
        };
        assert_eq!(url("CHAT"), "http://a/");
        assert_eq!(url("poke"), "http://a/");
        assert_eq!(url("other"), "http://b/");
        assert!(settings.find("ops", EventKind::User("chat")).is_none());
    }

    #[test]
    fn the_default_hub_serves_hubs_without_handlers() {
        let settings = UpstreamSettings::for_all_hubs(handler("http://h/{hub}", "chat"));
        let found = settings.find("ops", EventKind::User("chat")).unwrap();
        assert_eq!(found.url("ops", "chat"), "http://h/ops");
        assert!(settings.find("ops", EventKind::User("other")).is_none());
    }

    #[test]
    fn placeholders_are_substituted_and_escaped() {
        let h = handler("http://127.0.0.1:9/eventhandler/{hub}/{event}?code=x", "*");
        assert_eq!(
            h.url("chat", "a b/c"),
            "http://127.0.0.1:9/eventhandler/chat/a%20b%2Fc?code=x"
        );
    }

    #[test]
    fn function_keys_never_show() {
        let shown = shown_url("http://h/api/{event}?code=s3cret&x=1");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("x=1"), "{shown}");
    }

    #[test]
    fn bad_templates_and_event_names_say_what_to_do() {
        for bad in ["ftp://x/", "/relative", "http://", "localhost:3000/x"] {
            let error = EventHandler::all_events(bad).unwrap_err();
            assert!(error.to_string().contains("absolute http"), "{error}");
        }
        let error = EventHandler::all_events("http://{hub}.example/").unwrap_err();
        assert!(error.to_string().contains("in its host"), "{error}");
        let error = EventHandler::all_events("http://h/")
            .unwrap()
            .with_system_events("connect,open")
            .unwrap_err();
        assert_eq!(error, SettingsError::UnknownSystemEvent("open".into()));
    }
}
