//! The audio clock's side of the agent: one captured frame in, one frame out for the speaker,
//! for the call that has the audio (the answered call that is not held). Nothing runs until
//! the OS activates the audio session. The per-frame path reuses the buffers allocated when
//! the call was answered.

use std::time::Instant;

use ringwire_media::{CallQuality, FrameKind, QualityInputs};

use super::Agent;
use crate::call::{Call, CallAudio};
use crate::report::Report;

impl Agent {
    /// The call that has the audio now: answered, not held, with the audio session active.
    pub fn audio_call(&self) -> Option<ringwire_proto::CallId> {
        if !self.audio_session_active {
            return None;
        }
        self.calls
            .values()
            .find(|c| c.state.is_answered() && !c.held && c.audio.is_some())
            .map(|c| c.id)
    }

    /// Sends one frame of captured audio (exactly one encoder frame of 48 kHz mono samples)
    /// on the call that has the audio. Silence goes out while muted; nothing while held,
    /// before the call is answered, or while the audio session is inactive.
    pub fn capture_frame(&mut self, now: Instant, pcm: &[i16]) {
        self.advance(now);
        if !self.audio_session_active {
            return;
        }
        for call in self.calls.values_mut() {
            if !call.state.is_answered() || call.held {
                continue;
            }
            let muted = call.muted;
            call.quality.capture_ticks += 1;
            let Some(device) = call.remote_device else {
                continue;
            };
            let (Some(audio), Some(peer)) = (call.audio.as_mut(), call.peers.get_mut(&device))
            else {
                continue;
            };
            if peer.pc.is_connected() && peer.pc.media_enabled() {
                audio.send(now, pcm, muted, &mut peer.pc);
            }
            break;
        }
        self.drain(now);
    }

    /// Fills `out` with the next frame for the speaker and says how it was made; silence and
    /// `None` when no call has the audio.
    pub fn playout_frame(&mut self, now: Instant, out: &mut [i16]) -> Option<FrameKind> {
        self.advance(now);
        if !self.audio_session_active {
            out.fill(0);
            return None;
        }
        let mut first_audio = None;
        let mut played = None;
        for call in self.calls.values_mut() {
            if !call.state.is_answered() || call.held {
                continue;
            }
            let Some(audio) = call.audio.as_mut() else {
                continue;
            };
            let kind = audio.play(now, out);
            if kind == FrameKind::Decoded && call.times.first_audio.is_none() {
                call.times.first_audio = Some(now);
                first_audio = Some(call.id);
            }
            played = Some(kind);
            break;
        }
        if played.is_none() {
            out.fill(0);
        }
        if let Some(call_id) = first_audio {
            self.report(Report::FirstAudio { call_id });
        }
        played
    }
}

/// The call's quality now, from the connection's RTCP figures and the receiver's own; `None`
/// until an audio packet has arrived: with nothing received the E-model's inputs are all
/// zeros and it would rate silence as a perfect call.
pub(super) fn quality_of(call: &Call, audio: &CallAudio) -> Option<CallQuality> {
    let receiver = audio.receiver().stats();
    if receiver.jitter.packets_received == 0 {
        return None;
    }
    let stats = call.last_stats.as_ref();
    let jitter_ms = stats
        .and_then(|s| s.jitter)
        .map(|j| j.as_secs_f64() * 1000.0)
        .unwrap_or(receiver.jitter.arrival_jitter_ms);
    let mut quality = CallQuality::estimate(&QualityInputs {
        rtt_ms: stats.and_then(|s| s.rtt).map(|r| r.as_secs_f64() * 1000.0),
        loss_pct: stats
            .and_then(|s| s.loss_received)
            .map(|l| f64::from(l) * 100.0)
            .unwrap_or(0.0),
        jitter_ms,
        jitter_buffer_ms: f64::from(receiver.jitter.current_delay_ms),
        concealment_ratio: receiver.concealment_ratio,
        frame_ms: f64::from(audio.frame_ms()),
    });
    quality.sources = receiver.sources;
    Some(quality)
}
