//! `wpchat serve`: run the local service in the foreground, print how to connect, and stop
//! cleanly on Ctrl+C or SIGTERM.

use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::auth::token::{Claims, mint};
use crate::cli::ServeArgs;
use crate::service::upstream::{
    DEFAULT_HUB, EMULATOR_RETRY_DELAYS, EventHandler, EventPattern, UpstreamSettings,
    parse_settings_file,
};
use crate::service::{DEV_ACCESS_KEY, RunningService, ServiceConfig, reachable, start};
use crate::target::CHAT_ROLES;

/// The hub and user of the ready-made client URL that `serve` prints.
const DEMO_HUB: &str = "chat";
const DEMO_USER: &str = "demo";
const DEMO_MINUTES: i64 = 60;

/// Runs `wpchat serve` until Ctrl+C or SIGTERM. `main` has set up logging to stderr.
pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    // Registered before anything prints: a SIGTERM that comes while the banner prints (to a
    // closed stdout, say) still stops the service cleanly.
    let stop = stop_signal();
    let config = service_config(&args).await?;
    let service = start(config.clone()).await?;
    print_how_to_connect(&service, &config);
    print_event_handlers(&service, &config.upstream).await;
    outln!("Press Ctrl+C to stop.");
    stop.await;
    tracing::info!("stopping the local service");
    service.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// The service's configuration from the flags, refusing a non-loopback address without
/// `--allow-remote` and warning when one is allowed.
async fn service_config(args: &ServeArgs) -> anyhow::Result<ServiceConfig> {
    let addresses: Vec<_> = tokio::net::lookup_host((args.host.as_str(), args.port))
        .await
        .with_context(|| format!("cannot resolve --host '{}'", args.host))?
        .collect();
    let remote = addresses.iter().any(|a| !a.ip().is_loopback());
    if remote && !args.allow_remote {
        bail!(
            "refusing to listen on '{}': it is not a loopback address, so other machines could \
             connect (and mint tokens with a well-known key). Use --host 127.0.0.1, or pass \
             --allow-remote (with --access-key) if you really mean it",
            args.host
        );
    }
    let access_key = args
        .access_key
        .clone()
        .unwrap_or_else(|| DEV_ACCESS_KEY.to_string());
    if access_key.is_empty() || access_key.contains(';') {
        bail!("--access-key must be non-empty and must not contain ';'");
    }
    if remote {
        tracing::warn!(
            host = %args.host,
            "listening on a non-loopback address: other machines can reach this service"
        );
        eprintln!(
            "warning: listening on {} — other machines can reach this service{}",
            args.host,
            if access_key == DEV_ACCESS_KEY {
                ", and it uses the well-known development key"
            } else {
                ""
            }
        );
    }
    Ok(ServiceConfig {
        host: args.host.clone(),
        port: args.port,
        access_key,
        allow_anonymous: args.allow_anonymous,
        upstream: upstream_settings(args)?,
        ..ServiceConfig::default()
    })
}

/// The event handlers from `--upstream-settings` (first) and `--upstream`.
fn upstream_settings(args: &ServeArgs) -> anyhow::Result<UpstreamSettings> {
    let mut settings = UpstreamSettings {
        timeout: args.upstream.upstream_timeout,
        retry_delays: if args.upstream.upstream_retries {
            EMULATOR_RETRY_DELAYS.to_vec()
        } else {
            Vec::new()
        },
        invoke: args.upstream.upstream_invoke,
        ..UpstreamSettings::default()
    };
    if let Some(path) = &args.upstream.upstream_settings {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read --upstream-settings '{}'", path.display()))?;
        settings.hubs = parse_settings_file(&text)
            .with_context(|| format!("in --upstream-settings '{}'", path.display()))?;
    }
    if let Some(template) = &args.upstream.template {
        let handler = EventHandler {
            user_events: EventPattern::parse(&args.upstream.upstream_events),
            ..EventHandler::all_events(template)
                .context("--upstream")?
                .with_system_events(&args.upstream.upstream_system_events)
                .context("--upstream-system-events")?
        };
        match settings.hubs.iter_mut().find(|(hub, _)| hub == DEFAULT_HUB) {
            Some((_, handlers)) => handlers.push(handler),
            None => settings.hubs.push((DEFAULT_HUB.to_string(), vec![handler])),
        }
    }
    Ok(settings)
}

/// Lists the event handlers and runs their abuse-protection check now, so a developer sees
/// at once whether their handler answers (for `_default`, on the demo hub).
async fn print_event_handlers(service: &RunningService, settings: &UpstreamSettings) {
    if settings.is_empty() {
        outln!(
            "No event handler: `event` requests fail and simple clients are closed (1011). Pass --upstream URL_TEMPLATE to add one."
        );
        return;
    }
    outln!("Event handlers (timeout {:?}):", settings.timeout);
    for (hub, handlers) in &settings.hubs {
        let checked_hub = if hub == DEFAULT_HUB { DEMO_HUB } else { hub };
        let checks = tokio::time::timeout(
            settings.validation_timeout * 2,
            service.check_event_handlers(checked_hub),
        )
        .await
        .unwrap_or_default();
        for handler in handlers {
            let hubs = if hub == DEFAULT_HUB {
                "every hub".to_string()
            } else {
                format!("hub '{hub}'")
            };
            let user_events = match &handler.user_events {
                EventPattern::Any => "*".to_string(),
                EventPattern::Names(names) if names.is_empty() => "none".to_string(),
                EventPattern::Names(names) => names.join(","),
            };
            let system: Vec<&str> = handler.system_events.iter().map(|e| e.name()).collect();
            let shown = crate::service::upstream::shown_template(&handler.url_template);
            outln!(
                "  {shown}  ({hubs}; user events {user_events}; system events {})",
                if system.is_empty() {
                    "none".to_string()
                } else {
                    system.join(",")
                }
            );
            let outcome = checks
                .iter()
                .find(|(url, _)| *url == shown)
                .map(|(_, outcome)| outcome);
            match outcome {
                Some(Ok(())) => {
                    outln!("    abuse-protection check (hub '{checked_hub}'): passed")
                }
                Some(Err(why)) => outln!(
                    "    abuse-protection check (hub '{checked_hub}'): FAILED: {} (retried with backoff; events wait until it passes)",
                    crate::text::sanitize_line(why)
                ),
                None => outln!("    abuse-protection check (hub '{checked_hub}'): no answer yet"),
            }
        }
    }
    outln!("Handler calls are logged at debug level (RUST_LOG=wpchat=debug).");
}

/// Prints where the service listens, its connection string and a ready-made client URL.
fn print_how_to_connect(service: &RunningService, config: &ServiceConfig) {
    let addr = reachable(service.addr);
    let now = chrono::Utc::now().timestamp();
    let token = mint(
        &Claims {
            aud: format!("http://{addr}/client/hubs/{DEMO_HUB}"),
            iat: Some(now),
            exp: now + DEMO_MINUTES * 60,
            sub: Some(DEMO_USER.into()),
            roles: CHAT_ROLES.iter().map(|role| (*role).to_string()).collect(),
            ..Claims::default()
        },
        &config.access_key,
    );
    outln!("wpchat local Web PubSub service listening on http://{addr}");
    outln!("{}", service.open_files.describe());
    outln!();
    outln!("Connection string:");
    outln!("  {}", service.connection_string());
    outln!();
    outln!(
        "Client URL for hub '{DEMO_HUB}' (user '{DEMO_USER}', may join/leave and send to any group, valid {DEMO_MINUTES} min):"
    );
    outln!("  ws://{addr}/client/hubs/{DEMO_HUB}?access_token={token}");
    outln!();
    if config.access_key == DEV_ACCESS_KEY {
        outln!(
            "The access key is the well-known development key: for local use only, since anyone who knows it can mint tokens."
        );
    }
    outln!(
        "Server SDKs: the endpoint is plain http, so the JS server SDK (@azure/web-pubsub) needs \
         {{ allowInsecureConnection: true }} in its WebPubSubServiceClient options."
    );
    if config.allow_anonymous {
        outln!("Anonymous connections (no token) are allowed.");
    }
}

/// Ctrl+C or SIGTERM; SIGTERM is registered at the call, not at the first poll.
fn stop_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    async move {
        #[cfg(unix)]
        if let Some(mut terminate) = terminate {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
