//! wpchat: a terminal chat client for Azure Web PubSub, and a local Web PubSub-compatible
//! service. The binary (`main.rs`) only parses the command line and dispatches here.

pub mod auth;
pub mod bench;
pub mod cli;
pub mod client;
pub mod cmd;
pub mod config;
pub mod history;
pub mod logging;
pub mod pipe;
pub mod pipe_output;
pub mod protocol;
pub mod redact;
pub mod service;
pub mod target;
pub mod text;
pub mod tui;
