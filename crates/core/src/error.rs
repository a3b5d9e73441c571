//! The crate's one error type. Messages say what went wrong and what to do about it; none of them
//! carries SDP text, candidate lines or IP addresses (they end up in logs).

use crate::peer::InvalidAddressReason;

/// Everything that can go wrong in `ringwire-core`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// `PeerConfig::local_addrs` was empty.
    #[error(
        "no local address: bind at least one UDP socket and pass its concrete address \
         in PeerConfig::local_addrs"
    )]
    NoLocalAddress,

    /// A local address cannot be an ICE host candidate.
    #[error(
        "local address #{index} is {reason}: bind a concrete interface address (not 0.0.0.0, ::, \
         link-local, multicast or broadcast) with a non-zero port and pass the socket's local_addr()"
    )]
    InvalidLocalAddress {
        /// Position of the address in the list it came from (0 for a single address).
        index: usize,
        /// Why it was refused.
        reason: InvalidAddressReason,
    },

    /// An offer/answer operation arrived in a signaling state that does not allow it.
    #[error("`{operation}` is not allowed while signaling is {state}: {hint}")]
    SignalingState {
        /// The operation that was refused, e.g. `accept_answer`.
        operation: &'static str,
        /// The signaling state it met, e.g. `stable`.
        state: &'static str,
        /// What to do instead.
        hint: &'static str,
    },

    /// A push payload is not an incoming-call push this engine can read.
    #[error("push payload refused: {detail}")]
    BadPush {
        /// What was wrong with it.
        detail: String,
    },

    /// The remote SDP could not be parsed or was refused by the WebRTC stack.
    #[error("remote SDP refused ({detail}): ask the peer for a fresh offer or answer")]
    BadSdp {
        /// What was wrong, without SDP text.
        detail: String,
    },

    /// A remote ICE candidate line could not be parsed.
    #[error(
        "remote ICE candidate ({len} bytes) could not be parsed: the sender must send RFC 8839 \
         `candidate:` lines; drop it and carry on"
    )]
    BadCandidate {
        /// Length of the refused line.
        len: usize,
    },

    /// The negotiated session has no Opus audio to send or receive.
    #[error(
        "the remote description has no usable Opus audio section: ringwire needs \
         opus/48000/2 with sendrecv; end the call or ask for a new offer"
    )]
    NoCommonAudioCodec,

    /// DTMF was asked for on a call whose far end did not accept telephone-events.
    #[error(
        "the far end did not negotiate telephone-event/48000 (RFC 4733): DTMF cannot be sent \
         on this call"
    )]
    DtmfNotNegotiated,

    /// A relay or ping was sent while the signaling connection is down (call control waits;
    /// these do not, since they are stale by the time it comes back).
    #[error(
        "signaling is not connected: relays and pings are not queued; send them again after \
         the next Connected event (an ICE restart is usually needed)"
    )]
    SignalingDown,

    /// The signaling session stopped for good (refused by the server, or shut down).
    #[error(
        "the signaling client has stopped (shut down, or after a fatal error); create a new one"
    )]
    SignalingStopped,

    /// The message is the signaling session's own to send.
    #[error("{0}")]
    NotSendable(&'static str),

    /// Audio was written before DTLS-SRTP came up.
    #[error("not connected yet: wait for PeerEvent::Connected before sending audio")]
    NotConnected,

    /// Audio was written while media is held (pre-connect while ringing).
    #[error(
        "media is held: call set_media_enabled(true) once the call is accepted; drop this frame"
    )]
    MediaHeld,

    /// The in-band control channel is not open (yet, or any more).
    #[error(
        "the control channel is not open: wait for PeerEvent::ControlOpen, or send the message \
         over signaling"
    )]
    ControlNotOpen,

    /// A control message was larger than allowed.
    #[error(
        "control message of {len} bytes exceeds the {max}-byte limit: keep control messages small"
    )]
    ControlTooLarge {
        /// Size of the refused message.
        len: usize,
        /// The limit.
        max: usize,
    },

    /// The control channel's send buffer is full.
    #[error(
        "the control channel's send buffer is full: drain poll_output and retry, or send over \
         signaling"
    )]
    ControlBufferFull,

    /// The connection was closed (locally or by the peer).
    #[error("the connection is closed: create a new PeerConnection for a new attempt")]
    Closed,

    /// A datagram was not STUN, DTLS, RTP or RTCP, or failed to parse.
    #[error("datagram of {len} bytes refused ({detail}): drop it and keep going")]
    BadDatagram {
        /// Size of the datagram.
        len: usize,
        /// Parser message.
        detail: String,
    },

    /// The WebRTC stack (str0m) reported an error.
    #[error(
        "WebRTC stack error: {detail}; the connection goes on unless PeerEvent::Closed follows"
    )]
    Rtc {
        /// str0m's message (never SDP text or candidates).
        detail: String,
    },

    /// An engine setting is out of range or inconsistent.
    #[error("invalid engine configuration: {0}")]
    Config(String),

    /// The audio pipeline refused its configuration or failed.
    #[error(transparent)]
    Media(#[from] ringwire_media::MediaError),

    /// A command named a call this device does not have (it ended, or never existed here).
    #[error("no call {call_id} on this device: it has ended; refresh the UI from a snapshot")]
    UnknownCall {
        /// The call id the command named.
        call_id: ringwire_proto::CallId,
    },

    /// A command does not fit the call's state (answering an outgoing call, answering twice).
    #[error("cannot {command} call {call_id} while it is {state}: {hint}")]
    CallState {
        /// The command.
        command: &'static str,
        /// The call.
        call_id: ringwire_proto::CallId,
        /// Its state, in words.
        state: String,
        /// What to do instead.
        hint: &'static str,
    },

    /// A peer-mode signaling message does not fit its call (out of order, a second offer, a
    /// candidate for an m-line the session does not have). The call goes on unchanged.
    #[error("peer signaling for call {call_id} refused: {detail}; {hint}")]
    PeerSignal {
        /// The call the message named.
        call_id: ringwire_proto::CallId,
        /// What was wrong with it.
        detail: String,
        /// What the app should do.
        hint: &'static str,
    },

    /// A peer-mode call was started with an id this device already uses.
    #[error("call {call_id} already exists on this device: use a fresh id for each call")]
    CallExists {
        /// The id asked for.
        call_id: ringwire_proto::CallId,
    },

    /// This device already holds as many calls as configured.
    #[error("this device already has {max} calls: end one before starting another")]
    TooManyCalls {
        /// The configured limit.
        max: usize,
    },
}
