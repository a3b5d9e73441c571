//! DTMF as RFC 4733 telephone-events: the keys ([`DtmfKey`]), the 4-byte wire report
//! ([`TelephoneEvent`]), the sender's schedule of tones and gaps ([`DtmfSender`]) and the
//! receiver that turns a stream of reports into one digit per key press ([`DtmfReceiver`]).
//!
//! Tones travel as events, never as audio: Opus at speech settings mangles dual tones, and an
//! IVR behind a gateway needs the digit, not the sound. The sender follows libwebrtc so a
//! browser hears us the way it hears itself: one report per audio frame in place of that
//! frame's audio, the event's start as the RTP timestamp, the marker on its first report, the
//! final report sent three times (RFC 4733 §2.5.1.4), and a gap of audio between tones.
//! Events are clocked at 48 kHz, the rate of the Opus stream they ride with.

mod event;
mod receiver;
mod sender;

pub use event::TelephoneEvent;
pub use receiver::DtmfReceiver;
pub use sender::{DtmfConfig, DtmfPacket, DtmfSender};

use crate::MediaError;

/// One key of the 16-key DTMF pad: `0`-`9`, `*`, `#` and `A`-`D`, as RFC 4733 event codes
/// 0-15.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DtmfKey(u8);

impl DtmfKey {
    const CHARS: &'static [u8; 16] = b"0123456789*#ABCD";

    /// The key for `c` (letters in either case).
    pub fn from_char(c: char) -> Option<DtmfKey> {
        let upper = c.to_ascii_uppercase();
        DtmfKey::CHARS
            .iter()
            .position(|&k| char::from(k) == upper)
            .map(|code| DtmfKey(code as u8))
    }

    /// The key of RFC 4733 event `code`; `None` for events that are not keys (flash, modem
    /// and fax tones).
    pub fn from_code(code: u8) -> Option<DtmfKey> {
        (usize::from(code) < DtmfKey::CHARS.len()).then_some(DtmfKey(code))
    }

    /// The RFC 4733 event code.
    pub fn code(self) -> u8 {
        self.0
    }

    /// The key as a character (`A`-`D` upper case).
    pub fn as_char(self) -> char {
        char::from(DtmfKey::CHARS[usize::from(self.0)])
    }
}

impl std::fmt::Display for DtmfKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.as_char())
    }
}

/// One entry of what an app asks to send: a key, or a pause (`,` as in `RTCDTMFSender`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtmfStep {
    Key(DtmfKey),
    /// Two seconds without tones, for dial strings like `123,,456`.
    Pause,
}

/// How many steps may wait in a sender's queue: a dial string, not a file.
pub const MAX_QUEUED_STEPS: usize = 256;

/// Parses a dial string (`0`-`9`, `*`, `#`, `A`-`D`, `,`) into steps; anything else is refused
/// with the offending character and its position, and nothing is queued.
pub fn parse_dial_string(digits: &str) -> Result<Vec<DtmfStep>, MediaError> {
    if digits.is_empty() {
        return Err(MediaError::Dtmf(
            "no digits to send: give one or more of 0-9 * # A-D ,".into(),
        ));
    }
    let mut steps = Vec::with_capacity(digits.len().min(MAX_QUEUED_STEPS));
    for (position, c) in digits.chars().enumerate() {
        if position >= MAX_QUEUED_STEPS {
            return Err(MediaError::Dtmf(format!(
                "dial string too long: at most {MAX_QUEUED_STEPS} digits and pauses at once"
            )));
        }
        let step = match c {
            ',' => DtmfStep::Pause,
            c => DtmfStep::Key(DtmfKey::from_char(c).ok_or_else(|| {
                MediaError::Dtmf(format!(
                    "{c:?} at position {position} is not a DTMF key: use 0-9 * # A-D or , for a pause"
                ))
            })?),
        };
        steps.push(step);
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_rfc4733_codes() {
        let codes: Vec<u8> = "0123456789*#ABCD"
            .chars()
            .map(|c| DtmfKey::from_char(c).unwrap().code())
            .collect();
        assert_eq!(codes, (0..16).collect::<Vec<u8>>());
        assert_eq!(DtmfKey::from_char('a'), DtmfKey::from_char('A'));
        assert_eq!(DtmfKey::from_code(11).unwrap().as_char(), '#');
        assert_eq!(DtmfKey::from_code(16), None, "flash is not a key");
        assert_eq!(DtmfKey::from_char('E'), None);
    }

    #[test]
    fn dial_strings_are_checked_whole() {
        let steps = parse_dial_string("1,#").unwrap();
        assert_eq!(steps.len(), 3);
        assert_eq!(steps[1], DtmfStep::Pause);
        let err = parse_dial_string("12x4").unwrap_err().to_string();
        assert!(err.contains("'x' at position 2"), "{err}");
        assert!(parse_dial_string("").is_err());
        assert!(parse_dial_string(&"1".repeat(MAX_QUEUED_STEPS)).is_ok());
        assert!(parse_dial_string(&"1".repeat(MAX_QUEUED_STEPS + 1)).is_err());
    }
}
