//! `ringwire peer`, two processes whose stdout feeds the other's stdin (what
//! `mkfifo f; ringwire peer < f | ringwire peer --offer > f` does): a call with a tone each way
//! and DTMF, hung up from either side, with every line that crossed the channel a message of
//! docs/peer-mode.md. And one peer alone against lines that are not messages or do not fit.

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

fn peer(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ringwire"))
        .arg("peer")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Copies `from`'s stdout lines into `to`, keeping a copy of each.
fn shuttle(from: &mut Child, mut to: ChildStdin, seen: Arc<Mutex<Vec<String>>>) -> JoinHandle<()> {
    let out = from.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            seen.lock().unwrap().push(line.clone());
            if writeln!(to, "{line}").is_err() {
                break;
            }
        }
    })
}

/// Waits for the process and returns its JSON report: the last stderr line.
fn report(child: Child, limit: Duration) -> (Value, std::process::ExitStatus, String) {
    let deadline = Instant::now() + limit;
    let mut child = child;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
            let last = err.lines().rev().find(|l| l.starts_with('{')).unwrap_or("");
            let value = serde_json::from_str(last)
                .unwrap_or_else(|e| panic!("no JSON report ({e}) in stderr:\n{err}"));
            return (value, status, err);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("`ringwire peer` did not finish in {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn temp_wav(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ringwire-peer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn run_pair(hang_up_from_offerer: bool) {
    let (rec_a, rec_b) = (temp_wav("offerer.wav"), temp_wav("answerer.wav"));
    let mut offerer_args = vec!["--offer", "--tone", "440", "--json", "--send-dtmf", "147#"];
    let mut answerer_args = vec!["--tone", "880", "--json", "--accept-after", "300"];
    if hang_up_from_offerer {
        offerer_args.extend(["--duration", "3"]);
    } else {
        answerer_args.extend(["--duration", "3"]);
    }
    let rec_a_s = rec_a.to_str().unwrap().to_owned();
    let rec_b_s = rec_b.to_str().unwrap().to_owned();
    offerer_args.extend(["--record", &rec_a_s]);
    answerer_args.extend(["--record", &rec_b_s]);
    let mut offerer = peer(&offerer_args);
    let mut answerer = peer(&answerer_args);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let to_answerer = answerer.stdin.take().unwrap();
    let to_offerer = offerer.stdin.take().unwrap();
    let a = shuttle(&mut offerer, to_answerer, seen.clone());
    let b = shuttle(&mut answerer, to_offerer, seen.clone());
    let (offerer_report, offerer_status, _) = report(offerer, Duration::from_secs(30));
    let (answerer_report, answerer_status, _) = report(answerer, Duration::from_secs(30));
    let _ = (a.join(), b.join());

    for (who, r, status) in [
        ("offerer", &offerer_report, offerer_status),
        ("answerer", &answerer_report, answerer_status),
    ] {
        assert_eq!(r["ok"], true, "{who}: {r:#}");
        assert!(status.success(), "{who} exited {status}");
    }
    let heard_a = offerer_report["heard_hz"].as_f64().unwrap();
    let heard_b = answerer_report["heard_hz"].as_f64().unwrap();
    assert!((heard_a - 880.0).abs() < 15.0, "offerer heard {heard_a} Hz");
    assert!(
        (heard_b - 440.0).abs() < 15.0,
        "answerer heard {heard_b} Hz"
    );
    assert_eq!(answerer_report["dtmf_received"], "147#");
    assert_eq!(offerer_report["end_reason"]["reason"], "hangup");
    assert_eq!(answerer_report["end_reason"]["reason"], "hangup");
    assert_eq!(
        offerer_report["ended_locally"], hang_up_from_offerer,
        "{offerer_report:#}"
    );

    // Every line on the channel is one message of the documented shapes.
    let seen = seen.lock().unwrap();
    let types: Vec<String> = seen
        .iter()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["type"].as_str().unwrap().to_owned()
        })
        .collect();
    for t in &types {
        assert!(
            ["offer", "answer", "candidate", "end_of_candidates", "bye"].contains(&t.as_str()),
            "unexpected message type {t}"
        );
    }
    assert_eq!(
        types.iter().filter(|t| *t == "offer").count(),
        1,
        "{types:?}"
    );
    assert_eq!(
        types.iter().filter(|t| *t == "answer").count(),
        1,
        "{types:?}"
    );
    assert!(types.iter().any(|t| t == "bye"), "{types:?}");
}

#[test]
fn two_peers_joined_by_pipes_talk_and_the_offerer_hangs_up() {
    run_pair(true);
}

#[test]
fn two_peers_joined_by_pipes_talk_and_the_answerer_hangs_up() {
    run_pair(false);
}

#[test]
fn bad_lines_are_refused_on_stderr_and_a_bye_before_the_answer_is_a_decline() {
    let mut offerer = peer(&["--offer", "--json"]);
    let mut stdin = offerer.stdin.take().unwrap();
    let out = BufReader::new(offerer.stdout.take().unwrap());
    let reader = std::thread::spawn(move || out.lines().map_while(Result::ok).collect::<Vec<_>>());
    for line in [
        "not json",
        r#"{"type":"pranswer","sdp":"x"}"#,
        r#"{"type":"answer","sdp":"v=0\r\nthis is no answer"}"#,
        r#"{"type":"candidate","candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host","sdpMid":"zz"}"#,
    ] {
        writeln!(stdin, "{line}").unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    writeln!(stdin, r#"{{"type":"bye"}}"#).unwrap();
    let (r, status, stderr) = report(offerer, Duration::from_secs(20));
    for n in 1..=4 {
        assert!(
            stderr.contains(&format!("stdin line {n}: refused")),
            "line {n} not refused:\n{stderr}"
        );
    }
    assert!(
        stderr.contains("m-line the session does not have"),
        "{stderr}"
    );
    assert_eq!(r["end_reason"]["reason"], "declined", "{r:#}");
    assert_eq!(r["ok"], false);
    assert_eq!(status.code(), Some(3));
    let lines = reader.join().unwrap();
    assert!(lines[0].contains(r#""type":"offer""#), "{lines:?}");
}
