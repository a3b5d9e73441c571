//! A WebSocket proxy between native engines and the signaling server that points their media at
//! the impairment relay: every UDP IPv4 ICE candidate a device sends (in an SDP or trickled) has
//! its address replaced by the relay's stand-in for it ([`super::relay`]). Everything else passes
//! unchanged both ways. The engines need no test hook: they only get the proxy's URL.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::ws::{Message as AxMessage, WebSocket, WebSocketUpgrade};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message as TMessage;

use super::relay::Relay;

/// A running proxy; dropping it stops accepting.
#[derive(Debug)]
pub struct SignalingProxy {
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl SignalingProxy {
    /// Proxies `ws://127.0.0.1:PORT/v1/ws` to `upstream` (a `ws://…/v1/ws` URL).
    pub async fn start(upstream: String, relay: Arc<Relay>) -> anyhow::Result<SignalingProxy> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("ws://{}/v1/ws", listener.local_addr()?);
        let state = Arc::new((upstream, relay));
        let app = axum::Router::new()
            .route("/v1/ws", axum::routing::get(upgrade))
            .with_state(state);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(SignalingProxy { url, task })
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for SignalingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn upgrade(
    ws: WebSocketUpgrade,
    headers: axum::http::HeaderMap,
    axum::extract::State(state): axum::extract::State<Arc<(String, Arc<Relay>)>>,
) -> axum::response::Response {
    // The device token travels in the upgrade request; the server must see it.
    let authorization = headers.get(axum::http::header::AUTHORIZATION).cloned();
    ws.on_upgrade(move |socket| async move {
        if let Err(e) = pump(socket, &state.0, authorization, &state.1).await {
            tracing::debug!("signaling proxy connection ended: {e:#}");
        }
    })
}

async fn pump(
    device: WebSocket,
    upstream: &str,
    authorization: Option<axum::http::HeaderValue>,
    relay: &Relay,
) -> anyhow::Result<()> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = upstream.into_client_request()?;
    if let Some(value) = authorization {
        request
            .headers_mut()
            .insert(axum::http::header::AUTHORIZATION, value);
    }
    let (server, _) = tokio_tungstenite::connect_async(request)
        .await
        .context("connecting upstream")?;
    let (mut server_tx, mut server_rx) = server.split();
    let (mut device_tx, mut device_rx) = device.split();
    let down = async {
        while let Some(Ok(message)) = server_rx.next().await {
            let out = match message {
                TMessage::Text(t) => AxMessage::Text(t.as_str().into()),
                TMessage::Binary(b) => AxMessage::Binary(b),
                TMessage::Ping(p) => AxMessage::Ping(p),
                TMessage::Pong(p) => AxMessage::Pong(p),
                TMessage::Close(_) => break,
                TMessage::Frame(_) => continue,
            };
            if device_tx.send(out).await.is_err() {
                break;
            }
        }
        let _ = device_tx.close().await;
    };
    let up = async {
        while let Some(Ok(message)) = device_rx.next().await {
            let out = match message {
                AxMessage::Text(t) => TMessage::Text(rewrite(t.as_str(), relay).into()),
                AxMessage::Binary(b) => TMessage::Binary(b),
                AxMessage::Ping(p) => TMessage::Ping(p),
                AxMessage::Pong(p) => TMessage::Pong(p),
                AxMessage::Close(_) => break,
            };
            if server_tx.send(out).await.is_err() {
                break;
            }
        }
        let _ = server_tx.close().await;
    };
    tokio::select! {
        () = down => {}
        () = up => {}
    }
    Ok(())
}

/// The message with every UDP IPv4 candidate pointed at its stand-in. Text that is not JSON
/// passes unchanged (the server will refuse it, as it would without the proxy).
fn rewrite(text: &str, relay: &Relay) -> String {
    let Ok(mut value) = serde_json::from_str::<Value>(text) else {
        return text.to_string();
    };
    let mut addrs = Vec::new();
    visit(&mut value, &mut |s| addrs.extend(candidate_addrs(s)));
    if addrs.is_empty() {
        return text.to_string();
    }
    let mut map = Vec::new();
    for addr in addrs {
        if let Ok(stand_in) = relay.stand_in(addr) {
            map.push((addr, stand_in));
        }
    }
    visit(&mut value, &mut |s| *s = replace_candidates(s, &map));
    value.to_string()
}

fn visit(value: &mut Value, f: &mut impl FnMut(&mut String)) {
    match value {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter_mut().for_each(|v| visit(v, f)),
        Value::Object(fields) => fields.values_mut().for_each(|v| visit(v, f)),
        _ => {}
    }
}

/// `candidate:<foundation> <component> <transport> <priority> <address> <port> typ …`: the
/// address field's index and the parsed address, for UDP IPv4 candidates.
fn parse_candidate(line: &str) -> Option<SocketAddr> {
    let body = line.trim().strip_prefix("a=").unwrap_or(line.trim());
    let body = body.strip_prefix("candidate:")?;
    let fields: Vec<&str> = body.split_whitespace().collect();
    if fields.len() < 6 || !fields[2].eq_ignore_ascii_case("udp") {
        return None;
    }
    let ip: std::net::Ipv4Addr = fields[4].parse().ok()?;
    let port: u16 = fields[5].parse().ok()?;
    Some(SocketAddr::from((ip, port)))
}

fn candidate_addrs(text: &str) -> Vec<SocketAddr> {
    text.lines().filter_map(parse_candidate).collect()
}

fn replace_candidates(text: &str, map: &[(SocketAddr, SocketAddr)]) -> String {
    let mut out = String::with_capacity(text.len());
    for piece in text.split_inclusive('\n') {
        let (line, end) = match piece.strip_suffix("\r\n") {
            Some(l) => (l, "\r\n"),
            None => match piece.strip_suffix('\n') {
                Some(l) => (l, "\n"),
                None => (piece, ""),
            },
        };
        let target = parse_candidate(line).and_then(|a| map.iter().find(|(r, _)| *r == a));
        match target {
            Some((real, stand_in)) => {
                let from = format!(" {} {} ", real.ip(), real.port());
                let to = format!(" {} {} ", stand_in.ip(), stand_in.port());
                out.push_str(&line.replacen(&from, &to, 1));
            }
            None => out.push_str(line),
        }
        out.push_str(end);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_ipv4_candidates_are_rewritten_in_sdp_and_trickle() {
        let real: SocketAddr = "127.0.0.1:40000".parse().expect("addr");
        let stand_in: SocketAddr = "127.0.0.1:50000".parse().expect("addr");
        let map = [(real, stand_in)];
        let sdp = "v=0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host\r\na=candidate:2 1 tcp 1 127.0.0.1 40000 typ host\r\n";
        let out = replace_candidates(sdp, &map);
        assert!(out.contains("udp 2130706431 127.0.0.1 50000 typ host\r\n"));
        assert!(
            out.contains("tcp 1 127.0.0.1 40000 typ host\r\n"),
            "tcp untouched"
        );
        let trickle = "candidate:1 1 UDP 2130706431 127.0.0.1 40000 typ host generation 0";
        assert_eq!(candidate_addrs(trickle), vec![real]);
        assert!(replace_candidates(trickle, &map).contains("127.0.0.1 50000 typ"));
        assert!(candidate_addrs("candidate:1 1 udp 1 ::1 5 typ host").is_empty());
        assert!(candidate_addrs("candidate:1 1 udp 1 x.local 5 typ host").is_empty());
        assert!(candidate_addrs("candidate:garbage").is_empty());
    }
}
