//! Peer mode between two real devices: their offers, answers, candidates and `bye`s go through
//! a queue standing in for the app's channel (delivered in order, or held back to play a
//! channel that reorders), their datagrams straight to each other, in virtual time. Also what
//! a hostile or confused peer sends.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ringwire_proto::{decode_peer_signal, CallId, Candidate, EndReason, PeerSignal, Sdp};

use crate::device::{AudioSessionPolicy, Device, Output};
use crate::report::{CallEndReason, Report};
use crate::session::ClientSession;
use crate::{Agent, AgentConfig, CallState, Command, CoreError};

fn local(n: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 41000 + n))
}

/// Two devices joined by a channel for peer signals and a lossless 5 ms link for datagrams.
struct Pair {
    /// Each agent in a [`Device`] with no server, applying the desktop audio-session rule.
    devices: [Device<Option<ClientSession>>; 2],
    now: Instant,
    /// Signals in flight: (due, to side, call, signal).
    channel: VecDeque<(Instant, usize, CallId, PeerSignal)>,
    datagrams: VecDeque<(Instant, SocketAddr, SocketAddr, Vec<u8>)>,
    reports: [Vec<Report>; 2],
    sent: [Vec<PeerSignal>; 2],
    timeouts: [Instant; 2],
    /// Hold every candidate this long before delivering it (a channel that reorders).
    candidate_delay: Duration,
}

impl Pair {
    fn new() -> Pair {
        let now = Instant::now();
        let device = |n: u16| {
            let mut config = AgentConfig::new([local(n)]);
            config.call_id_seed = Some(u64::from(n));
            let agent = Agent::new(config, now).unwrap();
            Device::new(agent, None, AudioSessionPolicy::Desktop, now)
        };
        Pair {
            devices: [device(0), device(1)],
            now,
            channel: VecDeque::new(),
            datagrams: VecDeque::new(),
            reports: [Vec::new(), Vec::new()],
            sent: [Vec::new(), Vec::new()],
            timeouts: [now, now],
            candidate_delay: Duration::ZERO,
        }
    }

    fn side_of(addr: SocketAddr) -> usize {
        usize::from(addr.port() - 41000)
    }

    fn outputs(&mut self, side: usize) {
        loop {
            match self.devices[side].poll_output() {
                Output::Transmit {
                    source,
                    destination,
                    contents,
                } => self.datagrams.push_back((
                    self.now + Duration::from_millis(5),
                    source,
                    destination,
                    contents,
                )),
                Output::PeerSignal { call_id, signal } => {
                    let delay = match signal {
                        PeerSignal::Candidate(_) => self.candidate_delay,
                        _ => Duration::from_millis(20),
                    };
                    self.sent[side].push(signal.clone());
                    self.channel
                        .push_back((self.now + delay, 1 - side, call_id, signal));
                }
                Output::Report(report) => self.reports[side].push(report),
                Output::Timeout(at) => {
                    self.timeouts[side] = at;
                    return;
                }
                _ => {}
            }
        }
    }

    /// Runs `ms` of virtual time in 1 ms steps.
    fn run(&mut self, ms: u64) {
        for _ in 0..ms {
            self.now += Duration::from_millis(1);
            let now = self.now;
            let mut later = VecDeque::new();
            while let Some((due, to, call_id, signal)) = self.channel.pop_front() {
                if due > now {
                    later.push_back((due, to, call_id, signal));
                    continue;
                }
                // A well-behaved app: an error is logged, never fatal to the channel.
                let _ = self.devices[to]
                    .agent_mut()
                    .handle_peer_signal(now, call_id, signal);
                self.outputs(to);
            }
            self.channel = later;
            while self.datagrams.front().is_some_and(|d| d.0 <= now) {
                let (_, source, destination, contents) = self.datagrams.pop_front().unwrap();
                let side = Pair::side_of(destination);
                self.devices[side]
                    .agent_mut()
                    .handle_receive(now, source, destination, &contents);
                self.outputs(side);
            }
            for side in 0..2 {
                if self.timeouts[side] <= now {
                    self.devices[side].agent_mut().handle_timeout(now);
                    self.outputs(side);
                }
            }
        }
    }

    fn feed(&mut self, side: usize, call_id: CallId, signal: PeerSignal) -> Result<(), CoreError> {
        let result = self.devices[side]
            .agent_mut()
            .handle_peer_signal(self.now, call_id, signal);
        self.outputs(side);
        result
    }

    fn ended(&self, side: usize) -> Option<(&CallEndReason, bool)> {
        self.reports[side].iter().find_map(|r| match r {
            Report::Ended {
                reason,
                ended_locally,
                ..
            } => Some((reason, *ended_locally)),
            _ => None,
        })
    }

    fn incoming(&self, side: usize) -> Option<CallId> {
        self.reports[side].iter().find_map(|r| match r {
            Report::IncomingCall { call_id, .. } => Some(*call_id),
            _ => None,
        })
    }
}

#[test]
fn a_call_connects_and_ends_over_the_apps_channel() {
    let mut p = Pair::new();
    let id = p.devices[0]
        .agent_mut()
        .start_peer_call(p.now, "bob".parse().unwrap(), None)
        .unwrap();
    p.outputs(0);
    assert!(matches!(p.sent[0][..], [PeerSignal::Offer { .. }]));
    assert_eq!(
        p.devices[0].agent().call_state(id),
        Some(CallState::Ringing)
    );
    p.run(100);
    assert_eq!(p.incoming(1), Some(id), "the offer rings the callee");
    assert_eq!(
        p.devices[1].agent().call_state(id),
        Some(CallState::Ringing)
    );
    // Nothing goes back while it rings: a standard peer takes any answer as "picked up".
    assert!(p.sent[1].is_empty(), "{:?}", p.sent[1]);

    p.devices[1]
        .agent_mut()
        .handle_command(p.now, Command::Answer { call_id: id })
        .unwrap();
    p.outputs(1);
    assert!(matches!(p.sent[1].first(), Some(PeerSignal::Answer { .. })));
    p.run(1_000);
    assert_eq!(p.devices[0].agent().call_state(id), Some(CallState::Active));
    assert_eq!(p.devices[1].agent().call_state(id), Some(CallState::Active));
    assert!(
        p.devices[0].agent().known_calls().is_empty(),
        "not the server's call"
    );

    p.devices[1]
        .agent_mut()
        .handle_command(p.now, Command::End { call_id: id })
        .unwrap();
    p.outputs(1);
    assert_eq!(
        p.sent[1].last(),
        Some(&PeerSignal::Bye {
            reason: Some(EndReason::Hangup)
        })
    );
    p.run(100);
    assert_eq!(
        p.ended(0),
        Some((&CallEndReason::protocol(EndReason::Hangup), false))
    );
}

#[test]
fn a_bye_before_the_answer_is_a_decline_and_an_unanswered_call_rings_out() {
    let mut p = Pair::new();
    let id = p.devices[0]
        .agent_mut()
        .start_peer_call(p.now, "bob".parse().unwrap(), None)
        .unwrap();
    p.outputs(0);
    p.run(100);
    p.feed(0, id, decode_peer_signal(r#"{"type":"bye"}"#).unwrap())
        .unwrap();
    assert_eq!(
        p.ended(0),
        Some((&CallEndReason::protocol(EndReason::Declined), false))
    );
    // Late messages for the ended call are dropped quietly; a new one is a new call.
    p.feed(0, id, PeerSignal::Bye { reason: None }).unwrap();

    let mut p = Pair::new();
    let id = p.devices[0]
        .agent_mut()
        .start_peer_call(p.now, "bob".parse().unwrap(), None)
        .unwrap();
    p.outputs(0);
    p.run(61_000);
    assert_eq!(
        p.ended(0),
        Some((&CallEndReason::protocol(EndReason::NoAnswer), false))
    );
    assert!(p.sent[0].contains(&PeerSignal::Bye {
        reason: Some(EndReason::NoAnswer)
    }));
    assert_eq!(
        p.ended(1),
        Some((&CallEndReason::protocol(EndReason::NoAnswer), false)),
        "the callee hears why"
    );
    assert!(p.devices[1].agent().call_state(id).is_none());
}

#[test]
fn what_does_not_fit_is_refused_and_the_call_goes_on() {
    let mut p = Pair::new();
    let id = CallId::from_bytes([5; 16]);
    let offer = |text: &str| PeerSignal::Offer {
        sdp: Sdp::try_from(text.to_owned()).unwrap(),
    };
    // Malformed SDP: refused, and nothing rings.
    let err = p.feed(1, id, offer("v=0\r\nthis is not sdp")).unwrap_err();
    assert!(matches!(err, CoreError::BadSdp { .. }), "{err}");
    assert!(p.incoming(1).is_none());
    // An answer or a bye for a call never seen.
    let answer = PeerSignal::Answer {
        sdp: Sdp::try_from("v=0\r\n".to_owned()).unwrap(),
    };
    assert!(matches!(
        p.feed(1, id, answer.clone()),
        Err(CoreError::UnknownCall { .. })
    ));

    // A real call from side 0.
    let id = p.devices[0]
        .agent_mut()
        .start_peer_call(p.now, "bob".parse().unwrap(), None)
        .unwrap();
    p.outputs(0);
    let Some(PeerSignal::Offer { sdp }) = p.sent[0].first().cloned() else {
        panic!("no offer");
    };
    p.run(100);
    // The same offer again before the answer.
    let err = p.feed(1, id, PeerSignal::Offer { sdp }).unwrap_err();
    assert!(matches!(err, CoreError::PeerSignal { .. }), "{err}");
    // An answer to a callee that made no offer.
    let err = p.feed(1, id, answer).unwrap_err();
    assert!(matches!(err, CoreError::PeerSignal { .. }), "{err}");
    // A candidate for an m-line the offer does not have.
    let stray = Candidate {
        candidate: "candidate:1 1 udp 2122260223 127.0.0.1 9 typ host".into(),
        sdp_mid: Some("7".into()),
        sdp_m_line_index: Some(7),
        username_fragment: None,
    };
    let err = p.feed(1, id, PeerSignal::Candidate(stray)).unwrap_err();
    assert!(
        err.to_string().contains("m-line the session does not have"),
        "{err}"
    );
    // A candidate line that does not parse.
    let garbage = Candidate {
        candidate: "candidate:nonsense".into(),
        sdp_mid: None,
        sdp_m_line_index: Some(0),
        username_fragment: None,
    };
    p.feed(1, id, PeerSignal::Candidate(garbage.clone()))
        .unwrap(); // waits for the connection, which refuses it then (debug log)
    assert_eq!(
        p.devices[1].agent().call_state(id),
        Some(CallState::Ringing)
    );

    // None of it hurt the call.
    p.devices[1]
        .agent_mut()
        .handle_command(p.now, Command::Answer { call_id: id })
        .unwrap();
    p.outputs(1);
    p.run(1_000);
    assert_eq!(p.devices[0].agent().call_state(id), Some(CallState::Active));
    let err = p.feed(1, id, PeerSignal::Candidate(garbage)).unwrap_err();
    assert!(matches!(err, CoreError::BadCandidate { .. }), "{err}");
    // A server-mode message name on a peer call, and a peer message on no call: typed errors.
    assert_eq!(p.devices[1].agent().call_state(id), Some(CallState::Active));
}

#[test]
fn candidates_before_the_offer_and_after_the_answer_all_count() {
    let mut p = Pair::new();
    // Candidates take 300 ms, the offer and answer 20 ms: every candidate lands late, and the
    // callee's first ones before it has a connection.
    p.candidate_delay = Duration::from_millis(300);
    let id = p.devices[0]
        .agent_mut()
        .start_peer_call(p.now, "bob".parse().unwrap(), None)
        .unwrap();
    p.outputs(0);
    // Candidates that overtake the offer (a channel whose listeners fire out of order).
    let early = Candidate {
        candidate: "candidate:9 1 udp 2122260223 127.0.0.1 41000 typ host".into(),
        sdp_mid: Some("0".into()),
        sdp_m_line_index: Some(0),
        username_fragment: None,
    };
    p.feed(1, id, PeerSignal::Candidate(early)).unwrap();
    p.run(50);
    p.devices[1]
        .agent_mut()
        .handle_command(p.now, Command::Answer { call_id: id })
        .unwrap();
    p.outputs(1);
    p.run(2_000);
    assert_eq!(p.devices[0].agent().call_state(id), Some(CallState::Active));
    assert_eq!(p.devices[1].agent().call_state(id), Some(CallState::Active));
}

#[test]
fn crossed_offers_on_one_channel_make_one_call() {
    let mut p = Pair::new();
    let id = CallId::from_bytes([7; 16]);
    for side in 0..2 {
        p.devices[side]
            .agent_mut()
            .start_peer_call(p.now, "other".parse().unwrap(), Some(id))
            .unwrap();
        p.outputs(side);
    }
    p.run(1_000);
    for side in 0..2 {
        assert_eq!(
            p.devices[side].agent().call_state(id),
            Some(CallState::Active),
            "side {side}: {:?}",
            p.reports[side]
        );
    }
    let answers = |side: usize| {
        p.sent[side]
            .iter()
            .filter(|s| matches!(s, PeerSignal::Answer { .. }))
            .count()
    };
    assert_eq!(answers(0) + answers(1), 1, "exactly one side answered");
    // The same id twice on one device is refused.
    assert!(matches!(
        p.devices[0]
            .agent_mut()
            .start_peer_call(p.now, "x".parse().unwrap(), Some(id)),
        Err(CoreError::CallExists { .. })
    ));
}

#[test]
fn crossed_ice_restarts_settle_on_the_first_offerers() {
    let mut p = Pair::new();
    let id = p.devices[0]
        .agent_mut()
        .start_peer_call(p.now, "bob".parse().unwrap(), None)
        .unwrap();
    p.outputs(0);
    p.run(100);
    p.devices[1]
        .agent_mut()
        .handle_command(p.now, Command::Answer { call_id: id })
        .unwrap();
    p.outputs(1);
    p.run(1_000);
    assert_eq!(p.devices[0].agent().call_state(id), Some(CallState::Active));
    // Both sides' networks change at once: both restart ICE, and the offers cross.
    for side in 0..2 {
        p.sent[side].clear();
        let addrs = vec![local(side as u16)];
        p.devices[side]
            .agent_mut()
            .handle_command(p.now, Command::NetworkChanged { local_addrs: addrs })
            .unwrap();
        p.outputs(side);
        assert!(
            matches!(p.sent[side].first(), Some(PeerSignal::Offer { .. })),
            "side {side} restarts: {:?}",
            p.sent[side]
        );
    }
    p.run(3_000);
    let answers = |side: usize| {
        p.sent[side]
            .iter()
            .filter(|s| matches!(s, PeerSignal::Answer { .. }))
            .count()
    };
    assert_eq!((answers(0), answers(1)), (0, 1), "the callee yields");
    for side in 0..2 {
        assert_eq!(
            p.devices[side].agent().call_state(id),
            Some(CallState::Active)
        );
    }
}

#[test]
fn a_call_announced_before_its_offer_rings_at_once_and_can_be_answered_early() {
    let mut p = Pair::new();
    let id = CallId::from_bytes([9; 16]);
    // The app's push arrives first: CallKit hears of the call now.
    p.devices[1]
        .agent_mut()
        .expect_peer_call(p.now, id, "alice".parse().unwrap(), None)
        .unwrap();
    p.outputs(1);
    assert_eq!(p.incoming(1), Some(id));
    // Answered from the lock screen before the offer is fetched.
    p.devices[1]
        .agent_mut()
        .handle_command(p.now, Command::Answer { call_id: id })
        .unwrap();
    p.outputs(1);
    assert_eq!(
        p.devices[1].agent().call_state(id),
        Some(CallState::Connecting)
    );
    p.devices[0]
        .agent_mut()
        .start_peer_call(p.now, "bob".parse().unwrap(), Some(id))
        .unwrap();
    p.outputs(0);
    p.run(1_000);
    assert_eq!(p.devices[0].agent().call_state(id), Some(CallState::Active));
    assert_eq!(p.devices[1].agent().call_state(id), Some(CallState::Active));
    assert_eq!(
        p.reports[1]
            .iter()
            .filter(|r| matches!(r, Report::IncomingCall { .. }))
            .count(),
        1,
        "reported once"
    );
}
