//! Defect 4 of issue 23: unauthenticated, half-open and idle HTTP connections are closed after
//! the header timeout, every TCP connection counts against `max_connections`, and over the
//! limit the server sheds load (`503 server_full`) instead of running out of descriptors —
//! while `/healthz` keeps answering once there is room.

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

mod common;

use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until EOF (or a reset); returns what arrived and how long it took.
async fn read_to_close(tcp: &mut TcpStream, limit: Duration) -> (String, Duration) {
    let started = tokio::time::Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(started + limit, tcp.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => panic!("connection still open after {limit:?}"),
        }
    }
    (
        String::from_utf8_lossy(&got).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn half_open_and_idle_connections_are_closed_after_the_header_timeout() {
    let server = TestServer::start_with(|c| c.http_header_timeout_secs = 1).await;
    // Half a request head, never finished.
    let mut half = TcpStream::connect(server.addr).await.unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // A connection that never sends anything.
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    // A keep-alive connection that made one request and then went quiet.
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    for (name, tcp) in [
        ("half", &mut half),
        ("silent", &mut silent),
        ("idle", &mut idle),
    ] {
        let (_, took) = read_to_close(tcp, Duration::from_secs(5)).await;
        assert!(
            took < Duration::from_secs(3),
            "{name} closed after {took:?}"
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn every_tcp_connection_counts_and_the_excess_is_shed() {
    let server = TestServer::start_with(|c| {
        c.max_connections = 20;
        c.http_header_timeout_secs = 2;
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(TcpStream::connect(server.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Over the limit: answered 503 at once and closed.
    let mut extra = TcpStream::connect(server.addr).await.unwrap();
    let _ = extra
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let (reply, took) = read_to_close(&mut extra, Duration::from_secs(2)).await;
    assert!(reply.starts_with("HTTP/1.1 503"), "{reply:?}");
    assert!(reply.contains("server_full"), "{reply:?}");
    assert!(took < Duration::from_millis(500), "shedding took {took:?}");
    // Once the idle connections time out there is room again, and /healthz answers.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let started = tokio::time::Instant::now();
    let resp = server
        .http
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(started.elapsed() < Duration::from_millis(500));
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("ringwire_tcp_connection_limit 20\n"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("ringwire_tcp_connections_shed_total 0\n"),
        "{metrics}"
    );
    drop(held);
    server.shutdown().await;
}
