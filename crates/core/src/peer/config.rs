//! What a [`PeerConnection`](super::PeerConnection) is built from, and the check that keeps
//! unusable local addresses out of str0m.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use str0m::format::{Codec, FormatParams};
use str0m::media::{Frequency, Pt};
use str0m::{Rtc, RtcConfig};

use crate::CoreError;

/// Configuration of one [`PeerConnection`](super::PeerConnection).
///
/// Build it with [`PeerConfig::new`] and adjust the public fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PeerConfig {
    /// The local addresses of the UDP sockets the driver bound, used as ICE host candidates.
    /// They must be concrete (not `0.0.0.0`/`::`), not link-local, multicast or broadcast, and
    /// have a non-zero port. str0m refuses such addresses; we check first and say which one.
    pub local_addrs: Vec<SocketAddr>,
    /// Whether audio flows from the start. Default `false`: ringwire pre-connects ICE and
    /// DTLS while the phone rings and enables media on accept
    /// ([`PeerConnection::set_media_enabled`](super::PeerConnection::set_media_enabled)).
    pub media_enabled: bool,
    /// How often a [`PeerEvent::Stats`](super::PeerEvent::Stats) is produced; `None` turns
    /// stats off. Default 1 s.
    pub stats_interval: Option<Duration>,
    /// Interval of RTCP sender/receiver reports for audio (they carry loss, jitter and RTT).
    /// Default 1 s (str0m's default is 5 s, too slow for call-quality reactions).
    pub rtcp_interval: Duration,
    /// How long ICE may stay `Disconnected` before we report
    /// [`IceState::Failed`](super::IceState::Failed). str0m itself never fails (it keeps
    /// trickle ICE open forever), so this is our own timer. Default 15 s.
    pub ice_failed_after: Duration,
    /// Upper bound of the STUN retransmission timeout, which is also the interval of consent
    /// checks on a working pair. `None` keeps str0m's 3 s. With str0m's defaults a peer that
    /// vanishes is reported `Disconnected` about 21.5 s later (measured); 1 s with 6
    /// retransmits brings that to 15 s, the floor: str0m keeps a pair alive for a hard-coded
    /// 15 s after the peer's last binding request. For a faster hint watch
    /// [`PeerEvent::RemoteAudioPaused`](super::PeerEvent::RemoteAudioPaused) (1.5 s).
    pub stun_max_rto: Option<Duration>,
    /// Unanswered STUN retransmissions before a pair is given up. `None` keeps str0m's 9.
    pub stun_max_retransmits: Option<usize>,
    /// How long an answered, connected call may hear no media from the peer (no RTP, RTCP or
    /// DTLS; STUN does not count, it also arrives over pairs not carrying the call; RTCP comes
    /// every second even from a peer that holds the call) before the path counts as lost: ICE reports
    /// [`IceState::Disconnected`](super::IceState::Disconnected) at once instead of after str0m's
    /// consent timeout (15-25 s), so the call layer restarts ICE while the phone still shows
    /// the call. Runs only while media is enabled (answered, not held here). `None` leaves it to
    /// str0m. Default 3 s.
    pub path_silence_after: Option<Duration>,
    /// Which local candidates are used (`RTCIceTransportPolicy`). `Relay` keeps the host
    /// candidates (`local_addrs`) out of the SDP and ICE: only TURN relay candidates, added
    /// later by gathering, are offered. Default `All`.
    pub ice_transport_policy: crate::gather::IceTransportPolicy,
}

impl PeerConfig {
    /// A configuration with the given local socket addresses and the defaults above.
    pub fn new(local_addrs: impl IntoIterator<Item = SocketAddr>) -> Self {
        PeerConfig {
            local_addrs: local_addrs.into_iter().collect(),
            media_enabled: false,
            stats_interval: Some(Duration::from_secs(1)),
            rtcp_interval: Duration::from_secs(1),
            ice_failed_after: Duration::from_secs(15),
            stun_max_rto: None,
            stun_max_retransmits: None,
            path_silence_after: Some(Duration::from_secs(3)),
            ice_transport_policy: crate::gather::IceTransportPolicy::All,
        }
    }

    /// Checks the local addresses.
    pub(crate) fn validate(&self) -> Result<(), CoreError> {
        if self.local_addrs.is_empty() {
            return Err(CoreError::NoLocalAddress);
        }
        for (index, addr) in self.local_addrs.iter().enumerate() {
            validate_local_addr(*addr)
                .map_err(|reason| CoreError::InvalidLocalAddress { index, reason })?;
        }
        Ok(())
    }

    /// The str0m instance: Opus (PT 111, `opus/48000/2`) with RFC 2198 RED for it (PT 63,
    /// `red/48000/2` with fmtp `111/111`), and telephone-events at Opus's clock (PT 110,
    /// `telephone-event/48000`); all as Chromium offers them. RTP mode, RTCP at our interval.
    /// In RTP mode str0m hands RED packets over as they came; `media.rs` unwraps them.
    ///
    /// RTP mode, not str0m's frame mode: the frame mode holds audio back up to 15 packets or 1 s
    /// to reorder across a loss, which is the jitter buffer's job, and its `MediaData` has no
    /// SSRC. RTP mode hands over every packet as it arrives with its header.
    pub(super) fn build_rtc(&self, now: Instant) -> Rtc {
        let rtc_interval = if self.rtcp_interval.is_zero() {
            // str0m panics on a zero interval.
            Duration::from_secs(1)
        } else {
            self.rtcp_interval
        };
        let mut config = RtcConfig::new()
            .clear_codecs()
            .enable_opus(true, true)
            .set_rtp_mode(true)
            .set_stats_interval(self.stats_interval)
            .set_rtcp_report_interval_audio(rtc_interval);
        // RFC 4733 events share the clock of the audio they ride with; 8 kHz events would
        // only be used beside G.711, which we do not offer.
        config.codec_config().add_config(
            Pt::new_with_value(TELEPHONE_EVENT_PT),
            None,
            Codec::Tele,
            Frequency::FORTY_EIGHT_KHZ,
            None,
            FormatParams::default(),
        );
        if let Some(rto) = self.stun_max_rto {
            config.set_max_stun_rto(rto);
        }
        if let Some(n) = self.stun_max_retransmits {
            config.set_max_stun_retransmits(n);
        }
        config.build(now)
    }
}

/// Chromium's payload type for `telephone-event/48000`.
const TELEPHONE_EVENT_PT: u8 = 110;

/// Why a local address cannot be a host candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidAddressReason {
    /// `0.0.0.0` or `::`: the wildcard a socket was bound to, not an address a peer can reach.
    Unspecified,
    /// `169.254.0.0/16` or `fe80::/10`.
    LinkLocal,
    /// A multicast group.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// Port 0: the socket's real port was never read back.
    PortZero,
}

impl fmt::Display for InvalidAddressReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InvalidAddressReason::Unspecified => "unspecified (a wildcard bind address)",
            InvalidAddressReason::LinkLocal => "link-local",
            InvalidAddressReason::Multicast => "multicast",
            InvalidAddressReason::Broadcast => "broadcast",
            InvalidAddressReason::PortZero => "on port 0",
        })
    }
}

/// Whether `addr` can be a local host candidate.
pub(super) fn validate_local_addr(addr: SocketAddr) -> Result<(), InvalidAddressReason> {
    if addr.port() == 0 {
        return Err(InvalidAddressReason::PortZero);
    }
    match addr.ip() {
        ip if ip.is_unspecified() => Err(InvalidAddressReason::Unspecified),
        ip if ip.is_multicast() => Err(InvalidAddressReason::Multicast),
        IpAddr::V4(v4) if v4.is_broadcast() => Err(InvalidAddressReason::Broadcast),
        IpAddr::V4(v4) if v4.is_link_local() => Err(InvalidAddressReason::LinkLocal),
        // str0m accepts IPv6 link-local, but without a scope id it is useless to a peer.
        IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80 => {
            Err(InvalidAddressReason::LinkLocal)
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(s: &str) -> Result<(), InvalidAddressReason> {
        validate_local_addr(s.parse().unwrap())
    }

    #[test]
    fn usable_addresses_pass() {
        assert_eq!(check("10.0.0.1:5000"), Ok(()));
        assert_eq!(check("127.0.0.1:5000"), Ok(()));
        assert_eq!(check("198.18.0.1:40000"), Ok(()));
        assert_eq!(check("[2001:db8::1]:5000"), Ok(()));
        assert_eq!(check("[::1]:5000"), Ok(()));
    }

    #[test]
    fn unusable_addresses_are_named() {
        use InvalidAddressReason::*;
        assert_eq!(check("0.0.0.0:5000"), Err(Unspecified));
        assert_eq!(check("[::]:5000"), Err(Unspecified));
        assert_eq!(check("169.254.10.1:5000"), Err(LinkLocal));
        assert_eq!(check("[fe80::1]:5000"), Err(LinkLocal));
        assert_eq!(check("224.0.0.251:5353"), Err(Multicast));
        assert_eq!(check("[ff02::fb]:5353"), Err(Multicast));
        assert_eq!(check("255.255.255.255:5000"), Err(Broadcast));
        assert_eq!(check("10.0.0.1:0"), Err(PortZero));
    }
}
