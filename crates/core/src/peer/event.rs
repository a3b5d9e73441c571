//! What a [`PeerConnection`](super::PeerConnection) hands back: [`Output`] and its events.

use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ringwire_proto::Candidate;

/// The result of [`PeerConnection::poll_output`](super::PeerConnection::poll_output).
#[derive(Debug)]
pub enum Output {
    /// Send `contents` from the local socket `source` to `destination`.
    Transmit {
        /// The local socket address to send from (one of the configured local addresses).
        source: SocketAddr,
        /// Where to send.
        destination: SocketAddr,
        /// The datagram.
        contents: Vec<u8>,
    },
    /// Something happened.
    Event(PeerEvent),
    /// Nothing more to do until this instant (or until new input): call
    /// [`handle_timeout`](super::PeerConnection::handle_timeout) then.
    Timeout(Instant),
}

/// Which side of the offer/answer exchange this connection started on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Creates the first offer and the control channel; ICE controlling.
    Offerer,
    /// Answers the first offer; ICE controlled.
    Answerer,
}

/// ICE connectivity, in our own terms (str0m's `Completed` folds into `Connected`, and
/// `Failed` is our timer on top of str0m's `Disconnected`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IceState {
    /// Nothing tried yet.
    New,
    /// Connectivity checks are running (also right after an ICE restart).
    Checking,
    /// A candidate pair works.
    Connected,
    /// No working pair right now (consent lost or checks exhausted); may come back.
    Disconnected,
    /// `Disconnected` for longer than `PeerConfig::ice_failed_after`: end the call or restart
    /// ICE. str0m keeps trying, so `Connected` can still follow if nothing is done.
    Failed,
}

/// Why the connection closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// [`close`](super::PeerConnection::close) was called.
    Local,
    /// The peer closed DTLS or the SCTP association.
    Remote,
    /// The WebRTC stack failed (for instance a DTLS fingerprint mismatch).
    Failure(String),
}

/// An event for the call layer.
#[derive(Debug)]
pub enum PeerEvent {
    /// ICE connectivity changed.
    IceState(IceState),
    /// DTLS and SRTP are up: audio can be sent (once media is enabled). Emitted once.
    Connected,
    /// An audio packet arrived (only while media is enabled).
    AudioReceived(AudioPacket),
    /// An RFC 4733 telephone-event packet arrived (only while media is enabled).
    TelephoneEvent(TelephoneEventPacket),
    /// The `ringwire-control` data channel is open: [`send_control`] works.
    ///
    /// [`send_control`]: super::PeerConnection::send_control
    ControlOpen,
    /// The peer's audio stopped (`true`: nothing received for 1.5 s) or (re)started
    /// (`false`). Reported whether or not media is held; a hint of a vanished peer long before
    /// ICE gives up (Opus DTX still sends a packet every 400 ms).
    RemoteAudioPaused(bool),
    /// A message arrived on the control channel.
    Control(Vec<u8>),
    /// The control channel closed.
    ControlClosed,
    /// A local candidate added after the offer/answer
    /// ([`add_local_address`](super::PeerConnection::add_local_address)): forward it to the
    /// peer over signaling. The addresses from `PeerConfig` travel inside the SDP instead.
    LocalCandidate(Candidate),
    /// Periodic quality figures.
    Stats(PeerStats),
    /// The connection is over; nothing else follows but the last transmits.
    Closed(CloseReason),
}

/// One received RTP audio packet, as the jitter buffer needs it.
#[derive(Clone, PartialEq, Eq)]
pub struct AudioPacket {
    /// The sender's SSRC.
    pub ssrc: u32,
    /// RTP sequence number.
    pub seq: u16,
    /// The sequence number extended past wraparounds (by str0m).
    pub extended_seq: u64,
    /// RTP timestamp, 48 kHz.
    pub timestamp: u32,
    /// RTP marker bit: first packet of a talkspurt.
    pub marker: bool,
    /// When the datagram carrying it was received (the `now` given to `handle_receive`).
    pub received_at: Instant,
    /// 0 for a packet as sent. Otherwise an RFC 2198 redundant copy of an earlier frame, this
    /// many 48 kHz units before the packet that carried it (`timestamp` is already the copy's
    /// own; `seq` is still the carrier's).
    pub redundancy_offset: u32,
    /// The Opus packet.
    pub payload: Vec<u8>,
}

impl fmt::Debug for AudioPacket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AudioPacket")
            .field("ssrc", &self.ssrc)
            .field("seq", &self.seq)
            .field("timestamp", &self.timestamp)
            .field("marker", &self.marker)
            .field("redundancy_offset", &self.redundancy_offset)
            .field("len", &self.payload.len())
            .finish()
    }
}

/// One received telephone-event packet: untrusted bytes for
/// [`DtmfReceiver`](ringwire_media::dtmf::DtmfReceiver).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelephoneEventPacket {
    /// RTP timestamp: the start of the event it reports.
    pub timestamp: u32,
    /// The payload (one or more 4-byte reports, if well formed).
    pub payload: Vec<u8>,
}

/// Quality figures, from str0m's stats (RTCP reports and ICE consent checks).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PeerStats {
    /// Round-trip time: from RTCP receiver reports when there are any, else from ICE checks.
    pub rtt: Option<Duration>,
    /// Round-trip time of the last ICE consent check on the selected pair.
    pub ice_rtt: Option<Duration>,
    /// Fraction (0..=1) of the audio packets sent to us that were lost, from the last RTCP
    /// report we produced.
    pub loss_received: Option<f32>,
    /// Fraction (0..=1) of our audio packets the peer reports lost (its RTCP receiver reports).
    pub loss_sent: Option<f32>,
    /// Interarrival jitter of the audio we receive (RFC 3550).
    pub jitter: Option<Duration>,
    /// All bytes sent (STUN, DTLS, SRTP, RTCP).
    pub bytes_sent: u64,
    /// All bytes received.
    pub bytes_received: u64,
    /// Audio RTP packets sent.
    pub audio_packets_sent: u64,
    /// Audio RTP packets received (including those dropped while media is held).
    pub audio_packets_received: u64,
    /// Audio payload bytes sent.
    pub audio_bytes_sent: u64,
    /// Audio payload bytes received.
    pub audio_bytes_received: u64,
    /// The candidate pair ICE selected (types on both sides); `relay_transport` is filled in
    /// by the agent, which owns the TURN allocations.
    pub selected_pair: Option<crate::gather::SelectedPair>,
}
