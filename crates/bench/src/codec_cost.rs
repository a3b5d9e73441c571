//! Where an audio call's codec CPU goes, part of `bench cost`: libopus's encoder with and without
//! DRED, its decoder with classic decoding and with OSCE (NoLACE) enhancement, and its two kinds
//! of concealment and DRED recovery, each timed per 20 ms frame on one core, in this process.
//!
//! The whole-call figures of `bench cost` say what a call costs; these say which part of it is
//! the neural tools, the question a team weighing DRED and deep PLC on old phones asks. The
//! input is speech-like (harmonics of a gliding pitch under a syllable envelope, with pauses)
//! and every packet is really decoded, so the work is the codec's real work.

use std::time::Instant;

use ringwire_opus::{Application, Channels, Decoder, Dred, Encoder, Signal};

use super::Metric;

const RATE: u32 = 48_000;
const FRAME: usize = 960;
const FRAME_US: f64 = 20_000.0;

/// Speech-like test input: a voice (harmonics of a pitch gliding 110-180 Hz) in 200 ms
/// syllables, a 300 ms pause every second.
fn speech_like(frames: usize) -> Vec<i16> {
    let mut phase = 0.0f64;
    (0..frames * FRAME)
        .map(|i| {
            let t = i as f64 / f64::from(RATE);
            let pitch = 145.0 + 35.0 * (t * 0.7 * std::f64::consts::TAU).sin();
            phase += pitch / f64::from(RATE);
            let syllable = (t * 5.0 * std::f64::consts::PI).sin().abs();
            let pause = if t % 1.0 > 0.7 { 0.02 } else { 1.0 };
            let voice: f64 = (1..16)
                .map(|h| (phase * f64::from(h) * std::f64::consts::TAU).sin() / f64::from(h))
                .sum();
            (voice * syllable * pause * 5000.0) as i16
        })
        .collect()
}

fn encoder(bitrate: i32, dred: bool) -> anyhow::Result<Encoder> {
    let mut e = Encoder::new(RATE, Channels::Mono, Application::Voip)?;
    e.set_signal(Signal::Voice)?;
    e.set_complexity(9)?;
    e.set_bitrate(bitrate)?;
    // As the call's policy does: LBRR beside RED on a clean path; DRED (without LBRR) under
    // 10 % loss.
    e.set_inband_fec(!dred)?;
    e.set_packet_loss_perc(if dred { 10 } else { 2 })?;
    e.set_dred_duration(if dred { 40 } else { 0 })?;
    Ok(e)
}

/// Encodes `input`, returning the packets and the mean µs per frame.
fn encode_all(e: &mut Encoder, input: &[i16]) -> anyhow::Result<(Vec<Vec<u8>>, f64)> {
    let mut packets = Vec::with_capacity(input.len() / FRAME);
    let mut buf = [0u8; 1500];
    let start = Instant::now();
    for frame in input.chunks_exact(FRAME) {
        let n = e.encode(frame, &mut buf)?;
        packets.push(buf[..n].to_vec());
    }
    let us = per_frame(start, packets.len());
    Ok((packets, us))
}

fn per_frame(start: Instant, frames: usize) -> f64 {
    start.elapsed().as_secs_f64() * 1e6 / frames.max(1) as f64
}

/// Decodes every packet at `complexity`, returning µs per frame.
fn decode_all(packets: &[Vec<u8>], complexity: i32) -> anyhow::Result<f64> {
    let mut d = Decoder::new(RATE, Channels::Mono)?;
    d.set_complexity(complexity)?;
    let mut out = [0i16; FRAME];
    let start = Instant::now();
    for p in packets {
        d.decode(p, &mut out, false)?;
    }
    Ok(per_frame(start, packets.len()))
}

/// Conceals one frame in five (the other four decoded) at `complexity`; µs per concealed frame
/// beyond a decoded one.
fn conceal_cost(packets: &[Vec<u8>], complexity: i32, decode_us: f64) -> anyhow::Result<f64> {
    let mut d = Decoder::new(RATE, Channels::Mono)?;
    d.set_complexity(complexity)?;
    let mut out = [0i16; FRAME];
    let mut concealed = 0u32;
    let start = Instant::now();
    for (i, p) in packets.iter().enumerate() {
        if i % 5 == 4 {
            d.decode(&[], &mut out, false)?;
            concealed += 1;
        } else {
            d.decode(p, &mut out, false)?;
        }
    }
    let total = start.elapsed().as_secs_f64() * 1e6;
    let decoded = (packets.len() as f64 - f64::from(concealed)) * decode_us;
    Ok(((total - decoded) / f64::from(concealed.max(1))).max(0.0))
}

/// Rebuilds bursts of three from the DRED of the packet after each (one burst per 10 packets);
/// µs per rebuilt frame, parse included.
fn dred_cost(packets: &[Vec<u8>]) -> anyhow::Result<f64> {
    let mut d = Decoder::new(RATE, Channels::Mono)?;
    d.set_complexity(7)?;
    let mut dred = Dred::new()?;
    let mut out = [0i16; FRAME];
    let (mut rebuilt, mut spent) = (0u32, 0.0f64);
    for (i, p) in packets.iter().enumerate() {
        if i % 10 == 9 && i >= 3 {
            let start = Instant::now();
            let history = dred.parse(p, 3 * FRAME + 2 * FRAME, RATE)?;
            for back in (1..=3).rev() {
                if history.reach >= back * FRAME {
                    d.decode_dred(&dred, back * FRAME, &mut out)?;
                } else {
                    d.decode(&[], &mut out, false)?;
                }
                rebuilt += 1;
            }
            spent += start.elapsed().as_secs_f64() * 1e6;
        }
        d.decode(p, &mut out, false)?;
    }
    Ok(spent / f64::from(rebuilt.max(1)))
}

/// The split, as metrics (µs per 20 ms frame, and % of one core for a call's audio).
pub fn split(quick: bool) -> anyhow::Result<(Vec<Metric>, Vec<String>)> {
    let input = speech_like(if quick { 150 } else { 1500 });
    let mut metrics = Vec::new();
    let (plain, enc_us) = encode_all(&mut encoder(40_000, false)?, &input)?;
    let (with_dred, enc_dred_us) = encode_all(&mut encoder(48_000, true)?, &input)?;
    let (low, _) = encode_all(&mut encoder(16_000, false)?, &input)?;
    let dec_classic = decode_all(&plain, 0)?;
    let dec_neural = decode_all(&plain, 7)?;
    let dec_low_classic = decode_all(&low, 0)?;
    let dec_low_osce = decode_all(&low, 7)?;
    let plc_classic = conceal_cost(&plain, 0, dec_classic)?;
    let plc_deep = conceal_cost(&plain, 7, dec_neural)?;
    let dred_us = dred_cost(&with_dred)?;
    let pct = |us: f64| us / FRAME_US * 100.0;
    for (name, us) in [
        ("encoder, 40 kb/s, LBRR", enc_us),
        ("encoder, 48 kb/s, DRED 400 ms (10 % loss)", enc_dred_us),
        ("decoder, 40 kb/s, classic (complexity 0)", dec_classic),
        ("decoder, 40 kb/s, complexity 7 (ringwire's)", dec_neural),
        ("decoder, 16 kb/s SILK, classic", dec_low_classic),
        ("decoder, 16 kb/s SILK, OSCE NoLACE", dec_low_osce),
        ("concealed frame, classic PLC", plc_classic),
        ("concealed frame, deep PLC", plc_deep),
        ("rebuilt frame, DRED (parse + decode)", dred_us),
    ] {
        metrics.push(Metric::new(format!("codec CPU, {name}"), "µs/frame", us));
    }
    let clean = pct(enc_us + dec_neural);
    let lossy = pct(enc_dred_us + dec_neural) + pct(dred_us) * 0.1;
    let notes = vec![
        format!(
            "codec split, one core, per 20 ms frame: a clean call's audio costs {clean:.2} % of a core (encoder {:.2} %, decoder {:.2} %); under 10 % loss with DRED and one frame in ten rebuilt from it, {lossy:.2} % (the encoder with DRED and without LBRR {:.2} %, against {:.2} % with LBRR; DRED rebuilding {:.2} %)",
            pct(enc_us),
            pct(dec_neural),
            pct(enc_dred_us),
            pct(enc_us),
            pct(dred_us) * 0.1
        ),
        format!(
            "neural parts: decoder complexity 7 costs {:.2} % of a core more than classic decoding on every frame at 40 kb/s (deep PLC keeps its model's state on each decoded frame) and {:.2} % at 16 kb/s, where NoLACE also enhances the SILK frames; a deep-PLC frame costs {plc_deep:.0} µs against classic PLC's {plc_classic:.0} µs",
            pct(dec_neural - dec_classic),
            pct(dec_low_osce - dec_low_classic),
        ),
        format!(
            "codec bytes: {:.1} kb/s plain at 40 kb/s, {:.1} kb/s with DRED at 48 kb/s",
            kbps(&plain),
            kbps(&with_dred)
        ),
    ];
    Ok((metrics, notes))
}

fn kbps(packets: &[Vec<u8>]) -> f64 {
    let bytes: usize = packets.iter().map(Vec::len).sum();
    bytes as f64 * 8.0 / (packets.len().max(1) as f64 * 20.0)
}
