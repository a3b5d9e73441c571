//! A real server process for the tests that must kill it or measure it from outside: either
//! `ringwire serve` (when `RINGWIRE_SERVE_BIN` names that binary) or the test binary itself
//! re-run as the server (its ignored `child_server` test calls [`child_main`], which starts the
//! server exactly as `ringwire serve` does, configured by the same `RINGWIRE_*` variables).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ringwire_server::{Server, ServerConfig};
use serde_json::Value;

use super::ADMIN;

/// Where the server keeps its state.
#[derive(Clone)]
pub enum StoreAt {
    Dir(std::path::PathBuf),
    Url(String),
}

/// The body of a test binary's `child_server` test: serves until killed, or until SIGTERM
/// (then shuts down gracefully and exits 0).
pub fn child_main() {
    if std::env::var("RINGWIRE_TEST_CHILD").is_err() {
        return;
    }
    // As `ringwire serve` does first (it may execute this test binary again, with the same
    // arguments and environment).
    ringwire_server::reclaim::reexec_with_malloc_tunables();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let mut config = ServerConfig::default();
        config
            .apply_env(|k| std::env::var(k).ok())
            .expect("configuration");
        let server = Server::start(config).await.expect("server starts");
        // SIGTERM shuts down gracefully, as `ringwire serve` does.
        let stop = server.shutdown_handle();
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::spawn(async move {
            term.recv().await;
            stop.trigger();
        });
        server.wait().await.expect("server runs");
    });
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Starts a server process on `port` with the admin token [`ADMIN`] and `env` on top.
pub fn spawn_server(at: &StoreAt, port: u16, env: &[(&str, &str)]) -> Child {
    let mut cmd = match std::env::var("RINGWIRE_SERVE_BIN") {
        Ok(bin) => {
            let mut cmd = Command::new(bin);
            cmd.arg("serve");
            cmd
        }
        Err(_) => {
            let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
            cmd.args([
                "child_server",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("RINGWIRE_TEST_CHILD", "1");
            cmd
        }
    };
    cmd.env("RINGWIRE_LISTEN", format!("127.0.0.1:{port}"))
        .env("RINGWIRE_ADMIN_TOKEN", ADMIN)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    match at {
        StoreAt::Dir(dir) => cmd
            .env("RINGWIRE_DATA", dir)
            .env_remove("RINGWIRE_DATABASE_URL"),
        StoreAt::Url(url) => cmd.env("RINGWIRE_DATABASE_URL", url),
    };
    cmd.spawn().expect("server process starts")
}

/// Waits until the server on `port` answers `/healthz`.
pub async fn wait_ready(http: &reqwest::Client, port: u16) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let ok = http
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200);
        if ok {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "server never became ready"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `POST`s to the admin API; expects `201`.
pub async fn admin(http: &reqwest::Client, port: u16, path: &str, body: Value) -> Value {
    let resp = http
        .post(format!("http://127.0.0.1:{port}{path}"))
        .bearer_auth(ADMIN)
        .json(&body)
        .send()
        .await
        .expect("admin request");
    assert_eq!(resp.status(), 201);
    resp.json().await.expect("json")
}

/// Resident memory of process `pid`, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    status_field(pid, "VmRSS").unwrap_or(0)
}

/// One numeric field of `/proc/PID/status` (kB for sizes), `None` when it cannot be read.
pub fn status_field(pid: u32, name: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| {
        let value = l.strip_prefix(name)?.strip_prefix(':')?;
        value.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// Where a process's resident memory is: "RssAnon A KiB, RssFile F KiB, T threads".
pub fn memory_breakdown(pid: u32) -> String {
    let field =
        |name| status_field(pid, name).map_or_else(|| "unknown".to_owned(), |v| v.to_string());
    format!(
        "RssAnon {} KiB, RssFile {} KiB, {} threads; largest anonymous mappings (KiB resident): {}",
        field("RssAnon"),
        field("RssFile"),
        field("Threads"),
        largest_anonymous(pid)
    )
}

/// The five anonymous mappings with the most resident memory (`[heap]`, a thread's arena, a
/// stack), from `/proc/PID/smaps`, to tell allocator fragmentation from stacks.
fn largest_anonymous(pid: u32) -> String {
    let Ok(smaps) = std::fs::read_to_string(format!("/proc/{pid}/smaps")) else {
        return "unknown".to_owned();
    };
    let mut mappings: Vec<(u64, String)> = Vec::new();
    let mut current: Option<(String, u64)> = None;
    for line in smaps.lines() {
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or_default();
        if first.contains('-') && !first.ends_with(':') {
            let size = first
                .split_once('-')
                .and_then(|(a, b)| {
                    Some(u64::from_str_radix(b, 16).ok()? - u64::from_str_radix(a, 16).ok()?)
                })
                .unwrap_or(0);
            let name = words.nth(4).unwrap_or("anon").to_owned();
            current = Some((format!("{name} ({} KiB mapped)", size / 1024), 0));
        } else if first == "Anonymous:" {
            if let Some((name, _)) = current.take() {
                let kib = words.next().and_then(|v| v.parse().ok()).unwrap_or(0);
                mappings.push((kib, name));
            }
        }
    }
    mappings.sort_by_key(|m| std::cmp::Reverse(m.0));
    mappings
        .iter()
        .take(5)
        .map(|(kib, name)| format!("{kib} {name}"))
        .collect::<Vec<_>>()
        .join(", ")
}
