//! PESQ-WB through the `pesq` package from PyPI (`bench/pesq_score.py`), in a virtualenv the bench
//! makes on first use under `target/bench-venv` with pinned versions. Speech clips come from
//! espeak-ng (Debian) resampled to 48 kHz with sox: several voices and texts, so no result is
//! tuned to one clip.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use serde_json::Value;

use super::chromium::bench_dir;

const PACKAGES: [&str; 3] = ["pesq==0.0.4", "numpy==2.4.6", "scipy==1.17.1"];

fn venv() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-venv")
}

/// The venv's python, created and filled on first use.
pub async fn python() -> anyhow::Result<PathBuf> {
    let dir = venv();
    let python = dir.join("bin/python3");
    let ready = dir.join(".ready");
    if ready.exists() {
        return Ok(python);
    }
    let status = tokio::process::Command::new("python3")
        .args(["-m", "venv"])
        .arg(&dir)
        .status()
        .await
        .context("python3 -m venv (install python3-venv)")?;
    anyhow::ensure!(status.success(), "python3 -m venv failed");
    let status = tokio::process::Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(PACKAGES)
        .status()
        .await
        .context("pip install")?;
    anyhow::ensure!(status.success(), "pip install {PACKAGES:?} failed");
    std::fs::write(&ready, PACKAGES.join("\n"))?;
    Ok(python)
}

/// PESQ-WB of `degraded` against `reference` (48 kHz WAVs).
pub async fn score(python: &Path, reference: &Path, degraded: &Path) -> anyhow::Result<f64> {
    let v = score_detail(python, reference, degraded).await?;
    v.get("pesq_wb")
        .and_then(Value::as_f64)
        .ok_or_else(|| anyhow!("pesq_score.py: {v}"))
}

/// Everything `bench/pesq_score.py` says of `degraded` against `reference`: the score, the
/// global lag and each utterance's (see the script).
pub async fn score_detail(
    python: &Path,
    reference: &Path,
    degraded: &Path,
) -> anyhow::Result<Value> {
    let out = tokio::process::Command::new(python)
        .arg(bench_dir().join("pesq_score.py"))
        .arg(reference)
        .arg(degraded)
        .output()
        .await
        .context("running bench/pesq_score.py")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(text.trim()).map_err(|_| {
        anyhow!(
            "pesq_score.py printed {text:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    match v.get("pesq_wb").and_then(Value::as_f64) {
        Some(_) if out.status.success() => Ok(v),
        _ => bail!("pesq_score.py: {v}"),
    }
}

/// Harvard sentences (IEEE 1969, lists 1 and 2), three per clip, each clip in its own voice
/// (espeak-ng's own voices and variants as Debian ships them; the MBROLA voices it lists need
/// data Debian does not install): US male, British female, Scottish male, US female and
/// British (RP) female. One clip per seed, so a condition's figure is over five talkers and
/// fifteen sentences, not tuned to one.
const CLIPS: [(&str, &str); 5] = [
    (
        "en-us",
        "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background. \
         It is easy to tell the depth of a well.",
    ),
    (
        "en-gb+f3",
        "The boy was there when the sun rose. A rod is used to catch pink salmon. \
         The source of the huge river is the clear spring.",
    ),
    (
        "en-gb-scotland+m3",
        "Kick the ball straight and follow through. Help the woman get back to her feet. \
         A pot of tea helps to pass the evening.",
    ),
    (
        "en-us+f2",
        "These days a chicken leg is a rare dish. Rice is often served in round bowls. \
         The juice of lemons makes fine punch.",
    ),
    (
        "en-gb-x-rp+f4",
        "Smoky fires lack flame and heat. The soft cushion broke the man's fall. \
         The salt breeze came across from the sea.",
    ),
];

pub fn clip_count() -> usize {
    CLIPS.len()
}

/// Speech clip `i` as a 48 kHz mono WAV in `dir`.
pub async fn speech(dir: &Path, i: usize) -> anyhow::Result<PathBuf> {
    let (voice, text) = CLIPS[i % CLIPS.len()];
    let raw = dir.join(format!("speech-{i}-raw.wav"));
    let out = dir.join(format!("speech-{i}.wav"));
    let status = tokio::process::Command::new("espeak-ng")
        .args(["-v", voice, "-s", "150", "-w"])
        .arg(&raw)
        .arg(text)
        .status()
        .await
        .context("espeak-ng (Debian package espeak-ng)")?;
    anyhow::ensure!(status.success(), "espeak-ng failed");
    // Half a second of silence on each side, as a talker pauses; -3 dBFS peak.
    let status = tokio::process::Command::new("sox")
        .arg(&raw)
        .args(["-r", "48000", "-c", "1", "-b", "16"])
        .arg(&out)
        .args(["norm", "-3", "pad", "0.5", "0.5"])
        .status()
        .await
        .context("sox (Debian package sox)")?;
    anyhow::ensure!(status.success(), "sox failed");
    Ok(out)
}

#[cfg(test)]
mod tests {
    //! The scorer's alignment on a real clip: a receiver that moves its delay in the pauses
    //! loses nothing for it, and speech that is missing still costs.

    use super::*;

    use crate::signal::{read_wav, write_wav};

    /// Below this a sample is quiet (the clip peaks at -3 dBFS).
    const QUIET: f32 = 200.0 / 32768.0;
    const FRAME: usize = 960;

    /// Middles of the pauses between sentences: runs of 200 ms or more of quiet 20 ms frames,
    /// past the clip's leading and before its trailing silence.
    fn pauses(clip: &[f32]) -> Vec<usize> {
        let quiet: Vec<bool> = clip
            .chunks(FRAME)
            .map(|f| f.iter().all(|s| s.abs() < QUIET))
            .collect();
        let first = quiet.iter().position(|q| !q).expect("speech");
        let last = quiet.iter().rposition(|q| !q).expect("speech");
        let mut out = Vec::new();
        let mut run = 0;
        for (i, q) in quiet.iter().enumerate().take(last).skip(first) {
            if *q {
                run += 1;
            } else {
                if run >= 10 {
                    out.push((i - run / 2) * FRAME);
                }
                run = 0;
            }
        }
        out
    }

    #[tokio::test]
    async fn each_utterance_is_aligned_on_its_own_and_lost_speech_still_costs() {
        let python = python().await.expect("the PESQ venv");
        let dir = tempfile::tempdir().expect("temp dir");
        let reference = speech(dir.path(), 0).await.expect("espeak-ng clip");
        let clip = read_wav(&reference).expect("clip").remove(0);
        let cuts = pauses(&clip);
        assert_eq!(cuts.len(), 2, "three sentences, two pauses: {cuts:?}");

        // The delay grows by 120 ms, then by 80 ms more, each time in a pause, on top of a
        // 300 ms path: what an adaptive buffer does when bursts come.
        let silence = |ms: usize| vec![0.0f32; ms * 48];
        let mut moved = silence(300);
        moved.extend_from_slice(&clip[..cuts[0]]);
        moved.extend(silence(120));
        moved.extend_from_slice(&clip[cuts[0]..cuts[1]]);
        moved.extend(silence(80));
        moved.extend_from_slice(&clip[cuts[1]..]);
        let moved_path = dir.path().join("moved.wav");
        write_wav(&moved_path, &[&moved]).expect("wav");
        let v = score_detail(&python, &reference, &moved_path)
            .await
            .expect("scored");
        let lags: Vec<f64> = v["lags_ms"]
            .as_array()
            .expect("lags")
            .iter()
            .filter_map(Value::as_f64)
            .collect();
        assert_eq!(lags.len(), 3, "{v}");
        for (got, want) in lags.iter().zip([300.0, 420.0, 500.0]) {
            assert!(
                (got - want).abs() <= 1.0,
                "lags {lags:?}, want 300/420/500: {v}"
            );
        }
        let pesq = v["pesq_wb"].as_f64().expect("score");
        assert!(pesq > 4.5, "a delay moved in pauses costs nothing: {v}");

        // 100 ms of the second sentence missing: the alignment must not hide it.
        let mut holed = clip.clone();
        let middle = (cuts[0] + cuts[1]) / 2;
        holed[middle..middle + 4_800].fill(0.0);
        let holed_path = dir.path().join("holed.wav");
        write_wav(&holed_path, &[&holed]).expect("wav");
        let v = score_detail(&python, &reference, &holed_path)
            .await
            .expect("scored");
        let pesq = v["pesq_wb"].as_f64().expect("score");
        assert!(pesq < 4.2, "100 ms of speech lost must cost: {v}");
    }
}
