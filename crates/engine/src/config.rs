//! What an [`Engine`](crate::Engine) is built from: the server, the device token, which
//! addresses to bind for media, the audio devices, and the call engine's own settings.

use std::net::IpAddr;

use ringwire_core::AgentConfig;
use ringwire_media::device::{AudioSink, AudioSource};

use crate::ice::IceServerConfig;
use crate::signaling::SignalingConfig;

/// Where audio comes from and goes to.
pub struct AudioDevices {
    /// Fills one frame per tick while a call has the audio.
    pub source: Box<dyn AudioSource>,
    /// Takes one frame per tick while a call has the audio.
    pub sink: Box<dyn AudioSink>,
}

impl std::fmt::Debug for AudioDevices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AudioDevices { .. }")
    }
}

/// Configuration of an [`Engine`](crate::Engine).
#[derive(Debug)]
pub struct EngineConfig {
    /// The signaling server and this device's token; `None` for an engine that makes only
    /// peer-mode calls over the app's own channel ([`EngineConfig::peer_only`]).
    pub signaling: Option<SignalingConfig>,
    /// Addresses to bind one UDP socket each (port chosen by the OS) for media. Empty: every
    /// usable IPv4 and IPv6 address of the machine's interfaces (link-local excluded; loopback
    /// only if `allow_loopback`), re-read on [`Engine::network_changed`](crate::Engine::network_changed).
    pub bind: Vec<IpAddr>,
    /// Offer 127.0.0.1 as a candidate (tests, one-machine demos; Chromium needs
    /// `--allow-loopback-in-peer-connection` to use it).
    pub allow_loopback: bool,
    /// Stand in for CallKit on desktop: activate the audio session as soon as a call is
    /// answered. A phone app turns this off and sends the OS's `didActivate` instead.
    pub auto_audio_session: bool,
    /// Watch the interfaces' addresses (read once a second) and act on a change as
    /// [`Engine::network_changed`](crate::Engine::network_changed) does. For desktops and the
    /// CLI; a phone app leaves it off and forwards the OS's path-change callback instead
    /// (`NWPathMonitor`, `ConnectivityManager.NetworkCallback`).
    pub watch_interfaces: bool,
    /// The audio devices.
    pub audio: AudioDevices,
    /// STUN/TURN servers to gather server-reflexive and relay candidates from (resolved
    /// through the system resolver when the engine starts; replace them later with
    /// [`Engine::set_ice_servers`](crate::Engine::set_ice_servers)). Empty: host candidates
    /// only. Relay-only calls: `agent.peer.ice_transport_policy = IceTransportPolicy::Relay`.
    pub ice_servers: Vec<IceServerConfig>,
    /// Certificates (DER) trusted for `turns:` servers besides the webpki roots: a TURN
    /// server with a private CA, or a test server's self-signed certificate.
    pub turn_tls_roots: Vec<Vec<u8>>,
    /// Call engine settings; its local addresses are filled in from the bound sockets.
    pub agent: AgentConfig,
}

impl EngineConfig {
    /// A desktop configuration: given server and token, tone-free silence in, nothing out,
    /// interface addresses, CallKit simulated.
    pub fn new(signaling: SignalingConfig, audio: AudioDevices) -> EngineConfig {
        EngineConfig {
            signaling: Some(signaling),
            bind: Vec::new(),
            allow_loopback: false,
            auto_audio_session: true,
            watch_interfaces: false,
            audio,
            ice_servers: Vec::new(),
            turn_tls_roots: Vec::new(),
            agent: AgentConfig::new(Vec::new()),
        }
    }

    /// A configuration with no ringwire server: the engine makes and takes only peer-mode
    /// calls, whose signaling the app carries ([`Engine::start_peer_call`](crate::Engine::start_peer_call)).
    pub fn peer_only(audio: AudioDevices) -> EngineConfig {
        EngineConfig {
            signaling: None,
            ..EngineConfig::new(SignalingConfig::new("", ""), audio)
        }
    }
}
