//! The app-state rule: signaling offline when an idle app leaves the foreground, back when it
//! returns or a call needs it; calls in progress never touched.

use ringwire_proto::{ClientMessage, ServerMessage};

use super::{call, device, ended, Fixture, SERVER_T0};
use crate::agent::{AppState, Command, SignalingWanted};
use crate::report::Report;
use crate::CallState;

impl Fixture {
    fn app(&mut self, ms: u64, state: AppState) {
        self.agent
            .handle_command(self.at(ms), Command::AppState(state))
            .unwrap();
    }

    /// The `Output::Signaling`s since the last call.
    fn signaling_changes(&mut self) -> Vec<SignalingWanted> {
        self.outputs();
        std::mem::take(&mut self.signaling)
    }
}

fn push_payload(call_n: u8, deadline_ms: u64) -> Vec<u8> {
    format!(
        r#"{{"ringwire":1,"kind":"invite","call_id":"{}","from_user":"caller","from_device":"{}","ring_deadline_ms":{}}}"#,
        call(call_n),
        device(9),
        SERVER_T0 + deadline_ms
    )
    .into_bytes()
}

#[test]
fn leaving_the_foreground_with_no_call_takes_signaling_offline() {
    for state in [AppState::Background, AppState::Locked, AppState::Suspended] {
        let mut f = Fixture::new();
        assert_eq!(f.agent.signaling_wanted(), SignalingWanted::Online);
        f.app(1, state);
        assert_eq!(
            f.signaling_changes(),
            vec![SignalingWanted::Offline],
            "{state:?}"
        );
        assert_eq!(f.agent.app_state(), state);
        // Said once: moving between the idle states says nothing more.
        f.app(2, AppState::Suspended);
        f.app(3, AppState::Background);
        assert!(f.signaling_changes().is_empty(), "{state:?}");
    }
}

#[test]
fn coming_back_to_the_foreground_brings_signaling_online() {
    let mut f = Fixture::new();
    f.app(1, AppState::Background);
    assert_eq!(f.signaling_changes(), vec![SignalingWanted::Offline]);
    f.app(2, AppState::Foreground);
    assert_eq!(f.signaling_changes(), vec![SignalingWanted::Online]);
    assert_eq!(f.agent.signaling_wanted(), SignalingWanted::Online);
    f.app(3, AppState::Foreground);
    assert!(f.signaling_changes().is_empty());
}

#[test]
fn a_call_in_progress_is_untouched_by_the_app_state() {
    // Ringing (incoming), dialing (outgoing), and active each keep signaling up and the call
    // as it was, through every state.
    let mut f = Fixture::new();
    f.incoming(1, call(5), 45_000);
    let id = f.agent.start_call(f.at(2), "bob".parse().unwrap()).unwrap();
    f.outputs();
    f.signaling.clear();
    for (ms, state) in [
        (3, AppState::Locked),
        (4, AppState::Suspended),
        (5, AppState::Background),
    ] {
        f.app(ms, state);
        let (signals, reports) = f.outputs();
        assert!(signals.is_empty(), "{state:?}: {signals:?}");
        assert!(reports.is_empty(), "{state:?}: {reports:?}");
        assert!(f.signaling.is_empty(), "{state:?}");
        assert_eq!(f.agent.call_state(call(5)), Some(CallState::Ringing));
        assert_eq!(f.agent.call_state(id), Some(CallState::Dialing));
    }
    // Answered while suspended (from the lock screen): still nothing about signaling.
    f.agent
        .handle_command(f.at(6), Command::Answer { call_id: call(5) })
        .unwrap();
    let (signals, _) = f.outputs();
    assert!(signals.contains(&ClientMessage::Accept { call_id: call(5) }));
    assert!(f.signaling.is_empty());
    assert!(f.agent.call_state(call(5)).unwrap().is_answered());
}

#[test]
fn a_push_while_backgrounded_brings_signaling_online_for_its_call() {
    let mut f = Fixture::new();
    f.app(1, AppState::Background);
    f.agent
        .handle_command(f.at(1), Command::SignalingDown)
        .unwrap();
    assert_eq!(f.signaling_changes(), vec![SignalingWanted::Offline]);
    let pushed = f
        .agent
        .handle_push(f.at(2), SERVER_T0 + 2, &push_payload(5, 45_000))
        .unwrap();
    assert!(!pushed.already_known);
    assert_eq!(f.signaling_changes(), vec![SignalingWanted::Online]);
    assert_eq!(f.agent.call_state(call(5)), Some(CallState::Ringing));
    assert_eq!(f.agent.known_calls(), vec![call(5)], "hello will name it");
}

#[test]
fn a_late_push_in_the_background_does_not_bring_signaling_up() {
    let mut f = Fixture::new();
    f.app(1, AppState::Locked);
    assert_eq!(f.signaling_changes(), vec![SignalingWanted::Offline]);
    // The ring deadline passed before the push arrived: reported and ended at once.
    f.agent
        .handle_push(f.at(2), SERVER_T0 + 50_000, &push_payload(5, 45_000))
        .unwrap();
    let (_, reports) = f.outputs();
    assert!(ended(&reports).is_some());
    assert!(f.signaling.is_empty());
}

#[test]
fn the_last_call_ending_in_the_background_takes_signaling_offline_after_its_hangup() {
    let mut f = Fixture::new();
    f.incoming(1, call(5), 45_000);
    f.incoming(1, call(6), 45_000);
    f.app(2, AppState::Suspended);
    assert!(f.signaling_changes().is_empty());
    // One call ends (the far end cancelled): the other still needs signaling.
    f.agent.handle_signal(
        f.at(3),
        ServerMessage::Ended {
            call_id: call(6),
            reason: ringwire_proto::EndReason::Cancelled,
            device_id: Some(device(9)),
            replaced_by: None,
        },
    );
    assert!(f.signaling_changes().is_empty());
    // The user declines the last one from the lock screen: the decline goes out first, then
    // signaling goes offline.
    f.agent
        .handle_command(f.at(4), Command::End { call_id: call(5) })
        .unwrap();
    let mut order = Vec::new();
    loop {
        match f.agent.poll_output() {
            crate::Output::Signal(m) => order.push(format!("signal {}", m.type_name())),
            crate::Output::Report(Report::Ended { .. }) => order.push("ended".into()),
            crate::Output::Signaling(w) => order.push(format!("{w:?}")),
            crate::Output::Timeout(_) => break,
            _ => {}
        }
    }
    assert_eq!(order, ["signal decline", "ended", "Offline"]);
    // Foreground again: back online.
    f.app(5, AppState::Foreground);
    assert_eq!(f.signaling_changes(), vec![SignalingWanted::Online]);
}

#[test]
fn a_call_placed_from_the_background_brings_signaling_online() {
    let mut f = Fixture::new();
    f.app(1, AppState::Background);
    assert_eq!(f.signaling_changes(), vec![SignalingWanted::Offline]);
    let id = f.agent.start_call(f.at(2), "bob".parse().unwrap()).unwrap();
    let (signals, _) = f.outputs();
    assert!(matches!(&signals[..], [ClientMessage::Invite(i)] if i.call_id == id));
    assert_eq!(
        std::mem::take(&mut f.signaling),
        vec![SignalingWanted::Online]
    );
}
