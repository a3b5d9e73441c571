//! The `ringwire` binary as a newcomer uses it: admin commands against a data directory, then
//! `serve` with a config file and environment overrides, stopped by SIGTERM.

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn ringwire(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ringwire"))
        .args(args)
        .current_dir(dir)
        .env_remove("RINGWIRE_CONFIG")
        .env_remove("RINGWIRE_DATA")
        .output()
        .unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn user_and_device_admin_in_the_default_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = ringwire(
        dir.path(),
        &["user", "add", "alice", "--display-name", "Alice Liddell"],
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "added user alice\n");
    assert!(
        dir.path().join("ringwire-data/ringwire.db").is_file(),
        "./ringwire-data is created on first use"
    );

    let out = ringwire(
        dir.path(),
        &["device", "add", "alice", "--label", "iPhone", "--json"],
    );
    assert!(out.status.success());
    let created = json(&out);
    let token = created["token"].as_str().unwrap();
    assert!(token.starts_with("rw_") && token.len() == 67, "{token}");
    assert_eq!(created["device"]["user"], "alice");
    assert_eq!(created["device"]["label"], "iPhone");

    let out = ringwire(dir.path(), &["device", "add", "alice"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("device ") && text.contains("\ntoken: rw_"),
        "{text}"
    );

    let out = ringwire(dir.path(), &["device", "list", "alice", "--json"]);
    assert_eq!(json(&out)["devices"].as_array().unwrap().len(), 2);

    // Only the hash is stored: the token's text is nowhere in the database file.
    let mut db = Vec::new();
    for f in ["ringwire.db", "ringwire.db-wal"] {
        if let Ok(mut file) = std::fs::File::open(dir.path().join("ringwire-data").join(f)) {
            file.read_to_end(&mut db).unwrap();
        }
    }
    assert!(!db.windows(token.len()).any(|w| w == token.as_bytes()));

    // Errors: exit code 2 and a message that says what to do.
    let out = ringwire(dir.path(), &["user", "add", "alice"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    let out = ringwire(dir.path(), &["device", "add", "ghost", "--json"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(json(&out)["error"]["code"], "user_not_found");
    let out = ringwire(dir.path(), &["user", "add", "Has Spaces", "--json"]);
    assert_eq!(json(&out)["error"]["code"], "invalid_field");

    let id = created["device"]["device_id"].as_str().unwrap();
    let out = ringwire(dir.path(), &["device", "revoke", id]);
    assert!(out.status.success());
    let out = ringwire(dir.path(), &["device", "list", "alice", "--json"]);
    assert_eq!(json(&out)["devices"].as_array().unwrap().len(), 1);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body)
}

#[cfg(unix)]
#[test]
fn serve_reads_config_then_env_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let file_port = free_port();
    let env_port = free_port();
    let config = dir.path().join("ringwire.toml");
    std::fs::write(
        &config,
        format!("listen = \"127.0.0.1:{file_port}\"\ndata_dir = \"from-config\"\nring_timeout_secs = 20\n"),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringwire"))
        .args(["serve", "--config", config.to_str().unwrap()])
        .current_dir(dir.path())
        .env("RINGWIRE_LISTEN", format!("127.0.0.1:{env_port}"))
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let health = loop {
        if let Some(body) = http_get(env_port, "/healthz") {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "server did not come up on the environment's port"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        health.contains("200 OK") && health.contains("\"status\":\"ok\""),
        "{health}"
    );
    assert!(
        http_get(file_port, "/healthz").is_none(),
        "the environment overrides the file"
    );
    assert!(
        dir.path().join("from-config/ringwire.db").is_file(),
        "data_dir comes from the file"
    );
    let metrics = http_get(env_port, "/metrics").unwrap();
    assert!(metrics.contains("ringwire_connected_devices 0"));

    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = child.wait().unwrap();
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
    let logs: Vec<String> = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .collect();
    assert!(
        logs.iter().any(|l| l.contains("ringwire server stopped")),
        "{logs:#?}"
    );
}

#[test]
fn serve_refuses_a_bad_config_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "ring_timeout_secs = \"soon\"\n").unwrap();
    let out = ringwire(dir.path(), &["serve", "--config", config.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ring_timeout_secs"), "{err}");
    let out = ringwire(dir.path(), &["serve", "--listen", "not-an-address"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--listen"));
}
