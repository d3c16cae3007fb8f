//! Abuse protection (CloudEvents webhook validation): before the first event to a handler,
//! `OPTIONS` its `validate` URL and accept only a 2xx naming us (or `*`) in
//! `WebHook-Allowed-Origin`; a 404 is retried as `GET` (as the emulator does). Success is
//! cached for the service's life; a failure is retried after a backoff that doubles from
//! 1 s up to a cap, and meanwhile the handler gets no events.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use tokio::time::Instant;

use super::cloud_event::{ALLOWED_ORIGIN, AWPS_VERSION, REQUEST_ORIGIN};
use super::settings::shown_url;

const FIRST_BACKOFF: Duration = Duration::from_secs(1);

#[derive(Debug)]
enum Check {
    Passed,
    Failed {
        why: String,
        retry_at: Instant,
        backoff: Duration,
    },
}

/// The validation state of every handler URL seen so far.
#[derive(Debug, Default)]
pub(crate) struct Validations {
    checks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Check>>>>>,
}

/// How to validate.
pub(crate) struct Validator<'a> {
    pub(crate) client: &'a reqwest::Client,
    pub(crate) origin: &'a str,
    pub(crate) timeout: Duration,
    pub(crate) max_backoff: Duration,
}

impl Validations {
    /// Whether `validate_url`'s handler accepts our events, validating it if needed. One
    /// validation runs per handler at a time; callers meanwhile wait for its outcome.
    pub(crate) async fn check(
        &self,
        validate_url: &str,
        validator: &Validator<'_>,
    ) -> Result<(), String> {
        let entry = self
            .checks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(validate_url.to_string())
            .or_default()
            .clone();
        let mut check = entry.lock().await;
        let backoff = match &*check {
            Some(Check::Passed) => return Ok(()),
            Some(Check::Failed {
                why,
                retry_at,
                backoff,
            }) => {
                if Instant::now() < *retry_at {
                    return Err(why.clone());
                }
                (*backoff * 2).min(validator.max_backoff)
            }
            None => FIRST_BACKOFF.min(validator.max_backoff),
        };
        let outcome = validate(validate_url, validator).await;
        match &outcome {
            Ok(()) => {
                tracing::info!(url = %shown_url(validate_url), "event handler passed abuse protection");
                *check = Some(Check::Passed);
            }
            Err(why) => {
                tracing::warn!(url = %shown_url(validate_url), %why, retry_in = ?backoff, "event handler failed abuse protection");
                *check = Some(Check::Failed {
                    why: why.clone(),
                    retry_at: Instant::now() + backoff,
                    backoff,
                });
            }
        }
        outcome
    }
}

async fn validate(url: &str, validator: &Validator<'_>) -> Result<(), String> {
    let ask = |method: Method| {
        validator
            .client
            .request(method, url)
            .header(REQUEST_ORIGIN, validator.origin)
            .header("ce-awpsversion", AWPS_VERSION)
            .timeout(validator.timeout)
            .send()
    };
    let shown = shown_url(url);
    let unreachable = |error: reqwest::Error| {
        let what = if error.is_timeout() {
            "timed out"
        } else {
            "failed"
        };
        format!(
            "the abuse-protection request (OPTIONS {shown}) {what}: {}",
            error.without_url()
        )
    };
    let mut response = ask(Method::OPTIONS).await.map_err(unreachable)?;
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        response = ask(Method::GET).await.map_err(unreachable)?;
    }
    let status = response.status();
    if !status.is_success() {
        return Err(format!(
            "the handler answered the abuse-protection request (OPTIONS {shown}) with HTTP {status}; it must answer 2xx with WebHook-Allowed-Origin"
        ));
    }
    let allowed = response
        .headers()
        .get_all(ALLOWED_ORIGIN)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|origin| {
            let origin = origin.trim();
            origin == "*" || origin.eq_ignore_ascii_case(validator.origin)
        });
    if allowed {
        Ok(())
    } else {
        Err(format!(
            "the handler's abuse-protection reply (OPTIONS {shown}) has no WebHook-Allowed-Origin of '*' or '{}'",
            validator.origin
        ))
    }
}
