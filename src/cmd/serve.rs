//! `wpchat serve`: run the local service in the foreground, print how to connect, and stop
//! cleanly on Ctrl+C or SIGTERM.

use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::auth::token::{Claims, mint};
use crate::cli::ServeArgs;
use crate::service::{DEV_ACCESS_KEY, RunningService, ServiceConfig, reachable, start};
use crate::target::CHAT_ROLES;

/// The hub and user of the ready-made client URL that `serve` prints.
const DEMO_HUB: &str = "chat";
const DEMO_USER: &str = "demo";
const DEMO_MINUTES: i64 = 60;

/// Runs `wpchat serve` until Ctrl+C or SIGTERM. `main` has set up logging to stderr.
pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let config = service_config(&args).await?;
    let service = start(config.clone()).await?;
    print_how_to_connect(&service, &config);
    wait_for_stop_signal().await;
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
        ..ServiceConfig::default()
    })
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
    println!("wpchat local Web PubSub service listening on http://{addr}");
    println!();
    println!("Connection string:");
    println!("  {}", service.connection_string());
    println!();
    println!(
        "Client URL for hub '{DEMO_HUB}' (user '{DEMO_USER}', may join/leave and send to any group, valid {DEMO_MINUTES} min):"
    );
    println!("  ws://{addr}/client/hubs/{DEMO_HUB}?access_token={token}");
    println!();
    if config.access_key == DEV_ACCESS_KEY {
        println!(
            "The access key is the well-known development key: for local use only, since anyone who knows it can mint tokens."
        );
    }
    println!(
        "Server SDKs: the endpoint is plain http, so the JS server SDK (@azure/web-pubsub) needs \
         {{ allowInsecureConnection: true }} in its WebPubSubServiceClient options."
    );
    if config.allow_anonymous {
        println!("Anonymous connections (no token) are allowed.");
    }
    println!("Press Ctrl+C to stop.");
}

async fn wait_for_stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
