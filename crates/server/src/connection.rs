//! One device's WebSocket connection: authentication outcome, the `hello` handshake, then a loop
//! that decodes frames into router inputs (and `call_timeline` uploads into the timeline
//! writer's queue) and writes the hub's outbound frames. Generic over any `Stream + Sink` of
//! WebSocket messages, so it does not care where the socket came from. Every write is bounded
//! ([`crate::conn_io`]), so a client that stops reading is dropped and never holds up shutdown.
//!
//! Close codes: 4401 unauthorized (also when the device is revoked, before or after `hello`),
//! 4400 handshake violation, 4406 no common version, 4409 replaced by a newer connection,
//! 1001 shutdown, idle or too slow, 1009 frame over 1 MiB.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::Message;
use futures_util::{Sink, Stream, StreamExt};
use ringwire_proto::{
    decode_client, ClientMessage, ErrorCode, ErrorMessage, IceServers, ServerMessage, Welcome,
};
use tokio::sync::{mpsc, watch, Notify};
use tracing::Instrument;

use crate::clock::unix_ms;
use crate::conn_io::{close, send, send_frame, Exit, Guards};
pub use crate::conn_io::{CLOSE_GOING_AWAY, CLOSE_UNAUTHORIZED};
use crate::hub::{ConnLink, HubCommand, HubHandle, Outbound, OUTBOUND_QUEUE};
use crate::ice::IceSettings;
use crate::last_seen::LastSeen;
use crate::metrics::Metrics;
use crate::revocation::Revocations;
use crate::store::{DeviceRecord, Store, UserRecord};
use crate::timelines::{TimelineWriter, UploadSlots};
use ringwire_router::handshake::{answer_on_connection, check_hello};
use ringwire_router::rate_limit::TokenBucket;
use ringwire_router::{ConnId, Input};

pub use ringwire_router::handshake::{CLOSE_HANDSHAKE, CLOSE_VERSION};
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
    pub revocations: Arc<Revocations>,
    pub last_seen: LastSeen,
    pub ring_timeout_ms: u64,
    pub max_messages_per_sec: u32,
    /// The ICE servers and TURN credentials each device gets in `welcome` and `ice_servers`.
    pub ice: Arc<IceSettings>,
    /// Where `call_timeline` uploads go to be stored.
    pub timelines: TimelineWriter,
}

/// How a connection hands its `call_timeline` uploads on: the answer comes back through its own
/// outbound queue (held weakly: only the hub keeps that queue open), a few uploads at a time.
#[derive(Debug)]
struct Uploads {
    reply: mpsc::WeakSender<Outbound>,
    slots: UploadSlots,
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
    // Registered before anything else, so a revoke from now on reaches this connection.
    let registration = ctx.revocations.register(device.device_id, conn);
    let kill = Arc::new(Notify::new());
    let mut guards = Guards {
        kill: &kill,
        revoked: &registration.revoked,
        shutdown: ctx.shutdown.clone(),
    };
    let exit = connected(&mut socket, ctx, conn, &device, &user, &kill, &mut guards).await;
    if let Exit::Close(err, code) = exit {
        close(&mut socket, &ctx.metrics, err, code).await;
    }
    drop(registration);
}

/// From `hello` to the end of the session; returns how the connection ends.
async fn connected<S>(
    socket: &mut S,
    ctx: &ConnContext,
    conn: ConnId,
    device: &DeviceRecord,
    user: &UserRecord,
    kill: &Arc<Notify>,
    guards: &mut Guards<'_>,
) -> Exit
where
    S: Stream<Item = Result<Message, axum::Error>> + Sink<Message, Error = axum::Error> + Unpin,
{
    let (version, known_calls) = match handshake(socket, ctx, guards).await {
        Ok(agreed) => agreed,
        Err(exit) => return exit,
    };
    // The token was checked at the upgrade; the device may have been revoked since (by the
    // admin API, or by another process editing the store).
    if let Err(exit) = still_active(ctx, device).await {
        return exit;
    }
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
    if let Err(exit) = send(socket, &ctx.metrics, guards, &welcome).await {
        return exit;
    }
    let (tx, rx) = mpsc::channel(OUTBOUND_QUEUE);
    let uploads = Uploads {
        reply: tx.downgrade(),
        slots: UploadSlots::default(),
    };
    let link = ConnLink::Local {
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
        return Exit::shutting_down();
    }
    tracing::info!(user = %user.name, "device connected");
    touch(ctx, device);
    let refresh = ice.refresh_at_ms.map(|at| instant_at(at, now));
    let exit = session(socket, ctx, device, rx, &uploads, guards, refresh).await;
    let _ = ctx
        .hub
        .send(HubCommand::Input(Input::Disconnected {
            conn,
            device: device.device_id,
        }))
        .await;
    touch(ctx, device);
    tracing::info!("device disconnected");
    exit
}

/// `Ok` if the device is still active in the store; otherwise the exit to take.
async fn still_active(ctx: &ConnContext, device: &DeviceRecord) -> Result<(), Exit> {
    match ctx.store.device_active(device.device_id).await {
        Ok(true) => Ok(()),
        Ok(false) => {
            tracing::info!("device was revoked; closing");
            Err(Exit::revoked())
        }
        Err(e) => {
            tracing::error!(error = %e, "could not re-check the device");
            Err(Exit::Close(
                ErrorMessage::new(
                    ErrorCode::Internal,
                    "the server could not check this device; reconnect shortly",
                ),
                CLOSE_GOING_AWAY,
            ))
        }
    }
}

/// Waits for `hello` and checks it; returns the agreed version and the calls the device asked
/// about.
async fn handshake<S>(
    socket: &mut S,
    ctx: &ConnContext,
    guards: &mut Guards<'_>,
) -> Result<(u32, Vec<ringwire_proto::CallId>), Exit>
where
    S: Stream<Item = Result<Message, axum::Error>> + Sink<Message, Error = axum::Error> + Unpin,
{
    let deadline = tokio::time::Instant::now() + HELLO_TIMEOUT;
    let text = loop {
        let frame = tokio::select! {
            frame = socket.next() => frame,
            exit = guards.stopped() => return Err(exit),
            _ = tokio::time::sleep_until(deadline) => {
                return Err(Exit::Close(
                    ErrorMessage::new(
                        ErrorCode::HelloRequired,
                        "no hello within 10 seconds; send hello first",
                    ),
                    CLOSE_HANDSHAKE,
                ));
            }
        };
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
    let hello =
        check_hello(msg).map_err(|refused| Exit::Close(refused.error, refused.close_code))?;
    Ok((hello.version, hello.known_calls))
}

/// The connected loop: inbound frames to the hub, outbound frames to the socket, keepalive.
/// Every write is bounded; the stop signals are checked while waiting and while writing.
async fn session<S>(
    socket: &mut S,
    ctx: &ConnContext,
    device: &DeviceRecord,
    mut rx: mpsc::Receiver<Outbound>,
    uploads: &Uploads,
    guards: &mut Guards<'_>,
    mut ice_refresh: Option<tokio::time::Instant>,
) -> Exit
where
    S: Stream<Item = Result<Message, axum::Error>> + Sink<Message, Error = axum::Error> + Unpin,
{
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
    let mut idle_deadline = tokio::time::Instant::now() + IDLE_TIMEOUT;
    let rate = ctx.max_messages_per_sec.max(1);
    let (burst, refill_ms) = (rate * 2, (1000 / u64::from(rate)).max(1));
    let mut bucket = TokenBucket::full(burst, unix_ms());
    let mut last_rate_error_ms = 0u64;
    let metrics = &ctx.metrics;
    loop {
        let step: Result<(), Exit> = tokio::select! {
            frame = socket.next() => {
                idle_deadline = tokio::time::Instant::now() + IDLE_TIMEOUT;
                let text = match frame {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Binary(_))) => {
                        let err = ErrorMessage::new(ErrorCode::MalformedJson, "binary frames are not supported; send JSON text frames");
                        if let Err(exit) = send(socket, metrics, guards, &ServerMessage::Error(err)).await { return exit; }
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
                        send(socket, metrics, guards, &ServerMessage::Error(err)).await
                    } else {
                        metrics.error(ErrorCode::RateLimited.as_str());
                        Ok(())
                    }
                } else {
                    match handle_text(text.as_str(), ctx, device, uploads).await {
                        Ok(Some(reply)) => send(socket, metrics, guards, &reply).await,
                        Ok(None) => Ok(()),
                        Err(exit) => Err(exit),
                    }
                }
            }
            out = rx.recv() => match out {
                Some(Outbound::Message(msg)) => send(socket, metrics, guards, &msg).await,
                Some(Outbound::Close(err, code)) => Err(Exit::Close(err, code)),
                None => Err(Exit::shutting_down()),
            },
            _ = ping.tick() => send_frame(socket, guards, Message::Ping(Vec::new().into())).await,
            _ = tokio::time::sleep_until(idle_deadline) => {
                tracing::info!("closing idle connection");
                Err(Exit::Close(ErrorMessage::new(ErrorCode::IdleTimeout, "no traffic for 60 seconds; reconnect"), CLOSE_GOING_AWAY))
            }
            _ = sleep_until_opt(ice_refresh) => {
                let now = unix_ms();
                let grant = ctx.ice.grant(device.device_id, now);
                ice_refresh = grant.refresh_at_ms.map(|at| instant_at(at, now));
                tracing::debug!("sending fresh TURN credentials");
                let msg = ServerMessage::IceServers(IceServers { ice_servers: grant.servers, ice_expires_ms: grant.expires_ms });
                send(socket, metrics, guards, &msg).await
            }
            exit = guards.stopped() => Err(exit),
        };
        if let Err(exit) = step {
            return exit;
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

/// Decodes one frame and passes it on; returns a direct reply (errors, pong) if there is one,
/// or the exit to take (the device turned out to be revoked).
async fn handle_text(
    text: &str,
    ctx: &ConnContext,
    device: &DeviceRecord,
    uploads: &Uploads,
) -> Result<Option<ServerMessage>, Exit> {
    let msg = match decode_client(text) {
        Ok(msg) => msg,
        Err(e) => {
            let mut err = ErrorMessage::new(e.code(), e.to_string());
            let peeked = peek(text);
            err.ref_type = peeked.as_ref().map(|p| p.ref_type.to_owned());
            if let Some(p) = peeked.filter(|p| p.ref_type == "call_timeline") {
                // A device with several uploads queued must know which one to drop.
                err.call_id = p.call_id;
                ctx.metrics.timelines.refused(p.platform, e.code());
            }
            return Ok(Some(ServerMessage::Error(err)));
        }
    };
    ctx.metrics.received(msg.type_name());
    let from = device.device_id;
    let input = match msg {
        ClientMessage::Hello { .. } | ClientMessage::Ping { .. } => {
            return Ok(answer_on_connection(&msg, unix_ms()));
        }
        ClientMessage::PushToken(registration) => {
            return Ok(save_push_token(ctx, from, &registration).await);
        }
        // A store write, not a routing decision: it goes to the timeline writer, never to the
        // router, and the answer comes later through this connection's outbound queue.
        ClientMessage::CallTimeline(timeline) => {
            let Some(reply) = uploads.reply.upgrade() else {
                return Err(Exit::shutting_down());
            };
            return Ok(ctx.timelines.submit(from, timeline, &reply, &uploads.slots));
        }
        ClientMessage::Invite(invite) => {
            // The invite limit is applied before anything costs a query: a refused invite
            // is answered by the router and goes no further.
            if !ctx.hub.admit_invite(from, invite.call_id).await {
                return Ok(None);
            }
            // A revocation made by another process (`ringwire device revoke`) stops calls at
            // once, not only at the next poll.
            still_active(ctx, device).await?;
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
                    return Ok(Some(ServerMessage::Error(err)));
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
        Ok(None)
    } else {
        Ok(Some(ServerMessage::Error(ErrorMessage::new(
            ErrorCode::ShuttingDown,
            "the server is shutting down; reconnect shortly",
        ))))
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

/// What can be read of a frame that failed to decode.
#[derive(Debug)]
struct Peeked {
    /// Its `type`, a known client type, to echo as `ref_type`.
    ref_type: &'static str,
    /// Its `call_id`, when that field itself is valid.
    call_id: Option<ringwire_proto::CallId>,
    /// Its `platform`, when that field itself is valid (for the timeline metrics).
    platform: Option<ringwire_proto::DevicePlatform>,
}

/// Reads what it can of a frame that failed to decode, if that is cheap (within the frame
/// limit, and JSON).
fn peek(text: &str) -> Option<Peeked> {
    if text.len() > ringwire_proto::MAX_FRAME_BYTES {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let t = v.get("type")?.as_str()?;
    let ref_type = ClientMessage::TYPES
        .iter()
        .copied()
        .find(|known| *known == t)?;
    let field = |name: &str| v.get(name).and_then(|f| f.as_str());
    Some(Peeked {
        ref_type,
        call_id: field("call_id").and_then(|id| id.parse().ok()),
        platform: field("platform").and_then(ringwire_proto::DevicePlatform::parse),
    })
}

fn touch(ctx: &ConnContext, device: &DeviceRecord) {
    ctx.last_seen.touch(device.device_id);
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
