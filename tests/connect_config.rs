//! Config profiles: loading, precedence (command line > environment > profile > defaults), the
//! refusal of inline secrets in a file others can read, unknown keys as warnings, and
//! redaction of every secret from errors and `Debug` output.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use wpchat::auth::ConnectionString;
use wpchat::auth::token::decode_unverified;
use wpchat::config::{Config, ConfigError, load};
use wpchat::protocol::Subprotocol;
use wpchat::target::TargetOptions;
use wpchat::target::{Target, resolve};

const KEY: &str = "K3YK3YK3YK3YK3YK3YK3YK3YK3YK3YK3YK3YK3YK3YK3";
const LIMIT: Duration = Duration::from_secs(20);

fn write_config(dir: &Path, text: &str, mode: u32) -> PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    #[cfg(not(unix))]
    let _ = mode;
    path
}

fn profiles_file() -> String {
    format!(
        r#"
default_profile = "work"
colour = "blue"

[ui]
theme_extra = "x"

[profiles.work]
connection_string = "Endpoint=https://work.example;AccessKey={KEY};Version=1.0;"
hub = "phub"
user = "puser"
roles = ["webpubsub.sendToGroup"]
groups = ["ops"]
expires = 7
protocol = "json"
nickname = "oops"

[profiles.portal]
url = "wss://portal.example/client/hubs/portalhub?access_token=placeholder"

[profiles.fromenv]
connection_string_env = "WPCHAT_TEST_CONNECTION_STRING"
hub = "envhub"
"#
    )
}

async fn resolve_in_time(args: &TargetOptions, config: &Config) -> anyhow::Result<Target> {
    tokio::time::timeout(LIMIT, resolve(args, config))
        .await
        .expect("resolve finishes in time")
}

async fn minted_claims(target: &Target) -> wpchat::auth::Claims {
    let url = tokio::time::timeout(LIMIT, target.client.url_provider.client_url())
        .await
        .unwrap()
        .unwrap();
    let token = url
        .query_pairs()
        .find(|(k, _)| k == "access_token")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    decode_unverified(&token).unwrap()
}

#[test]
fn profiles_load_typed_and_unknown_keys_only_warn() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &profiles_file(), 0o600);
    let (config, warnings) = load(Some(&path)).expect("a private file may hold a secret");
    assert_eq!(config.default_profile.as_deref(), Some("work"));
    let work = &config.profiles["work"];
    assert_eq!(work.hub.as_deref(), Some("phub"));
    assert_eq!(work.roles, vec!["webpubsub.sendToGroup"]);
    assert_eq!(work.expires, Some(7));
    assert_eq!(
        config.profiles["fromenv"].connection_string_env.as_deref(),
        Some("WPCHAT_TEST_CONNECTION_STRING")
    );
    assert!(
        warnings.iter().any(|w| w.contains("'colour'")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("'nickname'") && w.contains("[profiles.work]")),
        "{warnings:?}"
    );
    assert_eq!(
        warnings.len(),
        2,
        "[ui] keys belong to the TUI: {warnings:?}"
    );
    assert_eq!(
        config.ui.get("theme_extra").and_then(|v| v.as_str()),
        Some("x")
    );
    let shown = format!("{config:?}");
    assert!(!shown.contains(KEY), "{shown}");
}

#[test]
fn a_config_file_named_but_missing_is_an_error_that_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.toml");
    let error = load(Some(&path)).expect_err("a typo must not quietly mean the defaults");
    assert!(matches!(error, ConfigError::Missing { .. }), "{error}");
    assert!(
        error.to_string().contains(&path.display().to_string()),
        "{error}"
    );
}

#[test]
fn an_empty_config_file_means_the_defaults() {
    let (config, warnings) = load(Some(std::path::Path::new("/dev/null"))).unwrap();
    assert!(config.profiles.is_empty());
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[cfg(unix)]
#[test]
fn a_readable_file_with_a_secret_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &profiles_file(), 0o644);
    let error = load(Some(&path)).expect_err("others can read the key");
    assert!(matches!(error, ConfigError::Readable { .. }), "{error}");
    let message = error.to_string();
    assert!(
        message.contains(&format!("chmod 600 {}", path.display())),
        "{message}"
    );
    assert!(!message.contains(KEY), "{message}");

    // The same file without the inline secret loads fine at 644.
    let no_secret = profiles_file().replace(
        &format!(
            "connection_string = \"Endpoint=https://work.example;AccessKey={KEY};Version=1.0;\""
        ),
        "connection_string_env = \"WORK_CS\"",
    );
    let path = write_config(dir.path(), &no_secret, 0o644);
    assert!(load(Some(&path)).is_ok());
}

#[test]
fn invalid_toml_errors_do_not_echo_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[profiles.work]\nconnection_string = \"Endpoint=https://h;AccessKey={KEY}\"\nhub = \n"
    );
    let path = write_config(dir.path(), &text, 0o600);
    let message = load(Some(&path)).expect_err("not TOML").to_string();
    assert!(!message.contains(KEY), "{message}");
    assert!(!message.contains('\n'), "one line: {message}");
    assert!(message.contains("not valid"), "{message}");
}

#[tokio::test]
async fn precedence_cli_over_profile_over_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &profiles_file(), 0o600);
    let (config, _) = load(Some(&path)).unwrap();

    // default_profile supplies everything.
    let target = resolve_in_time(&TargetOptions::default(), &config)
        .await
        .unwrap();
    assert_eq!(target.hub, "phub");
    assert_eq!(target.user_id.as_deref(), Some("puser"));
    assert_eq!(target.groups, vec!["ops"]);
    assert_eq!(target.client.protocol, Subprotocol::Json);
    assert!(target.renewable && target.token_expires_at.is_none());
    let claims = minted_claims(&target).await;
    assert_eq!(claims.aud, "https://work.example/client/hubs/phub");
    assert_eq!(claims.exp - claims.iat.unwrap(), 7 * 60);
    assert_eq!(claims.roles, vec!["webpubsub.sendToGroup"]);

    // The command line wins field by field.
    let args = TargetOptions {
        hub: Some("chub".into()),
        user: Some("cuser".into()),
        groups: vec!["g1".into()],
        protocol: Some(Subprotocol::JsonReliable),
        no_auto_rejoin: true,
        ..TargetOptions::default()
    };
    let target = resolve_in_time(&args, &config).await.unwrap();
    assert_eq!(
        (target.hub.as_str(), target.user_id.as_deref()),
        ("chub", Some("cuser"))
    );
    assert_eq!(target.client.protocol, Subprotocol::JsonReliable);
    assert!(!target.client.auto_rejoin);
    let claims = minted_claims(&target).await;
    assert_eq!(claims.aud, "https://work.example/client/hubs/chub");
    assert_eq!(claims.groups, vec!["g1"]);
    assert_eq!(
        claims.exp - claims.iat.unwrap(),
        7 * 60,
        "profile's expires kept"
    );

    // A command-line connection string beats the profile's.
    let args = TargetOptions {
        connection_string: Some(format!("Endpoint=http://cli.example:9000;AccessKey={KEY}")),
        ..TargetOptions::default()
    };
    let target = resolve_in_time(&args, &config).await.unwrap();
    assert_eq!(
        minted_claims(&target).await.aud,
        "http://cli.example:9000/client/hubs/phub"
    );

    // --profile picks another profile; a fixed URL is not renewable.
    let args = TargetOptions {
        profile: Some("portal".into()),
        ..TargetOptions::default()
    };
    let target = resolve_in_time(&args, &config).await.unwrap();
    assert_eq!(target.hub, "portalhub");
    assert!(!target.renewable);

    // An unknown profile names the defined ones.
    let args = TargetOptions {
        profile: Some("nope".into()),
        ..TargetOptions::default()
    };
    let message = format!("{:#}", resolve_in_time(&args, &config).await.unwrap_err());
    assert!(
        message.contains("no profile 'nope'") && message.contains("portal"),
        "{message}"
    );

    // With no config and no target flags, protocol and expiry fall back to the defaults.
    let args = TargetOptions {
        connection_string: Some(format!("Endpoint=http://d.example;AccessKey={KEY}")),
        hub: Some("chat".into()),
        ..TargetOptions::default()
    };
    let target = resolve_in_time(&args, &Config::default()).await.unwrap();
    assert_eq!(target.client.protocol, Subprotocol::JsonReliable);
    assert!(target.client.auto_rejoin);
    let claims = minted_claims(&target).await;
    assert_eq!(claims.exp - claims.iat.unwrap(), 60 * 60);
    assert_eq!(
        claims.roles,
        vec!["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"],
        "chat roles by default"
    );
}

#[test]
fn environment_ranks_between_cli_and_profile() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &profiles_file(), 0o600);
    let token_aud = |args: &[&str], env: &[(&str, &str)]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_wpchat"));
        command
            .arg("token")
            .args(args)
            .arg("--config")
            .arg(&path)
            .env_remove("WebPubSubConnectionString")
            .env_remove("WPCHAT_CONFIG");
        for (k, v) in env {
            command.env(k, v);
        }
        let output = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        assert!(output.status.success(), "{args:?}: {stderr}");
        assert!(!stderr.contains(KEY));
        let url = String::from_utf8(output.stdout).unwrap();
        let token = url
            .trim()
            .split("access_token=")
            .nth(1)
            .unwrap()
            .to_string();
        decode_unverified(&token).unwrap().aud
    };
    let env_cs = format!("Endpoint=https://env.example;AccessKey={KEY}");
    let cli_cs = format!("Endpoint=https://cli.example;AccessKey={KEY}");
    // Profile only.
    assert_eq!(token_aud(&[], &[]), "https://work.example/client/hubs/phub");
    // Environment beats the profile's connection string (the profile's hub still applies).
    assert_eq!(
        token_aud(&[], &[("WebPubSubConnectionString", &env_cs)]),
        "https://env.example/client/hubs/phub"
    );
    // The command line beats the environment.
    assert_eq!(
        token_aud(
            &["--connection-string", &cli_cs, "--hub", "h2"],
            &[("WebPubSubConnectionString", &env_cs)]
        ),
        "https://cli.example/client/hubs/h2"
    );
    // connection_string_env reads the named variable.
    assert_eq!(
        token_aud(
            &["--profile", "fromenv"],
            &[("WPCHAT_TEST_CONNECTION_STRING", &env_cs)]
        ),
        "https://env.example/client/hubs/envhub"
    );
}

#[tokio::test]
async fn errors_and_debug_never_show_secrets() {
    let jwt = wpchat::auth::mint(
        &wpchat::auth::Claims {
            aud: "https://h/client/hubs/chat".into(),
            exp: 4_000_000_000,
            sub: Some("alice".into()),
            ..Default::default()
        },
        KEY,
    );
    let cs = format!("Endpoint=https://h;AccessKey={KEY}");
    let bad_inputs = [
        TargetOptions {
            url: Some(format!("ftp://h/client/hubs/chat?access_token={jwt}")),
            ..TargetOptions::default()
        },
        TargetOptions {
            url: Some(format!("wss://h/elsewhere?access_token={jwt}")),
            ..TargetOptions::default()
        },
        TargetOptions {
            url: Some(format!("wss://h/client/hubs/chat?access_token={jwt}")),
            connection_string: Some(cs.clone()),
            ..TargetOptions::default()
        },
        TargetOptions {
            connection_string: Some(cs.clone()),
            ..TargetOptions::default()
        },
        TargetOptions {
            connection_string: Some(format!("Endpoint=wss://h;AccessKey={KEY}")),
            hub: Some("chat".into()),
            ..TargetOptions::default()
        },
        TargetOptions {
            connection_string: Some(format!("Endpoint=https://h;Port=x{KEY};AccessKey=k")),
            hub: Some("chat".into()),
            ..TargetOptions::default()
        },
    ];
    let secret_parts = [KEY, &jwt[jwt.len() - 20..]];
    for args in &bad_inputs {
        let error = resolve_in_time(args, &Config::default())
            .await
            .expect_err("bad input is refused");
        for shown in [
            format!("{error:#}"),
            format!("{error:?}"),
            format!("{args:?}"),
        ] {
            for secret in secret_parts {
                assert!(!shown.contains(secret), "secret in: {shown}");
            }
        }
        assert!(!format!("{error:#}").contains('\n'), "one line: {error:#}");
    }

    // A good fixed URL: expiry read from the token, user from `sub`, nothing secret in Debug.
    let args = TargetOptions {
        url: Some(format!("https://h/client/hubs/chat?access_token={jwt}")),
        ..TargetOptions::default()
    };
    let target = resolve_in_time(&args, &Config::default()).await.unwrap();
    assert_eq!(
        target.token_expires_at.map(|t| t.timestamp()),
        Some(4_000_000_000)
    );
    assert_eq!(target.user_id.as_deref(), Some("alice"));
    assert!(!target.renewable);
    let shown = format!("{target:?} {:?}", ConnectionString::parse(&cs).unwrap());
    for secret in secret_parts {
        assert!(!shown.contains(secret), "{shown}");
    }
    assert!(
        target
            .client
            .url_provider
            .describe()
            .contains("access_token=***")
    );
}
