//! Audio (plain Opus, or wrapped in RFC 2198 RED when the peer accepted it) and RFC 4733
//! telephone-events in and out, and the media hold used while the phone rings.

use std::time::Instant;

use str0m::format::Codec;
use str0m::media::{Frequency, MediaKind, Mid, Pt};
use str0m::rtp::{RtpPacket, RtpWrite};
use str0m::Input;
use tracing::{debug, info, trace, warn};

use ringwire_media::red::RedPacket;

use super::{AudioPacket, Output, PeerConnection, PeerEvent, TelephoneEventPacket};
use crate::CoreError;

/// Audio state of one connection.
pub(super) struct Audio {
    /// The audio m-line: from `add_media` on the offerer, `MediaAdded` on the answerer.
    pub(super) mid: Option<Mid>,
    /// The negotiated Opus payload type.
    pt: Option<Pt>,
    /// The negotiated `telephone-event/48000` payload type, if the peer offered or accepted
    /// DTMF.
    dtmf_pt: Option<Pt>,
    /// The negotiated `red/48000/2` payload type wrapping Opus, if the peer accepted RED.
    red_pt: Option<Pt>,
    /// RED packets received that could not be parsed (dropped whole).
    red_malformed: u64,
    pub(super) enabled: bool,
    /// Next extended RTP sequence number to send.
    next_seq: u64,
    /// Added to the caller's timestamps (RFC 3550 §5.1: the first timestamp is random).
    ts_offset: u32,
    /// Set the marker bit on the next packet (start of a talkspurt).
    marker_next: bool,
    /// Packets received and dropped because media was held.
    held_dropped: u64,
}

impl Audio {
    pub(super) fn new(enabled: bool) -> Self {
        // A random start makes known-plaintext on SRTP harder (RFC 3550 §5.1). Keep the first
        // sequence number below 2^15 so the receiver never starts near a rollover (str0m warns
        // on a non-zero first ROC).
        let random = getrandom::u64().unwrap_or_else(|e| {
            warn!(error = %e, "no OS randomness: RTP sequence and timestamp start at fixed values");
            0x1234_5678_0000_4321
        });
        Audio {
            mid: None,
            pt: None,
            dtmf_pt: None,
            red_pt: None,
            red_malformed: 0,
            enabled,
            next_seq: random & 0x7fff,
            ts_offset: (random >> 32) as u32,
            marker_next: true,
            held_dropped: 0,
        }
    }
}

impl PeerConnection {
    /// Holds (`false`) or releases (`true`) media. While held, no audio is sent or delivered;
    /// ICE consent checks, RTCP and the control channel keep running.
    pub fn set_media_enabled(&mut self, enabled: bool) {
        if self.audio.enabled == enabled {
            return;
        }
        info!(
            enabled,
            dropped_while_held = self.audio.held_dropped,
            "media {}",
            if enabled { "released" } else { "held" }
        );
        self.audio.enabled = enabled;
        if enabled {
            self.audio.marker_next = true;
            // The path-silence clock starts now, not at the last datagram of a quiet
            // pre-connect or hold.
            self.last_heard = self.now;
        }
        self.arm_silence_timer();
    }

    /// Whether media flows.
    pub fn media_enabled(&self) -> bool {
        self.audio.enabled
    }

    /// How many received audio packets were dropped because media was held.
    pub fn audio_dropped_while_held(&self) -> u64 {
        self.audio.held_dropped
    }

    /// Sends one Opus packet. `rtp_timestamp_48k` is the media time of its first sample in
    /// 48 kHz units (960 more per 20 ms frame); only its low 32 bits reach the wire, offset by a
    /// random value chosen per connection. Sequence numbers are ours.
    ///
    /// Fails with [`CoreError::NotConnected`] before [`PeerEvent::Connected`] and with
    /// [`CoreError::MediaHeld`] while media is held; in both cases drop the frame.
    pub fn send_audio(
        &mut self,
        now: Instant,
        rtp_timestamp_48k: u64,
        payload: &[u8],
    ) -> Result<(), CoreError> {
        self.write_audio(now, self.audio.pt, rtp_timestamp_48k, payload)
    }

    /// The negotiated Opus payload type, when the peer accepted RFC 2198 RED for it: RED
    /// blocks name it, and [`send_red_audio`](Self::send_red_audio) works.
    pub fn red_negotiated(&self) -> Option<u8> {
        self.audio.red_pt.and(self.audio.pt).map(|pt| *pt)
    }

    /// Received RED packets dropped because they could not be parsed.
    pub fn red_malformed(&self) -> u64 {
        self.audio.red_malformed
    }

    /// Sends one RFC 2198 RED payload (built by `ringwire_media::red::RedEncoder`) carrying the
    /// Opus frame at `rtp_timestamp_48k` and copies of earlier ones. Fails like
    /// [`send_audio`](Self::send_audio), and with [`CoreError::NoCommonAudioCodec`] when the
    /// peer did not accept RED.
    pub fn send_red_audio(
        &mut self,
        now: Instant,
        rtp_timestamp_48k: u64,
        payload: &[u8],
    ) -> Result<(), CoreError> {
        let pt = self.audio.pt.and(self.audio.red_pt);
        self.write_audio(now, pt, rtp_timestamp_48k, payload)
    }

    /// One audio packet as `pt` (Opus or RED), with the talkspurt marker when one starts.
    fn write_audio(
        &mut self,
        now: Instant,
        pt: Option<Pt>,
        rtp_timestamp_48k: u64,
        payload: &[u8],
    ) -> Result<(), CoreError> {
        let marker = self.audio.marker_next;
        self.write_rtp(now, pt, rtp_timestamp_48k, marker, payload)?;
        self.audio.marker_next = false;
        Ok(())
    }

    /// Whether the peer negotiated `telephone-event/48000`: DTMF can be sent.
    pub fn dtmf_negotiated(&self) -> bool {
        self.audio.dtmf_pt.is_some()
    }

    /// Sends one RFC 4733 telephone-event packet in the audio stream (same SSRC, sequence and
    /// timestamp space as the audio). `event_start_48k` is the media time the event began at,
    /// carried by every report of the event. Fails like [`send_audio`](Self::send_audio), and
    /// with [`CoreError::DtmfNotNegotiated`] when the peer did not accept telephone-events.
    pub fn send_telephone_event(
        &mut self,
        now: Instant,
        event_start_48k: u64,
        marker: bool,
        payload: &[u8],
    ) -> Result<(), CoreError> {
        if self.audio.pt.is_some() && self.audio.dtmf_pt.is_none() {
            return Err(CoreError::DtmfNotNegotiated);
        }
        let pt = self.audio.dtmf_pt;
        self.write_rtp(now, pt, event_start_48k, marker, payload)?;
        // Audio after an event starts a new talkspurt (RFC 4733 §2.5.1.1).
        self.audio.marker_next = true;
        Ok(())
    }

    fn write_rtp(
        &mut self,
        now: Instant,
        pt: Option<Pt>,
        rtp_timestamp_48k: u64,
        marker: bool,
        payload: &[u8],
    ) -> Result<(), CoreError> {
        self.ensure_open()?;
        if !self.connected {
            return Err(CoreError::NotConnected);
        }
        if !self.audio.enabled {
            return Err(CoreError::MediaHeld);
        }
        let (Some(mid), Some(pt)) = (self.audio.mid, pt) else {
            return Err(CoreError::NoCommonAudioCodec);
        };
        self.advance(now);
        let seq = self.audio.next_seq;
        // The low 32 bits are the RTP timestamp; wrapping is how RTP time works.
        let timestamp = (rtp_timestamp_48k as u32).wrapping_add(self.audio.ts_offset);
        let write =
            RtpWrite::new(pt, seq.into(), timestamp, self.now, payload.to_vec()).marker(marker);
        let mut api = self.rtc.direct_api();
        let Some(stream) = api.stream_tx_by_mid(mid, None) else {
            // The answer did not make audio sendable (recvonly or inactive).
            return Err(CoreError::NoCommonAudioCodec);
        };
        stream.write_rtp(write);
        self.audio.next_seq += 1;
        // One mutation, drained; then let str0m packetize and send it at `now`.
        self.pump();
        if let Err(e) = self.rtc.handle_input(Input::Timeout(self.now)) {
            let err = self.input_error(e);
            self.pump();
            return Err(err);
        }
        self.pump();
        Ok(())
    }

    pub(super) fn on_media_added(&mut self, mid: Mid, kind: MediaKind) {
        if kind == MediaKind::Audio && self.audio.mid.is_none() {
            debug!(%mid, "audio media added");
            self.audio.mid = Some(mid);
        }
    }

    /// After a remote description: finds the negotiated Opus, RED and telephone-event payload
    /// types.
    pub(super) fn check_audio(&mut self) -> Result<(), CoreError> {
        let mid = self.audio.mid.ok_or(CoreError::NoCommonAudioCodec)?;
        let media = self.rtc.media(mid).ok_or(CoreError::NoCommonAudioCodec)?;
        let opus_params = self
            .rtc
            .codec_config()
            .find(|p| p.spec().codec == Codec::Opus);
        let opus = opus_params.map(|p| p.pt());
        // str0m keeps RED on the Opus parameters only when both sides listed it.
        let red = opus_params.and_then(|p| p.red());
        let pt = opus
            .filter(|pt| media.remote_pts().contains(pt))
            .ok_or(CoreError::NoCommonAudioCodec)?;
        if !media.direction().is_sending() || !media.direction().is_receiving() {
            warn!(direction = %media.direction(), "audio is not sendrecv");
        }
        let dtmf = self
            .rtc
            .codec_config()
            .find(|p| {
                p.spec().codec == Codec::Tele && p.spec().clock_rate == Frequency::FORTY_EIGHT_KHZ
            })
            .map(|p| p.pt())
            .filter(|pt| media.remote_pts().contains(pt));
        debug!(%pt, dtmf = ?dtmf.map(|p| *p), red = ?red.map(|p| *p), "opus negotiated");
        self.audio.pt = Some(pt);
        self.audio.dtmf_pt = dtmf;
        self.audio.red_pt = red;
        Ok(())
    }

    pub(super) fn on_rtp(&mut self, p: RtpPacket) {
        let pt = Some(p.header.payload_type);
        let dtmf = pt == self.audio.dtmf_pt;
        let red = pt == self.audio.red_pt && pt.is_some();
        if pt != self.audio.pt && !dtmf && !red {
            trace!(pt = %p.header.payload_type, "RTP packet for another payload type dropped");
            return;
        }
        if !self.audio.enabled {
            self.audio.held_dropped += 1;
            return;
        }
        if p.payload.is_empty() {
            return;
        }
        if dtmf {
            self.out.push_back(Output::Event(PeerEvent::TelephoneEvent(
                TelephoneEventPacket {
                    timestamp: p.header.timestamp,
                    payload: p.payload.to_vec(),
                },
            )));
            return;
        }
        let packet = |payload: &[u8], redundancy_offset: u32| AudioPacket {
            ssrc: *p.header.ssrc,
            seq: p.header.sequence_number,
            extended_seq: *p.seq_no,
            timestamp: p.header.timestamp.wrapping_sub(redundancy_offset),
            marker: p.header.marker && redundancy_offset == 0,
            received_at: p.timestamp,
            redundancy_offset,
            payload: payload.to_vec(),
        };
        if !red {
            let audio = packet(&p.payload, 0);
            self.out
                .push_back(Output::Event(PeerEvent::AudioReceived(audio)));
            return;
        }
        let parsed = match RedPacket::parse(&p.payload) {
            Ok(parsed) => parsed,
            Err(reason) => {
                self.audio.red_malformed += 1;
                if self.audio.red_malformed.is_power_of_two() {
                    debug!(%reason, count = self.audio.red_malformed, "RED packet dropped");
                }
                return;
            }
        };
        let opus = self.audio.pt.map(|pt| *pt);
        // The primary first: a copy is only wanted for a slot its original did not fill.
        if Some(parsed.primary.pt) == opus && !parsed.primary.data.is_empty() {
            let audio = packet(parsed.primary.data, 0);
            self.out
                .push_back(Output::Event(PeerEvent::AudioReceived(audio)));
        }
        // Blocks of another codec (RFC 2198 allows them) never reach the Opus decoder.
        for block in parsed.redundant.iter().rev() {
            if Some(block.pt) == opus && block.ts_offset > 0 && !block.data.is_empty() {
                let audio = packet(block.data, block.ts_offset);
                self.out
                    .push_back(Output::Event(PeerEvent::AudioReceived(audio)));
            }
        }
    }
}
