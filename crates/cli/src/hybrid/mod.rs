//! `ringwire bridge-host`: stands in for the native app shell around a WebView. It runs a call
//! engine with a simulated CallKit ([`platform`]), and serves a UI-only hybrid page (`web/hybrid`)
//! plus the JSON bridge (`ringwire_ffi::bridge`) over a local WebSocket. The page holds no
//! WebRTC and no signaling: freeze it, stop its process, and the call goes on here.

mod http;
pub mod platform;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use ringwire_engine::{EngineEvent, EngineListener};
use ringwire_ffi::bridge::{Bridge, BridgeEvents};

use crate::phone::{engine_with_listener, PhoneArgs};
use platform::Platform;

/// `ringwire bridge-host`.
#[derive(Args, Debug)]
pub struct BridgeHostArgs {
    #[command(flatten)]
    pub phone: PhoneArgs,
    /// Where the page and the bridge WebSocket listen (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub listen: SocketAddr,
}

/// What the HTTP handlers share.
#[derive(Clone)]
struct Host {
    bridge: Arc<Bridge>,
    platform: Arc<Platform>,
}

/// The shell's engine listener: the platform (CallKit) and the bridge hear every engine event
/// on the engine thread, in order, whether or not a page is attached.
struct ShellListener {
    platform: Arc<Platform>,
    events: Arc<BridgeEvents>,
}

impl EngineListener for ShellListener {
    fn on_event(&self, event: EngineEvent) {
        self.platform.on_engine_event(&event);
        self.events.on_engine_event(&event);
    }
}

pub async fn run(args: BridgeHostArgs) -> anyhow::Result<ExitCode> {
    let phone = args.phone;
    let platform = Arc::new(Platform::default());
    let events = BridgeEvents::new();
    let listener = Arc::new(ShellListener {
        platform: platform.clone(),
        events: events.clone(),
    });
    let engine = tokio::task::spawn_blocking(move || engine_with_listener(&phone, listener))
        .await
        .context("engine start")??;
    let host = Host {
        bridge: Arc::new(Bridge::new(engine, events)),
        platform,
    };

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("--listen {}", args.listen))?;
    let addr = listener.local_addr()?;
    // One line a script can read to find the page.
    println!(
        "{}",
        serde_json::json!({ "listening": format!("http://{addr}") })
    );
    axum::serve(listener, http::routes(host))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("serving the bridge")?;
    Ok(ExitCode::SUCCESS)
}
