//! Fuzzes the jitter buffer with the RTP header fields and arrival times a hostile or broken
//! network can produce: any SSRC, sequence number, timestamp, payload size and arrival order,
//! interleaved with playout ticks. It must never panic, its memory stays bounded, and the
//! counter identities of its module docs hold after every step.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use ringwire_media::jitter::{JitterBuffer, JitterConfig, RtpAudioPacket};

fuzz_target!(|data: &[u8]| {
    let config = JitterConfig::default();
    let Ok(mut jb) = JitterBuffer::new(config) else {
        return;
    };
    let base = Instant::now();
    let mut now_ms: u64 = 0;
    // Each op is 12 bytes: kind, time step, ssrc selector, seq (2), timestamp (4), payload len,
    // two spare bytes folded into the payload.
    for op in data.chunks_exact(12) {
        now_ms += u64::from(op[1]);
        let now = base + Duration::from_millis(now_ms);
        if op[0] & 1 == 0 {
            let packet = RtpAudioPacket {
                ssrc: u32::from(op[2] & 0x3),
                seq: u16::from_be_bytes([op[3], op[4]]),
                timestamp: u32::from_be_bytes([op[5], op[6], op[7], op[8]]),
                payload: vec![op[10]; usize::from(op[9])],
            };
            jb.push(now, packet);
        } else {
            let _ = jb.pop(now);
        }
        let s = jb.stats();
        assert!(s.buffered <= config.max_packets, "buffer grew past its bound");
        assert_eq!(s.lost, s.recovered_fec + s.concealed);
        assert_eq!(
            s.popped,
            s.played + s.recovered_fec + s.concealed + s.inserted + s.silence
        );
        assert_eq!(
            s.packets_received,
            s.played + s.duplicates + s.late + s.skipped + s.discarded + s.buffered as u64
        );
    }
});
