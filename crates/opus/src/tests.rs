//! Round trips through the library built by `build.rs`: it links, encodes a tone, decodes it
//! back with the same pitch, recovers a frame by FEC, conceals one, and reports bad arguments.

use super::*;

const RATE: u32 = 48_000;
const FRAME: usize = 960;

fn tone(freq: f32, frames: usize) -> Vec<i16> {
    (0..FRAME * frames)
        .map(|i| ((i as f32 * freq * std::f32::consts::TAU / RATE as f32).sin() * 8000.0) as i16)
        .collect()
}

/// Zero crossings per second, a cheap pitch estimate for a pure tone.
fn crossings_hz(pcm: &[i16]) -> f32 {
    let n = pcm.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
    n as f32 / 2.0 / (pcm.len() as f32 / RATE as f32)
}

fn voip_encoder() -> Encoder {
    let mut enc = Encoder::new(RATE, Channels::Mono, Application::Voip).expect("encoder");
    enc.set_signal(Signal::Voice).expect("signal");
    enc.set_bitrate(32_000).expect("bitrate");
    enc
}

#[test]
fn version_names_the_vendored_release() {
    assert!(version().starts_with("libopus 1."), "{}", version());
}

#[test]
fn tone_survives_a_round_trip() {
    let mut enc = voip_encoder();
    let mut dec = Decoder::new(RATE, Channels::Mono).expect("decoder");
    let input = tone(440.0, 50);
    let mut decoded = Vec::new();
    let mut packet = [0u8; 1500];
    let mut out = [0i16; FRAME];
    for frame in input.chunks(FRAME) {
        let len = enc.encode(frame, &mut packet).expect("encode");
        assert!(len > 0 && len < 400, "packet of {len} bytes");
        assert_eq!(
            dec.decode(&packet[..len], &mut out, false).expect("decode"),
            FRAME
        );
        decoded.extend_from_slice(&out);
    }
    let hz = crossings_hz(&decoded[FRAME * 10..]);
    assert!((hz - 440.0).abs() < 10.0, "decoded pitch {hz} Hz");
    assert_eq!(enc.bitrate().expect("bitrate"), 32_000);
    assert!(enc.lookahead().expect("lookahead") > 0);
}

#[test]
fn fec_rebuilds_a_lost_frame_and_plc_conceals_one() {
    let mut enc = voip_encoder();
    enc.set_inband_fec(true).expect("fec");
    enc.set_packet_loss_perc(20).expect("loss");
    let mut dec = Decoder::new(RATE, Channels::Mono).expect("decoder");
    let mut packets = Vec::new();
    for frame in tone(300.0, 20).chunks(FRAME) {
        let mut packet = [0u8; 1500];
        let len = enc.encode(frame, &mut packet).expect("encode");
        packets.push(packet[..len].to_vec());
    }
    let mut out = [0i16; FRAME];
    for p in &packets[..10] {
        dec.decode(p, &mut out, false).expect("decode");
    }
    // Frame 10 is lost: rebuild it from frame 11's redundancy.
    assert_eq!(
        dec.decode(&packets[11], &mut out, true).expect("fec"),
        FRAME
    );
    assert!(
        out.iter().any(|&s| s.unsigned_abs() > 1000),
        "FEC frame is silent"
    );
    dec.decode(&packets[11], &mut out, false).expect("decode");
    // Frame 12 is lost with nothing after it: conceal.
    assert_eq!(dec.decode(&[], &mut out, false).expect("plc"), FRAME);
    dec.reset_state().expect("reset");
}

#[test]
fn bad_arguments_are_errors_not_crashes() {
    assert!(matches!(
        Encoder::new(44_100, Channels::Mono, Application::Voip),
        Err(OpusError::InvalidArgument { .. })
    ));
    let mut enc = voip_encoder();
    let mut packet = [0u8; 1500];
    // 17 samples is not a legal Opus frame size.
    let err = enc.encode(&[0i16; 17], &mut packet).expect_err("odd frame");
    assert!(err.to_string().contains("opus_encode"), "{err}");
    assert!(enc.set_complexity(11).is_err());
    let mut dec = Decoder::new(RATE, Channels::Mono).expect("decoder");
    let mut out = [0i16; FRAME];
    // A TOC byte announcing a 120 ms packet cannot fit 20 ms of output.
    assert!(dec.decode(&[0xFF, 0xFF, 0xFF], &mut out, false).is_err());
}

/// A vowel-like test signal: harmonics of a 140 Hz pitch under a slow syllable envelope, the
/// kind of input DRED's model is trained on (a pure tone is not).
#[cfg(feature = "dred")]
fn vowel(frames: usize) -> Vec<i16> {
    (0..FRAME * frames)
        .map(|i| {
            let t = i as f32 / RATE as f32;
            let envelope = 0.6 + 0.4 * (t * 3.0 * std::f32::consts::TAU).sin();
            let voice: f32 = (1..12)
                .map(|h| (t * 140.0 * h as f32 * std::f32::consts::TAU).sin() / h as f32)
                .sum();
            (voice * envelope * 6000.0) as i16
        })
        .collect()
}

#[cfg(feature = "dred")]
#[test]
fn dred_rebuilds_a_burst_from_a_later_packet() {
    let mut enc = voip_encoder();
    enc.set_inband_fec(true).expect("fec");
    enc.set_packet_loss_perc(20).expect("loss");
    enc.set_dred_duration(50).expect("dred duration");
    enc.set_bitrate(64_000).expect("bitrate");
    assert_eq!(enc.dred_duration().expect("get"), 50);
    let mut packets = Vec::new();
    let input = vowel(60);
    for frame in input.chunks(FRAME) {
        let mut packet = [0u8; 1500];
        let len = enc.encode(frame, &mut packet).expect("encode");
        packets.push(packet[..len].to_vec());
    }
    let mut dec = Decoder::new(RATE, Channels::Mono).expect("decoder");
    dec.set_complexity(7).expect("complexity");
    assert_eq!(dec.complexity().expect("get"), 7);
    let mut out = [0i16; FRAME];
    for p in &packets[..40] {
        dec.decode(p, &mut out, false).expect("decode");
    }
    // Frames 40..45 are lost; packet 45 carries their history.
    let mut dred = Dred::new().expect("dred model");
    let history = dred.parse(&packets[45], 8 * FRAME, RATE).expect("parse");
    assert!(history.reach >= 5 * FRAME, "DRED reaches {history:?}");
    for lost in 40..45 {
        let offset = (45 - lost) * FRAME;
        assert_eq!(
            dec.decode_dred(&dred, offset, &mut out)
                .expect("dred decode"),
            FRAME
        );
        let energy = out.iter().map(|&s| i64::from(s).pow(2)).sum::<i64>() / FRAME as i64;
        assert!(
            energy > 100_000,
            "frame {lost} rebuilt nearly silent: {energy}"
        );
    }
    dec.decode(&packets[45], &mut out, false)
        .expect("decode after");
    // A packet without DRED parses to nothing, and garbage is an error or nothing, not a crash.
    let mut plain = voip_encoder();
    let mut packet = [0u8; 1500];
    let len = plain.encode(&input[..FRAME], &mut packet).expect("encode");
    assert_eq!(
        dred.parse(&packet[..len], FRAME, RATE)
            .expect("parse")
            .reach,
        0
    );
    let _ = dred.parse(&[0xFC, 0xFF, 0x03, 0x7E, 0x01, 0x02], FRAME, RATE);
    assert_eq!(dred.parse(&[], FRAME, RATE).expect("empty").reach, 0);
}

/// A copy of a packet without its padding carries the same frame and no DRED: it decodes to
/// the same audio, is smaller, and parses to no history.
#[cfg(feature = "dred")]
#[test]
fn stripping_padding_keeps_the_frame_and_drops_dred() {
    let mut enc = voip_encoder();
    enc.set_packet_loss_perc(10).expect("loss");
    enc.set_dred_duration(40).expect("dred duration");
    enc.set_bitrate(48_000).expect("bitrate");
    let mut with = Decoder::new(RATE, Channels::Mono).expect("decoder");
    let mut without = Decoder::new(RATE, Channels::Mono).expect("decoder");
    let mut dred = Dred::new().expect("dred model");
    let (mut stripped_any, mut saved) = (false, 0usize);
    let mut bare = Vec::new();
    for frame in vowel(50).chunks(FRAME) {
        let mut packet = [0u8; 1500];
        let len = enc.encode(frame, &mut packet).expect("encode");
        let packet = &packet[..len];
        if crate::strip_padding(packet, &mut bare) {
            stripped_any = true;
            saved += len - bare.len();
            assert_eq!(dred.parse(&bare, 8 * FRAME, RATE).expect("parse").reach, 0);
        }
        let (mut a, mut b) = ([0i16; FRAME], [0i16; FRAME]);
        with.decode(packet, &mut a, false).expect("decode");
        without
            .decode(&bare, &mut b, false)
            .expect("decode stripped");
        assert_eq!(a, b, "the same frame");
    }
    assert!(stripped_any && saved > 0, "DRED packets are padded");
}

#[cfg(not(feature = "dred"))]
#[test]
fn without_the_feature_dred_is_refused() {
    assert!(Dred::new().is_err());
    assert!(voip_encoder().set_dred_duration(10).is_err());
}
