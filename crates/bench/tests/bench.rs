//! The benchmark smoke test: `ringwire bench all --quick --json` runs every benchmark briefly,
//! Chromium baseline included, and must produce well-formed results — one JSON object per
//! benchmark with the documented shape, finite numbers, ratios that are ringwire / Chromium,
//! and REPORT.md, latest.json and the plots. It never asserts speed: numbers are the
//! benchmark's business, not the test's.

use std::process::Command;

use serde_json::Value;

const BENCHES: [&str; 5] = ["setup", "latency", "quality", "cost", "signaling"];

/// Runs `ringwire-bench` with `args`; its stdout, once it has exited successfully.
fn run_bench(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_ringwire-bench"))
        .args(args)
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "bench failed: {}\nstdout: {stdout}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn bench_all_quick_produces_well_formed_results() {
    let out_dir = tempfile::tempdir().expect("temp dir");
    let out = out_dir.path().to_str().expect("a UTF-8 temporary path");
    let stdout = run_bench(&["all", "--quick", "--json", "--out", out]);
    let objects: Vec<Value> = stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let names: Vec<&str> = objects.iter().filter_map(|o| o["bench"].as_str()).collect();
    assert_eq!(names, BENCHES);
    for object in &objects {
        let bench = &object["bench"];
        let results = object["results"].as_array().expect("results is a list");
        assert!(!results.is_empty(), "{bench}: no results");
        for m in results {
            assert!(
                m["metric"].as_str().is_some_and(|s| !s.is_empty()),
                "{bench}: {m}"
            );
            assert!(m["unit"].as_str().is_some(), "{bench}: {m}");
            let ours = m["ringwire"].as_f64().unwrap_or(f64::NAN);
            assert!(ours.is_finite() && ours >= 0.0, "{bench}: {m}");
            // No Chromium figure for signaling, nor for the codec split of `cost` (libopus
            // timed alone; Chromium's libopus has no DRED to compare with).
            let codec_split = m["metric"]
                .as_str()
                .is_some_and(|s| s.starts_with("codec CPU"));
            let expect_baseline = bench != "signaling" && !codec_split;
            match (m["chromium"].as_f64(), m["ratio"].as_f64()) {
                (Some(theirs), Some(ratio)) => {
                    assert!(theirs.is_finite() && theirs > 0.0, "{bench}: {m}");
                    assert!((ratio - ours / theirs).abs() < 1e-9 * ratio.abs().max(1.0));
                }
                (Some(theirs), None) => assert_eq!(theirs, 0.0, "{bench}: {m}"),
                (None, ratio) => {
                    assert!(ratio.is_none(), "{bench}: {m}");
                    assert!(!expect_baseline, "{bench}: no Chromium figure: {m}");
                }
            }
        }
    }
    let quality = objects
        .iter()
        .find(|o| o["bench"] == "quality")
        .expect("quality");
    // The PESQ rows; the loss episode's delay rows are in ms and s.
    for m in quality["results"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|m| m["unit"] == "MOS-LQO")
    {
        let score = m["ringwire"].as_f64().unwrap_or(0.0);
        assert!(
            (1.0..=4.7).contains(&score),
            "PESQ-WB out of its scale: {m}"
        );
    }
    // The tuned-web-app baseline negotiated RFC 2198 RED to send, and it crossed the relay as
    // its own payload type; the default one sent plain Opus.
    for condition in quality["detail"]["conditions"]
        .as_array()
        .expect("conditions")
    {
        let codecs = |row: &str| {
            condition[row]["sent_codecs"]
                .as_array()
                .unwrap_or_else(|| panic!("no {row} codecs in {condition}"))
                .iter()
                .map(|c| c.as_str().unwrap_or("").to_ascii_lowercase())
                .collect::<Vec<_>>()
        };
        let red = codecs("chromium_red_first");
        assert!(
            !red.is_empty() && red.iter().all(|c| c == "red/48000/2"),
            "{red:?}"
        );
        let red_pt_packets = condition["chromium_red_first"]["by_payload_type"]
            .as_array()
            .expect("payload types")
            .iter()
            .filter(|t| t["pt"] != 111)
            .map(|t| t["packets"].as_u64().unwrap_or(0))
            .sum::<u64>();
        assert!(
            red_pt_packets > 0,
            "no RED packet crossed the relay: {condition}"
        );
        let plain = codecs("chromium");
        assert!(
            !plain.is_empty() && plain.iter().all(|c| c == "opus/48000/2"),
            "{plain:?}"
        );
    }
    assert!(
        quality["results"]
            .as_array()
            .expect("list")
            .iter()
            .any(|m| m["metric"]
                .as_str()
                .is_some_and(|s| s.ends_with("vs Chromium RED first"))
                && m["chromium"].as_f64().is_some()),
        "no RED-first row with a Chromium figure"
    );
    for file in [
        "latest.json",
        "REPORT.md",
        "pesq-vs-loss.png",
        "latency-cdf.png",
    ] {
        let path = out_dir.path().join(file);
        let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        assert!(len > 100, "{file} missing or empty");
    }
    let latest: Value = serde_json::from_str(
        &std::fs::read_to_string(out_dir.path().join("latest.json")).expect("latest.json"),
    )
    .expect("latest.json is JSON");
    assert_eq!(latest.as_array().map(Vec::len), Some(BENCHES.len()));
    let report = std::fs::read_to_string(out_dir.path().join("REPORT.md")).expect("REPORT.md");
    for bench in BENCHES {
        assert!(
            report.contains(&format!("## {bench}")),
            "REPORT.md lacks {bench}"
        );
    }
}

/// `ringwire bench signaling --nodes 3 --quick`: a cluster of three nodes on PostgreSQL and NATS
/// (as the cluster tests use them; skipped with `RINGWIRE_SKIP_PG=1`) beside one server. Only
/// the shape is checked: every row finite, no Chromium column, the cluster's and the single
/// server's rows both there, and every idle connection held.
#[test]
fn bench_signaling_on_three_nodes_quick_produces_well_formed_results() {
    if std::env::var("RINGWIRE_SKIP_PG").as_deref() == Ok("1") {
        eprintln!("skipping the cluster bench because RINGWIRE_SKIP_PG=1");
        return;
    }
    let stdout = run_bench(&["signaling", "--nodes", "3", "--quick", "--json"]);
    let object: Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    assert_eq!(object["bench"], "signaling");
    let results = object["results"].as_array().expect("results is a list");
    let value = |name: &str| {
        results
            .iter()
            .find(|m| m["metric"] == name)
            .and_then(|m| m["ringwire"].as_f64())
            .unwrap_or_else(|| panic!("no {name:?} in {object}"))
    };
    for m in results {
        let ours = m["ringwire"].as_f64().unwrap_or(f64::NAN);
        assert!(ours.is_finite() && ours >= 0.0, "{m}");
        assert!(m["chromium"].is_null() && m["ratio"].is_null(), "{m}");
    }
    assert_eq!(value("idle connections held, 3 nodes"), 600.0);
    assert_eq!(value("idle connections held, 1 node"), 200.0);
    assert!(value("call setups per second, 3 nodes, caller and callee on different nodes") > 0.0);
    assert!(value("call setups per second, 1 node") > 0.0);
    assert!(
        results
            .iter()
            .filter(|m| m["metric"]
                .as_str()
                .is_some_and(|s| s.starts_with("RSS of node")))
            .count()
            == 3,
        "{object}"
    );
}
