//! The router's protections against floods (issue 23): a cap on calls ringing one user, the
//! invite limit taken before the driver looks the callee up, and a resync that stays within
//! its budget however many ended calls a device missed.

use ringwire_proto::{CallId, ClientMessage, ErrorCode, ServerMessage};

use super::{cid, dev, error_code, only, Harness, A, B1, B2, C};
use crate::record::CallEvent;
use crate::RouterConfig;

#[test]
fn a_user_rings_at_most_the_cap_and_refused_invites_leave_no_record() {
    let mut h = Harness::with(RouterConfig {
        max_ringing_per_user: 2,
        ..RouterConfig::default()
    });
    h.all_online();
    h.invite(A, cid(1), "bob");
    h.invite(C, cid(2), "bob");
    let records_before = h.records.len();
    let sent = h.invite(A, cid(3), "bob");
    assert_eq!(error_code(only(&sent, A)), Some(ErrorCode::TooManyCalls));
    assert!(only(&sent, B1).is_empty() && only(&sent, B2).is_empty());
    assert_eq!(
        h.records.len(),
        records_before,
        "no record for a refused invite"
    );
    // Once one stops ringing there is room again.
    h.msg(B1, ClientMessage::Decline { call_id: cid(1) });
    let sent = h.invite(A, cid(4), "bob");
    assert!(matches!(
        only(&sent, A).first(),
        Some(ServerMessage::Calling { .. })
    ));
}

#[test]
fn an_admitted_invite_does_not_pay_twice_and_a_refused_one_goes_no_further() {
    let mut h = Harness::with(RouterConfig {
        invite_burst: 1,
        invite_refill_ms: 60_000,
        ..RouterConfig::default()
    });
    h.all_online();
    let now = h.now;
    assert!(h.router.admit_invite(now, dev(A), cid(1)));
    assert!(h.drain().is_empty());
    // The admitted invite starts its call although the bucket is now empty.
    let sent = h.invite(A, cid(1), "bob");
    assert!(matches!(
        only(&sent, A).first(),
        Some(ServerMessage::Calling { .. })
    ));
    // The next one is refused at admission: the driver never looks the callee up.
    assert!(!h.router.admit_invite(now, dev(A), cid(2)));
    let sent = h.drain();
    assert_eq!(error_code(only(&sent, A)), Some(ErrorCode::RateLimited));
}

#[test]
fn a_resync_stays_within_its_budget_and_tells_the_rest_later() {
    let mut h = Harness::with(RouterConfig {
        max_resync: 3,
        ..RouterConfig::default()
    });
    h.connect(A);
    h.connect(B1);
    // Five calls ring B2 (offline) and are cancelled: B2 was never told they ended.
    let calls: Vec<CallId> = (1..=5).map(cid).collect();
    for call in &calls {
        h.invite(A, *call, "bob");
        h.msg(A, ClientMessage::Cancel { call_id: *call });
    }
    let ended = |sent: &std::collections::HashMap<_, Vec<ServerMessage>>| {
        only(sent, B2)
            .iter()
            .filter(|m| matches!(m, ServerMessage::Ended { .. }))
            .count()
    };
    let first = h.connect(B2);
    assert_eq!(ended(&first), 3, "{first:?}");
    h.disconnect(B2);
    let second = h.connect(B2);
    assert_eq!(ended(&second), 2, "{second:?}");
    h.disconnect(B2);
    assert_eq!(ended(&h.connect(B2)), 0);
    assert!(h
        .records
        .iter()
        .any(|e| matches!(e, CallEvent::Ended { .. })));
}
