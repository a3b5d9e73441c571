//! Codec tests through real libopus: tones survive, FEC really recovers a lost frame better
//! than concealment, the bitrate policy drives the encoder within bounds, DTX goes quiet.

use super::*;
use crate::device::analysis::dominant_frequency;
use crate::device::{AudioSource, ToneSource};

const FRAME: usize = 960;

fn encoder(config: EncoderConfig) -> OpusEncoder {
    OpusEncoder::new(config).unwrap()
}

/// A speech-like test signal: a harmonic series (voiced speech) whose pitch glides between
/// 110 and 190 Hz and whose loudness follows a 4 Hz syllable envelope, with formant-like
/// weighting of the harmonics. Unlike a steady tone it changes from frame to frame, so
/// concealment (which extrapolates the last frame) cannot simply continue it correctly.
fn speechlike(frames: usize) -> Vec<i16> {
    let rate = f64::from(SAMPLE_RATE);
    let mut phase = 0.0f64;
    (0..frames * FRAME)
        .map(|i| {
            let t = i as f64 / rate;
            let f0 = 150.0 + 40.0 * (std::f64::consts::TAU * 1.3 * t).sin();
            phase += std::f64::consts::TAU * f0 / rate;
            let envelope = 0.35 + 0.65 * (0.5 + 0.5 * (std::f64::consts::TAU * 4.0 * t).sin());
            let mut v = 0.0;
            for h in 1..=12 {
                let hf = f0 * f64::from(h);
                // Two broad "formants" near 700 Hz and 1800 Hz.
                let w = 1.0 / (1.0 + ((hf - 700.0) / 300.0).powi(2))
                    + 0.6 / (1.0 + ((hf - 1800.0) / 400.0).powi(2))
                    + 0.05;
                v += w * (f64::from(h) * phase).sin();
            }
            (v * envelope * 5000.0).clamp(-32_000.0, 32_000.0) as i16
        })
        .collect()
}

/// Signal-to-noise ratio of `test` against `reference`, dB.
fn snr_db(reference: &[i16], test: &[i16]) -> f64 {
    let signal: f64 = reference.iter().map(|&s| f64::from(s).powi(2)).sum();
    let noise: f64 = reference
        .iter()
        .zip(test)
        .map(|(&r, &t)| (f64::from(r) - f64::from(t)).powi(2))
        .sum();
    10.0 * (signal / noise.max(1.0)).log10()
}

fn encode_all(enc: &mut OpusEncoder, pcm: &[i16]) -> Vec<Vec<u8>> {
    let mut out = [0u8; MAX_PACKET_BYTES];
    pcm.chunks_exact(enc.config().frame.samples())
        .map(|frame| {
            let n = enc.encode(frame, &mut out).unwrap();
            out[..n].to_vec()
        })
        .collect()
}

#[test]
fn a_440_hz_tone_survives_encode_and_decode() {
    let mut tone = ToneSource::new(440.0, 8000).unwrap();
    let mut enc = encoder(EncoderConfig::default());
    let mut dec = OpusDecoder::new(FrameDuration::Ms20).unwrap();
    let (mut pcm, mut packet, mut decoded) = ([0i16; FRAME], [0u8; MAX_PACKET_BYTES], vec![]);
    let mut frame_out = [0i16; FRAME];
    for _ in 0..100 {
        tone.read_frame(&mut pcm).unwrap();
        let n = enc.encode(&pcm, &mut packet).unwrap();
        assert!(n > DTX_PACKET_MAX_BYTES && n <= MAX_PACKET_BYTES);
        assert_eq!(dec.decode(&packet[..n], &mut frame_out).unwrap(), FRAME);
        decoded.extend_from_slice(&frame_out);
    }
    let hz = dominant_frequency(&decoded[FRAME * 5..], SAMPLE_RATE);
    assert!((hz - 440.0).abs() < 2.0, "decoded tone measured at {hz} Hz");
}

#[test]
fn ten_ms_frames_work_too() {
    let config = EncoderConfig {
        frame: FrameDuration::Ms10,
        ..EncoderConfig::default()
    };
    let mut enc = encoder(config);
    let mut dec = OpusDecoder::new(FrameDuration::Ms10).unwrap();
    let pcm = speechlike(1);
    let mut packet = [0u8; MAX_PACKET_BYTES];
    let n = enc.encode(&pcm[..480], &mut packet).unwrap();
    let mut out = [0i16; 480];
    assert_eq!(dec.decode(&packet[..n], &mut out).unwrap(), 480);
    // The wrong frame length is refused, not truncated.
    assert!(matches!(
        enc.encode(&pcm[..960], &mut packet),
        Err(MediaError::Codec(_))
    ));
}

#[test]
fn fec_recovers_a_lost_frame_much_better_than_concealment() {
    const FRAMES: usize = 60;
    let pcm = speechlike(FRAMES);
    let mut enc = encoder(EncoderConfig::default());
    enc.set_packet_loss_pct(20).unwrap();
    let packets = encode_all(&mut enc, &pcm);

    // Reference: every packet decoded. The lost frame is judged against what the decoder would
    // have produced had it arrived (this isolates the loss from ordinary coding noise).
    let mut reference = vec![0i16; FRAMES * FRAME];
    let mut dec = OpusDecoder::new(FrameDuration::Ms20).unwrap();
    for (p, out) in packets.iter().zip(reference.chunks_exact_mut(FRAME)) {
        dec.decode(p, out).unwrap();
    }

    // libopus codes LBRR only for frames its VAD calls active, and drops it for a few packets
    // around an internal mode switch (SILK wideband <-> hybrid), so not every packet carries
    // it; most must.
    let with_lbrr = packets[1..].iter().filter(|p| has_fec(p)).count();
    assert!(
        with_lbrr * 10 >= (FRAMES - 1) * 8,
        "only {with_lbrr} packets carry LBRR"
    );
    let lost_frames: Vec<usize> = [14usize, 20, 27, 41, 48, 53]
        .into_iter()
        .filter(|&n| has_fec(&packets[n + 1]))
        .collect();
    assert!(lost_frames.len() >= 4, "{lost_frames:?}");
    let mut fec_wins = 0;
    for &lost in &lost_frames {
        let mut with_fec = OpusDecoder::new(FrameDuration::Ms20).unwrap();
        let mut with_plc = OpusDecoder::new(FrameDuration::Ms20).unwrap();
        let mut scratch = [0i16; FRAME];
        for p in &packets[..lost] {
            with_fec.decode(p, &mut scratch).unwrap();
            with_plc.decode(p, &mut scratch).unwrap();
        }
        let mut recovered = [0i16; FRAME];
        let how = with_fec
            .decode_fec(&packets[lost + 1], &mut recovered)
            .unwrap();
        assert_eq!(how, Recovery::Fec);
        let mut concealed = [0i16; FRAME];
        with_plc.conceal(&mut concealed).unwrap();

        let truth = &reference[lost * FRAME..(lost + 1) * FRAME];
        let fec_snr = snr_db(truth, &recovered);
        let plc_snr = snr_db(truth, &concealed);
        assert!(fec_snr > 3.0, "frame {lost}: FEC SNR only {fec_snr:.1} dB");
        if fec_snr > plc_snr + 6.0 {
            fec_wins += 1;
        }
        eprintln!("frame {lost}: FEC {fec_snr:.1} dB, PLC {plc_snr:.1} dB");
    }
    assert!(
        fec_wins >= lost_frames.len() - 1,
        "FEC beat PLC by 6 dB in only {fec_wins} of {} losses",
        lost_frames.len()
    );
}

#[test]
fn without_fec_decode_fec_falls_back_to_concealment_and_says_so() {
    let mut enc = encoder(EncoderConfig {
        inband_fec: false,
        ..EncoderConfig::default()
    });
    enc.set_packet_loss_pct(20).unwrap();
    let packets = encode_all(&mut enc, &speechlike(10));
    assert!(packets.iter().all(|p| !has_fec(p)));
    let mut dec = OpusDecoder::new(FrameDuration::Ms20).unwrap();
    let mut out = [0i16; FRAME];
    for p in &packets[..5] {
        dec.decode(p, &mut out).unwrap();
    }
    assert_eq!(
        dec.decode_fec(&packets[6], &mut out).unwrap(),
        Recovery::Plc
    );
}

#[test]
fn corrupt_payloads_are_errors_and_leave_the_decoder_usable() {
    let mut enc = encoder(EncoderConfig::default());
    let packets = encode_all(&mut enc, &speechlike(4));
    let mut dec = OpusDecoder::new(FrameDuration::Ms20).unwrap();
    let mut out = [0i16; FRAME];
    assert!(dec.decode(&[], &mut out).is_err());
    // TOC code 3 with a zero frame count is malformed per RFC 6716.
    assert!(dec.decode(&[0x03, 0x00], &mut out).is_err());
    // A packet longer than the output buffer (60 ms into a 20 ms buffer) is refused.
    assert!(dec
        .decode(&[(3 << 3) | 0x03, 0x03, 0, 0, 0], &mut out)
        .is_err());
    assert!(
        dec.conceal(&mut out[..10]).is_err(),
        "too small for a frame"
    );
    assert_eq!(dec.decode(&packets[0], &mut out).unwrap(), FRAME);
}

#[test]
fn bitrate_policy_drives_the_encoder_within_bounds() {
    let config = EncoderConfig::default();
    let mut enc = encoder(config.clone());
    let mut policy = BitratePolicy::new(PolicyConfig::from(&config)).unwrap();
    let rtt = |ms| Some(std::time::Duration::from_millis(ms));
    let mut seen = vec![];
    let reports = [
        (0.0, 50),
        (15.0, 50),
        (15.0, 50),
        (15.0, 50),
        (15.0, 50),
        (15.0, 50),
        (15.0, 300), // loss with a queue: congestion
        (15.0, 300),
        (15.0, 300),
        (15.0, 300),
        (15.0, 300),
        (15.0, 300),
        (0.0, 50),
        (0.0, 50),
    ];
    for (loss, ms) in reports {
        let d = policy.update(NetworkReport {
            loss_pct: loss,
            rtt: rtt(ms),
        });
        enc.apply(&d).unwrap();
        assert_eq!(enc.bitrate_bps(), d.bitrate_bps);
        assert_eq!(enc.packet_loss_pct(), d.packet_loss_pct);
        assert!((config.min_bitrate_bps..=config.max_bitrate_bps).contains(&enc.bitrate_bps()));
        seen.push(enc.bitrate_bps());
    }
    assert!(
        seen[5] > config.start_bitrate_bps,
        "random loss raises the rate: {seen:?}"
    );
    assert_eq!(
        seen[11], config.min_bitrate_bps,
        "congestion backs off: {seen:?}"
    );
    assert!(seen[13] > seen[11], "recovers after congestion: {seen:?}");

    // And the encoder really spends what it is told: packets at 16 kb/s are smaller.
    let pcm = speechlike(50);
    let size = |bps: u32| {
        let mut e = encoder(config.clone());
        e.set_bitrate(bps).unwrap();
        encode_all(&mut e, &pcm).iter().map(Vec::len).sum::<usize>()
    };
    let (low, high) = (size(16_000), size(config.max_bitrate_bps));
    assert!(high > low * 2, "{low} vs {high} bytes");
}

#[test]
fn dtx_sends_tiny_packets_in_silence() {
    let mut enc = encoder(EncoderConfig {
        dtx: true,
        ..EncoderConfig::default()
    });
    let silence = vec![0i16; 50 * FRAME];
    let packets = encode_all(&mut enc, &silence);
    // libopus needs ~200 ms of silence before it enters DTX.
    let tail = &packets[20..];
    let tiny = tail
        .iter()
        .filter(|p| p.len() <= DTX_PACKET_MAX_BYTES)
        .count();
    assert!(tiny * 10 >= tail.len() * 8, "{tiny} of {} tiny", tail.len());
    assert!(enc.in_dtx().unwrap());

    // Without DTX the same silence still costs real packets.
    let mut plain = encoder(EncoderConfig::default());
    let packets = encode_all(&mut plain, &silence);
    assert!(packets[20..].iter().all(|p| p.len() > DTX_PACKET_MAX_BYTES));
    assert!(!plain.in_dtx().unwrap());
}

#[test]
fn config_validation() {
    let bad = |c: EncoderConfig| matches!(OpusEncoder::new(c), Err(MediaError::Config(_)));
    let d = EncoderConfig::default;
    assert!(bad(EncoderConfig {
        min_bitrate_bps: 1_000,
        ..d()
    }));
    assert!(bad(EncoderConfig {
        start_bitrate_bps: 100_000,
        ..d()
    }));
    assert!(bad(EncoderConfig {
        complexity: 11,
        ..d()
    }));
    assert!(FrameDuration::from_millis(40).is_err());
    assert_eq!(FrameDuration::from_millis(10).unwrap(), FrameDuration::Ms10);
    let enc = encoder(d());
    assert_eq!(enc.bitrate_bps(), 40_000);
    assert_eq!(enc.packet_loss_pct(), 2, "FEC floor from the start");
}
