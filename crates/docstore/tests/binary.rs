//! The real `ringwire-docstore` binary: it prints where it listens, serves the store over a real
//! WebSocket, the browser client and static pages over HTTP; it refuses to start without Redis,
//! and answers `unavailable` (without dying) while Redis is down.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::{SocketAddr, TcpListener};
use std::process::Stdio;

use common::{within, Lab};
use ringwire_docstore::{DocClient, ErrorCode};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

/// A running binary: killed when dropped.
struct Docstore {
    /// Held for `kill_on_drop`.
    _child: Child,
    addr: SocketAddr,
}

impl Docstore {
    async fn start(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ringwire-docstore"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        within("`listening on`", stdout.read_line(&mut line))
            .await
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("the first line was {line:?}"))
            .parse()
            .unwrap();
        Self {
            _child: child,
            addr,
        }
    }

    fn url(&self) -> String {
        format!("ws://{}/v1/docs", self.addr)
    }
}

/// A plain HTTP/1.1 GET: (status, content type, body).
async fn http_get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    within("an HTTP answer", async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        let content_type = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-type: ")
                    .map(str::to_owned)
            })
            .unwrap_or_default();
        (status, content_type, body.to_owned())
    })
    .await
}

#[tokio::test]
async fn the_binary_serves_the_store_the_js_client_and_static_pages() {
    let lab = Lab::store_only("binary").await;
    let pages = tempfile_dir("binary");
    std::fs::write(
        pages.join("index.html"),
        "<script type=module src=/firestore-standin.js></script>",
    )
    .unwrap();
    let docstore = Docstore::start(&[
        "--redis",
        &common::redis_url(),
        "--prefix",
        &lab.prefix,
        "--static",
        pages.to_str().unwrap(),
    ])
    .await;

    // The store, over a real WebSocket, in the binary's prefix.
    let caller = DocClient::connect(&docstore.url()).await.unwrap();
    let callee = DocClient::connect(&docstore.url()).await.unwrap();
    let mut offer = callee.listen_doc("calls/bin").await.unwrap();
    assert!(!within("a snapshot", offer.next()).await.unwrap().exists());
    caller
        .set(
            "calls/bin",
            json!({"offer": {"type": "offer", "sdp": "v=0"}}),
        )
        .await
        .unwrap();
    let snapshot = within("a snapshot", offer.next()).await.unwrap();
    assert_eq!(snapshot.data().unwrap()["offer"]["type"], "offer");
    let path = ringwire_docstore::DocPath::parse("calls/bin").unwrap();
    assert!(
        lab.store.get(&path).await.unwrap().is_some(),
        "the data is under --prefix"
    );

    // The browser client, as a module a page can import.
    let (status, content_type, body) = http_get(docstore.addr, "/firestore-standin.js").await;
    assert_eq!(status, 200);
    assert!(
        content_type.starts_with("text/javascript"),
        "{content_type}"
    );
    assert!(body.contains("export function onSnapshot"));

    // Pages from --static, and nothing outside it.
    let (status, content_type, body) = http_get(docstore.addr, "/static/index.html").await;
    assert_eq!(
        (status, content_type.as_str()),
        (200, "text/html; charset=utf-8")
    );
    assert!(body.contains("firestore-standin.js"));
    for outside in [
        "/static/../Cargo.toml",
        "/static/%2e%2e/Cargo.toml",
        "/static/missing.html",
        "/static/.hidden",
    ] {
        assert_eq!(http_get(docstore.addr, outside).await.0, 404, "{outside}");
    }
    drop(docstore);
    std::fs::remove_dir_all(pages).unwrap();
}

#[tokio::test]
async fn the_binary_refuses_to_start_without_redis() {
    let port = free_port();
    let output = within(
        "the binary to give up",
        Command::new(env!("CARGO_BIN_EXE_ringwire-docstore"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--redis",
                &format!("redis://127.0.0.1:{port}"),
            ])
            .output(),
    )
    .await
    .unwrap();
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "it never said it was listening");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("redis-cli ping"),
        "the error says what to check: {stderr}"
    );

    let output = Command::new(env!("CARGO_BIN_EXE_ringwire-docstore"))
        .args(["--prefix", "bad:prefix"])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid key prefix"));
}

/// A Redis of the test's own, on a free port, to stop and start.
async fn start_redis(port: u16) -> Child {
    let mut redis = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("redis-server is needed to test Redis going down (./scripts/test installs it)");
    // redis-server logs "Ready to accept connections" once it serves.
    let mut log = BufReader::new(redis.stdout.take().unwrap()).lines();
    within("redis-server to start", async {
        while let Some(line) = log.next_line().await.unwrap() {
            if line.contains("Ready to accept connections") {
                return;
            }
        }
        panic!("redis-server exited before it was ready");
    })
    .await;
    // Keep draining its log so it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = log.next_line().await {} });
    redis
}

#[tokio::test]
async fn while_redis_is_down_answers_say_unavailable_and_the_server_lives_on() {
    let port = free_port();
    let mut redis = start_redis(port).await;
    let docstore = Docstore::start(&[
        "--redis",
        &format!("redis://127.0.0.1:{port}"),
        "--prefix",
        "down",
    ])
    .await;
    let db = DocClient::connect(&docstore.url()).await.unwrap();
    db.set("calls/a", json!({"n": 1})).await.unwrap();
    let mut listener = db.listen_doc("calls/a").await.unwrap();
    within("a snapshot", listener.next()).await.unwrap();

    redis.kill().await.unwrap();
    let err = within("the listener to end", listener.next())
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Unavailable, "{err}");
    for _ in 0..3 {
        let err = within("an answer", db.set("calls/a", json!({"n": 2})))
            .await
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::Unavailable, "{err}");
        assert!(err.to_string().contains("redis-cli ping"), "{err}");
    }
    let err = within("an answer", db.listen_doc("calls/a"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Unavailable, "{err}");

    // Redis back (empty: it kept nothing): the same connection works again.
    let _redis = start_redis(port).await;
    within("a write once Redis is back", async {
        loop {
            match db.set("calls/a", json!({"n": 3})).await {
                Ok(_) => return,
                Err(e) => assert_eq!(e.code(), ErrorCode::Unavailable, "{e}"),
            }
        }
    })
    .await;
    assert_eq!(db.get("calls/a").await.unwrap().unwrap().data["n"], 3);
    let mut listener = db.listen_doc("calls/a").await.unwrap();
    assert!(within("a snapshot", listener.next())
        .await
        .unwrap()
        .exists());
}

fn free_port() -> u16 {
    // Bound and released: nothing listens there now, and the kernel does not hand it out again
    // at once.
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn tempfile_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(common::prefix(name));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
