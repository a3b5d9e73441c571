//! Randomized runs of the router against its safety properties: seeded, so a failure names the
//! seed that reproduces it. Random devices connect, disconnect, invite, act on calls (their own,
//! others', unknown ones) and relay, while the clock jumps; after every step the outputs must
//! keep the promises the protocol makes.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ringwire_netem::SeededRng;
use ringwire_proto::{CallId, ClientMessage, DeviceId, Invite, Sdp, ServerMessage, UserName};

use super::{Input, Output, PushRequest, Router, RouterConfig};
use crate::record::{CallEvent, PushOutcome};

#[derive(Default)]
struct CallFacts {
    started: bool,
    accepted: Vec<DeviceId>,
    ended: usize,
    accepted_msgs: BTreeSet<DeviceId>,
    deadline: u64,
}

fn run(seed: u64, steps: usize) {
    let mut rng = SeededRng::new(seed);
    let config = RouterConfig {
        ring_timeout_ms: 3_000,
        reconnect_grace_ms: 2_000,
        ended_retention_ms: 5_000,
        invite_burst: 3,
        invite_refill_ms: 500,
        max_ringing_per_user: 4,
        max_resync: 128,
    };
    let mut router = Router::new(config.clone());
    let users: Vec<UserName> = ["u0", "u1", "u2", "u3"]
        .iter()
        .map(|u| u.parse().unwrap())
        .collect();
    // Two devices per user.
    let devices: Vec<(DeviceId, usize)> = (0..8u8)
        .map(|i| (DeviceId::from_bytes([i + 1; 16]), usize::from(i / 2)))
        .collect();
    let calls: Vec<CallId> = (0..12u8)
        .map(|i| CallId::from_bytes([i * 20 + 1; 16]))
        .collect();
    let sdp = Sdp::try_from("v=0\r\n".to_owned()).unwrap();
    let mut online: HashMap<DeviceId, u64> = HashMap::new();
    let mut conn = 0u64;
    let mut now = 1_000_000u64;
    let mut facts: BTreeMap<CallId, CallFacts> = BTreeMap::new();
    // Pushes asked for and not yet answered; the driver answers them in any order, late.
    let mut pushes: Vec<PushRequest> = Vec::new();

    for step in 0..steps {
        let (device, owner) = devices[rng.below(devices.len() as u64) as usize];
        let call = calls[rng.below(calls.len() as u64) as usize];
        let roll = rng.below(100);
        // Time passes between inputs too, and the driver may wake late for a timer.
        now += rng.below(200);
        let input = if !online.contains_key(&device) || roll < 8 {
            if online.contains_key(&device) && rng.below(2) == 0 {
                let c = online.remove(&device).unwrap();
                Some(Input::Disconnected { conn: c, device })
            } else {
                conn += 1;
                online.insert(device, conn);
                let known = if rng.below(3) == 0 {
                    vec![call]
                } else {
                    vec![]
                };
                Some(Input::Connected {
                    conn,
                    device,
                    user: users[owner].clone(),
                    display_name: None,
                    known_calls: known,
                })
            }
        } else if roll < 25 {
            let to = users[rng.below(users.len() as u64) as usize].clone();
            let callee_devices = Some(
                devices
                    .iter()
                    .filter(|(_, o)| users[*o] == to)
                    .map(|(d, _)| *d)
                    .collect(),
            );
            Some(Input::Invite {
                from: device,
                invite: Invite {
                    call_id: call,
                    to_user: to,
                },
                callee_devices,
            })
        } else if roll < 35 && !pushes.is_empty() {
            let req = pushes.swap_remove(rng.below(pushes.len() as u64) as usize);
            let outcome = PushOutcome::ALL[rng.below(PushOutcome::ALL.len() as u64) as usize];
            Some(Input::PushResult {
                call_id: req.call_id,
                device: req.device,
                kind: req.kind,
                outcome,
            })
        } else if roll < 90 {
            let msg = match rng.below(8) {
                0 => ClientMessage::Ringing { call_id: call },
                1 | 2 => ClientMessage::Accept { call_id: call },
                3 => ClientMessage::Decline { call_id: call },
                4 => ClientMessage::Busy { call_id: call },
                5 => ClientMessage::Cancel { call_id: call },
                6 => ClientMessage::hangup(call),
                _ => ClientMessage::Offer {
                    call_id: call,
                    to_device: devices[rng.below(devices.len() as u64) as usize].0,
                    sdp: sdp.clone(),
                },
            };
            Some(Input::Message { from: device, msg })
        } else {
            now += rng.below(2_500);
            None
        };
        // Overdue timers fire before a connect is processed, so a device connecting in this
        // step may still be pushed to (it was offline when the timer was due).
        let joining = match &input {
            Some(Input::Connected { device, .. }) => Some(*device),
            _ => None,
        };
        match input {
            Some(input) => router.handle_input(now, input),
            None => router.handle_timeout(now),
        }
        while let Some(out) = router.poll_output() {
            match out {
                Output::Send { to, msg } => {
                    assert!(
                        online.contains_key(&to),
                        "seed {seed} step {step}: sent to offline device"
                    );
                    match msg {
                        ServerMessage::Accepted { call_id, device_id } => {
                            let f = facts.entry(call_id).or_default();
                            f.accepted_msgs.insert(device_id);
                            assert_eq!(
                                f.accepted_msgs.len(),
                                1,
                                "seed {seed} step {step}: two winners for {call_id}"
                            );
                        }
                        ServerMessage::Incoming(i) => {
                            let f = facts.entry(i.call_id).or_default();
                            assert!(
                                f.ended == 0,
                                "seed {seed} step {step}: incoming for an ended call"
                            );
                        }
                        _ => {}
                    }
                }
                Output::Close { .. } => {}
                Output::Push(req) => {
                    assert!(
                        !online.contains_key(&req.device) || joining == Some(req.device),
                        "seed {seed} step {step}: push to a connected device"
                    );
                    assert!(
                        facts.get(&req.call_id).is_some_and(|f| f.started),
                        "seed {seed} step {step}: push for a call never started"
                    );
                    pushes.push(req);
                }
                Output::Record(event) => {
                    let f = facts.entry(event.call_id()).or_default();
                    match event {
                        CallEvent::Started {
                            ring_deadline_ms, ..
                        } => {
                            // A call id may be reused only after the old call was forgotten.
                            assert!(
                                !f.started || f.ended == 1,
                                "seed {seed} step {step}: restarted a live call"
                            );
                            *f = CallFacts {
                                started: true,
                                deadline: ring_deadline_ms,
                                ..CallFacts::default()
                            };
                        }
                        CallEvent::Accepted {
                            device_id, at_ms, ..
                        } => {
                            assert!(
                                f.started && f.ended == 0,
                                "seed {seed} step {step}: accept outside a live call"
                            );
                            assert!(
                                at_ms < f.deadline,
                                "seed {seed} step {step}: accepted after the ring deadline"
                            );
                            f.accepted.push(device_id);
                            assert_eq!(
                                f.accepted.len(),
                                1,
                                "seed {seed} step {step}: accepted twice"
                            );
                        }
                        CallEvent::Ended { .. } => {
                            assert!(f.started, "seed {seed} step {step}: ended before started");
                            f.ended += 1;
                            assert_eq!(f.ended, 1, "seed {seed} step {step}: ended twice");
                        }
                        CallEvent::DeviceReached { .. } | CallEvent::DeviceRang { .. } => {
                            assert!(
                                f.started && f.ended == 0,
                                "seed {seed} step {step}: device event outside a live call"
                            );
                        }
                        CallEvent::Pushed { .. } => {
                            assert!(
                                f.started,
                                "seed {seed} step {step}: push outcome for a call never started"
                            );
                        }
                    }
                }
            }
        }
        let stats = router.stats();
        let live = facts.values().filter(|f| f.started && f.ended == 0).count();
        assert_eq!(
            stats.calls_ringing + stats.calls_active,
            live,
            "seed {seed} step {step}: live calls disagree with the record"
        );
        assert_eq!(
            stats.connected_devices,
            online.len(),
            "seed {seed} step {step}"
        );
    }
}

#[test]
fn random_runs_keep_the_protocol_promises() {
    for seed in 1..=300 {
        run(seed, 400);
    }
}
