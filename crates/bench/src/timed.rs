//! Audio devices that keep time for the benchmarks: a [`ClipSource`] that starts a clip when
//! told and a [`TapeSink`] that keeps what was played, both stamping every frame with the
//! moment the engine took or gave it, the edges of the capture and playout paths. A
//! [`FirstSound`] sink notes when the first audible frame was played. One monotonic clock
//! serves every engine in the process, so one engine's frames can be timed against another's.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use ringwire_media::device::{AudioSink, AudioSource, SourceState};
use ringwire_media::MediaError;

/// Frames with the moment each crossed the device edge.
pub type Tape = Arc<Mutex<Vec<(Instant, Vec<i16>)>>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Silence until [`ClipHandle::play`], then the clip once, then silence; every frame taped.
pub struct ClipSource {
    clip: Arc<Vec<i16>>,
    play_at: Arc<Mutex<Option<Instant>>>,
    position: usize,
    tape: Tape,
}

/// Starts the clip of a [`ClipSource`] in another thread.
#[derive(Clone, Debug)]
pub struct ClipHandle {
    play_at: Arc<Mutex<Option<Instant>>>,
    pub tape: Tape,
}

impl ClipHandle {
    /// The clip starts at the first frame taken at or after `at`.
    pub fn play(&self, at: Instant) {
        *lock(&self.play_at) = Some(at);
    }
}

impl ClipSource {
    pub fn new(clip: Arc<Vec<i16>>) -> (ClipSource, ClipHandle) {
        let play_at = Arc::new(Mutex::new(None));
        let tape: Tape = Arc::default();
        let handle = ClipHandle {
            play_at: play_at.clone(),
            tape: tape.clone(),
        };
        let source = ClipSource {
            clip,
            play_at,
            position: 0,
            tape,
        };
        (source, handle)
    }
}

impl AudioSource for ClipSource {
    fn read_frame(&mut self, out: &mut [i16]) -> Result<SourceState, MediaError> {
        let now = Instant::now();
        out.fill(0);
        if lock(&self.play_at).is_some_and(|at| now >= at) && self.position < self.clip.len() {
            let n = out.len().min(self.clip.len() - self.position);
            out[..n].copy_from_slice(&self.clip[self.position..self.position + n]);
            self.position += n;
        }
        lock(&self.tape).push((now, out.to_vec()));
        Ok(SourceState::Active)
    }
}

/// Keeps every played frame.
pub struct TapeSink {
    pub tape: Tape,
}

impl AudioSink for TapeSink {
    fn write_frame(&mut self, frame: &[i16]) -> Result<(), MediaError> {
        lock(&self.tape).push((Instant::now(), frame.to_vec()));
        Ok(())
    }
}

/// Peak above which a frame counts as sound (1% of full scale, as the Chromium side uses).
pub const AUDIBLE: i16 = 328;

/// Notes when the first audible frame was played after [`FirstSound::arm`].
#[derive(Clone, Debug, Default)]
pub struct FirstSound {
    state: Arc<Mutex<(bool, Option<Instant>)>>,
}

impl FirstSound {
    /// Forget the last call's sound and listen again.
    pub fn arm(&self) {
        *lock(&self.state) = (true, None);
    }

    pub fn heard(&self) -> Option<Instant> {
        lock(&self.state).1
    }
}

impl AudioSink for FirstSound {
    fn write_frame(&mut self, frame: &[i16]) -> Result<(), MediaError> {
        let mut state = lock(&self.state);
        if state.0 && state.1.is_none() && frame.iter().any(|s| s.unsigned_abs() > AUDIBLE as u16) {
            state.1 = Some(Instant::now());
        }
        Ok(())
    }
}

/// Taped frames one after another, as the listener heard them.
pub fn concatenated(tape: &[(Instant, Vec<i16>)]) -> Vec<i16> {
    tape.iter().flat_map(|(_, f)| f.iter().copied()).collect()
}
