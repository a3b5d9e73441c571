//! One device's WebSocket connection: authentication outcome, the `hello` handshake, then a loop
//! that decodes frames into router inputs and writes the hub's outbound frames. Generic over any
//! `Stream + Sink` of WebSocket messages, so it does not care where the socket came from.
//!
//! Close codes: 4401 unauthorized, 4400 handshake violation, 4406 no common version,
//! 4409 replaced by a newer connection, 1001 shutdown or idle, 1009 frame over 1 MiB.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use ringwire_proto::{
    decode_client, encode, negotiate_version, ClientMessage, ErrorCode, ErrorMessage, IceServers,
    ServerMessage, Welcome, MAX_HELLO_CALLS, SUPPORTED_VERSIONS,
};
use tokio::sync::{mpsc, watch, Notify};
use tracing::Instrument;

use crate::clock::unix_ms;
use crate::hub::{ConnLink, HubCommand, HubHandle, Outbound, OUTBOUND_QUEUE};
use crate::ice::IceSettings;
use crate::metrics::Metrics;
use crate::rate_limit::TokenBucket;
use crate::router::{ConnId, Input};
use crate::store::{DeviceRecord, Store, UserRecord};

pub const CLOSE_UNAUTHORIZED: u16 = 4401;
pub const CLOSE_HANDSHAKE: u16 = 4400;
pub const CLOSE_VERSION: u16 = 4406;
pub const CLOSE_GOING_AWAY: u16 = 1001;
pub const CLOSE_TOO_BIG: u16 = 1009;

/// How long a client has to send `hello`.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the server pings.
pub const PING_EVERY: Duration = Duration::from_secs(20);
/// A connection silent this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Who the upgrade request authenticated as.
#[derive(Debug)]
pub enum Auth {
    Device(Box<(DeviceRecord, UserRecord)>),
    Refused(&'static str),
}

/// What every connection shares.
#[derive(Clone, Debug)]
pub struct ConnContext {
    pub hub: HubHandle,
    pub store: Store,
    pub metrics: Arc<Metrics>,
    pub shutdown: watch::Receiver<bool>,
    pub ring_timeout_ms: u64,
    pub max_messages_per_sec: u32,
    /// The ICE servers and TURN credentials each device gets in `welcome` and `ice_servers`.
    pub ice: Arc<IceSettings>,
}

enum Exit {
    /// The peer closed or the socket failed.
    Gone,
    /// We close with this error and code.
    Close(ErrorMessage, u16),
}

/// Serves one upgraded socket until it closes.
pub async fn serve<S>(socket: S, auth: Auth, ctx: ConnContext, conn: ConnId)
where
    S: Stream<Item = Result<Message, axum::Error>> + Sink<Message, Error = axum::Error> + Unpin,
{
    ctx.metrics.connection_opened();
    let device_id = match &auth {
        Auth::Device(d) => d.0.device_id.to_string(),
        Auth::Refused(_) => "-".to_owned(),
    };
    let span = tracing::info_span!("conn", conn, device_id = %device_id);
    run(socket, auth, &ctx, conn).instrument(span).await;
    ctx.metrics.connection_closed();
}

async fn run<S>(mut socket: S, auth: Auth, ctx: &ConnContext, conn: ConnId)
where
    S: Stream<Item = Result<Message, axum::Error>> + Sink<Message, Error = axum::Error> + Unpin,
{
    let (device, user) = match auth {
        Auth::Device(d) => *d,
        Auth::Refused(why) => {
            tracing::info!(why, "refused unauthenticated connection");
            let err = ErrorMessage::new(ErrorCode::Unauthorized, why);
            return close(&mut socket, &ctx.metrics, err, CLOSE_UNAUTHORIZED).await;
        }
    };
    let (version, known_calls) = match handshake(&mut socket, ctx).await {
        Ok(agreed) => agreed,
        Err(Exit::Gone) => return,
        Err(Exit::Close(err, code)) => return close(&mut socket, &ctx.metrics, err, code).await,
    };
    let now = unix_ms();
    let ice = ctx.ice.grant(device.device_id, now);
    let welcome = ServerMessage::Welcome(Welcome {
        version,
        user: user.name.clone(),
        display_name: user.display_name.clone(),
        device_id: device.device_id,
        server_time_ms: now,
        ring_timeout_ms: ctx.ring_timeout_ms,
        ice_servers: ice.servers,
        ice_expires_ms: ice.expires_ms,
    });
    if send(&mut socket, &ctx.metrics, &welcome).await.is_err() {
        return;
    }
    let (tx, rx) = mpsc::channel(OUTBOUND_QUEUE);
    let kill = Arc::new(Notify::new());
    let link = ConnLink {
        tx,
        kill: kill.clone(),
    };
    let connect = HubCommand::Connect {
        conn,
        device: device.device_id,
        user: user.name.clone(),
        display_name: user.display_name.clone(),
        known_calls,
        link,
    };
    if !ctx.hub.send(connect).await {
        let err = ErrorMessage::new(
            ErrorCode::ShuttingDown,
            "the server is shutting down; reconnect shortly",
        );
        return close(&mut socket, &ctx.metrics, err, CLOSE_GOING_AWAY).await;
    }
    tracing::info!(user = %user.name, "device connected");
    touch(ctx, &device);
    let refresh = ice.refresh_at_ms.map(|at| instant_at(at, now));
    let exit = session(&mut socket, ctx, &device, rx, &kill, refresh).await;
    let _ = ctx
        .hub
        .send(HubCommand::Input(Input::Disconnected {
            conn,
            device: device.device_id,
        }))
        .await;
    touch(ctx, &device);
    if let Exit::Close(err, code) = exit {
        close(&mut socket, &ctx.metrics, err, code).await;
    }
    tracing::info!("device disconnected");
}

/// Waits for `hello` and checks it; returns the agreed version and the calls the device asked
/// about.
async fn handshake<S>(
    socket: &mut S,
    ctx: &ConnContext,
) -> Result<(u32, Vec<ringwire_proto::CallId>), Exit>
where
    S: Stream<Item = Result<Message, axum::Error>> + Sink<Message, Error = axum::Error> + Unpin,
{
    let deadline = tokio::time::Instant::now() + HELLO_TIMEOUT;
    let text = loop {
        let frame = tokio::time::timeout_at(deadline, socket.next())
            .await
            .map_err(|_| {
                Exit::Close(
                    ErrorMessage::new(
                        ErrorCode::HelloRequired,
                        "no hello within 10 seconds; send hello first",
                    ),
                    CLOSE_HANDSHAKE,
                )
            })?;
        match frame {
            Some(Ok(Message::Text(t))) => break t,
            Some(Ok(Message::Binary(_))) => {
                let err = ErrorMessage::new(
                    ErrorCode::MalformedJson,
                    "binary frames are not supported; send JSON text frames",
                );
                return Err(Exit::Close(err, CLOSE_HANDSHAKE));
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Close(_))) | None => return Err(Exit::Gone),
            Some(Err(e)) => return Err(socket_error(e)),
        }
    };
    let msg = decode_client(text.as_str()).map_err(|e| {
        Exit::Close(
            ErrorMessage::new(e.code(), format!("invalid hello: {e}")),
            CLOSE_HANDSHAKE,
        )
    })?;
    ctx.metrics.received(msg.type_name());
    let ClientMessage::Hello {
        versions, calls, ..
    } = msg
    else {
        let err = ErrorMessage::new(ErrorCode::HelloRequired, "the first message must be hello")
            .with_ref_type(msg.type_name());
        return Err(Exit::Close(err, CLOSE_HANDSHAKE));
    };
    let Some(version) = negotiate_version(&versions) else {
        let err = ErrorMessage::new(
            ErrorCode::UnsupportedVersion,
            format!("no common protocol version; this server speaks {SUPPORTED_VERSIONS:?}"),
        );
        return Err(Exit::Close(err, CLOSE_VERSION));
    };
    if calls.len() > MAX_HELLO_CALLS {
        let err = ErrorMessage::new(
            ErrorCode::InvalidField,
            format!(
                "hello.calls lists {} calls; at most {MAX_HELLO_CALLS} are allowed",
                calls.len()
            ),
        )
        .with_ref_type("hello");
        return Err(Exit::Close(err, CLOSE_HANDSHAKE));
    }
    Ok((version, calls))
}

/// The connected loop: inbound frames to the hub, outbound frames to the socket, keepalive.
async fn session<S>(
    socket: &mut S,
    ctx: &ConnContext,
    device: &DeviceRecord,
    mut rx: mpsc::Receiver<Outbound>,
    kill: &Notify,
    mut ice_refresh: Option<tokio::time::Instant>,
) -> Exit
where
    S: Stream<Item = Result<Message, axum::Error>> + Sink<Message, Error = axum::Error> + Unpin,
{
    let mut shutdown = ctx.shutdown.clone();
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
    let mut idle_deadline = tokio::time::Instant::now() + IDLE_TIMEOUT;
    let rate = ctx.max_messages_per_sec.max(1);
    let (burst, refill_ms) = (rate * 2, (1000 / u64::from(rate)).max(1));
    let mut bucket = TokenBucket::full(burst, unix_ms());
    let mut last_rate_error_ms = 0u64;
    loop {
        tokio::select! {
            frame = socket.next() => {
                idle_deadline = tokio::time::Instant::now() + IDLE_TIMEOUT;
                let text = match frame {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Binary(_))) => {
                        let err = ErrorMessage::new(ErrorCode::MalformedJson, "binary frames are not supported; send JSON text frames");
                        if send(socket, &ctx.metrics, &ServerMessage::Error(err)).await.is_err() { return Exit::Gone; }
                        continue;
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_))) | None => return Exit::Gone,
                    Some(Err(e)) => return socket_error(e),
                };
                let now = unix_ms();
                if bucket.take(burst, refill_ms, now).is_err() {
                    if now.saturating_sub(last_rate_error_ms) >= 1000 {
                        last_rate_error_ms = now;
                        let mut err = ErrorMessage::new(ErrorCode::RateLimited, format!("more than {rate} messages per second; messages are being dropped"));
                        err.retry_after_ms = Some(1000);
                        if send(socket, &ctx.metrics, &ServerMessage::Error(err)).await.is_err() { return Exit::Gone; }
                    } else {
                        ctx.metrics.error(ErrorCode::RateLimited.as_str());
                    }
                    continue;
                }
                if let Some(reply) = handle_text(text.as_str(), ctx, device).await {
                    if send(socket, &ctx.metrics, &reply).await.is_err() { return Exit::Gone; }
                }
            }
            out = rx.recv() => match out {
                Some(Outbound::Message(msg)) => {
                    if send(socket, &ctx.metrics, &msg).await.is_err() { return Exit::Gone; }
                }
                Some(Outbound::Close(err, code)) => return Exit::Close(err, code),
                None => return Exit::Close(
                    ErrorMessage::new(ErrorCode::ShuttingDown, "the server is shutting down; reconnect shortly"),
                    CLOSE_GOING_AWAY,
                ),
            },
            _ = ping.tick() => {
                if socket.send(Message::Ping(Vec::new().into())).await.is_err() { return Exit::Gone; }
            }
            _ = tokio::time::sleep_until(idle_deadline) => {
                tracing::info!("closing idle connection");
                return Exit::Close(ErrorMessage::new(ErrorCode::IdleTimeout, "no traffic for 60 seconds; reconnect"), CLOSE_GOING_AWAY);
            }
            _ = sleep_until_opt(ice_refresh) => {
                let now = unix_ms();
                let grant = ctx.ice.grant(device.device_id, now);
                ice_refresh = grant.refresh_at_ms.map(|at| instant_at(at, now));
                tracing::debug!("sending fresh TURN credentials");
                let msg = ServerMessage::IceServers(IceServers { ice_servers: grant.servers, ice_expires_ms: grant.expires_ms });
                if send(socket, &ctx.metrics, &msg).await.is_err() { return Exit::Gone; }
            }
            _ = kill.notified() => {
                return Exit::Close(ErrorMessage::new(ErrorCode::TooSlow, "this connection fell too far behind; reconnect"), CLOSE_GOING_AWAY);
            }
            _ = shutdown.changed() => {
                return Exit::Close(ErrorMessage::new(ErrorCode::ShuttingDown, "the server is shutting down; reconnect with backoff"), CLOSE_GOING_AWAY);
            }
        }
    }
}

/// The tokio instant of the UNIX-ms time `at_ms`, given that it is `now_ms` now.
fn instant_at(at_ms: u64, now_ms: u64) -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_millis(at_ms.saturating_sub(now_ms))
}

/// Sleeps until `at`, or forever when there is nothing to wait for.
async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Decodes one frame and passes it on; returns a direct reply (errors, pong) if there is one.
async fn handle_text(
    text: &str,
    ctx: &ConnContext,
    device: &DeviceRecord,
) -> Option<ServerMessage> {
    let msg = match decode_client(text) {
        Ok(msg) => msg,
        Err(e) => {
            let mut err = ErrorMessage::new(e.code(), e.to_string());
            err.ref_type = peek_type(text);
            return Some(ServerMessage::Error(err));
        }
    };
    ctx.metrics.received(msg.type_name());
    let from = device.device_id;
    let input = match msg {
        ClientMessage::Hello { .. } => {
            let err = ErrorMessage::new(
                ErrorCode::HelloRequired,
                "hello was already received on this connection",
            )
            .with_ref_type("hello");
            return Some(ServerMessage::Error(err));
        }
        ClientMessage::Ping { nonce } => {
            return Some(ServerMessage::Pong {
                nonce,
                server_time_ms: unix_ms(),
            });
        }
        ClientMessage::PushToken(registration) => {
            return save_push_token(ctx, from, &registration).await;
        }
        ClientMessage::Invite(invite) => {
            let callee_devices = match lookup_devices(&ctx.store, &invite.to_user).await {
                Ok(devices) => devices,
                Err(e) => {
                    tracing::error!(error = %e, "looking up the callee failed");
                    let err = ErrorMessage::new(
                        ErrorCode::Internal,
                        "the server could not look up the callee; retry",
                    )
                    .with_call(Some(invite.call_id))
                    .with_ref_type("invite");
                    return Some(ServerMessage::Error(err));
                }
            };
            Input::Invite {
                from,
                invite,
                callee_devices,
            }
        }
        msg => Input::Message { from, msg },
    };
    if ctx.hub.send(HubCommand::Input(input)).await {
        None
    } else {
        Some(ServerMessage::Error(ErrorMessage::new(
            ErrorCode::ShuttingDown,
            "the server is shutting down; reconnect shortly",
        )))
    }
}

/// Stores the device's push registration; replies only if that failed.
async fn save_push_token(
    ctx: &ConnContext,
    device: ringwire_proto::DeviceId,
    registration: &ringwire_proto::PushToken,
) -> Option<ServerMessage> {
    match ctx.store.register_push(device, registration).await {
        Ok(()) => None,
        Err(e) => {
            tracing::error!(error = %e, "storing the push token failed");
            let err = ErrorMessage::new(
                ErrorCode::Internal,
                "the server could not store the push token; retry",
            )
            .with_ref_type("push_token");
            Some(ServerMessage::Error(err))
        }
    }
}

async fn lookup_devices(
    store: &Store,
    user: &ringwire_proto::UserName,
) -> Result<Option<Vec<ringwire_proto::DeviceId>>, crate::store::StoreError> {
    if store.user(user).await?.is_none() {
        return Ok(None);
    }
    let devices = store.devices_of_user(user).await?;
    Ok(Some(devices.into_iter().map(|d| d.device_id).collect()))
}

/// The `type` of a frame that failed to decode, if it can be read cheaply, to echo as `ref_type`.
fn peek_type(text: &str) -> Option<String> {
    if text.len() > ringwire_proto::MAX_FRAME_BYTES {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let t = v.get("type")?.as_str()?;
    ClientMessage::TYPES.contains(&t).then(|| t.to_owned())
}

fn touch(ctx: &ConnContext, device: &DeviceRecord) {
    let store = ctx.store.clone();
    let id = device.device_id;
    tokio::spawn(async move {
        if let Err(e) = store.touch_device(id, unix_ms()).await {
            tracing::warn!(error = %e, "could not update last-seen time");
        }
    });
}

fn socket_error(e: axum::Error) -> Exit {
    let text = e.to_string();
    tracing::debug!(error = %text, "socket error");
    if text.contains("Space limit exceeded")
        || text.contains("too long")
        || text.contains("Capacity")
    {
        let err = ErrorMessage::new(
            ErrorCode::FrameTooLarge,
            "frame over 1 MiB; the connection is closed",
        );
        Exit::Close(err, CLOSE_TOO_BIG)
    } else {
        Exit::Gone
    }
}

async fn send<S>(socket: &mut S, metrics: &Metrics, msg: &ServerMessage) -> Result<(), axum::Error>
where
    S: Sink<Message, Error = axum::Error> + Unpin,
{
    metrics.sent(msg.type_name());
    if let ServerMessage::Error(e) = msg {
        metrics.error(e.code.as_str());
    }
    socket.send(Message::Text(encode(msg).into())).await
}

async fn close<S>(socket: &mut S, metrics: &Metrics, err: ErrorMessage, code: u16)
where
    S: Sink<Message, Error = axum::Error> + Unpin,
{
    let reason = err.code.as_str();
    let _ = send(socket, metrics, &ServerMessage::Error(err)).await;
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
    let _ = socket.close().await;
}
