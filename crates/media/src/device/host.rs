//! [`HostAudio`]: the meeting point between an OS-owned audio callback (iOS's voice-processing
//! I/O unit, Android's AAudio/Oboe) and the engine's frame clock.
//!
//! The OS calls the app on its own real-time thread with buffers of whatever size it likes; the
//! engine works in whole frames on another thread. Two single-producer single-consumer ring
//! buffers (`rtrb`) connect them: captured samples flow app → engine, playout samples engine →
//! app. Neither side ever blocks, locks or allocates after construction, which is what a
//! real-time audio callback requires. When one side falls behind, the other drops samples or
//! plays silence and counts it in [`HostAudioStats`]; those counters are plain atomics shared by
//! both halves, so either can read them.
//!
//! Each counter counts *events* (calls that hit the condition), not samples: one short callback
//! is one underrun, however many samples it was missing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rtrb::{Consumer, Producer, RingBuffer};

use super::{AudioSink, AudioSource, SourceState};
use crate::MediaError;

/// The largest ring accepted, in samples per direction: ten seconds at 48 kHz. Anything larger
/// is a configuration mistake that would only add latency.
const MAX_RING_SAMPLES: usize = 480_000;

/// Builds the two halves of a host-audio bridge: the app side for the OS audio callback, the
/// engine side for the frame clock. Lock-free and allocation-free after construction.
#[derive(Debug, Clone, Copy)]
pub struct HostAudio;

/// Counters shared by both halves: how often either side fell behind (each counts calls, not
/// samples). All are monotonic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct HostAudioStats {
    /// `push_captured` calls (the bindings' `write_capture`) that found the capture ring full
    /// and dropped samples (the engine is not reading fast enough).
    pub capture_overruns: u64,
    /// Engine `read_frame` calls that found less than a frame captured and padded with silence.
    pub capture_underruns: u64,
    /// Engine `write_frame` calls that found the playout ring full and dropped samples (the app
    /// is not reading playout fast enough).
    pub playout_overruns: u64,
    /// `pull_playout` calls (the bindings' `read_playout`) that found less than requested and
    /// padded with silence.
    pub playout_underruns: u64,
}

#[derive(Debug, Default)]
struct SharedStats {
    capture_overruns: AtomicU64,
    capture_underruns: AtomicU64,
    playout_overruns: AtomicU64,
    playout_underruns: AtomicU64,
}

impl SharedStats {
    fn snapshot(&self) -> HostAudioStats {
        // Relaxed: each counter is independent and only ever read for reporting.
        HostAudioStats {
            capture_overruns: self.capture_overruns.load(Ordering::Relaxed),
            capture_underruns: self.capture_underruns.load(Ordering::Relaxed),
            playout_overruns: self.playout_overruns.load(Ordering::Relaxed),
            playout_underruns: self.playout_underruns.load(Ordering::Relaxed),
        }
    }
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// The half the app's audio callback holds: it pushes microphone samples and pulls speaker
/// samples. Real-time safe.
#[derive(Debug)]
pub struct HostAudioAppSide {
    capture: Producer<i16>,
    playout: Consumer<i16>,
    stats: Arc<SharedStats>,
}

/// The half the engine holds: an [`AudioSource`] of captured frames and an [`AudioSink`] for
/// decoded frames.
#[derive(Debug)]
pub struct HostAudioEngineSide {
    capture: Consumer<i16>,
    playout: Producer<i16>,
    stats: Arc<SharedStats>,
}

impl HostAudio {
    /// Creates both halves with rings of `capacity_frames` frames of `frame_samples` samples
    /// each, per direction. Two or three frames are typical: more only adds latency.
    #[allow(clippy::new_ret_no_self)] // HostAudio only names the pair it builds.
    pub fn new(
        frame_samples: usize,
        capacity_frames: usize,
    ) -> Result<(HostAudioAppSide, HostAudioEngineSide), MediaError> {
        if frame_samples == 0 || capacity_frames == 0 {
            return Err(MediaError::Config(format!(
                "host audio needs a non-empty frame and ring, got {frame_samples} samples x \
                 {capacity_frames} frames"
            )));
        }
        let capacity = frame_samples
            .checked_mul(capacity_frames)
            .filter(|&c| c <= MAX_RING_SAMPLES)
            .ok_or_else(|| {
                MediaError::Config(format!(
                    "host audio ring of {frame_samples} x {capacity_frames} samples exceeds \
                     {MAX_RING_SAMPLES}; use fewer frames"
                ))
            })?;
        let (capture_tx, capture_rx) = RingBuffer::new(capacity);
        let (playout_tx, playout_rx) = RingBuffer::new(capacity);
        let stats = Arc::new(SharedStats::default());
        Ok((
            HostAudioAppSide {
                capture: capture_tx,
                playout: playout_rx,
                stats: Arc::clone(&stats),
            },
            HostAudioEngineSide {
                capture: capture_rx,
                playout: playout_tx,
                stats,
            },
        ))
    }
}

impl HostAudioAppSide {
    /// Queues captured microphone samples for the engine; returns how many were accepted. When
    /// the ring is full the rest are dropped (newest first, so what is queued stays contiguous)
    /// and a capture overrun is counted.
    pub fn push_captured(&mut self, pcm: &[i16]) -> usize {
        let (pushed, rest) = self.capture.push_partial_slice(pcm);
        if !rest.is_empty() {
            bump(&self.stats.capture_overruns);
        }
        pushed.len()
    }

    /// Fills `out` with samples for the speaker; returns how many came from the engine. On
    /// underrun the remainder is silence and a playout underrun is counted.
    pub fn pull_playout(&mut self, out: &mut [i16]) -> usize {
        let (filled, rest) = self.playout.pop_partial_slice(out);
        let got = filled.len();
        if !rest.is_empty() {
            rest.fill(0);
            bump(&self.stats.playout_underruns);
        }
        got
    }

    /// The shared counters.
    pub fn stats(&self) -> HostAudioStats {
        self.stats.snapshot()
    }
}

impl HostAudioEngineSide {
    /// The shared counters.
    pub fn stats(&self) -> HostAudioStats {
        self.stats.snapshot()
    }

    /// Captured samples waiting to be read.
    pub fn captured_available(&self) -> usize {
        self.capture.slots()
    }
}

impl AudioSource for HostAudioEngineSide {
    /// Reads one frame of captured audio. If the app has captured less than `out.len()`
    /// samples, what there is comes first, the rest is silence, and an underrun is counted.
    /// The source never finishes: the call decides when audio stops, not the microphone.
    fn read_frame(&mut self, out: &mut [i16]) -> Result<SourceState, MediaError> {
        let (_, rest) = self.capture.pop_partial_slice(out);
        if !rest.is_empty() {
            rest.fill(0);
            bump(&self.stats.capture_underruns);
        }
        Ok(SourceState::Active)
    }
}

impl AudioSink for HostAudioEngineSide {
    /// Queues one decoded frame for the speaker. If the app is not pulling fast enough the part
    /// that does not fit is dropped and a playout overrun is counted; that is not an error,
    /// the call goes on.
    fn write_frame(&mut self, frame: &[i16]) -> Result<(), MediaError> {
        let (_, rest) = self.playout.push_partial_slice(frame);
        if !rest.is_empty() {
            bump(&self.stats.playout_overruns);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_empty_and_oversized_rings() {
        assert!(matches!(HostAudio::new(0, 3), Err(MediaError::Config(_))));
        assert!(matches!(HostAudio::new(960, 0), Err(MediaError::Config(_))));
        assert!(matches!(
            HostAudio::new(960, 1_000),
            Err(MediaError::Config(_))
        ));
        assert!(matches!(
            HostAudio::new(usize::MAX, 2),
            Err(MediaError::Config(_))
        ));
    }

    #[test]
    fn capture_flows_to_the_engine_in_frames() {
        let (mut app, mut engine) = HostAudio::new(4, 3).unwrap();
        // The OS hands over odd-sized buffers; the engine reads whole frames.
        assert_eq!(app.push_captured(&[1, 2, 3]), 3);
        assert_eq!(app.push_captured(&[4, 5, 6, 7, 8]), 5);
        let mut frame = [0i16; 4];
        assert_eq!(engine.read_frame(&mut frame).unwrap(), SourceState::Active);
        assert_eq!(frame, [1, 2, 3, 4]);
        engine.read_frame(&mut frame).unwrap();
        assert_eq!(frame, [5, 6, 7, 8]);
        assert_eq!(engine.stats(), HostAudioStats::default());
    }

    #[test]
    fn capture_underrun_pads_with_silence_and_counts() {
        let (mut app, mut engine) = HostAudio::new(4, 2).unwrap();
        app.push_captured(&[9, 9]);
        let mut frame = [7i16; 4];
        engine.read_frame(&mut frame).unwrap();
        assert_eq!(frame, [9, 9, 0, 0]);
        engine.read_frame(&mut frame).unwrap();
        assert_eq!(frame, [0, 0, 0, 0]);
        assert_eq!(app.stats().capture_underruns, 2);
    }

    #[test]
    fn capture_overrun_drops_the_excess_and_counts() {
        let (mut app, mut engine) = HostAudio::new(4, 2).unwrap();
        assert_eq!(app.push_captured(&[1, 2, 3, 4, 5, 6]), 6);
        assert_eq!(app.push_captured(&[7, 8, 9, 10]), 2);
        assert_eq!(app.stats().capture_overruns, 1);
        assert_eq!(engine.captured_available(), 8);
        let mut frame = [0i16; 4];
        engine.read_frame(&mut frame).unwrap();
        engine.read_frame(&mut frame).unwrap();
        assert_eq!(
            frame,
            [5, 6, 7, 8],
            "the oldest samples are kept, the newest dropped"
        );
    }

    #[test]
    fn playout_flows_to_the_app_with_under_and_overruns() {
        let (mut app, mut engine) = HostAudio::new(2, 2).unwrap();
        engine.write_frame(&[1, 2]).unwrap();
        engine.write_frame(&[3, 4]).unwrap();
        engine.write_frame(&[5, 6]).unwrap(); // ring holds 4 samples: dropped
        assert_eq!(app.stats().playout_overruns, 1);
        let mut out = [9i16; 3];
        assert_eq!(app.pull_playout(&mut out), 3);
        assert_eq!(out, [1, 2, 3]);
        assert_eq!(app.pull_playout(&mut out), 1);
        assert_eq!(out, [4, 0, 0]);
        assert_eq!(app.stats().playout_underruns, 1);
    }

    #[test]
    fn two_threads_move_every_sample_in_order() {
        const FRAME: usize = 480;
        const FRAMES: usize = 400;
        let (mut app, mut engine) = HostAudio::new(FRAME, 4).unwrap();
        // The "OS callback" pushes a ramp in odd-sized chunks and retries what did not fit, so
        // nothing is lost; the engine reads whole frames whenever a frame is available.
        let producer = std::thread::spawn(move || {
            let total = FRAME * FRAMES;
            let mut next = 0usize;
            let mut chunk = [0i16; 131];
            while next < total {
                let n = chunk.len().min(total - next);
                for (i, s) in chunk[..n].iter_mut().enumerate() {
                    *s = ((next + i) % 30_000) as i16;
                }
                next += app.push_captured(&chunk[..n]);
                std::thread::yield_now();
            }
            app
        });
        let mut frame = [0i16; FRAME];
        let mut expected = 0usize;
        for _ in 0..FRAMES {
            while engine.captured_available() < FRAME {
                std::thread::yield_now();
            }
            engine.read_frame(&mut frame).unwrap();
            for &s in &frame {
                assert_eq!(s, (expected % 30_000) as i16);
                expected += 1;
            }
        }
        let app = producer.join().unwrap();
        let stats = app.stats();
        assert_eq!(stats.capture_underruns, 0);
        assert_eq!(expected, FRAME * FRAMES);
    }
}
