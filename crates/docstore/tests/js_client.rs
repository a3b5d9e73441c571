//! The browser client (`js/firestore-standin.js`) driven by Node.js through the Firebase WebRTC
//! codelab's signaling steps (`js/test/codelab.mjs`), against a real server and Redis. Node is
//! required: ./scripts/test installs it for the browser tests.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Stdio;

use common::{within, Lab};
use tokio::process::Command;

/// Node 21 and later have `WebSocket` built in; Node 20 needs a flag for it.
async fn websocket_flag() -> Option<&'static str> {
    let probe = Command::new("node")
        .args([
            "-e",
            "process.exit(typeof WebSocket === 'function' ? 0 : 1)",
        ])
        .status()
        .await
        .unwrap_or_else(|e| {
            panic!("cannot run `node` ({e}): install Node.js (./scripts/test does)")
        });
    (!probe.success()).then_some("--experimental-websocket")
}

#[tokio::test]
async fn the_js_client_carries_the_codelab_signaling() {
    let lab = Lab::start("js").await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("js/test/codelab.mjs");
    let mut node = Command::new("node");
    node.args(websocket_flag().await)
        .arg("--no-warnings")
        .arg(&script)
        .arg(lab.url());
    let output = within(
        "the Node.js codelab script",
        node.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the codelab script failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("codelab flow: ok"), "{stdout}\n{stderr}");
    // It cleaned up its documents; the listeners it left are gone with its connections.
    lab.wait_for_listener_connections(0).await;
}
