//! `wpchat serve`: run the local service in the foreground, print how to connect, and stop
//! cleanly on Ctrl+C or SIGTERM.

use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::auth::token::{Claims, mint};
use crate::cli::ServeArgs;
use crate::service::{DEV_ACCESS_KEY, ServiceConfig, reachable, start};

/// The hub and user of the ready-made client URL that `serve` prints.
const DEMO_HUB: &str = "chat";
const DEMO_USER: &str = "demo";
const DEMO_MINUTES: i64 = 60;

/// Runs `wpchat serve` until Ctrl+C or SIGTERM. `main` has set up logging to stderr.
pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
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
    let default_key = access_key == DEV_ACCESS_KEY;
    if remote {
        tracing::warn!(
            host = %args.host,
            "listening on a non-loopback address: other machines can reach this service"
        );
        eprintln!(
            "warning: listening on {} — other machines can reach this service{}",
            args.host,
            if default_key {
                ", and it uses the well-known development key"
            } else {
                ""
            }
        );
    }

    let service = start(ServiceConfig {
        host: args.host.clone(),
        port: args.port,
        access_key: access_key.clone(),
        allow_anonymous: args.allow_anonymous,
        ..ServiceConfig::default()
    })
    .await?;
    let addr = reachable(service.addr);
    let now = chrono::Utc::now().timestamp();
    let token = mint(
        &Claims {
            aud: format!("http://{addr}/client/hubs/{DEMO_HUB}"),
            iat: Some(now),
            exp: now + DEMO_MINUTES * 60,
            sub: Some(DEMO_USER.into()),
            roles: vec![
                "webpubsub.joinLeaveGroup".into(),
                "webpubsub.sendToGroup".into(),
            ],
            ..Claims::default()
        },
        &access_key,
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
    if default_key {
        println!(
            "The access key is the well-known development key: for local use only, since anyone who knows it can mint tokens."
        );
    }
    println!(
        "Server SDKs: the endpoint is plain http, so the JS server SDK (@azure/web-pubsub) needs \
         {{ allowInsecureConnection: true }} in its WebPubSubServiceClient options."
    );
    if args.allow_anonymous {
        println!("Anonymous connections (no token) are allowed.");
    }
    println!("Press Ctrl+C to stop.");

    wait_for_stop_signal().await;
    tracing::info!("stopping the local service");
    service.shutdown().await;
    Ok(ExitCode::SUCCESS)
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
