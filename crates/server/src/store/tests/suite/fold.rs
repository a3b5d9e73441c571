//! The SQL store and the router crate's pure fold ([`CallRecord::apply`]) must agree: the
//! simulator and any test that folds events in memory rely on the record the server would
//! have stored. Thousands of seeded random event streams — duplicates, events before their
//! call started, late upgrades, second accepts and ends — are written through the store in
//! random group-commit batches and folded in memory, and every call's record is compared.

use std::collections::BTreeMap;

use ringwire_netem::SeededRng;
use ringwire_router::record::{CallState, PushKind, PushOutcome};

use super::*;

const STREAMS: u32 = 1_500;
const SEED: u64 = 0x5eed_f01d;

const REACHES: [Reach; 4] = [Reach::Socket, Reach::Replay, Reach::Offline, Reach::Push];
const REASONS: [EndReason; 6] = [
    EndReason::Hangup,
    EndReason::Declined,
    EndReason::NoAnswer,
    EndReason::Cancelled,
    EndReason::ConnectionLost,
    EndReason::MediaFailed,
];
const OUTCOMES: [PushOutcome; 4] = [
    PushOutcome::Sent,
    PushOutcome::Unregistered,
    PushOutcome::Failed,
    PushOutcome::NoToken,
];

/// One call's events in the order a router could emit them (time never goes back), with the
/// disorder a crash and replay can add: repeats, and events that arrive before `Started`.
fn stream(rng: &mut SeededRng, call: CallId) -> Vec<CallEvent> {
    let devices = [did(21), did(22), did(23)];
    let mut at = T0 + rng.below(1_000_000);
    let mut events = Vec::new();
    let event = |rng: &mut SeededRng, at: u64| match rng.below(6) {
        0 | 1 => CallEvent::DeviceReached {
            call_id: call,
            device_id: *rng.pick(&devices),
            via: *rng.pick(&REACHES),
            at_ms: at,
        },
        2 => CallEvent::DeviceRang {
            call_id: call,
            device_id: *rng.pick(&devices),
            at_ms: at,
        },
        3 => CallEvent::Accepted {
            call_id: call,
            device_id: *rng.pick(&devices),
            at_ms: at,
        },
        4 => CallEvent::Ended {
            call_id: call,
            reason: *rng.pick(&REASONS),
            by_device: [None, Some(did(1)), Some(*rng.pick(&devices))][rng.index(3)],
            at_ms: at,
        },
        _ => CallEvent::Pushed {
            call_id: call,
            device_id: *rng.pick(&devices),
            kind: *rng.pick(&[PushKind::Invite, PushKind::MissedCall]),
            outcome: *rng.pick(&OUTCOMES),
            at_ms: at,
        },
    };
    for _ in 0..rng.below(3) {
        events.push(event(rng, at));
    }
    let start = started(call, "alice", "bob", at);
    events.push(start.clone());
    for _ in 0..rng.below(16) {
        at += rng.below(3) * 250;
        if rng.below(12) == 0 {
            events.push(start.clone());
        } else {
            let e = event(rng, at);
            if rng.below(8) == 0 {
                events.push(e.clone());
            }
            events.push(e);
        }
    }
    events
}

pub(in crate::store::tests) async fn store_and_fold_agree_on_random_event_streams(store: &Store) {
    let mut rng = SeededRng::new(SEED);
    let mut folded: BTreeMap<CallId, CallRecord> = BTreeMap::new();
    let mut pending: Vec<CallEvent> = Vec::new();
    for n in 0..STREAMS {
        let mut id = [0u8; 16];
        id[..4].copy_from_slice(&n.to_be_bytes());
        id[4] = 0xf0;
        let call = CallId::from_bytes(id);
        for event in stream(&mut rng, call) {
            match CallRecord::started(&event) {
                Some(record) => {
                    folded.entry(call).or_insert(record);
                }
                None => {
                    if let Some(record) = folded.get_mut(&call) {
                        record.apply(&event);
                    }
                }
            }
            pending.push(event);
            // Group commits of every size the record writer makes, including runs of one
            // call's `DeviceReached` that the store writes as one statement.
            if rng.below(6) == 0 {
                store.apply_all(&pending).await.expect("apply a batch");
                pending.clear();
            }
        }
    }
    store
        .apply_all(&pending)
        .await
        .expect("apply the last batch");
    for (call, record) in &folded {
        let stored = store
            .call(*call)
            .await
            .expect("read a call")
            .expect("stored");
        assert_eq!(&stored, record, "the store and the fold disagree on {call}");
    }
    assert_eq!(folded.len(), STREAMS as usize);
    assert!(
        folded.values().any(|r| r.state == CallState::Active)
            && folded.values().any(|r| r.state == CallState::Ended)
            && folded.values().any(|r| r.devices.len() == 3),
        "the streams cover every state"
    );
}
