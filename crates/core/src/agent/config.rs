//! How an [`Agent`](super::Agent) is set up: the local addresses its connections use, the
//! audio pipeline's settings, and the call-level timers.

use std::net::SocketAddr;
use std::time::Duration;

use ringwire_media::codec::{EncoderConfig, PolicyConfig};
use ringwire_media::dtmf::DtmfConfig;
use ringwire_media::jitter::JitterConfig;

use crate::gather::IceServer;
use crate::peer::PeerConfig;
use crate::CoreError;

/// Configuration of an [`Agent`](super::Agent). Start from [`AgentConfig::new`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AgentConfig {
    /// Template for every WebRTC connection; its `local_addrs` are the UDP sockets the driver
    /// bound (the ICE host candidates).
    pub peer: PeerConfig,
    /// Opus encoder settings (frame duration, bitrate bounds, FEC, DTX).
    pub encoder: EncoderConfig,
    /// How measured loss and RTT move the bitrate and FEC.
    pub policy: PolicyConfig,
    /// Jitter buffer tuning (its `frame_ms` must match `encoder.frame`).
    pub jitter: JitterConfig,
    /// Tone and gap lengths of the DTMF keys sent (`RTCDTMFSender`'s 100/70 ms by default).
    pub dtmf: DtmfConfig,
    /// How often an answered call reports its quality.
    pub quality_interval: Duration,
    /// How long an answered call may wait for media (`Connecting`) or try to restore it
    /// (`Reconnecting`) before it ends as `media_failed` (and says so to the server).
    pub media_timeout: Duration,
    /// How long past the ring deadline an incoming call keeps ringing without word from the
    /// server (signaling down) before it ends here as `no_answer`.
    pub ring_grace: Duration,
    /// How long a peer-mode call rings (either way) before it ends as `no_answer` with a `bye`:
    /// no server keeps a deadline for it. The default, 60 s, is what phones ring for.
    pub peer_ring_timeout: Duration,
    /// What this device is, in the call timelines it uploads (`native` by default; a phone
    /// app says `ios` or `android`).
    pub platform: ringwire_proto::DevicePlatform,
    /// Calls this device holds at once (ringing included); more incoming calls get `busy`.
    pub max_calls: usize,
    /// STUN/TURN servers each call gathers server-reflexive and relay candidates from,
    /// resolved by the driver (see [`IceServer`]); empty: host candidates only. Replace them
    /// with [`Agent::set_ice_servers`](super::Agent::set_ice_servers). The ICE transport policy
    /// is `peer.ice_transport_policy`.
    pub ice_servers: Vec<IceServer>,
    /// Seed for call ids in deterministic simulations; `None` (the default) uses the OS RNG,
    /// as the protocol requires for real calls.
    pub call_id_seed: Option<u64>,
}

impl AgentConfig {
    /// Defaults for a device whose UDP sockets are bound to `local_addrs`.
    pub fn new(local_addrs: impl IntoIterator<Item = SocketAddr>) -> AgentConfig {
        AgentConfig {
            peer: PeerConfig::new(local_addrs),
            encoder: EncoderConfig::default(),
            policy: PolicyConfig::default(),
            // Pre-connect proved the path before the first audio packet, so playout starts
            // after one frame rather than NetEq's cautious 80 ms: the answer is heard ~20 ms
            // sooner (`ringwire bench setup`: accept→first audio 62 → 42 ms on loopback). The
            // target rises at once if the first packets say the path needs more, and to two
            // frames (the FEC lookahead) as soon as a packet goes missing.
            jitter: JitterConfig {
                initial_delay_ms: 20,
                ..JitterConfig::default()
            },
            dtmf: DtmfConfig::default(),
            quality_interval: Duration::from_secs(2),
            media_timeout: Duration::from_secs(30),
            ring_grace: Duration::from_secs(5),
            peer_ring_timeout: Duration::from_secs(60),
            platform: ringwire_proto::DevicePlatform::Native,
            max_calls: 4,
            ice_servers: Vec::new(),
            call_id_seed: None,
        }
    }

    /// Checks that the pieces fit together; the message says what to change.
    pub fn validate(&self) -> Result<(), CoreError> {
        self.peer.validate()?;
        self.encoder.validate()?;
        self.jitter.validate()?;
        if self.jitter.frame_ms != self.encoder.frame.millis() {
            return Err(CoreError::Config(format!(
                "jitter.frame_ms ({}) must equal the encoder frame ({} ms)",
                self.jitter.frame_ms,
                self.encoder.frame.millis()
            )));
        }
        if self.max_calls == 0 {
            return Err(CoreError::Config("max_calls must be at least 1".into()));
        }
        Ok(())
    }
}
