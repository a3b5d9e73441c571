//! Quality verdicts in virtual time, from real engines over the simulated network: a network
//! that degrades and recovers gives `poor` then `good`, each once, with the right cause; heavy
//! loss brings the corrective action and the verdict says which; a starved audio thread is
//! reported as `cpu`, not blamed on the network.

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

use std::time::Duration;

use ringwire_core::{QualityAction, QualityCause, QualityChange, Report, Verdict};
use ringwire_proto::CallId;
use ringwire_sim::{scenario, Dev, LinkConfig, Loss, World};

const CLEAN_MS: u64 = 30;

fn clean() -> LinkConfig {
    LinkConfig::with_delay(Duration::from_millis(CLEAN_MS))
}

fn active_call(seed: u64) -> (World, Dev, Dev, CallId) {
    let (mut w, a, b, call) = scenario::ringing_call(seed, clean(), 440.0, 880.0);
    scenario::answer(&mut w, a, b, call, Duration::from_millis(300));
    (w, a, b, call)
}

fn verdicts(w: &World, dev: Dev, call: CallId) -> Vec<QualityChange> {
    w.device(dev)
        .reports
        .iter()
        .filter_map(|(_, r)| match r {
            Report::QualityChanged { call_id, verdict } if *call_id == call => Some(*verdict),
            _ => None,
        })
        .collect()
}

fn levels(v: &[QualityChange]) -> Vec<Verdict> {
    v.iter().map(|v| v.verdict).collect()
}

#[test]
fn a_network_that_degrades_and_recovers_gives_poor_then_good_once_each() {
    let (mut w, a, b, call) = active_call(31);
    w.run_for(Duration::from_secs(6));
    assert!(
        verdicts(&w, b, call).is_empty(),
        "a clean call says nothing"
    );
    // Two seconds of bad network: not enough to flap the UI.
    w.net.set_default_link(clean().loss(Loss::Random(0.3)));
    w.run_for(Duration::from_secs(2));
    w.net.set_default_link(clean());
    w.run_for(Duration::from_secs(8));
    assert!(
        verdicts(&w, b, call).is_empty(),
        "{:?}",
        verdicts(&w, b, call)
    );
    // Twelve seconds of heavy loss (not enough to call the path dying), then clean again.
    w.net.set_default_link(clean().loss(Loss::Random(0.18)));
    w.run_for(Duration::from_secs(12));
    w.net.set_default_link(clean());
    w.run_for(Duration::from_secs(14));
    for dev in [a, b] {
        let seen = verdicts(&w, dev, call);
        assert_eq!(levels(&seen), [Verdict::Poor, Verdict::Good], "{seen:?}");
        assert_eq!(seen[0].cause, Some(QualityCause::NetworkLoss), "{seen:?}");
        assert!(seen[0].figures.loss_pct >= 10.0, "{seen:?}");
        assert_eq!(seen[1].cause, None);
    }
}

#[test]
fn heavy_loss_brings_the_corrective_action_and_a_dying_path_an_ice_restart() {
    let (mut w, a, _b, call) = active_call(32);
    w.run_for(Duration::from_secs(4));
    w.net.set_default_link(clean().loss(Loss::Random(0.25)));
    w.run_for(Duration::from_secs(16));
    let seen = verdicts(&w, a, call);
    let poor = seen
        .iter()
        .find(|v| v.verdict == Verdict::Poor)
        .unwrap_or_else(|| panic!("no poor verdict: {seen:?}"));
    assert_eq!(poor.cause, Some(QualityCause::NetworkLoss));
    assert!(
        matches!(
            poor.action,
            Some(QualityAction::AddedRedundancy | QualityAction::LoweredBitrate)
        ),
        "{poor:?}"
    );
    // Then the path dies (most packets lost): ICE is restarted, once, and the verdict says so.
    w.net.set_default_link(clean().loss(Loss::Random(0.6)));
    w.run_for(Duration::from_secs(14));
    let seen = verdicts(&w, a, call);
    let restarts = seen
        .iter()
        .filter(|v| v.action == Some(QualityAction::RestartedIce))
        .count();
    assert_eq!(restarts, 1, "{seen:?}");
}

#[test]
fn a_starved_audio_thread_is_cpu_not_network() {
    let (mut w, _a, b, call) = active_call(33);
    w.run_for(Duration::from_secs(4));
    w.starve_audio(b, 3);
    w.run_for(Duration::from_secs(10));
    let seen = verdicts(&w, b, call);
    assert_eq!(levels(&seen), [Verdict::Poor], "{seen:?}");
    assert_eq!(seen[0].cause, Some(QualityCause::Cpu), "{seen:?}");
    assert!(seen[0].figures.missed_ticks_pct >= 10.0, "{seen:?}");
    w.starve_audio(b, 0);
    w.run_for(Duration::from_secs(10));
    assert_eq!(
        levels(&verdicts(&w, b, call)),
        [Verdict::Poor, Verdict::Good]
    );
}
