//! The TypeScript vocabulary of the browser client and the bridge package is generated from the
//! Rust types, not kept by hand: `web/src/generated/protocol.ts` (protocol v1's messages) and
//! `web/bridge/generated/events.ts` (the bridge's events) must be exactly what the types
//! declare. After changing one of those types, regenerate both with
//! `RINGWIRE_WRITE_TS=1 cargo test -p ringwire-ffi --features ts --test typescript`
//! and commit them.
#![cfg(feature = "ts")]

use std::path::PathBuf;

use ringwire_core::{CallKitEndReason, CandidateType, RelayTransport, SelectedPair};
use ringwire_ffi::bridge::BridgeEvent;
use ringwire_media::{CallQuality, FrameSources};
use ringwire_proto::{
    AppState, CallDirection, CallId, CallTimeline, Candidate, ClientMessage, DeviceId,
    DevicePlatform, DisplayName, EndReason, ErrorCode, ErrorMessage, HangupReason, IceServer,
    IceServers, IceUrl, Incoming, Invite, PeerSignal, PushPlatform, PushToken, QualityAction,
    QualityCause, QualityVerdict, Sdp, ServerMessage, TimelineEndReason, TimelineEvent,
    TimelineEventKind, UserName, Welcome,
};
use ts_rs::{Config, TS};

/// A generated file: a header, then `export` and each declaration.
fn file(what: &str, decls: &[String]) -> String {
    let mut out = format!(
        "// Generated from the Rust types by crates/ffi/tests/typescript.rs: do not edit.\n// {what}\n"
    );
    for decl in decls {
        out.push_str("\nexport ");
        out.push_str(decl);
        out.push('\n');
    }
    out
}

fn config() -> Config {
    // The numbers on the wire are JSON numbers; none of them needs more than 53 bits.
    Config::new().with_large_int("number")
}

fn protocol() -> String {
    let cfg = config();
    file(
        "Protocol v1's message shapes (docs/protocol.md), as the server and the engine \
         serialize them.",
        &[
            CallId::decl(&cfg),
            DeviceId::decl(&cfg),
            UserName::decl(&cfg),
            DisplayName::decl(&cfg),
            Sdp::decl(&cfg),
            EndReason::decl(&cfg),
            HangupReason::decl(&cfg),
            ErrorCode::decl(&cfg),
            Candidate::decl(&cfg),
            Invite::decl(&cfg),
            PushPlatform::decl(&cfg),
            PushToken::decl(&cfg),
            IceUrl::decl(&cfg),
            IceServer::decl(&cfg),
            IceServers::decl(&cfg),
            Welcome::decl(&cfg),
            Incoming::decl(&cfg),
            ErrorMessage::decl(&cfg),
            DevicePlatform::decl(&cfg),
            CallDirection::decl(&cfg),
            QualityVerdict::decl(&cfg),
            QualityCause::decl(&cfg),
            QualityAction::decl(&cfg),
            AppState::decl(&cfg),
            TimelineEndReason::decl(&cfg),
            TimelineEventKind::decl(&cfg),
            TimelineEvent::decl(&cfg),
            CallTimeline::decl(&cfg),
            ClientMessage::decl(&cfg),
            ServerMessage::decl(&cfg),
        ],
    )
}

fn bridge_events() -> String {
    let cfg = config();
    file(
        "The bridge's events (docs/bridge.md), inside `{\"type\":\"event\",\"seq\":N,...}`.",
        &[
            Sdp::decl(&cfg),
            EndReason::decl(&cfg),
            Candidate::decl(&cfg),
            PeerSignal::decl(&cfg),
            QualityVerdict::decl(&cfg),
            QualityCause::decl(&cfg),
            QualityAction::decl(&cfg),
            ringwire_core::QualityFigures::decl(&cfg),
            FrameSources::decl(&cfg),
            CallQuality::decl(&cfg),
            CallKitEndReason::decl(&cfg),
            CandidateType::decl(&cfg),
            RelayTransport::decl(&cfg),
            SelectedPair::decl(&cfg),
            BridgeEvent::decl(&cfg),
        ],
    )
}

/// Writes `fresh` to `relative` (from the repository root) when asked to; otherwise checks the
/// committed copy is the same.
fn check_or_write(relative: &str, fresh: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative);
    if std::env::var_os("RINGWIRE_WRITE_TS").is_some() {
        std::fs::write(&path, fresh).expect("write the generated file");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "{relative} is not what the Rust types declare; regenerate it with \
         `RINGWIRE_WRITE_TS=1 cargo test -p ringwire-ffi --features ts --test typescript` \
         and commit it"
    );
}

#[test]
fn the_protocol_types_in_typescript_are_generated_from_the_rust_ones() {
    check_or_write("web/src/generated/protocol.ts", &protocol());
}

#[test]
fn the_bridge_event_types_in_typescript_are_generated_from_the_rust_ones() {
    check_or_write("web/bridge/generated/events.ts", &bridge_events());
}
