//! The audio of one answered call: the Opus sender (with its bitrate/FEC policy, and RFC 2198
//! copies of earlier frames when the peer accepted RED and the policy asks for them) and the
//! receiver (jitter buffer + decoder, fed RED copies for frames that did not arrive), the DTMF
//! keys going out in place of audio frames and coming in beside them, plus the media clock of
//! what we send. Buffers are allocated once here so the per-frame path does not allocate.

use std::time::Instant;

use ringwire_media::codec::{NetworkReport, MAX_PACKET_BYTES};
use ringwire_media::dtmf::{DtmfKey, DtmfReceiver, DtmfSender, DtmfStep};
use ringwire_media::jitter::RtpAudioPacket;
use ringwire_media::red::{RedEncoder, MAX_DISTANCE};
use ringwire_media::{AudioReceiver, AudioSender, FrameKind, MediaError, ReceiverConfig};

use crate::agent::AgentConfig;
use crate::peer::{AudioPacket, PeerConnection, PeerStats, TelephoneEventPacket};

pub(crate) struct CallAudio {
    sender: AudioSender,
    receiver: AudioReceiver,
    dtmf_out: DtmfSender,
    dtmf_in: DtmfReceiver,
    /// Made once the peer's answer shows RED was accepted (it needs the Opus payload type).
    red: Option<RedEncoder>,
    red_packet: Vec<u8>,
    /// Media time of the next frame we send, 48 kHz units.
    media_time: u64,
    samples_per_frame: u64,
    frame_ms: u32,
    packet: Vec<u8>,
    silence: Vec<i16>,
    pub frames_sent: u64,
    /// Frames sent while the encoder put DRED history into them.
    pub frames_sent_with_dred: u64,
    pub send_failures: u64,
}

impl CallAudio {
    pub fn new(config: &AgentConfig) -> Result<CallAudio, MediaError> {
        let samples = config.encoder.frame.samples();
        Ok(CallAudio {
            sender: AudioSender::new(config.encoder.clone(), config.policy)?,
            receiver: AudioReceiver::new(ReceiverConfig {
                frame: config.encoder.frame,
                jitter: config.jitter,
            })?,
            dtmf_out: DtmfSender::new(config.dtmf, config.encoder.frame)?,
            dtmf_in: DtmfReceiver::new(),
            red: None,
            red_packet: Vec::with_capacity(MAX_PACKET_BYTES),
            media_time: 0,
            samples_per_frame: samples as u64,
            frame_ms: config.encoder.frame.millis(),
            packet: vec![0; MAX_PACKET_BYTES],
            silence: vec![0; samples],
            frames_sent: 0,
            frames_sent_with_dred: 0,
            send_failures: 0,
        })
    }

    /// Encodes one captured frame (silence when muted) and sends it on `pc`, or, while a DTMF
    /// key sounds, its telephone-event report instead. The encoder runs either way, as in
    /// libwebrtc, so its state and FEC stay continuous across the tone.
    pub fn send(&mut self, now: Instant, pcm: &[i16], muted: bool, pc: &mut PeerConnection) {
        let input = if muted { &self.silence[..] } else { pcm };
        let encoded = self
            .sender
            .encode(input, &mut self.packet)
            .map_err(|e| e.to_string());
        if self.red.is_none() {
            if let Some(opus_pt) = pc.red_negotiated() {
                let frame = u32::try_from(self.samples_per_frame).unwrap_or(u32::MAX);
                match RedEncoder::new(opus_pt, frame) {
                    Ok(red) => {
                        self.red = Some(red);
                        self.sender.set_red_available(true);
                    }
                    Err(error) => tracing::warn!(%error, "RED unusable; sending plain Opus"),
                }
            }
        }
        let result = match self.dtmf_out.next_frame(self.media_time) {
            Some(event) => {
                // The frames the tone replaced never went out: no copies of them either.
                if let Some(red) = &mut self.red {
                    red.clear();
                }
                (0..event.copies)
                    .try_for_each(|copy| {
                        pc.send_telephone_event(
                            now,
                            event.timestamp,
                            event.marker && copy == 0,
                            &event.payload,
                        )
                    })
                    .map_err(|e| e.to_string())
            }
            None => encoded.and_then(|len| {
                let frame = &self.packet[..len];
                let levels = self.sender.red_levels();
                match &mut self.red {
                    Some(red) => {
                        // Remembered even when no copies go out, so they can start at once.
                        red.encode(self.media_time, frame, levels, &mut self.red_packet);
                        if levels > 0 {
                            pc.send_red_audio(now, self.media_time, &self.red_packet)
                        } else {
                            pc.send_audio(now, self.media_time, frame)
                        }
                    }
                    None => pc.send_audio(now, self.media_time, frame),
                }
                .map_err(|e| e.to_string())
            }),
        };
        // The media clock runs whether or not the frame got out: the receiver sees a gap, as
        // it should, rather than time standing still.
        self.media_time += self.samples_per_frame;
        match result {
            Ok(()) => {
                self.frames_sent += 1;
                if self.sender.dred_ms() > 0 {
                    self.frames_sent_with_dred += 1;
                }
            }
            Err(error) => {
                self.send_failures += 1;
                if self.send_failures.is_power_of_two() {
                    tracing::debug!(%error, failures = self.send_failures, "audio frame not sent");
                }
            }
        }
    }

    pub fn receive(&mut self, packet: AudioPacket) {
        let offset = u64::from(packet.redundancy_offset);
        let mut rtp = RtpAudioPacket {
            ssrc: packet.ssrc,
            seq: packet.seq,
            timestamp: packet.timestamp,
            payload: packet.payload,
        };
        if offset == 0 {
            self.receiver.push(packet.received_at, rtp);
            return;
        }
        // A copy `distance` frames back; frames of another length than ours, or deeper than
        // any sender goes, are not ours to place.
        let distance = offset / self.samples_per_frame;
        if offset % self.samples_per_frame != 0 || distance > u64::from(MAX_DISTANCE) {
            return;
        }
        // One packet per frame while speech flows, so the copy's sequence number is the
        // carrier's minus its distance.
        rtp.seq = rtp.seq.wrapping_sub(distance as u16);
        self.receiver
            .push_redundant(packet.received_at, rtp, distance as u8);
    }

    /// Queues DTMF steps behind any still waiting.
    pub fn queue_dtmf(&mut self, steps: &[DtmfStep]) -> Result<(), MediaError> {
        self.dtmf_out.enqueue(steps)
    }

    /// A received telephone-event packet: the key, when it starts a key press.
    pub fn receive_dtmf(&mut self, packet: &TelephoneEventPacket) -> Option<DtmfKey> {
        self.dtmf_in.receive(packet.timestamp, &packet.payload)
    }

    /// One frame for the speaker.
    pub fn play(&mut self, now: Instant, out: &mut [i16]) -> FrameKind {
        match self.receiver.pull(now, out) {
            Ok(kind) => kind,
            Err(error) => {
                tracing::warn!(%error, "playout failed; playing silence");
                out.fill(0);
                FrameKind::Silence
            }
        }
    }

    /// Feeds the far end's view of our stream (its receiver reports) to the bitrate and FEC
    /// policy.
    pub fn on_stats(&mut self, stats: &PeerStats) {
        let Some(loss) = stats.loss_sent else {
            return;
        };
        let report = NetworkReport {
            loss_pct: f64::from(loss) * 100.0,
            rtt: stats.rtt,
        };
        if let Err(error) = self.sender.on_network_report(report) {
            tracing::warn!(%error, "bitrate policy could not be applied");
        }
    }

    /// RFC 2198 copies per packet the sender's policy asks for now.
    pub fn red_levels(&self) -> u8 {
        self.sender.red_levels()
    }

    /// The sender's target bitrate now, b/s.
    pub fn bitrate_bps(&self) -> u32 {
        self.sender.bitrate_bps()
    }

    pub fn frame_ms(&self) -> u32 {
        self.frame_ms
    }

    pub fn receiver(&self) -> &AudioReceiver {
        &self.receiver
    }

    /// After an audio-session interruption: start playout afresh.
    pub fn reset_playout(&mut self) {
        self.receiver.reset();
    }
}
