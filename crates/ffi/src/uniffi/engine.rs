//! [`Engine`]: one device's call engine as the bindings see it, built from an
//! [`EngineConfig`] record. Each method is a short request to the engine thread (none waits on
//! the network); ids cross as strings and are parsed here.

use std::sync::{Arc, RwLock};

use ringwire_core::{AppState, CallSnapshot, Command, PushCall};
use ringwire_engine::SignalingConfig;
use ringwire_media::device::{AudioSink, AudioSource, NullSink, SilenceSource, ToneSource};
use ringwire_proto::DevicePlatform;

use super::audio::HostAudioDevice;
use super::listener::{EngineListener, EngineThread, Forward};
use super::peer::PeerSignal;
use super::types::call_id as parse_call_id;
use super::RingwireError;

/// Amplitude of the test tone: about -12 dBFS, loud enough to measure, far from clipping.
const TONE_AMPLITUDE: i16 = 8000;

/// Where the engine's audio comes from and goes to.
#[derive(Debug, Clone, uniffi::Enum)]
pub enum AudioChoice {
    /// Send a sine tone of `hz` as the microphone; discard what is received (tests, demos).
    Tone { hz: f64 },
    /// Send silence; discard what is received.
    Silence,
    /// The app's audio callback drives `device` (what a phone app uses).
    HostDriven { device: Arc<HostAudioDevice> },
}

/// What an [`Engine`] is built from.
#[derive(Debug, Clone, uniffi::Record)]
pub struct EngineConfig {
    /// The signaling server: `wss://host/v1/ws` (or `ws://`), or just `https://host[:port]`
    /// (`http://`), to which `/v1/ws` is added. Empty: no ringwire server, peer-mode calls
    /// only (`start_peer_call`); `device_token` is then ignored.
    pub server_url: String,
    /// This device's token (from the server's admin API or `ringwire device add`).
    pub device_token: String,
    pub audio: AudioChoice,
    /// Offer 127.0.0.1 as a media candidate (tests and one-machine demos).
    #[uniffi(default = false)]
    pub allow_loopback: bool,
    /// Activate the audio session as soon as a call is answered, standing in for CallKit on
    /// desktop. A phone app leaves it off and calls `audio_session_activated` from CallKit's
    /// `didActivate` (Android: when it takes audio focus).
    #[uniffi(default = false)]
    pub auto_audio_session: bool,
    /// STUN/TURN servers to gather candidates from, as `RTCIceServer`. A server-mode engine
    /// also gets the server's own list at `welcome`; a peer-only engine has only these.
    #[uniffi(default = [])]
    pub ice_servers: Vec<IceServer>,
    /// How long a peer-mode call rings before it ends as `no_answer`, ms (default 60 000).
    #[uniffi(default = None)]
    pub peer_ring_timeout_ms: Option<u64>,
    /// What this device is, in the call timelines it uploads for the server's analytics
    /// (default `Native`; a phone app says `Ios` or `Android`).
    #[uniffi(default = None)]
    pub platform: Option<DevicePlatform>,
}

/// One STUN or TURN server, as WebRTC's `RTCIceServer`.
#[derive(Debug, Clone, uniffi::Record)]
pub struct IceServer {
    /// `stun:host:port`, `turn:host:port?transport=udp|tcp`, `turns:host:port`.
    pub urls: Vec<String>,
    #[uniffi(default = None)]
    pub username: Option<String>,
    #[uniffi(default = None)]
    pub credential: Option<String>,
}

/// One device's call engine. Its thread runs until [`shutdown`](Engine::shutdown) or until the
/// object is released.
#[derive(Debug, uniffi::Object)]
pub struct Engine {
    /// `None` once shut down. A read lock per call: calls from several threads go on side by
    /// side; `shutdown` takes the write lock and waits for them.
    inner: RwLock<Option<ringwire_engine::Engine>>,
    thread: EngineThread,
}

#[uniffi::export]
impl Engine {
    /// Starts the engine: binds the media sockets and connects to the server (and keeps
    /// reconnecting). Events go to `listener`, on the engine thread. Fails on a bad
    /// configuration or when no socket can be bound; an unreachable server is not an error
    /// (`SignalingDown` events follow until it answers).
    #[uniffi::constructor]
    pub fn new(
        config: EngineConfig,
        listener: Arc<dyn EngineListener>,
    ) -> Result<Arc<Self>, RingwireError> {
        let thread = EngineThread::default();
        let forward = Forward {
            app: Some(listener),
            bridge: None,
            thread: thread.clone(),
        };
        let engine = start(config, Arc::new(forward))?;
        Ok(Arc::new(Engine {
            inner: RwLock::new(Some(engine)),
            thread,
        }))
    }

    /// Calls `user` (every device of theirs rings); returns the new call's id at once.
    pub fn start_call(&self, user: String) -> Result<String, RingwireError> {
        self.with(|e| Ok(e.start_call(&user)?.to_string()))
    }

    /// Places a peer-mode call over the app's own signaling channel to a standard WebRTC peer
    /// (no ringwire server): the offer comes at once as an `EngineEvent::PeerSignal`. Deliver
    /// every such event to the peer in order and feed its messages to `handle_peer_signal`.
    /// `to` names the peer in reports; `call_id` is the channel's id for the call when both
    /// ends share one (32 lowercase hex digits). Returns the call's id.
    pub fn start_peer_call(
        &self,
        to: String,
        call_id: Option<String>,
    ) -> Result<String, RingwireError> {
        let call_id = call_id.as_deref().map(parse_call_id).transpose()?;
        self.with(|e| Ok(e.start_peer_call(&to, call_id)?.to_string()))
    }

    /// An incoming peer-mode call the app learned of before its offer (its own VoIP push):
    /// reported at once as `IncomingCall`, as CallKit requires of a push; it can be answered
    /// before the offer arrives.
    pub fn expect_peer_call(
        &self,
        call_id: String,
        from: String,
        display_name: Option<String>,
    ) -> Result<(), RingwireError> {
        let call_id = parse_call_id(&call_id)?;
        self.with(|e| Ok(e.expect_peer_call(call_id, &from, display_name.as_deref())?))
    }

    /// One message from the peer of a peer-mode call, as the app's channel delivered it (an
    /// offer for a call not seen yet rings it). Refused with the reason when it does not fit
    /// the call; the call goes on.
    pub fn handle_peer_signal(
        &self,
        call_id: String,
        signal: PeerSignal,
    ) -> Result<(), RingwireError> {
        let call_id = parse_call_id(&call_id)?;
        let signal = ringwire_proto::PeerSignal::try_from(signal)?;
        self.with(|e| Ok(e.handle_peer_signal(call_id, signal)?))
    }

    /// Answers a ringing incoming call (CallKit `CXAnswerCallAction`).
    pub fn answer(&self, call_id: String) -> Result<(), RingwireError> {
        let call_id = parse_call_id(&call_id)?;
        self.with(|e| Ok(e.answer(call_id)?))
    }

    /// Answers from the OS's call screen (CallKit's `CXAnswerCallAction`), saying whether the
    /// device was locked (`UIApplication.isProtectedDataAvailable == false`; Android's keyguard
    /// locked): the call timeline's lock-screen flag for the server's analytics.
    pub fn answer_from_os(
        &self,
        call_id: String,
        from_lock_screen: bool,
    ) -> Result<(), RingwireError> {
        let call_id = parse_call_id(&call_id)?;
        self.with(|e| Ok(e.answer_from_os(call_id, from_lock_screen)?))
    }

    /// Ends a call in any state: cancel, decline or hang up (CallKit `CXEndCallAction`).
    pub fn end(&self, call_id: String) -> Result<(), RingwireError> {
        let call_id = parse_call_id(&call_id)?;
        self.with(|e| Ok(e.end(call_id)?))
    }

    /// Mutes or unmutes the microphone (silence is sent while muted).
    pub fn set_muted(&self, call_id: String, muted: bool) -> Result<(), RingwireError> {
        let call_id = parse_call_id(&call_id)?;
        self.with(|e| Ok(e.set_muted(call_id, muted)?))
    }

    /// Holds or resumes a call.
    pub fn set_held(&self, call_id: String, held: bool) -> Result<(), RingwireError> {
        let call_id = parse_call_id(&call_id)?;
        self.with(|e| Ok(e.set_held(call_id, held)?))
    }

    /// Sends DTMF keys (`0`-`9`, `*`, `#`, `A`-`D`; `,` pauses 2 s) as RFC 4733
    /// telephone-events: CallKit's `CXPlayDTMFCallAction`, a keypad press. Refused on a call
    /// that is not answered, is held, or whose far end did not negotiate DTMF.
    pub fn send_dtmf(&self, call_id: String, digits: String) -> Result<(), RingwireError> {
        let call_id = parse_call_id(&call_id)?;
        self.with(|e| Ok(e.send_dtmf(call_id, &digits)?))
    }

    /// The OS activated the audio session (CallKit `didActivate`): audio may start.
    pub fn audio_session_activated(&self) -> Result<(), RingwireError> {
        self.with(|e| platform(e, Platform::AudioActivated))
    }

    /// The OS took the audio session away (`didDeactivate`, an interruption): audio stops.
    pub fn audio_session_deactivated(&self) -> Result<(), RingwireError> {
        self.with(|e| platform(e, Platform::AudioDeactivated))
    }

    /// The device's network changed (`NWPathMonitor`, `ConnectivityManager`): answered calls
    /// restart ICE.
    pub fn network_changed(&self) -> Result<(), RingwireError> {
        self.with(|e| platform(e, Platform::NetworkChanged))
    }

    /// The app moved in its lifecycle. With no call in progress, leaving the foreground closes
    /// the signaling connection (`SignalingPaused`), so the server wakes this device by push;
    /// the foreground, a push or a call placed brings it back. Calls in progress are not
    /// touched.
    pub fn set_app_state(&self, state: AppState) -> Result<(), RingwireError> {
        self.with(|e| Ok(e.set_app_state(state)?))
    }

    /// A VoIP push (PushKit) or high-priority FCM data message arrived: `payload` is its JSON
    /// (APNs: the whole payload; FCM: the data map). Returns at once with what to report to
    /// the OS before the push handler returns (unless `already_known`); the engine then joins
    /// the call over signaling, or reports `Ended` if it is already over (a late push).
    pub fn handle_push(&self, payload: Vec<u8>) -> Result<PushCall, RingwireError> {
        self.with(|e| push(e, &payload))
    }

    /// Every call on this device now.
    pub fn snapshot(&self) -> Result<Vec<CallSnapshot>, RingwireError> {
        self.with(|e| Ok(e.snapshot()?))
    }

    /// The media sockets' addresses (the ICE host candidates), as `ip:port`.
    pub fn local_addresses(&self) -> Result<Vec<String>, RingwireError> {
        self.with(|e| {
            Ok(e.current_local_addrs()?
                .iter()
                .map(|a| a.to_string())
                .collect())
        })
    }

    /// Ends every call, disconnects and stops the engine thread; later calls fail with
    /// `Stopped`. Idempotent.
    pub fn shutdown(&self) -> Result<(), RingwireError> {
        self.thread.check()?;
        let engine = self.inner.write().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(engine) = engine {
            engine.shutdown();
        }
        Ok(())
    }
}

impl Engine {
    /// Runs one request on the running engine; refused from the listener and after shutdown.
    fn with<T>(
        &self,
        request: impl FnOnce(&ringwire_engine::Engine) -> Result<T, RingwireError>,
    ) -> Result<T, RingwireError> {
        self.thread.check()?;
        // A panic while holding the lock cannot leave the Option half-written.
        let guard = self.inner.read().unwrap_or_else(|p| p.into_inner());
        match &*guard {
            Some(engine) => request(engine),
            None => Err(RingwireError::Stopped),
        }
    }
}

/// Platform commands shared by [`Engine`] and [`Bridge`](super::Bridge).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Platform {
    AudioActivated,
    AudioDeactivated,
    NetworkChanged,
}

pub(crate) fn platform(
    engine: &ringwire_engine::Engine,
    what: Platform,
) -> Result<(), RingwireError> {
    let command = match what {
        Platform::AudioActivated => Command::AudioSessionActivated,
        Platform::AudioDeactivated => Command::AudioSessionDeactivated,
        // The engine re-reads the interfaces, re-binds, gathers again and restarts ICE.
        Platform::NetworkChanged => return Ok(engine.network_changed()?),
    };
    Ok(engine.command(command)?)
}

/// Hands a push payload to the engine; shared by [`Engine`] and [`Bridge`](super::Bridge).
pub(crate) fn push(
    engine: &ringwire_engine::Engine,
    payload: &[u8],
) -> Result<PushCall, RingwireError> {
    // A payload that is not a ringwire push is InvalidArgument (RingwireError's mapping).
    Ok(engine.handle_push(payload)?)
}

/// Builds and starts a `ringwire_engine::Engine` for `config`, reporting to `listener`.
pub(crate) fn start(
    config: EngineConfig,
    listener: Arc<dyn ringwire_engine::EngineListener>,
) -> Result<ringwire_engine::Engine, RingwireError> {
    let peer_only = config.server_url.trim().is_empty();
    if !peer_only && config.device_token.trim().is_empty() {
        return Err(RingwireError::InvalidConfig(
            "device_token is empty; create a device on the server and pass its token".into(),
        ));
    }
    let (source, sink): (Box<dyn AudioSource>, Box<dyn AudioSink>) = match &config.audio {
        AudioChoice::Tone { hz } => {
            let tone = ToneSource::new(*hz, TONE_AMPLITUDE)
                .map_err(|e| RingwireError::InvalidConfig(format!("tone of {hz} Hz: {e}")))?;
            (Box::new(tone), Box::new(NullSink::default()))
        }
        AudioChoice::Silence => (Box::new(SilenceSource), Box::new(NullSink::default())),
        AudioChoice::HostDriven { device } => {
            // One ring pair, two halves: the engine reads capture and writes playout.
            let (capture, playout) = split(device.take_engine_side()?);
            (capture, playout)
        }
    };
    let audio = ringwire_engine::AudioDevices { source, sink };
    let mut engine_config = if peer_only {
        ringwire_engine::EngineConfig::peer_only(audio)
    } else {
        let signaling = SignalingConfig::new(ws_url(&config.server_url)?, config.device_token);
        ringwire_engine::EngineConfig::new(signaling, audio)
    };
    engine_config.allow_loopback = config.allow_loopback;
    engine_config.auto_audio_session = config.auto_audio_session;
    engine_config.ice_servers = config
        .ice_servers
        .into_iter()
        .map(|s| ringwire_engine::IceServerConfig {
            urls: s.urls,
            username: s.username,
            credential: s.credential,
        })
        .collect();
    if let Some(platform) = config.platform {
        engine_config.agent.platform = platform;
    }
    if let Some(ms) = config.peer_ring_timeout_ms {
        engine_config.agent.peer_ring_timeout = std::time::Duration::from_millis(ms);
    }
    Ok(ringwire_engine::Engine::new(engine_config, listener)?)
}

/// The engine wants a source and a sink; the host device's engine half is both.
fn split(
    side: ringwire_media::device::HostAudioEngineSide,
) -> (Box<dyn AudioSource>, Box<dyn AudioSink>) {
    let shared = Arc::new(std::sync::Mutex::new(side));
    (
        Box::new(SharedSide(Arc::clone(&shared))),
        Box::new(SharedSide(shared)),
    )
}

/// One half of the host device shared by the engine's source and sink slots. Both are used on
/// the engine thread only, one after the other, so the mutex is never contended.
struct SharedSide(Arc<std::sync::Mutex<ringwire_media::device::HostAudioEngineSide>>);

impl SharedSide {
    fn lock(&self) -> std::sync::MutexGuard<'_, ringwire_media::device::HostAudioEngineSide> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl AudioSource for SharedSide {
    fn read_frame(
        &mut self,
        out: &mut [i16],
    ) -> Result<ringwire_media::device::SourceState, ringwire_media::MediaError> {
        self.lock().read_frame(out)
    }
}

impl AudioSink for SharedSide {
    fn write_frame(&mut self, frame: &[i16]) -> Result<(), ringwire_media::MediaError> {
        self.lock().write_frame(frame)
    }
}

/// The WebSocket URL for what the app gave: `ws(s)://…` as is, `http(s)://host[:port]` with
/// `/v1/ws` added.
fn ws_url(server: &str) -> Result<String, RingwireError> {
    let bad = |why: &str| {
        RingwireError::InvalidConfig(format!(
            "server_url {server:?}: {why}; use wss://host/v1/ws or https://host[:port]"
        ))
    };
    let (scheme, rest) = server.split_once("://").ok_or_else(|| bad("no scheme"))?;
    let scheme = match scheme {
        "ws" | "http" => "ws",
        "wss" | "https" => "wss",
        _ => return Err(bad("unsupported scheme")),
    };
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() {
        return Err(bad("no host"));
    }
    let path = if rest.contains('/') { "" } else { "/v1/ws" };
    Ok(format!("{scheme}://{rest}{path}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_become_websocket_urls() {
        assert_eq!(
            ws_url("http://127.0.0.1:8080").as_deref(),
            Ok("ws://127.0.0.1:8080/v1/ws")
        );
        assert_eq!(
            ws_url("https://calls.example/").as_deref(),
            Ok("wss://calls.example/v1/ws")
        );
        assert_eq!(
            ws_url("wss://calls.example/v1/ws").as_deref(),
            Ok("wss://calls.example/v1/ws")
        );
        for bad in ["calls.example", "ftp://x", "http://"] {
            assert!(
                matches!(ws_url(bad), Err(RingwireError::InvalidConfig(_))),
                "{bad}"
            );
        }
    }
}
