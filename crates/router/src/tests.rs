//! Router flows without sockets: every scenario of protocol v1, driven through the public
//! input/output API with a hand-advanced clock.

use std::collections::HashMap;

use ringwire_proto::{
    CallId, ClientMessage, DeviceId, EndReason, ErrorCode, HangupReason, Invite, Sdp,
    ServerMessage, UserName,
};

use super::{ConnId, Input, Output, PushRequest, Router, RouterConfig, OUT_QUEUE_KEPT};
use crate::record::{CallEvent, CallRecord, CallState, PushKind, PushOutcome, Reach};

mod limits;
mod restart_push;

const T0: u64 = 1_700_000_000_000;

struct Harness {
    router: Router,
    now: u64,
    next_conn: ConnId,
    conns: HashMap<DeviceId, ConnId>,
    users: HashMap<UserName, Vec<DeviceId>>,
    records: Vec<CallEvent>,
    closed: Vec<(ConnId, ErrorCode)>,
    pushes: Vec<PushRequest>,
}

fn user(name: &str) -> UserName {
    name.parse().unwrap()
}

fn dev(n: u8) -> DeviceId {
    DeviceId::from_bytes([n; 16])
}

fn cid(n: u8) -> CallId {
    CallId::from_bytes([n; 16])
}

const A: u8 = 1; // alice's phone
const B1: u8 = 11; // bob's phone
const B2: u8 = 12; // bob's tablet
const C: u8 = 21; // carol

impl Harness {
    fn new() -> Self {
        Self::with(RouterConfig::default())
    }

    fn with(config: RouterConfig) -> Self {
        let mut users = HashMap::new();
        users.insert(user("alice"), vec![dev(A)]);
        users.insert(user("bob"), vec![dev(B1), dev(B2)]);
        users.insert(user("carol"), vec![dev(C)]);
        users.insert(user("nobody"), vec![]);
        Harness {
            router: Router::new(config),
            now: T0,
            next_conn: 1,
            conns: HashMap::new(),
            users,
            records: vec![],
            closed: vec![],
            pushes: vec![],
        }
    }

    fn user_of(&self, d: DeviceId) -> UserName {
        self.users
            .iter()
            .find(|(_, ds)| ds.contains(&d))
            .map(|(u, _)| u.clone())
            .unwrap()
    }

    /// Feeds an input and returns what each device was sent.
    fn input(&mut self, input: Input) -> HashMap<DeviceId, Vec<ServerMessage>> {
        self.router.handle_input(self.now, input);
        self.drain()
    }

    fn drain(&mut self) -> HashMap<DeviceId, Vec<ServerMessage>> {
        let mut sent: HashMap<DeviceId, Vec<ServerMessage>> = HashMap::new();
        while let Some(out) = self.router.poll_output() {
            match out {
                Output::Send { to, msg } => {
                    assert!(
                        self.conns.contains_key(&to),
                        "router sent to offline device {to}"
                    );
                    sent.entry(to).or_default().push(msg)
                }
                Output::Close { conn, error, .. } => self.closed.push((conn, error.code)),
                Output::Record(e) => self.records.push(e),
                Output::Push(req) => self.pushes.push(req),
            }
        }
        sent
    }

    fn connect_with(&mut self, d: u8, known: Vec<CallId>) -> HashMap<DeviceId, Vec<ServerMessage>> {
        let conn = self.next_conn;
        self.next_conn += 1;
        self.conns.insert(dev(d), conn);
        let u = self.user_of(dev(d));
        self.input(Input::Connected {
            conn,
            device: dev(d),
            user: u,
            display_name: None,
            known_calls: known,
        })
    }

    fn connect(&mut self, d: u8) -> HashMap<DeviceId, Vec<ServerMessage>> {
        self.connect_with(d, vec![])
    }

    fn disconnect(&mut self, d: u8) -> HashMap<DeviceId, Vec<ServerMessage>> {
        let conn = self.conns.remove(&dev(d)).unwrap();
        self.input(Input::Disconnected {
            conn,
            device: dev(d),
        })
    }

    fn invite(
        &mut self,
        from: u8,
        call: CallId,
        to: &str,
    ) -> HashMap<DeviceId, Vec<ServerMessage>> {
        let to = user(to);
        let devices = self.users.get(&to).cloned();
        self.input(Input::Invite {
            from: dev(from),
            invite: Invite {
                call_id: call,
                to_user: to,
            },
            callee_devices: devices,
        })
    }

    fn msg(&mut self, from: u8, msg: ClientMessage) -> HashMap<DeviceId, Vec<ServerMessage>> {
        self.input(Input::Message {
            from: dev(from),
            msg,
        })
    }

    fn advance(&mut self, ms: u64) -> HashMap<DeviceId, Vec<ServerMessage>> {
        self.now += ms;
        self.router.handle_timeout(self.now);
        self.drain()
    }

    fn all_online(&mut self) {
        for d in [A, B1, B2, C] {
            self.connect(d);
        }
    }

    fn ended_record(&self, call: CallId) -> Vec<(EndReason, Option<DeviceId>)> {
        self.records
            .iter()
            .filter_map(|e| match e {
                CallEvent::Ended {
                    call_id,
                    reason,
                    by_device,
                    ..
                } if *call_id == call => Some((*reason, *by_device)),
                _ => None,
            })
            .collect()
    }
}

fn only(sent: &HashMap<DeviceId, Vec<ServerMessage>>, d: u8) -> &[ServerMessage] {
    sent.get(&dev(d)).map(Vec::as_slice).unwrap_or(&[])
}

fn end_reason(msgs: &[ServerMessage], call: CallId) -> Option<EndReason> {
    msgs.iter().find_map(|m| match m {
        ServerMessage::Ended {
            call_id, reason, ..
        } if *call_id == call => Some(*reason),
        _ => None,
    })
}

fn error_code(msgs: &[ServerMessage]) -> Option<ErrorCode> {
    msgs.iter().find_map(|m| match m {
        ServerMessage::Error(e) => Some(e.code),
        _ => None,
    })
}

fn is_incoming(msgs: &[ServerMessage], call: CallId) -> bool {
    msgs.iter()
        .any(|m| matches!(m, ServerMessage::Incoming(i) if i.call_id == call))
}

fn sdp() -> Sdp {
    Sdp::try_from("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n".to_owned()).unwrap()
}

#[test]
fn invite_fans_out_to_every_online_device_and_confirms_to_caller() {
    let mut h = Harness::new();
    h.all_online();
    let sent = h.invite(A, cid(1), "bob");
    assert!(is_incoming(only(&sent, B1), cid(1)));
    assert!(is_incoming(only(&sent, B2), cid(1)));
    assert!(only(&sent, C).is_empty());
    match &only(&sent, A)[0] {
        ServerMessage::Calling {
            devices_online,
            devices_offline,
            ring_deadline_ms,
            ..
        } => {
            assert_eq!((*devices_online, *devices_offline), (2, 0));
            assert_eq!(*ring_deadline_ms, T0 + 45_000);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(h.records[0], CallEvent::Started { .. }));
    let reached = h
        .records
        .iter()
        .filter(|e| {
            matches!(
                e,
                CallEvent::DeviceReached {
                    via: Reach::Socket,
                    ..
                }
            )
        })
        .count();
    assert_eq!(reached, 2);
}

/// A call to a user with 151 devices queues an output for each; once the driver has taken
/// them, the queue gives the room back instead of keeping the burst's capacity for good.
#[test]
fn the_output_queue_gives_back_a_bursts_room_once_drained() {
    let mut h = Harness::new();
    h.users
        .insert(user("dave"), (100..=250).map(dev).collect::<Vec<_>>());
    h.connect(A);
    for d in 100..=250u8 {
        h.connect(d);
    }
    // One input queues every output before the driver takes any: 152 of them at least.
    let sent = h.invite(A, cid(1), "dave");
    assert_eq!(sent.len(), 152, "every device of dave's, and alice");
    assert!(sent.len() > OUT_QUEUE_KEPT);
    assert!(
        h.router.out.capacity() <= OUT_QUEUE_KEPT,
        "{}",
        h.router.out.capacity()
    );
}

#[test]
fn ringing_is_forwarded_once_per_device_and_recorded() {
    let mut h = Harness::new();
    h.all_online();
    h.invite(A, cid(1), "bob");
    let sent = h.msg(B1, ClientMessage::Ringing { call_id: cid(1) });
    assert_eq!(
        only(&sent, A),
        &[ServerMessage::Ringing {
            call_id: cid(1),
            device_id: dev(B1)
        }]
    );
    let again = h.msg(B1, ClientMessage::Ringing { call_id: cid(1) });
    assert!(again.is_empty());
    let rang = h
        .records
        .iter()
        .filter(|e| matches!(e, CallEvent::DeviceRang { .. }))
        .count();
    assert_eq!(rang, 1);
}

#[test]
fn first_accept_wins_and_other_devices_hear_answered_elsewhere() {
    let mut h = Harness::new();
    h.all_online();
    h.invite(A, cid(1), "bob");
    let sent = h.msg(B1, ClientMessage::Accept { call_id: cid(1) });
    let accepted = ServerMessage::Accepted {
        call_id: cid(1),
        device_id: dev(B1),
    };
    assert_eq!(only(&sent, A), std::slice::from_ref(&accepted));
    assert_eq!(only(&sent, B1), &[accepted]);
    assert_eq!(
        end_reason(only(&sent, B2), cid(1)),
        Some(EndReason::AnsweredElsewhere)
    );

    // The racing accept from B2 arrives after: it loses and hears answered_elsewhere again.
    let sent = h.msg(B2, ClientMessage::Accept { call_id: cid(1) });
    assert_eq!(
        end_reason(only(&sent, B2), cid(1)),
        Some(EndReason::AnsweredElsewhere)
    );
    assert!(only(&sent, A).is_empty());
    let accepts: Vec<_> = h
        .records
        .iter()
        .filter(|e| matches!(e, CallEvent::Accepted { .. }))
        .collect();
    assert_eq!(accepts.len(), 1, "exactly one winner is recorded");
}

#[test]
fn accept_race_in_either_order_has_exactly_one_winner() {
    for first in [B1, B2] {
        let second = if first == B1 { B2 } else { B1 };
        let mut h = Harness::new();
        h.all_online();
        h.invite(A, cid(1), "bob");
        let s1 = h.msg(first, ClientMessage::Accept { call_id: cid(1) });
        let s2 = h.msg(second, ClientMessage::Accept { call_id: cid(1) });
        let winners: Vec<_> = [s1, s2]
            .iter()
            .flat_map(|s| only(s, A).to_vec())
            .filter(|m| matches!(m, ServerMessage::Accepted { .. }))
            .collect();
        assert_eq!(
            winners,
            vec![ServerMessage::Accepted {
                call_id: cid(1),
                device_id: dev(first)
            }]
        );
    }
}

#[test]
fn the_winner_may_repeat_accept_idempotently() {
    let mut h = Harness::new();
    h.all_online();
    h.invite(A, cid(1), "bob");
    h.msg(B1, ClientMessage::Accept { call_id: cid(1) });
    let sent = h.msg(B1, ClientMessage::Accept { call_id: cid(1) });
    assert_eq!(
        only(&sent, B1),
        &[ServerMessage::Accepted {
            call_id: cid(1),
            device_id: dev(B1)
        }]
    );
    assert!(only(&sent, A).is_empty());
}

#[test]
fn decline_ends_for_caller_and_declined_elsewhere_for_other_devices() {
    let mut h = Harness::new();
    h.all_online();
    h.invite(A, cid(1), "bob");
    let sent = h.msg(B2, ClientMessage::Decline { call_id: cid(1) });
    assert_eq!(
        end_reason(only(&sent, A), cid(1)),
        Some(EndReason::Declined)
    );
    assert_eq!(
        end_reason(only(&sent, B2), cid(1)),
        Some(EndReason::Declined)
    );
    assert_eq!(
        end_reason(only(&sent, B1), cid(1)),
        Some(EndReason::DeclinedElsewhere)
    );
    assert_eq!(
        h.ended_record(cid(1)),
        vec![(EndReason::Declined, Some(dev(B2)))]
    );
}

#[test]
fn busy_from_a_device_ends_as_busy() {
    let mut h = Harness::new();
    h.all_online();
    h.invite(A, cid(1), "bob");
    let sent = h.msg(B1, ClientMessage::Busy { call_id: cid(1) });
    assert_eq!(end_reason(only(&sent, A), cid(1)), Some(EndReason::Busy));
    assert_eq!(
        end_reason(only(&sent, B2), cid(1)),
        Some(EndReason::DeclinedElsewhere)
    );
}

#[test]
fn calling_a_user_in_an_active_call_is_busy_without_ringing() {
    let mut h = Harness::new();
    h.all_online();
    h.invite(A, cid(1), "bob");
    h.msg(B1, ClientMessage::Accept { call_id: cid(1) });
    let sent = h.invite(C, cid(2), "bob");
    assert_eq!(end_reason(only(&sent, C), cid(2)), Some(EndReason::Busy));
    assert!(
        only(&sent, B1).is_empty() && only(&sent, B2).is_empty(),
        "bob's devices must not ring"
    );
    assert_eq!(h.ended_record(cid(2)), vec![(EndReason::Busy, None)]);
}

#[test]
fn cancel_reaches_every_ringing_device() {
    let mut h = Harness::new();
    h.all_online();
    h.invite(A, cid(1), "bob");
    let sent = h.msg(A, ClientMessage::Cancel { call_id: cid(1) });
    for d in [A, B1, B2] {
        assert_eq!(
            end_reason(only(&sent, d), cid(1)),
            Some(EndReason::Cancelled),
            "device {d}"
        );
    }
}

#[test]
fn cancel_reaches_an_offline_device_when_it_connects() {
    let mut h = Harness::new();
    h.connect(A);
    h.connect(B1);
    h.invite(A, cid(1), "bob"); // B2 is offline: a push target
    h.msg(A, ClientMessage::Cancel { call_id: cid(1) });
    let sent = h.connect(B2);
    assert_eq!(
        end_reason(only(&sent, B2), cid(1)),
        Some(EndReason::Cancelled)
    );
    assert!(!is_incoming(only(&sent, B2), cid(1)));
    // Told once: a second reconnect is quiet.
    h.disconnect(B2);
    assert!(h.connect(B2).is_empty());
}

#[test]
fn ring_timeout_ends_as_no_answer() {
    let mut h = Harness::with(RouterConfig {
        ring_timeout_ms: 5_000,
        ..RouterConfig::default()
    });
    h.all_online();
    h.invite(A, cid(1), "bob");
    assert_eq!(h.router.poll_timeout(), Some(T0 + 5_000));
    assert!(h.advance(4_999).is_empty());
    let sent = h.advance(1);
    for d in [A, B1, B2] {
        assert_eq!(
            end_reason(only(&sent, d), cid(1)),
            Some(EndReason::NoAnswer)
        );
    }
    assert_eq!(h.ended_record(cid(1)), vec![(EndReason::NoAnswer, None)]);
}

#[test]
fn ring_timeout_does_not_touch_an_accepted_call() {
    let mut h = Harness::new();
    h.all_online();
    h.invite(A, cid(1), "bob");
    h.msg(B1, ClientMessage::Accept { call_id: cid(1) });
    assert!(h.advance(60_000).is_empty());
    assert!(h.ended_record(cid(1)).is_empty());
}

#[test]
fn hangup_ends_on_both_sides_and_is_recorded_once() {
    let mut h = Harness::new();
    h.all_online();
    h.invite(A, cid(1), "bob");
    h.msg(B1, ClientMessage::Accept { call_id: cid(1) });
    let sent = h.msg(B1, ClientMessage::hangup(cid(1)));
    assert_eq!(end_reason(only(&sent, A), cid(1)), Some(EndReason::Hangup));
    assert_eq!(end_reason(only(&sent, B1), cid(1)), Some(EndReason::Hangup));
    assert!(
        only(&sent, B2).is_empty(),
        "B2 already heard answered_elsewhere"
    );
    // The other side's hangup crossing on the wire: it hears the end again, nothing is recorded.
    let sent = h.msg(A, ClientMessage::hangup(cid(1)));
    assert_eq!(end_reason(only(&sent, A), cid(1)), Some(EndReason::Hangup));
    assert_eq!(
        h.ended_record(cid(1)),
        vec![(EndReason::Hangup, Some(dev(B1)))]
    );
}

#[test]
fn a_device_that_gave_up_on_the_media_ends_the_call_as_media_failed_in_the_record() {
    let mut h = Harness::new();
    h.all_online();
    h.invite(A, cid(1), "bob");
    h.msg(B1, ClientMessage::Accept { call_id: cid(1) });
    let gave_up = ClientMessage::Hangup {
        call_id: cid(1),
        reason: Some(HangupReason::MediaFailed),
    };
    let sent = h.msg(A, gave_up.clone());
    assert_eq!(
        end_reason(only(&sent, B1), cid(1)),
        Some(EndReason::MediaFailed)
    );
    assert_eq!(
        end_reason(only(&sent, A), cid(1)),
        Some(EndReason::MediaFailed)
    );
    assert_eq!(
        h.ended_record(cid(1)),
        vec![(EndReason::MediaFailed, Some(dev(A)))]
    );
    // While ringing the reason changes nothing: the caller giving up is a cancel.
    h.invite(A, cid(2), "bob");
    let gave_up = ClientMessage::Hangup {
        call_id: cid(2),
        reason: Some(HangupReason::MediaFailed),
    };
    let sent = h.msg(A, gave_up);
    assert_eq!(
        end_reason(only(&sent, B1), cid(2)),
        Some(EndReason::Cancelled)
    );
}

#[test]
fn hangup_before_accept_means_cancel_or_decline() {
    let mut h = Harness::new();
    h.all_online();
    h.invite(A, cid(1), "bob");
    let sent = h.msg(A, ClientMessage::hangup(cid(1)));
    assert_eq!(
        end_reason(only(&sent, B1), cid(1)),
        Some(EndReason::Cancelled)
    );
    h.invite(A, cid(2), "bob");
    let sent = h.msg(B1, ClientMessage::hangup(cid(2)));
    assert_eq!(
        end_reason(only(&sent, A), cid(2)),
        Some(EndReason::Declined)
    );
}

#[test]
fn glare_keeps_the_higher_call_id_either_way() {
    // The second invite has the higher id: the first call ends as glare, replaced by the second.
    let mut h = Harness::new();
    h.all_online();
    h.invite(A, cid(1), "carol");
    let sent = h.invite(C, cid(9), "alice");
    match only(&sent, A)
        .iter()
        .find(|m| matches!(m, ServerMessage::Ended { .. }))
    {
        Some(ServerMessage::Ended {
            call_id,
            reason,
            replaced_by,
            ..
        }) => {
            assert_eq!(
                (*call_id, *reason, *replaced_by),
                (cid(1), EndReason::Glare, Some(cid(9)))
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        is_incoming(only(&sent, A), cid(9)),
        "alice now rings for carol's call"
    );
    assert_eq!(h.router.stats().calls_ringing, 1);

    // The second invite has the lower id: it is refused, the first call keeps ringing.
    let mut h = Harness::new();
    h.all_online();
    h.invite(A, cid(9), "carol");
    let sent = h.invite(C, cid(1), "alice");
    assert_eq!(
        only(&sent, C),
        &[ServerMessage::Ended {
            call_id: cid(1),
            reason: EndReason::Glare,
            device_id: None,
            replaced_by: Some(cid(9))
        }]
    );
    assert!(only(&sent, A).is_empty());
    assert_eq!(h.router.stats().calls_ringing, 1);
    assert!(h.ended_record(cid(9)).is_empty());
}

#[test]
fn relays_flow_between_caller_and_one_callee_device_only() {
    let mut h = Harness::new();
    h.all_online();
    h.invite(A, cid(1), "bob");
    // Callee device pre-connects: offer to the caller.
    let sent = h.msg(
        B1,
        ClientMessage::Offer {
            call_id: cid(1),
            to_device: dev(A),
            sdp: sdp(),
        },
    );
    assert_eq!(
        only(&sent, A),
        &[ServerMessage::Offer {
            call_id: cid(1),
            from_device: dev(B1),
            sdp: sdp()
        }]
    );
    let sent = h.msg(
        A,
        ClientMessage::Answer {
            call_id: cid(1),
            to_device: dev(B2),
            sdp: sdp(),
        },
    );
    assert!(
        matches!(only(&sent, B2)[0], ServerMessage::Answer { from_device, .. } if from_device == dev(A))
    );
    // Callee devices never talk to each other.
    let sent = h.msg(
        B1,
        ClientMessage::Offer {
            call_id: cid(1),
            to_device: dev(B2),
            sdp: sdp(),
        },
    );
    assert_eq!(
        error_code(only(&sent, B1)),
        Some(ErrorCode::NotAParticipant)
    );
    assert!(only(&sent, B2).is_empty());
}

#[test]
fn a_non_participant_gets_not_a_participant_and_nothing_is_relayed() {
    let mut h = Harness::new();
    h.all_online();
    h.invite(A, cid(1), "bob");
    for msg in [
        ClientMessage::Offer {
            call_id: cid(1),
            to_device: dev(A),
            sdp: sdp(),
        },
        ClientMessage::Accept { call_id: cid(1) },
        ClientMessage::hangup(cid(1)),
        ClientMessage::Cancel { call_id: cid(1) },
    ] {
        let sent = h.msg(C, msg);
        assert_eq!(error_code(only(&sent, C)), Some(ErrorCode::NotAParticipant));
        assert!(only(&sent, A).is_empty() && only(&sent, B1).is_empty());
    }
    assert_eq!(h.router.stats().calls_ringing, 1);
}

#[test]
fn after_accept_only_the_answering_device_may_relay() {
    let mut h = Harness::new();
    h.all_online();
    h.invite(A, cid(1), "bob");
    h.msg(B1, ClientMessage::Accept { call_id: cid(1) });
    let sent = h.msg(
        A,
        ClientMessage::Offer {
            call_id: cid(1),
            to_device: dev(B2),
            sdp: sdp(),
        },
    );
    assert_eq!(error_code(only(&sent, A)), Some(ErrorCode::NotAParticipant));
    // B2 is out of the call: its late candidates are dropped silently.
    let sent = h.msg(
        B2,
        ClientMessage::Offer {
            call_id: cid(1),
            to_device: dev(A),
            sdp: sdp(),
        },
    );
    assert!(sent.is_empty());
}

#[test]
fn relay_to_a_disconnected_peer_is_peer_unavailable() {
    let mut h = Harness::new();
    h.all_online();
    h.invite(A, cid(1), "bob");
    h.disconnect(B2);
    let sent = h.msg(
        A,
        ClientMessage::Offer {
            call_id: cid(1),
            to_device: dev(B2),
            sdp: sdp(),
        },
    );
    assert_eq!(error_code(only(&sent, A)), Some(ErrorCode::PeerUnavailable));
}

#[test]
fn pending_invite_is_replayed_to_a_device_that_connects_while_ringing() {
    let mut h = Harness::new();
    h.connect(A);
    let sent = h.invite(A, cid(1), "bob");
    match &only(&sent, A)[0] {
        ServerMessage::Calling {
            devices_online,
            devices_offline,
            ..
        } => assert_eq!((*devices_online, *devices_offline), (0, 2)),
        other => panic!("{other:?}"),
    }
    h.advance(3_000);
    let sent = h.connect_with(B2, vec![cid(1)]); // woken by push, reported the call already
    match &only(&sent, B2)[0] {
        ServerMessage::Incoming(i) => {
            assert!(i.replayed);
            assert_eq!(i.call_id, cid(1));
            assert_eq!(i.from_device, dev(A));
        }
        other => panic!("{other:?}"),
    }
    assert!(h.records.iter().any(|e| matches!(e, CallEvent::DeviceReached { device_id, via: Reach::Replay, .. } if *device_id == dev(B2))));
    // It can accept.
    let sent = h.msg(B2, ClientMessage::Accept { call_id: cid(1) });
    assert!(only(&sent, A).contains(&ServerMessage::Accepted {
        call_id: cid(1),
        device_id: dev(B2)
    }));
}

#[test]
fn a_device_that_connects_after_the_end_learns_how_it_ended() {
    let mut h = Harness::with(RouterConfig {
        ring_timeout_ms: 5_000,
        ..RouterConfig::default()
    });
    h.connect(A);
    h.connect(B1);
    h.invite(A, cid(1), "bob");
    h.advance(5_000); // no answer; B2 was woken by push but is slow
    let sent = h.connect_with(B2, vec![cid(1)]);
    assert_eq!(
        end_reason(only(&sent, B2), cid(1)),
        Some(EndReason::NoAnswer)
    );
    assert!(!is_incoming(only(&sent, B2), cid(1)));
}

#[test]
fn a_late_device_hears_answered_elsewhere() {
    let mut h = Harness::new();
    h.connect(A);
    h.connect(B1);
    h.invite(A, cid(1), "bob");
    h.msg(B1, ClientMessage::Accept { call_id: cid(1) });
    let sent = h.connect_with(B2, vec![cid(1)]);
    assert_eq!(
        end_reason(only(&sent, B2), cid(1)),
        Some(EndReason::AnsweredElsewhere)
    );
}

#[test]
fn hello_asking_about_unknown_or_foreign_calls_gets_errors() {
    let mut h = Harness::new();
    h.connect(A);
    h.connect(C);
    h.invite(A, cid(1), "carol");
    let sent = h.connect_with(B1, vec![cid(1), cid(77)]);
    let codes: Vec<_> = only(&sent, B1)
        .iter()
        .filter_map(|m| match m {
            ServerMessage::Error(e) => Some((e.code, e.call_id)),
            _ => None,
        })
        .collect();
    assert_eq!(
        codes,
        vec![
            (ErrorCode::NotAParticipant, Some(cid(1))),
            (ErrorCode::UnknownCall, Some(cid(77)))
        ]
    );
}

#[test]
fn ended_calls_are_forgotten_after_retention() {
    let mut h = Harness::with(RouterConfig {
        ended_retention_ms: 1_000,
        ..RouterConfig::default()
    });
    h.all_online();
    h.invite(A, cid(1), "bob");
    h.msg(A, ClientMessage::Cancel { call_id: cid(1) });
    assert_eq!(h.router.stats().calls_ended_retained, 1);
    h.advance(1_000);
    assert_eq!(h.router.stats().calls_ended_retained, 0);
    let sent = h.msg(B1, ClientMessage::Accept { call_id: cid(1) });
    assert_eq!(error_code(only(&sent, B1)), Some(ErrorCode::UnknownCall));
}

#[test]
fn a_lost_participant_ends_the_call_after_the_grace_period() {
    let mut h = Harness::with(RouterConfig {
        reconnect_grace_ms: 10_000,
        ..RouterConfig::default()
    });
    h.all_online();
    h.invite(A, cid(1), "bob");
    h.msg(B1, ClientMessage::Accept { call_id: cid(1) });
    h.disconnect(B1);
    assert!(h.advance(9_999).is_empty());
    let sent = h.advance(1);
    assert_eq!(
        end_reason(only(&sent, A), cid(1)),
        Some(EndReason::ConnectionLost)
    );
    assert_eq!(
        h.ended_record(cid(1)),
        vec![(EndReason::ConnectionLost, Some(dev(B1)))]
    );
    // When B1 comes back it is told too.
    let sent = h.connect(B1);
    assert_eq!(
        end_reason(only(&sent, B1), cid(1)),
        Some(EndReason::ConnectionLost)
    );
}

#[test]
fn a_participant_that_reconnects_in_time_keeps_the_call() {
    let mut h = Harness::with(RouterConfig {
        reconnect_grace_ms: 10_000,
        ..RouterConfig::default()
    });
    h.all_online();
    h.invite(A, cid(1), "bob");
    h.msg(B1, ClientMessage::Accept { call_id: cid(1) });
    h.disconnect(A);
    h.advance(5_000);
    let sent = h.connect(A);
    assert_eq!(
        only(&sent, A),
        &[ServerMessage::Accepted {
            call_id: cid(1),
            device_id: dev(B1)
        }]
    );
    assert!(h.advance(20_000).is_empty());
    assert_eq!(h.router.stats().calls_active, 1);
}

#[test]
fn a_ringing_callee_device_dropping_does_not_end_the_call() {
    let mut h = Harness::with(RouterConfig {
        reconnect_grace_ms: 1_000,
        ..RouterConfig::default()
    });
    h.all_online();
    h.invite(A, cid(1), "bob");
    h.disconnect(B2);
    assert!(h.advance(2_000).is_empty());
    assert_eq!(h.router.stats().calls_ringing, 1);
}

#[test]
fn a_second_connection_replaces_the_first() {
    let mut h = Harness::new();
    h.connect(A);
    let first = h.conns[&dev(A)];
    h.connect(A);
    assert_eq!(h.closed, vec![(first, ErrorCode::Replaced)]);
    // The old connection's close must not take the device offline.
    h.input(Input::Disconnected {
        conn: first,
        device: dev(A),
    });
    assert!(h.router.is_connected(dev(A)));
}

#[test]
fn invite_errors_are_typed() {
    let mut h = Harness::new();
    h.all_online();
    let sent = h.invite(A, cid(1), "alice");
    assert_eq!(error_code(only(&sent, A)), Some(ErrorCode::CannotCallSelf));
    let sent = h.invite(A, cid(1), "zed");
    assert_eq!(error_code(only(&sent, A)), Some(ErrorCode::UserNotFound));
    h.invite(A, cid(1), "bob");
    let sent = h.invite(A, cid(1), "carol");
    assert_eq!(error_code(only(&sent, A)), Some(ErrorCode::DuplicateCall));
}

#[test]
fn a_user_without_devices_is_unavailable() {
    let mut h = Harness::new();
    h.connect(A);
    let sent = h.invite(A, cid(1), "nobody");
    assert_eq!(
        end_reason(only(&sent, A), cid(1)),
        Some(EndReason::Unavailable)
    );
    assert_eq!(h.ended_record(cid(1)), vec![(EndReason::Unavailable, None)]);
}

#[test]
fn invite_floods_are_rate_limited_per_device() {
    let mut h = Harness::with(RouterConfig {
        invite_burst: 3,
        invite_refill_ms: 1_000,
        ..RouterConfig::default()
    });
    h.all_online();
    for n in 1..=3 {
        let sent = h.invite(A, cid(n), "nobody");
        assert_eq!(error_code(only(&sent, A)), None);
    }
    let sent = h.invite(A, cid(4), "nobody");
    match only(&sent, A) {
        [ServerMessage::Error(e)] => {
            assert_eq!(e.code, ErrorCode::RateLimited);
            assert_eq!(e.retry_after_ms, Some(1_000));
        }
        other => panic!("{other:?}"),
    }
    // Another device is not affected.
    assert_eq!(error_code(only(&h.invite(C, cid(5), "nobody"), C)), None);
    h.advance(1_000);
    assert_eq!(error_code(only(&h.invite(A, cid(6), "nobody"), A)), None);
}

#[test]
fn wrong_role_actions_are_invalid_state() {
    let mut h = Harness::new();
    h.all_online();
    h.invite(A, cid(1), "bob");
    assert_eq!(
        error_code(only(
            &h.msg(A, ClientMessage::Accept { call_id: cid(1) }),
            A
        )),
        Some(ErrorCode::InvalidState)
    );
    assert_eq!(
        error_code(only(
            &h.msg(B1, ClientMessage::Cancel { call_id: cid(1) }),
            B1
        )),
        Some(ErrorCode::InvalidState)
    );
    assert_eq!(
        error_code(only(
            &h.msg(A, ClientMessage::Decline { call_id: cid(1) }),
            A
        )),
        Some(ErrorCode::InvalidState)
    );
    assert_eq!(
        h.router.stats().calls_ringing,
        1,
        "the call survives bad input"
    );
}

fn record(state: CallState, deadline: u64) -> CallRecord {
    CallRecord {
        call_id: cid(5),
        caller_user: user("alice"),
        caller_device: dev(A),
        callee_user: user("bob"),
        state,
        invited_at_ms: T0 - 1_000,
        ring_deadline_ms: deadline,
        first_ring_at_ms: None,
        accepted_at_ms: None,
        answered_device: None,
        ended_at_ms: None,
        end_reason: None,
        ended_by_device: None,
        devices: vec![
            crate::record::CallDeviceRecord {
                device_id: dev(B1),
                reached_via: Reach::Socket,
                reached_at_ms: T0 - 1_000,
                rang_at_ms: Some(T0 - 900),
                push_outcome: None,
                missed_call_push_outcome: None,
            },
            crate::record::CallDeviceRecord {
                device_id: dev(B2),
                reached_via: Reach::Offline,
                reached_at_ms: T0 - 1_000,
                rang_at_ms: None,
                push_outcome: None,
                missed_call_push_outcome: None,
            },
        ],
    }
}

#[test]
fn a_ringing_call_survives_a_restart_and_is_replayed() {
    let mut h = Harness::new();
    h.input(Input::Restore(record(CallState::Ringing, T0 + 30_000)));
    h.connect(A);
    let sent = h.connect(B2);
    assert!(is_incoming(only(&sent, B2), cid(5)));
    let sent = h.msg(B2, ClientMessage::Accept { call_id: cid(5) });
    assert!(only(&sent, A).contains(&ServerMessage::Accepted {
        call_id: cid(5),
        device_id: dev(B2)
    }));
}

#[test]
fn a_ringing_call_past_its_deadline_at_restart_ends_as_no_answer() {
    let mut h = Harness::new();
    h.input(Input::Restore(record(CallState::Ringing, T0 - 1)));
    assert_eq!(h.ended_record(cid(5)), vec![(EndReason::NoAnswer, None)]);
    let sent = h.connect_with(B1, vec![cid(5)]);
    assert_eq!(
        end_reason(only(&sent, B1), cid(5)),
        Some(EndReason::NoAnswer)
    );
}

#[test]
fn an_active_call_survives_a_restart_if_its_participants_come_back() {
    let mut r = record(CallState::Active, T0);
    r.accepted_at_ms = Some(T0 - 500);
    r.answered_device = Some(dev(B1));
    let mut h = Harness::with(RouterConfig {
        reconnect_grace_ms: 10_000,
        ..RouterConfig::default()
    });
    h.input(Input::Restore(r.clone()));
    h.connect(A);
    let sent = h.connect(B1);
    assert_eq!(
        only(&sent, B1),
        &[ServerMessage::Accepted {
            call_id: cid(5),
            device_id: dev(B1)
        }]
    );
    assert!(h.advance(20_000).is_empty());
    let sent = h.msg(A, ClientMessage::hangup(cid(5)));
    assert_eq!(end_reason(only(&sent, B1), cid(5)), Some(EndReason::Hangup));

    // Nobody comes back: connection_lost after the grace period.
    let mut h = Harness::with(RouterConfig {
        reconnect_grace_ms: 10_000,
        ..RouterConfig::default()
    });
    h.input(Input::Restore(r));
    h.advance(10_000);
    assert_eq!(h.ended_record(cid(5)).len(), 1);
    assert_eq!(h.ended_record(cid(5))[0].0, EndReason::ConnectionLost);
}

#[test]
fn restored_ended_calls_answer_late_devices_then_are_forgotten() {
    let mut r = record(CallState::Ended, T0);
    r.ended_at_ms = Some(T0 - 100);
    r.end_reason = Some(EndReason::Cancelled);
    r.ended_by_device = Some(dev(A));
    let mut h = Harness::new();
    h.input(Input::Restore(r));
    assert!(
        h.records.is_empty(),
        "restoring an ended call writes nothing"
    );
    let sent = h.connect_with(B2, vec![cid(5)]);
    assert_eq!(
        end_reason(only(&sent, B2), cid(5)),
        Some(EndReason::Cancelled)
    );
    h.advance(RouterConfig::default().ended_retention_ms);
    assert_eq!(h.router.stats().calls_ended_retained, 0);
}

#[test]
fn messages_from_a_disconnected_device_are_ignored() {
    let mut h = Harness::new();
    h.all_online();
    h.invite(A, cid(1), "bob");
    h.disconnect(B1);
    let sent = h.msg(B1, ClientMessage::Accept { call_id: cid(1) });
    assert!(sent.is_empty());
    assert_eq!(h.router.stats().calls_ringing, 1);
}

#[test]
fn a_caller_reconnecting_while_ringing_hears_calling_again() {
    let mut h = Harness::new();
    h.connect(A);
    h.connect(B1);
    h.invite(A, cid(1), "bob");
    h.disconnect(A);
    let sent = h.connect_with(A, vec![cid(1)]);
    match only(&sent, A) {
        [ServerMessage::Calling {
            call_id,
            devices_online,
            devices_offline,
            ..
        }] => {
            assert_eq!(
                (*call_id, *devices_online, *devices_offline),
                (cid(1), 1, 1)
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_accept_after_the_ring_deadline_loses_to_the_timeout() {
    let mut h = Harness::with(RouterConfig {
        ring_timeout_ms: 5_000,
        ..RouterConfig::default()
    });
    h.all_online();
    h.invite(A, cid(1), "bob");
    // The driver has not woken for the timer yet when the late accept arrives.
    h.now += 5_000;
    let sent = h.msg(B1, ClientMessage::Accept { call_id: cid(1) });
    assert_eq!(
        end_reason(only(&sent, A), cid(1)),
        Some(EndReason::NoAnswer)
    );
    assert!(!only(&sent, A)
        .iter()
        .any(|m| matches!(m, ServerMessage::Accepted { .. })));
    assert_eq!(h.ended_record(cid(1)), vec![(EndReason::NoAnswer, None)]);
}

#[test]
fn an_end_decided_while_a_device_leaves_is_kept_for_its_reconnect() {
    let mut h = Harness::with(RouterConfig {
        ring_timeout_ms: 5_000,
        ..RouterConfig::default()
    });
    h.all_online();
    h.invite(A, cid(1), "bob");
    // The ring deadline passes; before the driver wakes for it, B2's connection closes.
    h.now += 6_000;
    let sent = h.disconnect(B2);
    assert_eq!(
        end_reason(only(&sent, A), cid(1)),
        Some(EndReason::NoAnswer)
    );
    let sent = h.connect(B2);
    assert_eq!(
        end_reason(only(&sent, B2), cid(1)),
        Some(EndReason::NoAnswer)
    );
}

// ---- pushes ----

fn push_result(call: CallId, d: u8, kind: PushKind, outcome: PushOutcome) -> Input {
    Input::PushResult {
        call_id: call,
        device: dev(d),
        kind,
        outcome,
    }
}

fn reach_of(h: &Harness, d: u8) -> Vec<Reach> {
    h.records
        .iter()
        .filter_map(|e| match e {
            CallEvent::DeviceReached { device_id, via, .. } if *device_id == dev(d) => Some(*via),
            _ => None,
        })
        .collect()
}

#[test]
fn only_offline_callee_devices_get_an_incoming_call_push() {
    let mut h = Harness::new();
    h.connect(A);
    h.connect(B1);
    h.invite(A, cid(1), "bob");
    assert_eq!(h.pushes.len(), 1, "{:?}", h.pushes);
    let p = &h.pushes[0];
    assert_eq!(
        (p.device, p.kind, p.call_id),
        (dev(B2), PushKind::Invite, cid(1))
    );
    assert_eq!(p.from_user, user("alice"));
    assert_eq!(p.from_device, dev(A));
    assert_eq!(
        p.ring_deadline_ms,
        T0 + RouterConfig::default().ring_timeout_ms
    );
}

#[test]
fn a_device_woken_by_a_sent_push_is_reached_via_push() {
    let mut h = Harness::new();
    h.connect(A);
    h.invite(A, cid(1), "bob");
    assert_eq!(h.pushes.len(), 2);
    h.input(push_result(cid(1), B2, PushKind::Invite, PushOutcome::Sent));
    h.input(push_result(
        cid(1),
        B1,
        PushKind::Invite,
        PushOutcome::NoToken,
    ));
    assert!(h.records.iter().any(|e| matches!(e,
        CallEvent::Pushed { device_id, kind: PushKind::Invite, outcome: PushOutcome::Sent, .. }
            if *device_id == dev(B2))));
    h.advance(1_000);
    h.connect(B2);
    h.connect(B1);
    assert_eq!(reach_of(&h, B2), vec![Reach::Offline, Reach::Push]);
    // B1 had no token: it came by itself.
    assert_eq!(reach_of(&h, B1), vec![Reach::Offline, Reach::Replay]);
}

#[test]
fn a_push_confirmed_after_the_device_connected_still_counts() {
    let mut h = Harness::new();
    h.connect(A);
    h.invite(A, cid(1), "bob");
    h.connect(B2); // faster than the push service's answer
    h.input(push_result(cid(1), B2, PushKind::Invite, PushOutcome::Sent));
    assert_eq!(
        reach_of(&h, B2),
        vec![Reach::Offline, Reach::Replay, Reach::Push]
    );
}

#[test]
fn no_answer_sends_a_missed_call_push_to_devices_still_offline() {
    let mut h = Harness::with(RouterConfig {
        ring_timeout_ms: 5_000,
        ..RouterConfig::default()
    });
    h.connect(A);
    h.connect(B1);
    h.invite(A, cid(1), "bob");
    h.pushes.clear();
    h.advance(5_000);
    assert_eq!(h.pushes.len(), 1, "{:?}", h.pushes);
    assert_eq!(h.pushes[0].device, dev(B2));
    assert_eq!(h.pushes[0].kind, PushKind::MissedCall);
    h.input(push_result(
        cid(1),
        B2,
        PushKind::MissedCall,
        PushOutcome::Sent,
    ));
    assert!(h.records.iter().any(|e| matches!(
        e,
        CallEvent::Pushed {
            kind: PushKind::MissedCall,
            outcome: PushOutcome::Sent,
            ..
        }
    )));
}

#[test]
fn other_endings_send_no_missed_call_push() {
    let mut h = Harness::new();
    h.connect(A);
    h.invite(A, cid(1), "bob");
    h.pushes.clear();
    h.msg(A, ClientMessage::Cancel { call_id: cid(1) });
    assert!(h.pushes.is_empty(), "{:?}", h.pushes);
}

#[test]
fn a_push_result_for_a_forgotten_call_is_ignored() {
    let mut h = Harness::new();
    h.connect(A);
    let before = h.records.len();
    h.input(push_result(cid(9), B1, PushKind::Invite, PushOutcome::Sent));
    assert_eq!(h.records.len(), before);
}

#[test]
fn tables_a_burst_of_calls_grew_shrink_once_the_calls_are_forgotten() {
    let mut h = Harness::with(RouterConfig {
        ended_retention_ms: 1_000,
        invite_burst: 1_000,
        ..RouterConfig::default()
    });
    h.all_online();
    for n in 0..=255u8 {
        let call = CallId::from_bytes([n; 16]);
        h.invite(A, call, "bob");
        h.msg(A, ClientMessage::Cancel { call_id: call });
    }
    let grown = h.router.calls.capacity();
    assert!(grown >= 256, "the burst grew the call table to {grown}");
    h.advance(1_000);
    assert_eq!(h.router.stats().calls_ended_retained, 0);
    assert!(
        h.router.calls.capacity() < grown / 4,
        "the call table kept {} slots for no call",
        h.router.calls.capacity()
    );
    assert!(h.router.by_device.capacity() <= 64);
    // And it still works.
    h.invite(A, cid(1), "bob");
    let sent = h.msg(B1, ClientMessage::Accept { call_id: cid(1) });
    assert!(sent.contains_key(&dev(A)));
}
