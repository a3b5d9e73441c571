//! The agent's reactions to single inputs, with the server's messages written out by hand.
//! Whole flows against the real router and a simulated network live in `crates/sim`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ringwire_proto::{
    CallId, ClientMessage, DeviceId, EndReason, ErrorCode, ErrorMessage, Incoming, ServerMessage,
    Welcome,
};

use super::{Agent, AgentConfig, Command, Output, SignalingWanted};
use crate::report::{CallEndReason, CallKitEndReason, Report};
use crate::{CallState, CoreError};

const SERVER_T0: u64 = 1_700_000_000_000;

fn addr() -> SocketAddr {
    "127.0.0.1:40000".parse().unwrap()
}

fn device(n: u8) -> DeviceId {
    DeviceId::from_bytes([n; 16])
}

fn call(n: u8) -> CallId {
    CallId::from_bytes([n; 16])
}

mod app_state;
mod peer_mode;

struct Fixture {
    agent: Agent,
    t0: Instant,
    /// Every `Output::Signaling` seen, in order.
    signaling: Vec<SignalingWanted>,
}

impl Fixture {
    fn new() -> Fixture {
        let t0 = Instant::now();
        let mut config = AgentConfig::new([addr()]);
        config.call_id_seed = Some(7);
        let mut agent = Agent::new(config, t0).unwrap();
        agent.handle_signal(
            t0,
            ServerMessage::Welcome(Welcome {
                version: 1,
                user: "me".parse().unwrap(),
                display_name: None,
                device_id: device(1),
                server_time_ms: SERVER_T0,
                ring_timeout_ms: 45_000,
                ice_servers: Vec::new(),
                ice_expires_ms: None,
            }),
        );
        let mut f = Fixture {
            agent,
            t0,
            signaling: Vec::new(),
        };
        f.outputs();
        f
    }

    fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    /// Signals and reports produced so far (transmits are dropped: no network here).
    fn outputs(&mut self) -> (Vec<ClientMessage>, Vec<Report>) {
        let (mut signals, mut reports) = (Vec::new(), Vec::new());
        loop {
            match self.agent.poll_output() {
                Output::Signal(m) => signals.push(m),
                Output::Report(r) => reports.push(r),
                Output::Transmit { .. }
                | Output::PeerSignal { .. }
                | Output::StreamConnect { .. }
                | Output::StreamSend { .. }
                | Output::StreamClose { .. } => {}
                Output::Signaling(wanted) => self.signaling.push(wanted),
                Output::Timeout(_) => return (signals, reports),
            }
        }
    }

    fn incoming(&mut self, ms: u64, id: CallId, deadline_ms: u64) {
        self.agent.handle_signal(
            self.at(ms),
            ServerMessage::Incoming(Incoming {
                call_id: id,
                from_user: "caller".parse().unwrap(),
                from_display_name: None,
                from_device: device(9),
                ring_deadline_ms: SERVER_T0 + deadline_ms,
                replayed: false,
            }),
        );
    }
}

fn ended(reports: &[Report]) -> Option<(&CallEndReason, bool, Option<CallKitEndReason>)> {
    reports.iter().find_map(|r| match r {
        Report::Ended {
            reason,
            ended_locally,
            callkit,
            ..
        } => Some((reason, *ended_locally, *callkit)),
        _ => None,
    })
}

#[test]
fn outgoing_call_invites_then_rings_once() {
    let mut f = Fixture::new();
    let id = f.agent.start_call(f.at(1), "bob".parse().unwrap()).unwrap();
    let (signals, reports) = f.outputs();
    assert!(matches!(&signals[..], [ClientMessage::Invite(i)] if i.call_id == id));
    assert!(matches!(&reports[..], [Report::OutgoingStarted { call_id, .. }] if *call_id == id));
    assert_eq!(f.agent.call_state(id), Some(CallState::Dialing));

    f.agent.handle_signal(
        f.at(5),
        ServerMessage::Calling {
            call_id: id,
            to_user: "bob".parse().unwrap(),
            devices_online: 2,
            devices_offline: 0,
            ring_deadline_ms: SERVER_T0 + 45_000,
        },
    );
    assert_eq!(f.agent.call_state(id), Some(CallState::Ringing));
    for n in [2, 3] {
        f.agent.handle_signal(
            f.at(10),
            ServerMessage::Ringing {
                call_id: id,
                device_id: device(n),
            },
        );
    }
    let (_, reports) = f.outputs();
    assert_eq!(
        reports
            .iter()
            .filter(|r| matches!(r, Report::RemoteRinging { .. }))
            .count(),
        1,
        "ringback starts once, whatever the number of ringing devices"
    );
    assert_eq!(f.agent.known_calls(), vec![id]);
}

#[test]
fn call_ids_are_distinct_and_follow_the_seed() {
    let mut f = Fixture::new();
    let a = f.agent.start_call(f.at(1), "bob".parse().unwrap()).unwrap();
    let b = f
        .agent
        .start_call(f.at(2), "carol".parse().unwrap())
        .unwrap();
    assert_ne!(a, b);
    let mut g = Fixture::new();
    assert_eq!(
        g.agent.start_call(g.at(1), "bob".parse().unwrap()).unwrap(),
        a
    );
}

#[test]
fn incoming_call_reports_rings_and_preconnects_with_an_offer() {
    let mut f = Fixture::new();
    f.incoming(1, call(5), 45_000);
    let (signals, reports) = f.outputs();
    assert!(matches!(&reports[..], [Report::IncomingCall { call_id, .. }] if *call_id == call(5)));
    assert!(matches!(signals[0], ClientMessage::Ringing { call_id } if call_id == call(5)));
    assert!(
        matches!(&signals[1], ClientMessage::Offer { to_device, sdp, .. }
            if *to_device == device(9) && sdp.as_str().contains("m=audio")),
        "{signals:?}"
    );
    // A replay of the same call changes nothing (our offer is still pending).
    f.incoming(2, call(5), 45_000);
    let (_, reports) = f.outputs();
    assert!(reports.is_empty(), "{reports:?}");
}

#[test]
fn a_device_in_an_answered_call_answers_busy() {
    let mut f = Fixture::new();
    f.incoming(1, call(5), 45_000);
    f.agent
        .handle_command(f.at(2), Command::Answer { call_id: call(5) })
        .unwrap();
    f.outputs();
    f.incoming(3, call(6), 45_000);
    let (signals, reports) = f.outputs();
    assert!(matches!(&signals[..], [ClientMessage::Busy { call_id }] if *call_id == call(6)));
    assert!(
        reports.is_empty(),
        "the second call is never shown: {reports:?}"
    );
}

#[test]
fn commands_that_do_not_fit_are_refused_and_change_nothing() {
    let mut f = Fixture::new();
    let id = f.agent.start_call(f.at(1), "bob".parse().unwrap()).unwrap();
    f.outputs();
    let err = f
        .agent
        .handle_command(f.at(2), Command::Answer { call_id: id })
        .unwrap_err();
    assert!(
        matches!(
            err,
            CoreError::CallState {
                command: "answer",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("only a ringing incoming call"));
    let err = f
        .agent
        .handle_command(f.at(2), Command::End { call_id: call(77) })
        .unwrap_err();
    assert!(matches!(err, CoreError::UnknownCall { .. }));
    let err = f
        .agent
        .handle_command(
            f.at(2),
            Command::SetHeld {
                call_id: id,
                held: true,
            },
        )
        .unwrap_err();
    assert!(matches!(
        err,
        CoreError::CallState {
            command: "hold",
            ..
        }
    ));
    assert_eq!(f.agent.call_state(id), Some(CallState::Dialing));
    let (signals, _) = f.outputs();
    assert!(signals.is_empty());
}

#[test]
fn ending_picks_cancel_decline_or_hangup_by_state() {
    let mut f = Fixture::new();
    let out = f.agent.start_call(f.at(1), "bob".parse().unwrap()).unwrap();
    f.incoming(2, call(5), 45_000);
    f.incoming(3, call(6), 45_000);
    f.agent
        .handle_command(f.at(4), Command::Answer { call_id: call(6) })
        .unwrap();
    f.outputs();
    let mut ends = Vec::new();
    for id in [out, call(5), call(6)] {
        f.agent
            .handle_command(f.at(5), Command::End { call_id: id })
            .unwrap();
        let (signals, reports) = f.outputs();
        let (reason, local, callkit) = ended(&reports).unwrap();
        assert!(local);
        assert_eq!(
            callkit, None,
            "the user's own end is not reported back to CallKit"
        );
        // The answered call never had media (no network here): it ends as media_failed,
        // with the hangup that ended it.
        let protocol = match reason {
            CallEndReason::MediaFailed { ended_by, .. } => {
                assert_eq!(id, call(6), "only the answered call had no media to fail");
                ended_by.unwrap()
            }
            other => other.as_protocol().unwrap(),
        };
        ends.push((signals.last().unwrap().type_name(), protocol));
    }
    assert_eq!(
        ends,
        vec![
            ("cancel", EndReason::Cancelled),
            ("decline", EndReason::Declined),
            ("hangup", EndReason::Hangup)
        ]
    );
    assert!(f.agent.known_calls().is_empty());
}

#[test]
fn server_end_reasons_reach_the_app_with_callkit_reasons() {
    let mut f = Fixture::new();
    f.incoming(1, call(5), 45_000);
    f.outputs();
    f.agent.handle_signal(
        f.at(2),
        ServerMessage::ended(call(5), EndReason::AnsweredElsewhere),
    );
    let (_, reports) = f.outputs();
    let (reason, local, callkit) = ended(&reports).unwrap();
    assert_eq!(reason.as_protocol(), Some(EndReason::AnsweredElsewhere));
    assert!(!local);
    assert_eq!(callkit, Some(CallKitEndReason::AnsweredElsewhere));
    // A late duplicate is dropped.
    f.agent
        .handle_signal(f.at(3), ServerMessage::ended(call(5), EndReason::Hangup));
    assert!(f.outputs().1.is_empty());
}

#[test]
fn a_refused_invite_ends_the_call_as_failed_with_the_code() {
    let mut f = Fixture::new();
    let id = f
        .agent
        .start_call(f.at(1), "nobody".parse().unwrap())
        .unwrap();
    f.outputs();
    f.agent.handle_signal(
        f.at(2),
        ServerMessage::Error(
            ErrorMessage::new(ErrorCode::UserNotFound, "no user nobody")
                .with_call(Some(id))
                .with_ref_type("invite"),
        ),
    );
    let (_, reports) = f.outputs();
    let (reason, _, callkit) = ended(&reports).unwrap();
    assert!(matches!(
        reason,
        CallEndReason::Failed {
            code: Some(ErrorCode::UserNotFound),
            ..
        }
    ));
    assert_eq!(callkit, Some(CallKitEndReason::Failed));
}

#[test]
fn a_ringing_call_ends_itself_when_the_server_stays_silent_past_the_deadline() {
    let mut f = Fixture::new();
    f.incoming(1, call(5), 10_000);
    f.agent
        .handle_command(f.at(2), Command::SignalingDown)
        .unwrap();
    f.outputs();
    // Deadline 10 s + grace 5 s: still ringing just before, over just after.
    f.agent.handle_timeout(f.at(14_900));
    assert_eq!(f.agent.call_state(call(5)), Some(CallState::Ringing));
    match f.agent.poll_output() {
        Output::Timeout(_) => {}
        other => panic!("unexpected {other:?}"),
    }
    f.agent.handle_timeout(f.at(15_001));
    let (_, reports) = f.outputs();
    let (reason, local, callkit) = ended(&reports).unwrap();
    assert_eq!(reason.as_protocol(), Some(EndReason::NoAnswer));
    assert!(!local);
    assert_eq!(callkit, Some(CallKitEndReason::Unanswered));
}

#[test]
fn hello_errors_end_calls_the_server_no_longer_knows() {
    let mut f = Fixture::new();
    f.incoming(1, call(5), 45_000);
    f.outputs();
    f.agent.handle_signal(
        f.at(2),
        ServerMessage::Error(
            ErrorMessage::new(ErrorCode::UnknownCall, "no such call")
                .with_call(Some(call(5)))
                .with_ref_type("hello"),
        ),
    );
    assert!(ended(&f.outputs().1).is_some());
    // An invalid_state for an action does not end anything.
    f.incoming(3, call(6), 45_000);
    f.outputs();
    f.agent.handle_signal(
        f.at(4),
        ServerMessage::Error(
            ErrorMessage::new(ErrorCode::InvalidState, "nope")
                .with_call(Some(call(6)))
                .with_ref_type("accept"),
        ),
    );
    assert_eq!(f.agent.call_state(call(6)), Some(CallState::Ringing));
}

#[test]
fn the_latest_ice_servers_are_kept() {
    use ringwire_proto::{IceServer, IceServers};
    let mut f = Fixture::new();
    assert!(f.agent.ice_servers().is_empty(), "welcome had none");
    let turn = |user: &str| {
        IceServer::new(
            vec!["turn:198.18.0.1:3478?transport=udp".parse().unwrap()],
            Some(user.to_owned()),
            Some("cGFzc3dvcmQ=".to_owned()),
        )
        .unwrap()
    };
    f.agent.handle_signal(
        f.at(10),
        ServerMessage::IceServers(IceServers {
            ice_servers: vec![turn("1:a")],
            ice_expires_ms: Some(SERVER_T0 + 3_600_000),
        }),
    );
    assert_eq!(f.agent.ice_servers()[0].username(), Some("1:a"));
    f.agent
        .handle_command(f.at(20), Command::SignalingDown)
        .unwrap();
    assert_eq!(f.agent.ice_servers().len(), 1, "kept through an outage");
    f.agent.handle_signal(
        f.at(30),
        ServerMessage::Welcome(Welcome {
            version: 1,
            user: "me".parse().unwrap(),
            display_name: None,
            device_id: device(1),
            server_time_ms: SERVER_T0 + 30,
            ring_timeout_ms: 45_000,
            ice_servers: vec![turn("2:a")],
            ice_expires_ms: Some(SERVER_T0 + 7_200_000),
        }),
    );
    assert_eq!(f.agent.ice_servers()[0].username(), Some("2:a"));
}

#[test]
fn invite_and_ringing_go_out_before_anything_gathering_sends() {
    // With a STUN server configured, gathering starts with the call; its datagrams must queue
    // behind the invite (caller) and behind `ringing` (callee), never ahead of them.
    let stun = crate::gather::IceServer {
        url: ringwire_turn::IceServerUrl::parse("stun:198.18.0.1:3478").unwrap(),
        addr: "198.18.0.1:3478".parse().unwrap(),
        credentials: None,
    };
    let mut f = Fixture::new();
    f.agent.set_ice_servers(f.at(0), vec![stun]);
    let _ = f.outputs();
    let first_signal_and_transmit = |f: &mut Fixture| {
        let (mut signal, mut transmit) = (None, None);
        for i in 0.. {
            match f.agent.poll_output() {
                Output::Signal(m) => {
                    signal.get_or_insert((i, m));
                }
                Output::Transmit { .. } => {
                    transmit.get_or_insert(i);
                }
                Output::Timeout(_) => break,
                _ => {}
            }
        }
        (signal, transmit)
    };
    f.agent.start_call(f.at(1), "bob".parse().unwrap()).unwrap();
    let (signal, transmit) = first_signal_and_transmit(&mut f);
    let (at, message) = signal.expect("an invite");
    assert!(matches!(message, ClientMessage::Invite(_)), "{message:?}");
    assert!(
        at < transmit.expect("a STUN binding request"),
        "the invite went out first"
    );

    f.incoming(2, call(7), 45_000);
    let (signal, transmit) = first_signal_and_transmit(&mut f);
    let (at, message) = signal.expect("ringing");
    assert!(
        matches!(message, ClientMessage::Ringing { .. }),
        "{message:?}"
    );
    assert!(
        at < transmit.expect("a STUN binding request"),
        "ringing went out first"
    );
}
