//! The network impairments the quality benchmark puts both stacks through. The model is
//! `ringwire-netem`'s — the same loss channel, jitter and generator as the simulator's and the
//! peer-pair tests', so "10 % bursty loss, mean burst 3" is one channel everywhere. Here: the
//! benchmark's conditions (jitter as queueing delay, which keeps order: reordering is a
//! different impairment) and which packets are impaired at all.

use std::time::Duration;

pub use ringwire_netem::{Fate, Flow, LinkConfig, Loss};

/// A benchmark condition: `loss` on every RTP packet and up to `jitter` of queueing delay.
pub fn condition(loss: Loss, jitter: Duration) -> LinkConfig {
    LinkConfig::default().loss(loss).queue_jitter(jitter)
}

/// Only RTP is impaired: STUN, DTLS and RTCP pass untouched, so both stacks connect the same
/// way and the figures are about what loss does to audio. RTP and RTCP both start with version
/// 2 (first byte 128..=191); RTCP's packet types 192..=223 read as 64..=95 under RTP's marker
/// mask (RFC 5761).
pub fn is_rtp(packet: &[u8]) -> bool {
    match packet {
        [first, second, ..] => (128..=191).contains(first) && !(64..=95).contains(&(second & 0x7F)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_rtp_is_impaired() {
        assert!(is_rtp(&[0x80, 111, 0, 1]));
        assert!(is_rtp(&[0x80, 0x80 | 111, 0, 1]));
        assert!(!is_rtp(&[0x80, 200, 0, 1])); // RTCP sender report
        assert!(!is_rtp(&[0x81, 201, 0, 1])); // RTCP receiver report
        assert!(!is_rtp(&[0x00, 0x01, 0, 0])); // STUN binding request
        assert!(!is_rtp(&[22, 0xfe, 0xfd])); // DTLS handshake
        assert!(!is_rtp(&[0x80]));
    }
}
