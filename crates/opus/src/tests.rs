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
