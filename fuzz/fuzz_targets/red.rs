//! Fuzzes the RFC 2198 RED parser on payloads as a peer sends them, and the jitter buffer's
//! intake of the copies they carry. Parsing must never panic; a parsed packet's blocks must lie
//! inside the payload, in order and without overlap, and cover it exactly (headers + blocks +
//! primary). Copies pushed at any distance must leave the buffer's counters consistent.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use ringwire_media::jitter::{JitterBuffer, JitterConfig, RtpAudioPacket};
use ringwire_media::red::RedPacket;

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = RedPacket::parse(data) else {
        return;
    };
    let headers = 4 * packet.redundant.len() + 1;
    let carried: usize = packet.redundant.iter().map(|b| b.data.len()).sum();
    assert_eq!(headers + carried + packet.primary.data.len(), data.len());
    assert!(packet.redundant.iter().all(|b| b.ts_offset < 1 << 14 && b.data.len() < 1 << 10));
    assert!(packet.primary.pt < 128 && packet.redundant.iter().all(|b| b.pt < 128));

    // Play it as a stream: the primary at seq 100 + i, its copies behind it.
    let Ok(mut jitter) = JitterBuffer::new(JitterConfig::default()) else {
        return;
    };
    let start = Instant::now();
    for i in 0..4u16 {
        let now = start + Duration::from_millis(20 * u64::from(i));
        let ts = 960 * u32::from(i) + 96_000;
        jitter.push(now, rtp(100 + i, ts, packet.primary.data));
        for block in &packet.redundant {
            let distance = (block.ts_offset / 960) as u8;
            let copy = rtp((100 + i).wrapping_sub(u16::from(distance)), ts.wrapping_sub(block.ts_offset), block.data);
            jitter.push_redundant(now, copy, distance);
        }
        jitter.pop(now);
    }
    let s = jitter.stats();
    assert_eq!(
        s.packets_received,
        s.played + s.duplicates + s.late + s.skipped + s.discarded + s.buffered as u64
    );
});

fn rtp(seq: u16, timestamp: u32, payload: &[u8]) -> RtpAudioPacket {
    RtpAudioPacket {
        ssrc: 7,
        seq,
        timestamp,
        payload: payload.to_vec(),
    }
}
