//! Call set-ups shared by the simulator's tests: two users with one phone each, Alice calling
//! Bob, up to ringing and up to an answered call.

use std::time::Duration;

use ringwire_core::{CallState, Command};
use ringwire_proto::CallId;
use ringwire_router::RouterConfig;

use crate::{Dev, LinkConfig, World};

/// Alice (a tone of `alice_hz` as microphone) calls Bob (`bob_hz`) with `link` as every path;
/// runs until Bob's phone rings. Panics if it does not ring within 2 s: for tests.
pub fn ringing_call(
    seed: u64,
    link: LinkConfig,
    alice_hz: f64,
    bob_hz: f64,
) -> (World, Dev, Dev, CallId) {
    let mut w = World::new(seed, RouterConfig::default());
    let alice = w.add_user("alice").expect("a fresh world takes user alice");
    let bob = w.add_user("bob").expect("a fresh world takes user bob");
    let a = w.add_device(&alice, "alice", alice_hz);
    let b = w.add_device(&bob, "bob", bob_hz);
    w.net.set_default_link(link);
    w.run_for(Duration::from_millis(200));
    let call = w.call(a, "bob");
    assert!(
        w.run_until(Duration::from_secs(2), |w| w
            .device(b)
            .incoming_calls()
            .contains(&call)),
        "bob's phone did not ring"
    );
    (w, a, b, call)
}

/// Bob (`b`) answers the ringing `call` after `ring_for`; runs until both phones are in it.
/// Panics if they are not within 3 s: for tests.
pub fn answer(w: &mut World, a: Dev, b: Dev, call: CallId, ring_for: Duration) {
    w.run_for(ring_for);
    w.command(b, Command::Answer { call_id: call })
        .expect("bob's phone takes the answer");
    let active =
        |w: &World, d: Dev| w.device(d).agent().call_state(call) == Some(CallState::Active);
    assert!(
        w.run_until(Duration::from_secs(3), |w| active(w, a) && active(w, b)),
        "the call did not become active on both phones"
    );
}
