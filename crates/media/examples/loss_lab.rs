//! The audio pipeline under loss, offline and in virtual time: a WAV is encoded by
//! [`AudioSender`] (with RFC 2198 copies as its policy asks), sent through `ringwire-netem`'s
//! seeded loss channel, received by [`AudioReceiver`] and played out 20 ms at a time; the
//! played audio is written to a WAV for scoring (PESQ-WB with `bench/pesq_score.py`).
//!
//! It runs the shipped media code with no network stack, so a change to the jitter buffer, the
//! decoder or the policy can be judged in seconds, before `ringwire bench quality` measures it
//! through real calls. The far end's receiver reports are modelled as one per second carrying
//! the loss of that second, as RTCP does.
//!
//! ```text
//! cargo run --release -p ringwire-media --example loss_lab -- IN.wav OUT.wav LOSS [BURST] [SEED] [JITTER_MS]
//! ```
//! `LOSS` is a fraction (0.1); `BURST` the mean burst length in packets (1 = independent loss).
//! It prints one JSON line: frames by source, the bitrate sent, and the playout delay.
//! `crates/media/examples/loss_lab.sh` runs five clips and scores them.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use ringwire_media::codec::{EncoderConfig, NetworkReport, MAX_PACKET_BYTES};
use ringwire_media::jitter::RtpAudioPacket;
use ringwire_media::red::{RedEncoder, RedPacket};
use ringwire_media::{AudioReceiver, AudioSender, FrameKind, PolicyConfig, ReceiverConfig};
use ringwire_netem::{Fate, Flow, LinkConfig, Loss};

const FRAME: usize = 960;

/// A datagram on its way: arrival, send order (ties), payload, RTP sequence and timestamp,
/// and whether it is RFC 2198.
type InFlight = (Instant, u64, Vec<u8>, u16, u32, bool);
const OPUS_PT: u8 = 111;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        return Err("usage: loss_lab IN.wav OUT.wav LOSS [BURST] [SEED] [JITTER_MS]".into());
    }
    let loss: f64 = args[3].parse()?;
    let burst: f64 = args.get(4).map_or(Ok(1.0), |s| s.parse())?;
    let seed: u64 = args.get(5).map_or(Ok(1), |s| s.parse())?;
    let jitter_ms: u64 = args.get(6).map_or(Ok(0), |s| s.parse())?;
    let mut reader = hound::WavReader::open(&args[1])?;
    let input: Vec<i16> = reader.samples::<i16>().collect::<Result<_, _>>()?;

    let model = if loss <= 0.0 {
        Loss::None
    } else if burst <= 1.0 {
        Loss::Random(loss)
    } else {
        Loss::bursty(loss, burst)
    };
    let mut link = LinkConfig::with_delay(Duration::from_millis(40)).loss(model);
    if jitter_ms > 0 {
        link = link.jitter(Duration::from_millis(jitter_ms));
    }
    let mut flow = Flow::new(link, seed);
    // EPISODE=1: the loss applies only from 5 s to 15 s of a 25 s call (the clip looped), and
    // the lab reports how long after the episode the delay took to come back within 10 ms of
    // the clean-path delay.
    let episode = std::env::var_os("EPISODE").is_some();
    let mut clean_flow = Flow::new(LinkConfig::with_delay(Duration::from_millis(40)), seed);
    let input: Vec<i16> = if episode {
        input.iter().copied().cycle().take(48_000 * 25).collect()
    } else {
        input
    };

    let encoder = EncoderConfig::default();
    let mut sender = AudioSender::new(encoder.clone(), PolicyConfig::from(&encoder))?;
    // NO_RED=1: a peer that did not accept RFC 2198 (DRED and LBRR alone).
    sender.set_red_available(std::env::var_os("NO_RED").is_none());
    let mut red = RedEncoder::new(OPUS_PT, FRAME as u32)?;
    let mut config = ReceiverConfig::default();
    // MIN_DELAY_MS=200: a fixed playout delay, to see what recovery gives when the buffer's
    // timing is taken out of the picture.
    if let Some(ms) = std::env::var("MIN_DELAY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        config.jitter.min_delay_ms = ms;
        config.jitter.initial_delay_ms = ms;
    }
    let mut receiver = AudioReceiver::new(config)?;

    let start = Instant::now();
    let mut in_flight: BinaryHeap<Reverse<InFlight>> = BinaryHeap::new();
    let mut packet = vec![0u8; MAX_PACKET_BYTES];
    let mut wire = Vec::with_capacity(MAX_PACKET_BYTES);
    let mut out = vec![0i16; FRAME];
    let mut played = Vec::with_capacity(input.len() + 48_000 * 2);
    let (mut sent_bytes, mut interval_sent, mut interval_lost) = (0usize, 0u32, 0u32);
    let mut kinds = [0u64; 4];
    let mut delays = Vec::new();
    let mut timeline = Vec::new();
    let mut order = 0u64;
    // Two seconds of tail so everything sent gets played.
    let frames = input.len() / FRAME + 100;
    for i in 0..frames {
        let now = start + Duration::from_millis(20 * i as u64);
        let pcm: Vec<i16> = input
            .get(i * FRAME..(i + 1) * FRAME)
            .map_or_else(|| vec![0; FRAME], <[i16]>::to_vec);
        let len = sender.encode(&pcm, &mut packet)?;
        let ts = (i * FRAME) as u32;
        let levels = sender.red_levels();
        red.encode(u64::from(ts), &packet[..len], levels, &mut wire);
        let payload = if levels > 0 {
            wire.clone()
        } else {
            packet[..len].to_vec()
        };
        sent_bytes += payload.len();
        interval_sent += 1;
        let lossy = !episode || (250..750).contains(&i);
        let fate = if lossy {
            flow.admit(now, payload.len() + 40)
        } else {
            clean_flow.admit(now, payload.len() + 40)
        };
        match fate {
            Fate::Arrives { at, .. } => {
                order += 1;
                in_flight.push(Reverse((at, order, payload, i as u16, ts, levels > 0)));
            }
            Fate::Lost | Fate::RateDropped => interval_lost += 1,
        }
        if i % 50 == 49 {
            let report = NetworkReport {
                loss_pct: f64::from(interval_lost) * 100.0 / f64::from(interval_sent),
                rtt: Some(Duration::from_millis(80)),
            };
            sender.on_network_report(report)?;
            (interval_sent, interval_lost) = (0, 0);
        }
        while in_flight.peek().is_some_and(|Reverse(p)| p.0 <= now) {
            let Some(Reverse((at, _, payload, seq, ts, is_red))) = in_flight.pop() else {
                break;
            };
            deliver(&mut receiver, at, payload, seq, ts, is_red);
        }
        let kind = receiver.pull(now, &mut out)?;
        kinds[match kind {
            FrameKind::Decoded => 0,
            FrameKind::RecoveredFec | FrameKind::RecoveredDred => 1,
            FrameKind::Concealed => 2,
            FrameKind::Silence => 3,
        }] += 1;
        let jitter = receiver.stats().jitter;
        delays.push(jitter.current_delay_ms);
        timeline.push((jitter.current_delay_ms, jitter.clean_delay_ms));
        played.extend_from_slice(&out);
    }
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(&args[2], spec)?;
    for s in played {
        writer.write_sample(s)?;
    }
    writer.finalize()?;
    let stats = receiver.stats();
    if episode {
        // The last frame (after the episode) at which the delay was still more than 10 ms
        // above the clean-path delay.
        let back = (750..timeline.len())
            .rev()
            .find(|&i| timeline[i].0 > timeline[i].1 + 10)
            .map_or(0, |i| (i + 1 - 750) * 20);
        let before = timeline.get(240).copied().unwrap_or_default();
        let peak = timeline[250..750]
            .iter()
            .map(|(d, _)| *d)
            .max()
            .unwrap_or(0);
        eprintln!(
            "episode: delay before {} ms (clean {}), peak {peak} ms, back within 10 ms of clean {back} ms after the episode",
            before.0, before.1
        );
    }
    delays.sort_unstable();
    println!(
        "{{\"kbps\": {:.1}, \"decoded\": {}, \"fec\": {}, \"concealed\": {}, \"silence\": {}, \"red\": {}, \"sources\": \"{:?}\", \"compressed_ms\": {}, \"expanded_ms\": {}, \"above_clean_ms\": {}, \"skipped\": {}, \"inserted\": {}, \"delay_p50\": {}, \"delay_max\": {}}}",
        sent_bytes as f64 * 8.0 / (frames as f64 * 20.0),
        kinds[0],
        kinds[1],
        kinds[2],
        kinds[3],
        stats.jitter.recovered_red,
        stats.sources,
        stats.compressed_ms,
        stats.expanded_ms,
        stats.above_clean_ms,
        stats.jitter.skipped,
        stats.jitter.inserted,
        delays[delays.len() / 2],
        delays.last().copied().unwrap_or(0),
    );
    Ok(())
}

/// Hands a datagram to the receiver as the call's media path does: a RED payload's primary and
/// its copies, each copy at its distance.
fn deliver(
    receiver: &mut AudioReceiver,
    at: Instant,
    payload: Vec<u8>,
    seq: u16,
    ts: u32,
    red: bool,
) {
    let packet = |payload: Vec<u8>, seq: u16, ts: u32| RtpAudioPacket {
        ssrc: 1,
        seq,
        timestamp: ts,
        payload,
    };
    if !red {
        receiver.push(at, packet(payload, seq, ts));
        return;
    }
    let Ok(parsed) = RedPacket::parse(&payload) else {
        receiver.push(at, packet(payload, seq, ts));
        return;
    };
    let primary = parsed.primary.data.to_vec();
    let copies: Vec<(u32, Vec<u8>)> = parsed
        .redundant
        .iter()
        .map(|b| (b.ts_offset, b.data.to_vec()))
        .collect();
    receiver.push(at, packet(primary, seq, ts));
    for (offset, data) in copies {
        let distance = offset / FRAME as u32;
        receiver.push_redundant(
            at,
            packet(
                data,
                seq.wrapping_sub(distance as u16),
                ts.wrapping_sub(offset),
            ),
            distance as u8,
        );
    }
}
