//! The peer-mode adapter (`ringwire_docstore::peer`) against the real store: a caller's and a
//! callee's channels on one call document pass each message over exactly once and unchanged,
//! in the codelab's layout, and refuse what is not a peer message without stopping.

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

mod common;

use common::{Lab, WAIT};
use ringwire_docstore::peer::{call_id_for, CallChannel, Incoming, Side};
use ringwire_proto::{decode_peer_signal, EndReason, PeerSignal};
use serde_json::json;

async fn next(incoming: &mut Incoming) -> PeerSignal {
    tokio::time::timeout(WAIT, incoming.next())
        .await
        .expect("a message in time")
        .expect("listening")
        .expect("a peer message")
}

fn signal(json: &str) -> PeerSignal {
    decode_peer_signal(json).unwrap()
}

#[tokio::test]
async fn offer_answer_candidates_and_bye_cross_in_the_codelab_layout() {
    let lab = Lab::start("peer-adapter").await;
    let caller = CallChannel::new(lab.client().await, "call1", Side::Caller);
    let callee = CallChannel::new(lab.client().await, "call1", Side::Callee);
    assert_eq!(caller.call_id(), call_id_for("call1"));
    let mut to_callee = callee.listen().await.unwrap();
    let mut to_caller = caller.listen().await.unwrap();

    let offer = signal(r#"{"type":"offer","sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}"#);
    caller.send(&offer).await.unwrap();
    let candidate = signal(
        r#"{"type":"candidate","candidate":"candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host","sdp_mid":"0","sdp_m_line_index":0}"#,
    );
    caller.send(&candidate).await.unwrap();
    // End-of-candidates is not written: a codelab page has no use for it.
    caller.send(&PeerSignal::EndOfCandidates).await.unwrap();
    assert_eq!(next(&mut to_callee).await, offer);
    assert_eq!(next(&mut to_callee).await, candidate);

    // What a page reads: the browser's field names.
    let client = lab.client().await;
    let doc = client.get("calls/call1").await.unwrap().unwrap();
    assert_eq!(doc.data["offer"]["type"], "offer");
    let candidates = client.list("calls/call1/offerCandidates").await.unwrap();
    assert_eq!(candidates.len(), 1);
    assert_eq!(candidates[0].data["sdpMid"], "0");
    assert_eq!(candidates[0].data["sdpMLineIndex"], 0);

    let answer = signal(r#"{"type":"answer","sdp":"v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\n"}"#);
    callee.send(&answer).await.unwrap();
    assert_eq!(next(&mut to_caller).await, answer);
    // An ICE restart from the callee: a new value in the callee's field, typed as an offer.
    let restart = signal(r#"{"type":"offer","sdp":"v=0\r\no=- 3 5 IN IP4 127.0.0.1\r\n"}"#);
    callee.send(&restart).await.unwrap();
    assert_eq!(next(&mut to_caller).await, restart);

    // A page writes a candidate document that is not one: refused, and listening goes on.
    client
        .add("calls/call1/answerCandidates", json!({"candidate": 7}))
        .await
        .unwrap();
    let refused = tokio::time::timeout(WAIT, to_caller.next())
        .await
        .unwrap()
        .unwrap();
    assert!(refused.is_err(), "{refused:?}");

    callee
        .send(&PeerSignal::Bye {
            reason: Some(EndReason::Hangup),
        })
        .await
        .unwrap();
    assert_eq!(
        next(&mut to_caller).await,
        PeerSignal::Bye {
            reason: Some(EndReason::Hangup)
        }
    );
    let doc = client.get("calls/call1").await.unwrap().unwrap();
    assert_eq!(
        doc.data["hangup"],
        json!({"by": "callee", "reason": "hangup"})
    );

    // The caller clears up; the callee, still listening, hears the call is gone.
    caller.delete_call().await.unwrap();
    assert!(client.get("calls/call1").await.unwrap().is_none());
    assert!(client
        .list("calls/call1/offerCandidates")
        .await
        .unwrap()
        .is_empty());
    assert_eq!(next(&mut to_callee).await, PeerSignal::Bye { reason: None });
}

#[tokio::test]
async fn a_bye_before_the_document_exists_is_not_an_error() {
    let lab = Lab::start("peer-adapter-early-bye").await;
    let callee = CallChannel::new(lab.client().await, "nothing-yet", Side::Callee);
    callee
        .send(&PeerSignal::Bye { reason: None })
        .await
        .unwrap();
}
