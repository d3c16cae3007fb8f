//! Event handlers from a JSON settings file in the shape of Microsoft's emulator:
//! `{"Hubs": {"<hub>" | "_default": {"EventHandlers": [{"UrlTemplate": …, "EventPattern": …,
//! "SystemEvents": [...]}]}}}` (`UserEventPattern` is accepted for `EventPattern`; a missing
//! pattern takes no user event, missing system events none, as in the emulator).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::settings::{EventHandler, EventPattern, SettingsError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct File {
    hubs: BTreeMap<String, HubEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HubEntry {
    #[serde(default)]
    event_handlers: Vec<HandlerEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HandlerEntry {
    url_template: String,
    #[serde(default, alias = "UserEventPattern")]
    event_pattern: String,
    #[serde(default)]
    system_events: Vec<String>,
}

/// Parses the settings file's text into (hub, handlers in order) pairs.
pub fn parse_settings_file(text: &str) -> Result<Vec<(String, Vec<EventHandler>)>, SettingsError> {
    let file: File =
        serde_json::from_str(text).map_err(|error| SettingsError::File(error.to_string()))?;
    file.hubs
        .into_iter()
        .map(|(hub, entry)| {
            let handlers = entry
                .event_handlers
                .into_iter()
                .map(|h| {
                    Ok(EventHandler {
                        user_events: EventPattern::parse(&h.event_pattern),
                        ..EventHandler::all_events(&h.url_template)?
                            .with_system_events(&h.system_events.join(","))?
                    })
                })
                .collect::<Result<Vec<_>, SettingsError>>()?;
            Ok((hub, handlers))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::upstream::SystemEvent;

    #[test]
    fn the_emulator_shape_is_read_in_order() {
        let text = r#"{"Hubs": {
            "chat": {"EventHandlers": [
                {"UrlTemplate": "http://h/one/{event}", "EventPattern": "chat,poke", "SystemEvents": ["connect"]},
                {"UrlTemplate": "http://h/two/{event}", "UserEventPattern": "*"}
            ]},
            "_default": {"EventHandlers": []}
        }}"#;
        let hubs = parse_settings_file(text).unwrap();
        let (_, chat) = hubs.iter().find(|(hub, _)| hub == "chat").unwrap();
        assert_eq!(chat.len(), 2);
        assert_eq!(chat[0].system_events, vec![SystemEvent::Connect]);
        assert_eq!(chat[1].user_events, EventPattern::Any);
        assert!(chat[1].system_events.is_empty());
    }

    #[test]
    fn a_bad_file_says_what_is_wrong() {
        let error =
            parse_settings_file(r#"{"Hubs": {"chat": {"EventHandlers": [{}]}}}"#).unwrap_err();
        assert!(error.to_string().contains("UrlTemplate"), "{error}");
        let error = parse_settings_file(
            r#"{"Hubs": {"chat": {"EventHandlers": [{"UrlTemplate": "ftp://x"}]}}}"#,
        )
        .unwrap_err();
        assert!(error.to_string().contains("absolute http"), "{error}");
    }
}
