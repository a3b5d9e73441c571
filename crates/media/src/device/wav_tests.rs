//! Tests for the WAV devices: round trips through real files, downmix, resampling, refusals.

use std::io::Cursor;
use std::path::PathBuf;

use super::*;
use crate::device::analysis::dominant_frequency;
use crate::device::ToneSource;

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("ringwire-media-{}-{name}.wav", std::process::id()))
}

/// An in-memory WAV file with the given format and interleaved samples.
fn wav_bytes(spec: hound::WavSpec, samples: &[i16]) -> Vec<u8> {
    let mut cursor = Cursor::new(Vec::new());
    let mut writer = hound::WavWriter::new(&mut cursor, spec).unwrap();
    for &s in samples {
        writer.write_sample(s).unwrap();
    }
    writer.finalize().unwrap();
    cursor.into_inner()
}

fn spec(channels: u16, sample_rate: u32) -> hound::WavSpec {
    hound::WavSpec {
        channels,
        sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    }
}

fn read_all(source: &mut WavSource, frame: usize) -> Vec<i16> {
    let mut all = Vec::new();
    let mut buf = vec![0i16; frame];
    while source.read_frame(&mut buf).unwrap() == SourceState::Active {
        all.extend_from_slice(&buf);
    }
    all
}

#[test]
fn round_trip_through_a_file_is_exact() {
    let path = temp_path("round-trip");
    let mut tone = ToneSource::new(440.0, 9000).unwrap();
    let mut sink = WavSink::create(&path).unwrap();
    let mut written = Vec::new();
    let mut frame = [0i16; 960];
    for _ in 0..50 {
        tone.read_frame(&mut frame).unwrap();
        sink.write_frame(&frame).unwrap();
        written.extend_from_slice(&frame);
    }
    sink.finish().unwrap();
    sink.finish().unwrap(); // idempotent
    assert!(sink.write_frame(&frame).is_err(), "write after finish");
    assert_eq!(sink.frames(), 50);

    let mut source = WavSource::open(&path).unwrap();
    assert_eq!(
        (source.source_rate(), source.source_channels()),
        (48_000, 1)
    );
    let read = read_all(&mut source, 960);
    assert_eq!(read, written);
    let hz = dominant_frequency(&read, 48_000);
    assert!((hz - 440.0).abs() < 1.0, "{hz}");
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn last_partial_frame_is_padded_then_finished() {
    let samples: Vec<i16> = (1..=1000).map(|i| i as i16).collect();
    let mut source =
        WavSource::from_reader(Cursor::new(wav_bytes(spec(1, 48_000), &samples))).unwrap();
    let mut frame = [0i16; 960];
    assert_eq!(source.read_frame(&mut frame).unwrap(), SourceState::Active);
    assert_eq!(&frame[..], &samples[..960]);
    frame.fill(7);
    assert_eq!(source.read_frame(&mut frame).unwrap(), SourceState::Active);
    assert_eq!(&frame[..40], &samples[960..]);
    assert!(frame[40..].iter().all(|&s| s == 0));
    frame.fill(7);
    assert_eq!(
        source.read_frame(&mut frame).unwrap(),
        SourceState::Finished
    );
    assert!(frame.iter().all(|&s| s == 0));
    assert_eq!(
        source.read_frame(&mut frame).unwrap(),
        SourceState::Finished
    );
}

#[test]
fn stereo_is_averaged_to_mono() {
    // Left 1000, right 3000, then left -4000, right 0.
    let interleaved = [1000, 3000, -4000, 0];
    let mut source =
        WavSource::from_reader(Cursor::new(wav_bytes(spec(2, 48_000), &interleaved))).unwrap();
    let mut frame = [0i16; 4];
    assert_eq!(source.read_frame(&mut frame).unwrap(), SourceState::Active);
    assert_eq!(frame, [2000, -2000, 0, 0]);
}

#[test]
fn sixteen_khz_is_upsampled_to_48_khz() {
    let tone: Vec<i16> = (0..16_000)
        .map(|i| (8000.0 * (std::f64::consts::TAU * 440.0 * i as f64 / 16_000.0).sin()) as i16)
        .collect();
    let mut source =
        WavSource::from_reader(Cursor::new(wav_bytes(spec(1, 16_000), &tone))).unwrap();
    assert_eq!(source.source_rate(), 16_000);
    let mut out = Vec::new();
    let mut frame = [0i16; 960];
    while source.read_frame(&mut frame).unwrap() == SourceState::Active {
        out.extend_from_slice(&frame);
    }
    // One second in, one second (50 frames) out; every third output sample is an input sample.
    assert_eq!(out.len(), 48_000);
    for i in [0usize, 1, 100, 15_999] {
        assert_eq!(out[3 * i], tone[i], "input sample {i}");
    }
    let hz = dominant_frequency(&out, 48_000);
    assert!((hz - 440.0).abs() < 1.0, "{hz}");
}

#[test]
fn odd_rates_resample_to_the_right_length() {
    let silence = vec![0i16; 44_100];
    let mut source =
        WavSource::from_reader(Cursor::new(wav_bytes(spec(1, 44_100), &silence))).unwrap();
    let mut frame = [0i16; 480];
    let mut frames = 0;
    while source.read_frame(&mut frame).unwrap() == SourceState::Active {
        frames += 1;
    }
    assert_eq!(frames, 100, "one second is 100 frames of 10 ms");
}

#[test]
fn unsupported_formats_are_refused_with_a_reason() {
    let hi_rate = WavSource::from_reader(Cursor::new(wav_bytes(spec(1, 96_000), &[0; 10])));
    assert!(matches!(hi_rate, Err(MediaError::Wav(m)) if m.contains("96000")));

    let float_spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut cursor = Cursor::new(Vec::new());
    let mut writer = hound::WavWriter::new(&mut cursor, float_spec).unwrap();
    writer.write_sample(0.5f32).unwrap();
    writer.finalize().unwrap();
    let float = WavSource::from_reader(Cursor::new(cursor.into_inner()));
    assert!(matches!(float, Err(MediaError::Wav(m)) if m.contains("16-bit")));

    let garbage = WavSource::from_reader(Cursor::new(b"RIFF nonsense".to_vec()));
    assert!(matches!(garbage, Err(MediaError::Wav(_))));
    let missing = WavSource::open(temp_path("does-not-exist"));
    assert!(matches!(missing, Err(MediaError::Wav(m)) if m.contains("does-not-exist")));
}

#[test]
fn empty_file_is_finished_at_once() {
    let mut source = WavSource::from_reader(Cursor::new(wav_bytes(spec(1, 16_000), &[]))).unwrap();
    let mut frame = [5i16; 960];
    assert_eq!(
        source.read_frame(&mut frame).unwrap(),
        SourceState::Finished
    );
    assert!(frame.iter().all(|&s| s == 0));
}
