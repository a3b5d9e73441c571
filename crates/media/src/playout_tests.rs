//! End-to-end tests of the call's audio path: AudioSender → (lossy network) → AudioReceiver.

use std::time::{Duration, Instant};

use super::*;
use crate::codec::{MAX_PACKET_BYTES, SAMPLE_RATE};
use crate::device::analysis::dominant_frequency;
use crate::device::{AudioSource, ToneSource};
use ringwire_netem::SeededRng;

const FRAME: usize = 960;
const SSRC: u32 = 42;

struct Outcome {
    pcm: Vec<i16>,
    kinds: Vec<FrameKind>,
    stats: ReceiverStats,
}

/// A 440 Hz tone whose loudness swings at 3 Hz, like a sung vowel. A perfectly steady tone
/// would not do: libopus's voice-activity detector learns it as background noise within about
/// half a second and then codes no FEC for it at all.
struct VowelSource {
    n: u64,
}

impl VowelSource {
    fn read_frame(&mut self, out: &mut [i16]) {
        use std::f64::consts::TAU;
        for s in out.iter_mut() {
            let t = self.n as f64 / f64::from(SAMPLE_RATE);
            let envelope = 0.6 + 0.4 * (TAU * 3.0 * t).sin();
            *s = (8000.0 * envelope * (TAU * 440.0 * t).sin()) as i16;
            self.n += 1;
        }
    }
}

/// Sends `frames` frames of a 440 Hz vowel through a network with `loss` random loss and a
/// constant 30 ms delay; the receiver pulls on the same 20 ms clock, 7 ms out of phase.
fn call(frames: u32, loss: f64, seed: u64) -> Outcome {
    let base = Instant::now();
    let at = |ms: f64| base + Duration::from_micros((ms * 1000.0) as u64);
    let mut tone = VowelSource { n: 0 };
    let mut sender = AudioSender::new(EncoderConfig::default(), PolicyConfig::default()).unwrap();
    // The far end reports the loss it sees, as RTCP would after the first second.
    let d = sender
        .on_network_report(NetworkReport {
            loss_pct: loss * 100.0,
            rtt: Some(Duration::from_millis(60)),
        })
        .unwrap();
    assert_eq!(sender.packet_loss_pct(), d.packet_loss_pct);
    let mut receiver = AudioReceiver::new(ReceiverConfig::default()).unwrap();
    let mut rng = SeededRng::new(seed);
    let (mut pcm, mut payload, mut out) = ([0i16; FRAME], [0u8; MAX_PACKET_BYTES], [0i16; FRAME]);
    let mut in_flight: Vec<(f64, RtpAudioPacket)> = vec![];
    let mut outcome = Outcome {
        pcm: vec![],
        kinds: vec![],
        stats: ReceiverStats::default(),
    };
    for k in 0..frames {
        let now = f64::from(k) * 20.0;
        tone.read_frame(&mut pcm);
        let n = sender.encode(&pcm, &mut payload).unwrap();
        // The first and last second are clean so the start and the drain are not judged.
        let lossy = (50..frames.saturating_sub(50)).contains(&k);
        if !(lossy && rng.next_f64() < loss) {
            in_flight.push((
                now + 30.0,
                RtpAudioPacket {
                    ssrc: SSRC,
                    seq: k as u16,
                    timestamp: k * FRAME as u32,
                    payload: payload[..n].to_vec(),
                },
            ));
        }
        let pull_at = now + 7.0;
        while in_flight.first().is_some_and(|(t, _)| *t <= pull_at) {
            let (t, p) = in_flight.remove(0);
            receiver.push(at(t), p);
        }
        let kind = receiver.pull(at(pull_at), &mut out).unwrap();
        outcome.kinds.push(kind);
        outcome.pcm.extend_from_slice(&out);
    }
    outcome.stats = receiver.stats();
    outcome
}

#[test]
fn ten_percent_loss_is_repaired_and_the_tone_survives() {
    let o = call(500, 0.10, 99);
    let j = o.stats.jitter;
    assert_eq!(j.lost, j.recovered_fec + j.concealed, "{j:?}");
    assert!(j.lost >= 25, "10% of 400 lossy frames: {j:?}");
    assert!(j.recovered_fec > 0, "{j:?}");
    assert!(
        j.recovered_fec * 2 >= j.lost,
        "isolated losses dominate at 10%, FEC should repair most: {j:?}"
    );
    // The decoder really rebuilt frames from FEC, for every Fec decision whose next packet had
    // FEC data; the others went to DRED or concealment and were counted as such. A pull may
    // decode two frames (while compressing), so the counts come from the receiver's sources.
    let src = o.stats.sources;
    assert!(src.lbrr > 0, "{:?}", o.stats);
    assert_eq!(src.lbrr + o.stats.fec_unavailable, j.recovered_fec);
    assert!(
        src.lbrr >= o.stats.fec_unavailable,
        "FEC was usable for most repairs: {:?}",
        o.stats
    );
    assert_eq!(src.decoded + src.red, j.played);
    assert_eq!(
        src.lbrr + src.dred + src.deep_plc + src.classic_plc,
        j.lost + j.inserted,
        "no decode errors, so every repair is one of the buffer's lost or held slots"
    );
    assert_eq!(o.stats.decode_errors, 0);
    assert_eq!(
        o.stats.frames_played,
        src.decoded + src.red + src.lbrr + src.dred + src.deep_plc + src.classic_plc
    );
    let ratio = (src.deep_plc + src.classic_plc) as f64 / o.stats.frames_played as f64;
    assert!((o.stats.concealment_ratio - ratio).abs() < 1e-12);
    let hz = dominant_frequency(&o.pcm[FRAME * 50..], SAMPLE_RATE);
    assert!((hz - 440.0).abs() < 3.0, "the tone came out at {hz} Hz");
}

#[test]
fn a_clean_call_decodes_everything() {
    let o = call(200, 0.0, 1);
    let j = o.stats.jitter;
    assert_eq!((j.lost, j.late, o.stats.decode_errors), (0, 0, 0), "{j:?}");
    let first = o
        .kinds
        .iter()
        .position(|&k| k != FrameKind::Silence)
        .unwrap();
    assert!(o.kinds[first..]
        .iter()
        .all(|&k| k == FrameKind::Decoded || k == FrameKind::Concealed));
    assert!(o.stats.concealment_ratio < 0.05, "{:?}", o.stats);
}

#[test]
fn a_corrupt_payload_is_concealed_and_counted() {
    let base = Instant::now();
    let mut receiver = AudioReceiver::new(ReceiverConfig::default()).unwrap();
    let mut sender = AudioSender::new(EncoderConfig::default(), PolicyConfig::default()).unwrap();
    let mut tone = ToneSource::new(440.0, 8000).unwrap();
    let (mut pcm, mut payload, mut out) = ([0i16; FRAME], [0u8; MAX_PACKET_BYTES], [0i16; FRAME]);
    let mut kinds = vec![];
    for k in 0..30u32 {
        tone.read_frame(&mut pcm).unwrap();
        let n = sender.encode(&pcm, &mut payload).unwrap();
        let body = if k == 15 {
            // TOC code 3 with zero frames: malformed per RFC 6716.
            vec![0x03, 0x00]
        } else {
            payload[..n].to_vec()
        };
        let now = base + Duration::from_millis(u64::from(k) * 20);
        receiver.push(
            now,
            RtpAudioPacket {
                ssrc: SSRC,
                seq: k as u16,
                timestamp: k * FRAME as u32,
                payload: body,
            },
        );
        kinds.push(receiver.pull(now, &mut out).unwrap());
    }
    for k in 30..40u32 {
        let now = base + Duration::from_millis(u64::from(k) * 20);
        kinds.push(receiver.pull(now, &mut out).unwrap());
    }
    let s = receiver.stats();
    assert_eq!(s.decode_errors, 1, "{s:?}");
    assert!(kinds.contains(&FrameKind::Concealed));
    assert!(s.concealment_ratio > 0.0);
}

#[test]
fn misuse_is_an_error_and_reset_restarts_playout() {
    let mismatched = ReceiverConfig {
        frame: FrameDuration::Ms10,
        ..ReceiverConfig::default()
    };
    assert!(matches!(
        AudioReceiver::new(mismatched),
        Err(MediaError::Config(_))
    ));
    let mut receiver = AudioReceiver::new(ReceiverConfig::default()).unwrap();
    let now = Instant::now();
    let mut short = [0i16; 480];
    assert!(receiver.pull(now, &mut short).is_err());
    assert_eq!(
        receiver.stats().jitter.popped,
        0,
        "a refused pull changes nothing"
    );

    let mut sender = AudioSender::new(EncoderConfig::default(), PolicyConfig::default()).unwrap();
    let mut payload = [0u8; MAX_PACKET_BYTES];
    let mut out = [0i16; FRAME];
    let pcm = [0i16; FRAME];
    for k in 0..20u32 {
        let t = now + Duration::from_millis(u64::from(k) * 20);
        let n = sender.encode(&pcm, &mut payload).unwrap();
        receiver.push(
            t,
            RtpAudioPacket {
                ssrc: SSRC,
                seq: k as u16,
                timestamp: k * FRAME as u32,
                payload: payload[..n].to_vec(),
            },
        );
        receiver.pull(t, &mut out).unwrap();
    }
    assert!(receiver.stats().frames_played > 0);
    receiver.reset();
    let t = now + Duration::from_millis(420);
    out.fill(1);
    assert_eq!(receiver.pull(t, &mut out).unwrap(), FrameKind::Silence);
    assert!(out.iter().all(|&s| s == 0));
}

#[test]
fn sender_follows_network_reports_within_bounds() {
    let mut sender = AudioSender::new(EncoderConfig::default(), PolicyConfig::default()).unwrap();
    assert_eq!(sender.bitrate_bps(), 40_000);
    let cfg = sender.encoder_config().clone();
    for _ in 0..10 {
        sender
            .on_network_report(NetworkReport {
                loss_pct: 30.0,
                rtt: Some(Duration::from_millis(50)),
            })
            .unwrap();
    }
    assert_eq!(sender.bitrate_bps(), cfg.max_bitrate_bps);
    assert_eq!(sender.packet_loss_pct(), 30);
    for _ in 0..10 {
        sender
            .on_network_report(NetworkReport {
                loss_pct: 30.0,
                rtt: Some(Duration::from_millis(600)),
            })
            .unwrap();
    }
    assert_eq!(sender.bitrate_bps(), cfg.min_bitrate_bps);
    let mut out = [0u8; MAX_PACKET_BYTES];
    assert!(sender.encode(&[0i16; 100], &mut out).is_err());
}

#[test]
fn a_new_ssrc_restarts_playout_on_the_new_stream() {
    let base = Instant::now();
    let mut receiver = AudioReceiver::new(ReceiverConfig::default()).unwrap();
    let (mut pcm, mut payload, mut out) = ([0i16; FRAME], [0u8; MAX_PACKET_BYTES], [0i16; FRAME]);
    let mut first = VowelSource { n: 0 };
    let mut second = ToneSource::new(1000.0, 8000).unwrap();
    let mut a = AudioSender::new(EncoderConfig::default(), PolicyConfig::default()).unwrap();
    let mut b = AudioSender::new(EncoderConfig::default(), PolicyConfig::default()).unwrap();
    let mut tail = vec![];
    for k in 0..150u32 {
        let (ssrc, n) = if k < 75 {
            first.read_frame(&mut pcm);
            (1, a.encode(&pcm, &mut payload).unwrap())
        } else {
            second.read_frame(&mut pcm).unwrap();
            (2, b.encode(&pcm, &mut payload).unwrap())
        };
        let now = base + Duration::from_millis(u64::from(k) * 20);
        receiver.push(
            now,
            RtpAudioPacket {
                ssrc,
                seq: k as u16,
                timestamp: k.wrapping_mul(FRAME as u32).wrapping_add(ssrc * 1_000_000),
                payload: payload[..n].to_vec(),
            },
        );
        receiver.pull(now, &mut out).unwrap();
        if k >= 100 {
            tail.extend_from_slice(&out);
        }
    }
    let s = receiver.stats();
    assert_eq!(s.jitter.ssrc_changes, 1, "{s:?}");
    assert_eq!(s.decode_errors, 0);
    let hz = dominant_frequency(&tail, SAMPLE_RATE);
    assert!(
        (hz - 1000.0).abs() < 3.0,
        "after the switch we hear the new stream: {hz}"
    );
}

/// Bursts of five lost packets every second, with the sender told of 20 % loss (so its policy
/// sends DRED) and no RED: the receiver rebuilds most burst frames from the DRED of the packet
/// after each burst, and the tone survives.
#[test]
fn bursts_are_rebuilt_from_dred() {
    let base = Instant::now();
    let at = |ms: f64| base + Duration::from_micros((ms * 1000.0) as u64);
    let mut tone = VowelSource { n: 0 };
    let mut sender = AudioSender::new(EncoderConfig::default(), PolicyConfig::default()).unwrap();
    let decision = sender
        .on_network_report(NetworkReport {
            loss_pct: 20.0,
            rtt: Some(Duration::from_millis(60)),
        })
        .unwrap();
    assert!(decision.dred_10ms > 0, "{decision:?}");
    assert!(sender.dred_ms() > 0);
    let mut receiver = AudioReceiver::new(ReceiverConfig::default()).unwrap();
    let (mut pcm, mut payload, mut out) = ([0i16; FRAME], [0u8; MAX_PACKET_BYTES], [0i16; FRAME]);
    let mut played = Vec::new();
    let frames = 600u32;
    let lost = |k: u32| k >= 100 && k % 50 < 5;
    for k in 0..frames {
        let now = f64::from(k) * 20.0;
        tone.read_frame(&mut pcm);
        let n = sender.encode(&pcm, &mut payload).unwrap();
        if !lost(k) {
            let packet = RtpAudioPacket {
                ssrc: SSRC,
                seq: k as u16,
                timestamp: k * FRAME as u32,
                payload: payload[..n].to_vec(),
            };
            receiver.push(at(now + 30.0), packet);
        }
        receiver.pull(at(now + 37.0), &mut out).unwrap();
        played.extend_from_slice(&out);
    }
    let s = receiver.stats();
    let burst_frames = (0..frames).filter(|&k| lost(k)).count() as u64;
    eprintln!("burst frames {burst_frames}: {:?}", s.sources);
    assert_eq!(
        s.jitter.lost + s.jitter.inserted,
        s.sources.lbrr + s.sources.dred + s.sources.deep_plc + s.sources.classic_plc,
        "{s:?}"
    );
    assert!(
        s.sources.dred * 2 >= burst_frames,
        "DRED rebuilt {} of {burst_frames} burst frames: {s:?}",
        s.sources.dred
    );
    assert_eq!(
        s.sources.classic_plc, 0,
        "no loss outlasted deep PLC: {s:?}"
    );
    let hz = dominant_frequency(&played[FRAME * 50..], SAMPLE_RATE);
    assert!((hz - 440.0).abs() < 3.0, "the tone came out at {hz} Hz");
}

/// With RFC 2198 copies on as well (three deep at 20 % loss), bursts of six where the copies
/// bring back the last three: the first three are rebuilt from the DRED of the original packet
/// after the burst. The copies carry no DRED (the sender strips it), so a receiver that asked a
/// copy for DRED would conceal them instead.
#[test]
fn with_copies_dred_comes_from_the_original_after_a_burst() {
    use crate::red::{RedEncoder, RedPacket};
    let base = Instant::now();
    let at = |ms: f64| base + Duration::from_micros((ms * 1000.0) as u64);
    let mut tone = VowelSource { n: 0 };
    let mut sender = AudioSender::new(EncoderConfig::default(), PolicyConfig::default()).unwrap();
    sender.set_red_available(true);
    sender
        .on_network_report(NetworkReport {
            loss_pct: 20.0,
            rtt: Some(Duration::from_millis(60)),
        })
        .unwrap();
    assert_eq!(sender.red_levels(), 3);
    let mut red = RedEncoder::new(111, FRAME as u32).unwrap();
    let mut receiver = AudioReceiver::new(ReceiverConfig::default()).unwrap();
    let (mut pcm, mut payload, mut out) = ([0i16; FRAME], [0u8; MAX_PACKET_BYTES], [0i16; FRAME]);
    let mut wire = Vec::new();
    let (mut primary_bytes, mut copy_bytes, mut copies) = (0usize, 0usize, 0usize);
    let frames = 600u32;
    let lost = |k: u32| k >= 100 && k % 50 < 6;
    let packet = |seq: u32, data: &[u8]| RtpAudioPacket {
        ssrc: SSRC,
        seq: seq as u16,
        timestamp: seq * FRAME as u32,
        payload: data.to_vec(),
    };
    for k in 0..frames {
        let now = f64::from(k) * 20.0;
        tone.read_frame(&mut pcm);
        let n = sender.encode(&pcm, &mut payload).unwrap();
        red.encode(
            u64::from(k) * FRAME as u64,
            &payload[..n],
            sender.red_levels(),
            &mut wire,
        );
        if !lost(k) {
            let parsed = RedPacket::parse(&wire).unwrap();
            primary_bytes += parsed.primary.data.len();
            receiver.push(at(now + 30.0), packet(k, parsed.primary.data));
            for block in &parsed.redundant {
                let distance = block.ts_offset / FRAME as u32;
                copy_bytes += block.data.len();
                copies += 1;
                receiver.push_redundant(
                    at(now + 30.0),
                    packet(k - distance, block.data),
                    distance as u8,
                );
            }
        }
        receiver.pull(at(now + 37.0), &mut out).unwrap();
    }
    let s = receiver.stats();
    let uncovered = (0..frames).filter(|&k| lost(k) && k % 50 < 3).count() as u64;
    eprintln!("uncovered {uncovered}: {:?}", s.sources);
    let originals = (0..frames).filter(|&k| !lost(k)).count();
    let (copy_mean, original_mean) = (copy_bytes / copies, primary_bytes / originals);
    assert!(
        copy_mean * 5 < original_mean * 4,
        "a copy ({copy_mean} B on average) leaves its original's DRED ({original_mean} B) out"
    );
    assert!(s.sources.red > 0, "{s:?}");
    assert!(
        s.sources.dred * 2 >= uncovered,
        "DRED rebuilt {} of the {uncovered} frames no copy brought back: {s:?}",
        s.sources.dred
    );
}

/// Issue 22's recovery rule: after 10 s of 20 % loss in bursts (mean 3, Gilbert-Elliott, RED
/// off, DRED on), the playout delay is back within 10 ms of the clean-path delay within 3 s of
/// the episode's end, by time-compressing the audio rather than dropping frames.
#[test]
fn the_delay_comes_back_within_three_seconds_of_a_loss_episode() {
    use ringwire_netem::{Fate, Flow, LinkConfig, Loss};
    for seed in 1..=3u64 {
        let base = Instant::now();
        let at = |ms: f64| base + Duration::from_micros((ms * 1000.0) as u64);
        let mut tone = VowelSource { n: 0 };
        let mut sender =
            AudioSender::new(EncoderConfig::default(), PolicyConfig::default()).unwrap();
        let mut receiver = AudioReceiver::new(ReceiverConfig::default()).unwrap();
        let link = LinkConfig::with_delay(Duration::from_millis(30));
        let mut lossy = Flow::new(link.loss(Loss::bursty(0.2, 3.0)), seed);
        let mut clean = Flow::new(link, seed);
        let (mut pcm, mut payload, mut out) =
            ([0i16; FRAME], [0u8; MAX_PACKET_BYTES], [0i16; FRAME]);
        let mut in_flight: Vec<(Instant, RtpAudioPacket)> = Vec::new();
        let (mut sent, mut dropped) = (0u32, 0u32);
        let mut delays = Vec::new();
        for k in 0..1250u32 {
            let now = at(f64::from(k) * 20.0);
            tone.read_frame(&mut pcm);
            let n = sender.encode(&pcm, &mut payload).unwrap();
            let flow = if (250..750).contains(&k) {
                &mut lossy
            } else {
                &mut clean
            };
            sent += 1;
            match flow.admit(now, n + 40) {
                Fate::Arrives { at, .. } => in_flight.push((
                    at,
                    RtpAudioPacket {
                        ssrc: SSRC,
                        seq: k as u16,
                        timestamp: k * FRAME as u32,
                        payload: payload[..n].to_vec(),
                    },
                )),
                _ => dropped += 1,
            }
            if k % 50 == 49 {
                sender
                    .on_network_report(NetworkReport {
                        loss_pct: f64::from(dropped) * 100.0 / f64::from(sent),
                        rtt: Some(Duration::from_millis(60)),
                    })
                    .unwrap();
                (sent, dropped) = (0, 0);
            }
            in_flight.sort_by_key(|(t, _)| *t);
            while in_flight.first().is_some_and(|(t, _)| *t <= now) {
                let (t, p) = in_flight.remove(0);
                receiver.push(t, p);
            }
            receiver.pull(now, &mut out).unwrap();
            let j = receiver.stats().jitter;
            delays.push((j.current_delay_ms, j.clean_delay_ms));
        }
        let s = receiver.stats();
        let peak = delays[250..750].iter().map(|d| d.0).max().unwrap_or(0);
        let last_high = (750..delays.len())
            .rev()
            .find(|&i| delays[i].0 > delays[i].1 + 10)
            .map_or(0, |i| (i + 1 - 750) * 20);
        eprintln!("seed {seed}: peak {peak} ms, back {last_high} ms after, {s:?}");
        assert!(peak >= 60, "the episode raised the delay: {peak} ms");
        assert!(s.sources.dred > 0, "{s:?}");
        assert!(
            last_high <= 3000,
            "seed {seed}: the delay was back within 10 ms of clean only {last_high} ms after"
        );
        assert!(s.compressed_ms > 0, "{s:?}");
        assert_eq!(s.jitter.skipped, 0, "no speech frame dropped: {s:?}");
    }
}
