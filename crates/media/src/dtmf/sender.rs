//! The sender's side of DTMF: a queue of keys and pauses played out as telephone-event
//! reports, one per audio frame, in the slots where that frame's audio would have gone.

use std::collections::VecDeque;

use super::{DtmfKey, DtmfStep, TelephoneEvent, MAX_QUEUED_STEPS};
use crate::codec::FrameDuration;
use crate::MediaError;

/// RTP clock units per millisecond of the 48 kHz telephone-event clock.
const UNITS_PER_MS: u64 = 48;
/// A `,` in a dial string, as `RTCDTMFSender` plays it.
const PAUSE_MS: u64 = 2000;
/// Tone power of our reports, -10 dBm0, as libwebrtc sends.
const VOLUME: u8 = 10;
/// RFC 4733 §2.5.1.4: the final report goes out three times, so one loss does not leave the
/// far end waiting for an end that never comes.
const END_COPIES: u8 = 3;

/// Tone and gap lengths. The defaults are `RTCDTMFSender`'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfConfig {
    /// How long each key sounds, 40-1000 ms (default 100). Longer tones would need RFC 4733's
    /// segmented long events: 1.36 s fills the 16-bit duration at 48 kHz.
    pub tone_ms: u32,
    /// Audio between two tones, 30-1000 ms (default 70).
    pub gap_ms: u32,
}

impl Default for DtmfConfig {
    fn default() -> Self {
        DtmfConfig {
            tone_ms: 100,
            gap_ms: 70,
        }
    }
}

impl DtmfConfig {
    fn validate(&self) -> Result<(), MediaError> {
        if !(40..=1000).contains(&self.tone_ms) {
            return Err(MediaError::Config(format!(
                "DTMF tone length {} ms is outside 40-1000 ms",
                self.tone_ms
            )));
        }
        if !(30..=1000).contains(&self.gap_ms) {
            return Err(MediaError::Config(format!(
                "DTMF gap {} ms is outside 30-1000 ms",
                self.gap_ms
            )));
        }
        Ok(())
    }
}

/// One telephone-event packet to send in place of a frame of audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfPacket {
    /// Media time of the event's start (48 kHz units): every report of one event carries it.
    pub timestamp: u64,
    /// First report of the event.
    pub marker: bool,
    pub payload: [u8; TelephoneEvent::LEN],
    /// How many identical copies to send now (3 for the final report).
    pub copies: u8,
}

#[derive(Debug, Clone, Copy)]
enum State {
    Idle,
    Tone {
        key: DtmfKey,
        start: u64,
        first: bool,
    },
    /// Audio flows until this media time: the gap after a tone, or a pause.
    Quiet {
        until: u64,
    },
}

/// Plays queued keys as telephone-events on the media clock of the audio it replaces.
#[derive(Debug)]
pub struct DtmfSender {
    config: DtmfConfig,
    samples_per_frame: u64,
    queue: VecDeque<DtmfStep>,
    state: State,
    keys_sent: u64,
}

impl DtmfSender {
    /// A sender for audio in frames of `frame`.
    pub fn new(config: DtmfConfig, frame: FrameDuration) -> Result<DtmfSender, MediaError> {
        config.validate()?;
        Ok(DtmfSender {
            config,
            samples_per_frame: frame.samples() as u64,
            queue: VecDeque::new(),
            state: State::Idle,
            keys_sent: 0,
        })
    }

    /// Appends `steps` after what is already queued; refuses all of them if the queue would
    /// hold more than [`MAX_QUEUED_STEPS`].
    pub fn enqueue(&mut self, steps: &[DtmfStep]) -> Result<(), MediaError> {
        if self.queue.len() + steps.len() > MAX_QUEUED_STEPS {
            return Err(MediaError::Dtmf(format!(
                "{} digits are still waiting to be sent; at most {MAX_QUEUED_STEPS} may be queued",
                self.queue.len()
            )));
        }
        self.queue.extend(steps.iter().copied());
        Ok(())
    }

    /// Whether a tone is playing or keys wait.
    pub fn is_busy(&self) -> bool {
        matches!(self.state, State::Tone { .. }) || !self.queue.is_empty()
    }

    /// Keys whose final report has gone out.
    pub fn keys_sent(&self) -> u64 {
        self.keys_sent
    }

    /// The frame that starts at `media_time` is due: the telephone-event packet to send
    /// instead of its audio, or `None` to send the audio.
    pub fn next_frame(&mut self, media_time: u64) -> Option<DtmfPacket> {
        loop {
            match self.state {
                State::Quiet { until } if media_time < until => return None,
                State::Quiet { .. } => self.state = State::Idle,
                State::Idle => match self.queue.pop_front()? {
                    DtmfStep::Pause => {
                        self.state = State::Quiet {
                            until: media_time + PAUSE_MS * UNITS_PER_MS,
                        }
                    }
                    DtmfStep::Key(key) => {
                        self.state = State::Tone {
                            key,
                            start: media_time,
                            first: true,
                        }
                    }
                },
                State::Tone { key, start, first } => {
                    let frame_end = media_time + self.samples_per_frame;
                    let elapsed = frame_end.saturating_sub(start);
                    let end = elapsed >= u64::from(self.config.tone_ms) * UNITS_PER_MS;
                    self.state = if end {
                        self.keys_sent += 1;
                        State::Quiet {
                            until: frame_end + u64::from(self.config.gap_ms) * UNITS_PER_MS,
                        }
                    } else {
                        State::Tone {
                            key,
                            start,
                            first: false,
                        }
                    };
                    let report = TelephoneEvent {
                        code: key.code(),
                        end,
                        volume: VOLUME,
                        duration: u16::try_from(elapsed).unwrap_or(u16::MAX),
                    };
                    return Some(DtmfPacket {
                        timestamp: start,
                        marker: first,
                        payload: report.encode(),
                        copies: if end { END_COPIES } else { 1 },
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse_dial_string;
    use super::*;

    const FRAME: u64 = 960;

    /// Runs the sender over `frames` frames from media time 0: per frame, `Some(report)` or
    /// `None` for audio.
    fn run(sender: &mut DtmfSender, frames: u64) -> Vec<Option<(DtmfPacket, TelephoneEvent)>> {
        (0..frames)
            .map(|i| {
                sender
                    .next_frame(i * FRAME)
                    .map(|p| (p, TelephoneEvent::parse(&p.payload).unwrap()))
            })
            .collect()
    }

    fn sender() -> DtmfSender {
        DtmfSender::new(DtmfConfig::default(), FrameDuration::Ms20).unwrap()
    }

    #[test]
    fn a_key_is_five_reports_then_a_gap_of_audio() {
        let mut s = sender();
        s.enqueue(&parse_dial_string("5#").unwrap()).unwrap();
        let frames = run(&mut s, 20);
        let tone: Vec<_> = frames[..5].iter().map(|f| f.unwrap()).collect();
        for (i, (packet, report)) in tone.iter().enumerate() {
            assert_eq!(packet.timestamp, 0, "every report carries the event start");
            assert_eq!(packet.marker, i == 0);
            assert_eq!(report.code, 5);
            assert_eq!(u64::from(report.duration), (i as u64 + 1) * FRAME);
            assert_eq!(report.end, i == 4);
            assert_eq!(packet.copies, if i == 4 { 3 } else { 1 });
        }
        // 70 ms of gap rounds up to 4 frames of audio at 20 ms.
        assert!(frames[5..9].iter().all(Option::is_none));
        let (second, report) = frames[9].unwrap();
        assert_eq!(
            (second.timestamp, second.marker, report.code),
            (9 * FRAME, true, 11)
        );
        assert!(frames[14..].iter().all(Option::is_none));
        assert_eq!(s.keys_sent(), 2);
        assert!(!s.is_busy());
    }

    #[test]
    fn a_pause_is_two_seconds_of_audio() {
        let mut s = sender();
        s.enqueue(&parse_dial_string(",1").unwrap()).unwrap();
        let frames = run(&mut s, 110);
        assert!(frames[..100].iter().all(Option::is_none));
        assert_eq!(frames[100].unwrap().1.code, 1);
    }

    #[test]
    fn the_queue_is_bounded_and_refusal_queues_nothing() {
        let mut s = sender();
        s.enqueue(&parse_dial_string(&"1".repeat(200)).unwrap())
            .unwrap();
        assert!(s
            .enqueue(&parse_dial_string(&"2".repeat(100)).unwrap())
            .is_err());
        assert_eq!(s.queue.len(), 200);
    }

    #[test]
    fn config_is_checked() {
        let bad = DtmfConfig {
            tone_ms: 2000,
            gap_ms: 70,
        };
        assert!(DtmfSender::new(bad, FrameDuration::Ms20).is_err());
        let bad = DtmfConfig {
            tone_ms: 100,
            gap_ms: 10,
        };
        assert!(DtmfSender::new(bad, FrameDuration::Ms20).is_err());
    }
}
