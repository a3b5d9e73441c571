//! [`HostAudioDevice`]: the engine's microphone and speaker when the app owns the audio I/O
//! (iOS's voice-processing I/O unit, Android's AAudio/Oboe). The app's audio callback writes
//! what the microphone captured and reads what to play; the engine reads and writes whole
//! frames on its own clock. Between them sit `ringwire_media`'s lock-free rings
//! ([`HostAudio`]). Samples are 16-bit, 48 kHz, mono.

use std::sync::{Arc, Mutex, MutexGuard};

use ringwire_media::device::{HostAudio, HostAudioAppSide, HostAudioEngineSide, HostAudioStats};

use super::RingwireError;

/// Samples per millisecond at the engine's 48 kHz.
const SAMPLES_PER_MS: usize = 48;
/// The most samples one `read_playout` may ask for: one second. Audio callbacks ask for a few
/// milliseconds; more is a bug, and refusing it keeps a bad count from allocating gigabytes.
const MAX_READ: u32 = 48_000;

/// The host-driven audio device. Create one per engine, pass it in
/// [`AudioChoice::HostDriven`](super::AudioChoice), and call it from the OS audio callback.
#[derive(Debug, uniffi::Object)]
pub struct HostAudioDevice {
    /// The app's half. A mutex because a UniFFI object is shared, but only the one audio
    /// thread takes it, so it is never contended (the rings below it are the real-time part).
    app: Mutex<HostAudioAppSide>,
    /// The engine's half until an engine takes it.
    engine: Mutex<Option<HostAudioEngineSide>>,
}

#[uniffi::export]
impl HostAudioDevice {
    /// A device whose rings each hold `ring_ms` milliseconds (1 to 10 000). Enough to absorb
    /// the audio callback's buffer size and scheduling jitter; every extra millisecond is
    /// latency. 60-100 ms suits a phone; a script driving it with `sleep` wants more.
    #[uniffi::constructor]
    pub fn new(ring_ms: u32) -> Result<Arc<Self>, RingwireError> {
        let ring_ms = usize::try_from(ring_ms)
            .map_err(|_| RingwireError::InvalidConfig(format!("ring_ms {ring_ms} too large")))?;
        // One "frame" per millisecond: the ring size is all HostAudio needs the frame for; the
        // engine reads whatever frame size its codec uses.
        let (app, engine) = HostAudio::new(SAMPLES_PER_MS, ring_ms)
            .map_err(|e| RingwireError::InvalidConfig(format!("host audio ring: {e}")))?;
        Ok(Arc::new(HostAudioDevice {
            app: Mutex::new(app),
            engine: Mutex::new(Some(engine)),
        }))
    }

    /// Queues captured microphone samples; returns how many fit (the rest are dropped and
    /// counted as a capture overrun).
    pub fn write_capture(&self, samples: Vec<i16>) -> u32 {
        let pushed = self.app().push_captured(&samples);
        u32::try_from(pushed).unwrap_or(u32::MAX)
    }

    /// Takes `count` samples to play. When the engine has produced fewer (no call, call held,
    /// audio session inactive, network late), the rest is silence and a playout underrun is
    /// counted.
    pub fn read_playout(&self, count: u32) -> Result<Vec<i16>, RingwireError> {
        if count > MAX_READ {
            return Err(RingwireError::InvalidArgument(format!(
                "read_playout({count}): at most {MAX_READ} samples (one second) per call"
            )));
        }
        let mut out = vec![0i16; count as usize];
        self.app().pull_playout(&mut out);
        Ok(out)
    }

    /// The under- and overrun counters.
    pub fn stats(&self) -> HostAudioStats {
        self.app().stats()
    }
}

impl HostAudioDevice {
    /// Hands the engine's half to the engine being built; once only.
    pub(crate) fn take_engine_side(&self) -> Result<HostAudioEngineSide, RingwireError> {
        self.engine
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or(RingwireError::AudioDeviceInUse)
    }

    fn app(&self) -> MutexGuard<'_, HostAudioAppSide> {
        // Each ring operation is a single push or pop, so a poisoned lock holds no half-done
        // state.
        self.app.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringwire_media::device::{AudioSink, AudioSource};

    #[test]
    fn samples_cross_both_ways() {
        let device = HostAudioDevice::new(20).expect("device");
        let mut engine = device.take_engine_side().expect("engine side");
        assert_eq!(device.write_capture(vec![1, 2, 3]), 3);
        let mut frame = [0i16; 4];
        engine.read_frame(&mut frame).expect("read");
        assert_eq!(frame, [1, 2, 3, 0]);
        engine.write_frame(&[7, 8]).expect("write");
        assert_eq!(device.read_playout(3), Ok(vec![7, 8, 0]));
        let stats = device.stats();
        assert_eq!((stats.capture_underruns, stats.playout_underruns), (1, 1));
    }

    #[test]
    fn bad_sizes_and_reuse_are_refused() {
        assert!(matches!(
            HostAudioDevice::new(0),
            Err(RingwireError::InvalidConfig(_))
        ));
        assert!(matches!(
            HostAudioDevice::new(20_000),
            Err(RingwireError::InvalidConfig(_))
        ));
        let device = HostAudioDevice::new(20).expect("device");
        assert!(matches!(
            device.read_playout(MAX_READ + 1),
            Err(RingwireError::InvalidArgument(_))
        ));
        device.take_engine_side().expect("first engine");
        assert!(matches!(
            device.take_engine_side(),
            Err(RingwireError::AudioDeviceInUse)
        ));
    }
}
