//! The Chromium baseline: runs `bench/chromium/run.mjs <mode> <json>` (Debian's Chromium driven
//! by playwright-core from `web/node_modules`) and reads the one JSON object it prints last.
//! The scripts own everything on the browser side; this module only starts them and checks
//! what comes back.

use std::path::PathBuf;
use std::process::Stdio;

use anyhow::{anyhow, bail, Context};
use serde_json::Value;

/// `bench/` of this checkout (`RINGWIRE_BENCH_DIR` overrides).
pub fn bench_dir() -> PathBuf {
    std::env::var_os("RINGWIRE_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../bench"))
}

/// Runs one mode and returns its result object.
pub async fn run(mode: &str, input: &Value) -> anyhow::Result<Value> {
    let script = bench_dir().join("chromium/run.mjs");
    if !script.exists() {
        bail!("{} is missing", script.display());
    }
    let output = tokio::process::Command::new("node")
        .arg(&script)
        .arg(mode)
        .arg(input.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output()
        .await
        .context("starting node (install Node.js; scripts/test does)")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().rev().find(|l| !l.trim().is_empty());
    let parsed: Option<Value> = last.and_then(|l| serde_json::from_str(l).ok());
    match parsed {
        Some(v) if v.get("error").is_none() && output.status.success() => Ok(v),
        Some(v) => Err(anyhow!(
            "chromium {mode}: {}",
            v.get("error").cloned().unwrap_or(Value::Null)
        )),
        None => Err(anyhow!(
            "chromium {mode} printed no result (exit {}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .rev()
                .take(15)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n")
        )),
    }
}

/// A list of numbers from a result (`null` entries, failed calls, are skipped).
pub fn numbers(v: &Value, key: &str) -> Vec<f64> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default()
}
