//! The native softphone end to end, as a newcomer runs it: real server, real WebSockets, real
//! UDP on loopback, real DTLS-SRTP and Opus. `ringwire demo --json` must pass every one of its
//! own checks, and the two-process flow (`ringwire serve`, `ringwire answer`, `ringwire call`)
//! must carry a tone each way and agree on how the call ended.

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ringwire"));
    c.env_remove("RINGWIRE_CONFIG")
        .env_remove("RINGWIRE_TOKEN")
        .env_remove("RINGWIRE_SERVER");
    c
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn demo_passes_all_its_checks() {
    let out = bin().args(["demo", "--json"]).output().unwrap();
    let report = json(&out);
    assert_eq!(report["ok"], true, "{report:#}");
    assert!(out.status.success());
    // The scenario's facts, asserted here too so a broken check inside the demo cannot hide them.
    let caller = report["caller_heard_hz"].as_f64().unwrap();
    let callee = report["callee_heard_hz"].as_f64().unwrap();
    assert!((caller - 880.0).abs() < 15.0, "caller heard {caller} Hz");
    assert!((callee - 440.0).abs() < 15.0, "callee heard {callee} Hz");
    assert_eq!(report["other_device_end_reason"], "answered_elsewhere");
    assert_eq!(report["caller_end_reason"], "hangup");
    assert_eq!(report["callee_end_reason"], "hangup");
    assert_eq!(report["call_record"]["end_reason"], "hangup");
    assert_eq!(report["call_record"]["devices_reached"], 2);
    assert!(report["invite_to_ringing_ms"].as_f64().unwrap() >= 0.0);
    assert!(report["accept_to_first_audio_ms"].as_f64().unwrap() > 0.0);
}

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn admin(dir: &Path, args: &[&str]) -> serde_json::Value {
    let out = bin().args(args).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    json(&out)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn call_and_answer_between_two_processes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    admin(d, &["user", "add", "carol", "--json"]);
    let carol = admin(d, &["device", "add", "carol", "--json"])["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let server_url = format!("http://{listen}");
    let mut serve = Serve(
        bin()
            .args(["serve", "--listen", &listen])
            .current_dir(d)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(&listen).is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let _stderr = BufReader::new(serve.0.stderr.take().unwrap()).lines();
    // Dave and his device are added while the server runs, against its data directory (SQLite
    // in WAL mode): the server reads devices from the store on every connect and invite.
    admin(d, &["user", "add", "dave", "--json"]);
    let dave = admin(d, &["device", "add", "dave", "--json"])["token"]
        .as_str()
        .unwrap()
        .to_owned();

    let dave_wav = d.join("dave.wav");
    let carol_wav = d.join("carol.wav");
    let mut answer = bin()
        .args(["answer", "--server", &server_url, "--token", &dave])
        .args([
            "--tone",
            "660",
            "--record",
            dave_wav.to_str().unwrap(),
            "--json",
        ])
        .args(["--accept-after", "300"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Dave must be connected before Carol calls, or the call rings an offline device: wait for
    // `answer`'s readiness event (stderr, one JSON object per line with --json) instead of
    // guessing with a sleep. The rest of its stderr is drained so it never blocks on a pipe.
    let mut answer_err = BufReader::new(answer.stderr.take().unwrap()).lines();
    let ready = loop {
        let line = answer_err
            .next()
            .expect("answer exited before it was ready")
            .unwrap();
        match serde_json::from_str::<serde_json::Value>(&line) {
            Ok(event) if event["event"] == "ready" => break event,
            _ => {}
        }
    };
    assert_eq!(ready["user"], "dave", "{ready}");
    assert_eq!(ready["device_id"].as_str().unwrap().len(), 32, "{ready}");
    let answer_err = std::thread::spawn(move || answer_err.map_while(Result::ok).count());
    let call = bin()
        .args(["call", "dave", "--server", &server_url, "--token", &carol])
        .args([
            "--tone",
            "330",
            "--record",
            carol_wav.to_str().unwrap(),
            "--json",
        ])
        .args(["--duration", "2"])
        .output()
        .unwrap();
    let answer = answer.wait_with_output().unwrap();
    answer_err.join().unwrap();
    let caller = json(&call);
    let callee = json(&answer);
    assert!(call.status.success(), "{caller:#}");
    assert!(answer.status.success(), "{callee:#}");
    assert_eq!(caller["ok"], true);
    assert_eq!(caller["direction"], "outgoing");
    assert_eq!(callee["direction"], "incoming");
    assert_eq!(caller["end_reason"]["reason"], "hangup");
    assert_eq!(caller["ended_locally"], true);
    assert_eq!(callee["end_reason"]["reason"], "hangup");
    assert_eq!(callee["ended_locally"], false);
    assert_eq!(callee["callkit_end_reason"], "remoteEnded");
    assert!(caller["invite_to_ringing_ms"].as_f64().unwrap() > 0.0);
    assert!(
        callee.get("invite_to_ringing_ms").is_none(),
        "an incoming call has no invite-to-ringing time: {callee:#}"
    );
    let heard = |v: &serde_json::Value| v["heard_hz"].as_f64().unwrap();
    assert!((heard(&caller) - 660.0).abs() < 15.0, "{caller:#}");
    assert!((heard(&callee) - 330.0).abs() < 15.0, "{callee:#}");
    assert!(
        caller["frames"]["decoded"].as_u64().unwrap() > 50,
        "{caller:#}"
    );
    assert_eq!(
        caller["preconnected"], true,
        "media pre-connected while ringing"
    );
}
