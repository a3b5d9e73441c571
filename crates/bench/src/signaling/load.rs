//! The bench's side of the wire: bare protocol-v1 clients on tokio-tungstenite, no engine.
//! Owns connecting one device (bound to a chosen loopback source address, `hello` →
//! `welcome`), holding many connections idle, and driving a caller/callee pair through full
//! call cycles while timing invite → incoming. Everything here counts failures instead of
//! giving up, so a bench run reports how far the server got.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use futures_util::{SinkExt, StreamExt};
use ringwire_proto::{
    decode_server, encode, CallId, ClientMessage, Invite, ServerMessage, UserName, Welcome,
};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// One device's WebSocket.
pub type Ws = WebSocketStream<TcpStream>;

/// How long one connection may take from TCP connect to `welcome`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one step of a call cycle may wait for the server.
const STEP_TIMEOUT: Duration = Duration::from_secs(5);

/// Connects as the device holding `token`, from `source` (port chosen by the kernel), and
/// completes `hello` → `welcome`.
pub async fn connect(server: SocketAddr, source: IpAddr, token: &str) -> anyhow::Result<Ws> {
    tokio::time::timeout(CONNECT_TIMEOUT, connect_inner(server, source, token))
        .await
        .map_err(|_| anyhow!("no welcome within {CONNECT_TIMEOUT:?}"))?
}

async fn connect_inner(server: SocketAddr, source: IpAddr, token: &str) -> anyhow::Result<Ws> {
    let socket = TcpSocket::new_v4().context("creating a socket")?;
    // Lets the kernel hand out a source port still in TIME_WAIT from an earlier run.
    socket.set_reuseaddr(true)?;
    socket
        .bind(SocketAddr::new(source, 0))
        .with_context(|| format!("binding a source port on {source}"))?;
    let tcp = socket.connect(server).await.context("TCP connect")?;
    // Signaling frames are small and latency-bound (the server sets the same on its side).
    tcp.set_nodelay(true)?;
    let mut request = format!("ws://{server}/v1/ws").into_client_request()?;
    request.headers_mut().insert(
        "Authorization",
        HeaderValue::from_str(&format!("Bearer {token}"))?,
    );
    // tungstenite's default 128 KiB read buffer per socket would cost the bench gigabytes
    // at tens of thousands of connections; signaling frames are small.
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(request, tcp, Some(config))
        .await
        .context("WebSocket upgrade")?;
    let hello = ClientMessage::Hello {
        versions: vec![1],
        client: None,
        calls: Vec::new(),
    };
    send(&mut ws, &hello).await?;
    match recv(&mut ws).await? {
        ServerMessage::Welcome(Welcome { .. }) => Ok(ws),
        ServerMessage::Error(e) => bail!("refused: {} ({})", e.code.as_str(), e.message),
        other => bail!("expected welcome, got {}", other.type_name()),
    }
}

/// Sends one protocol message as a text frame.
pub async fn send(ws: &mut Ws, message: &ClientMessage) -> anyhow::Result<()> {
    ws.send(Message::text(encode(message)))
        .await
        .context("sending")
}

/// The next protocol message; WebSocket pings are answered by tungstenite while reading.
pub async fn recv(ws: &mut Ws) -> anyhow::Result<ServerMessage> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => {
                return decode_server(text.as_str()).map_err(|e| anyhow!("undecodable frame: {e}"))
            }
            Some(Ok(Message::Close(frame))) => {
                let why = frame.map_or(String::new(), |f| format!(" ({} {})", f.code, f.reason));
                bail!("the server closed the connection{why}")
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => bail!("socket error: {e}"),
            None => bail!("the connection ended"),
        }
    }
}

/// Idle connections held open, each read by its own task so server pings get their pongs.
#[derive(Debug, Default)]
pub struct IdleFleet {
    tasks: JoinSet<()>,
    /// Connections the server (or the network) closed while they were meant to be idle.
    lost: Arc<AtomicUsize>,
}

impl IdleFleet {
    pub fn held(&self) -> usize {
        self.tasks.len()
    }

    pub fn lost(&self) -> usize {
        self.lost.load(Ordering::Relaxed)
    }

    /// Connects every `(server, source, token)` with at most `in_flight` handshakes at once
    /// and keeps the ones that reached `welcome`; returns how many failed and the first failure.
    pub async fn connect(
        &mut self,
        devices: Vec<(SocketAddr, IpAddr, String)>,
        in_flight: usize,
    ) -> (usize, Option<String>) {
        let mut attempts = futures_util::stream::iter(devices)
            .map(|(server, source, token)| async move { connect(server, source, &token).await })
            .buffer_unordered(in_flight.max(1));
        let (mut failed, mut first_error) = (0, None);
        while let Some(outcome) = attempts.next().await {
            match outcome {
                Ok(ws) => {
                    let lost = self.lost.clone();
                    self.tasks.spawn(hold(ws, lost));
                }
                Err(e) => {
                    failed += 1;
                    first_error.get_or_insert_with(|| format!("{e:#}"));
                }
            }
        }
        (failed, first_error)
    }

    /// Drops every connection (the tasks are aborted, closing their sockets).
    pub async fn close(mut self) {
        self.tasks.shutdown().await;
    }
}

/// Reads until the connection ends: nothing arrives but pings, which tungstenite answers.
async fn hold(mut ws: Ws, lost: Arc<AtomicUsize>) {
    while let Some(frame) = ws.next().await {
        if matches!(frame, Err(_) | Ok(Message::Close(_))) {
            break;
        }
    }
    lost.fetch_add(1, Ordering::Relaxed);
}

/// What one caller/callee pair did in its window.
#[derive(Debug, Default)]
pub struct PairStats {
    /// Cycles whose last `ended` arrived before the deadline.
    pub completed: u64,
    /// Cycles that got an error, an early end, a timeout or a lost connection.
    pub failed: u64,
    /// invite → incoming for every cycle whose `incoming` arrived, in milliseconds.
    pub invite_to_incoming_ms: Vec<f64>,
    /// The first failure, to show in the notes.
    pub first_error: Option<String>,
}

/// Runs call cycles from `caller` to `callee_user` (whose only device is `callee`) until
/// `deadline`: invite → incoming → ringing, accept → accepted → hangup → ended on both.
pub async fn run_pair(
    mut caller: Ws,
    mut callee: Ws,
    callee_user: UserName,
    deadline: Instant,
) -> PairStats {
    let mut stats = PairStats::default();
    while Instant::now() < deadline {
        let call_id = CallId::random();
        match call_cycle(&mut caller, &mut callee, &callee_user, call_id, &mut stats).await {
            Ok(()) if Instant::now() <= deadline => stats.completed += 1,
            Ok(()) => {}
            Err(e) => {
                stats.failed += 1;
                stats.first_error.get_or_insert_with(|| format!("{e:#}"));
                // Leave no call ringing that would make the callee busy for the next cycle.
                if send(&mut caller, &ClientMessage::hangup(call_id))
                    .await
                    .is_err()
                {
                    break;
                }
            }
        }
    }
    stats
}

async fn call_cycle(
    caller: &mut Ws,
    callee: &mut Ws,
    callee_user: &UserName,
    call_id: CallId,
    stats: &mut PairStats,
) -> anyhow::Result<()> {
    let invite = ClientMessage::Invite(Invite {
        call_id,
        to_user: callee_user.clone(),
    });
    send(caller, &invite).await?;
    let sent = Instant::now();
    wait_for(
        callee,
        call_id,
        "incoming",
        |m| matches!(m, ServerMessage::Incoming(i) if i.call_id == call_id),
    )
    .await?;
    stats
        .invite_to_incoming_ms
        .push(sent.elapsed().as_secs_f64() * 1000.0);
    send(callee, &ClientMessage::Ringing { call_id }).await?;
    send(callee, &ClientMessage::Accept { call_id }).await?;
    wait_for(
        caller,
        call_id,
        "accepted",
        |m| matches!(m, ServerMessage::Accepted { call_id: c, .. } if *c == call_id),
    )
    .await?;
    send(caller, &ClientMessage::hangup(call_id)).await?;
    let ended =
        |m: &ServerMessage| matches!(m, ServerMessage::Ended { call_id: c, .. } if *c == call_id);
    wait_for(caller, call_id, "ended", ended).await?;
    wait_for(callee, call_id, "ended", ended).await?;
    Ok(())
}

/// Reads until `want` matches, skipping other traffic (`calling`, `ringing`, frames of earlier
/// calls); an error or an `ended` about `call_id` that is not wanted fails the cycle.
async fn wait_for(
    ws: &mut Ws,
    call_id: CallId,
    what: &str,
    want: impl Fn(&ServerMessage) -> bool,
) -> anyhow::Result<()> {
    let read = async {
        loop {
            let message = recv(ws).await?;
            if want(&message) {
                return Ok(());
            }
            match message {
                ServerMessage::Error(e) if e.call_id.is_none_or(|c| c == call_id) => {
                    bail!(
                        "waiting for {what}: server error {} ({})",
                        e.code.as_str(),
                        e.message
                    )
                }
                ServerMessage::Ended {
                    call_id: c, reason, ..
                } if c == call_id => {
                    bail!("waiting for {what}: the call ended ({reason:?})")
                }
                _ => {}
            }
        }
    };
    tokio::time::timeout(STEP_TIMEOUT, read)
        .await
        .map_err(|_| anyhow!("no {what} within {STEP_TIMEOUT:?}"))?
}
