//! The NAT lab's failure scenarios: what a user sees when the network or the TURN service
//! lets them down. Each scenario has its own server (its own ICE configuration) in the lab's
//! internet and its own home networks, and all run at once. A scenario that cannot connect
//! must end with a reason in every report, by itself (the caller never hangs up), within the
//! engine's media timeout, and the server's record must say `media_failed`; one that can
//! connect must connect as if nothing were wrong.

use ringwire_proto::EndReason;
use serde_json::{json, Value};

use super::calls::{self, coturn_urls, CallOutcome, LabServer, ServerSetup, Side};
use super::coturn::{Coturn, TURN_PORT};
use super::lab::{Lab, NetKind};
use crate::report::{BenchResult, Metric};

/// One scenario.
struct Scenario {
    name: &'static str,
    caller: NetKind,
    callee: NetKind,
    /// `RINGWIRE_ICE_SERVERS` and the TURN secret its server is given.
    ice_servers: String,
    turn_secret: Option<String>,
    /// Whether the call must connect anyway.
    connects: bool,
}

fn scenarios(turn: &Coturn) -> Vec<Scenario> {
    vec![
        // The server mints credentials coturn rejects (a secret that does not match, as when
        // one side was rotated): coturn answers 401 to every allocation.
        Scenario {
            name: "wrong TURN credentials",
            caller: NetKind::Symmetric,
            callee: NetKind::Symmetric,
            ice_servers: coturn_urls(TURN_PORT),
            turn_secret: Some("not-the-secret-coturn-knows".into()),
            connects: false,
        },
        // coturn is down: its host answers, nothing listens on the port (not 3479: coturn
        // listens there too, its RFC 5780 alternate port).
        Scenario {
            name: "coturn down",
            caller: NetKind::Symmetric,
            callee: NetKind::Symmetric,
            ice_servers: coturn_urls(TURN_PORT + 12),
            turn_secret: Some(turn.secret.clone()),
            connects: false,
        },
        // The first STUN server is an address whose packets vanish; coturn comes after it.
        Scenario {
            name: "a STUN server that never answers",
            caller: NetKind::Cone,
            callee: NetKind::Cone,
            ice_servers: format!("stun:198.18.200.1:3478, {}", coturn_urls(TURN_PORT)),
            turn_secret: Some(turn.secret.clone()),
            connects: true,
        },
        // A network that lets only TCP out, and no TURN server configured.
        Scenario {
            name: "UDP blocked, no TURN",
            caller: NetKind::TcpOnly,
            callee: NetKind::Cone,
            ice_servers: format!("stun:{}:{TURN_PORT}", super::lab::TURN_NAME),
            turn_secret: None,
            connects: false,
        },
    ]
}

/// Runs every scenario once, at the same time; returns the rows for the table and the detail.
pub async fn run(
    lab: &mut Lab,
    turn: &Coturn,
    dir: &std::path::Path,
    result: &mut BenchResult,
) -> anyhow::Result<Value> {
    let inet = lab.inet();
    let mut prepared = Vec::new();
    for (i, scenario) in scenarios(turn).into_iter().enumerate() {
        let setup = ServerSetup {
            name: ["failure-a", "failure-b", "failure-c", "failure-d"][i % 4],
            port: calls::SERVER_PORT + 1 + i as u16,
            ice_servers: scenario.ice_servers.clone(),
            turn_secret: scenario.turn_secret.clone(),
            pairs: 1,
        };
        let server = LabServer::start_with(lab, &inet, dir, setup).await?;
        let caller_net = lab.add_network(scenario.caller)?;
        let callee_net = lab.add_network(scenario.callee)?;
        let work = dir.join(format!("failure-{i}"));
        std::fs::create_dir_all(&work)?;
        let pair = server.pair(0)?.clone();
        let caller = Side::new(&caller_net, pair.caller_token.clone(), &work, "caller");
        let callee = Side::new(&callee_net, pair.callee_token.clone(), &work, "callee");
        prepared.push((scenario, server, caller, callee, pair.callee_user));
    }
    let lab: &Lab = lab;
    let runs = prepared
        .iter()
        .map(|(scenario, server, caller, callee, user)| {
            // A call that cannot connect gets no hang-up from its caller: the engine must end it.
            let talk = scenario.connects.then_some("3");
            calls::run_call_talking(
                lab,
                server.port,
                caller.clone(),
                callee.clone(),
                user.clone(),
                talk,
            )
        });
    let outcomes: Vec<CallOutcome> = futures_util::future::join_all(runs).await;
    let mut detail = Vec::new();
    for ((scenario, server, _, _, user), outcome) in prepared.into_iter().zip(outcomes) {
        let recorded = server.stop_and_read_end_reasons(&user).await?;
        let name = format!("failure: {}", scenario.name);
        // The server's record tells the truth too: a call that never had media is recorded
        // `media_failed`, not `hangup`.
        let recorded_truthfully = recorded.len() == 1
            && if scenario.connects {
                recorded[0] == Some(EndReason::Hangup)
            } else {
                recorded[0] == Some(EndReason::MediaFailed)
            };
        if !recorded_truthfully {
            result
                .notes
                .push(format!("{name}: the server recorded {recorded:?}"));
        }
        let as_expected = recorded_truthfully
            && if scenario.connects {
                outcome.ok()
            } else {
                ended_with_reason(&outcome)
            };
        result.results.push(Metric::new(
            format!(
                "{name}: {}",
                if scenario.connects {
                    "connected anyway"
                } else {
                    "ended by itself with a reason"
                }
            ),
            "calls",
            f64::from(u8::from(as_expected)),
        ));
        result.notes.push(format!("{name}: {}", outcome.why()));
        detail.push(json!({
            "scenario": scenario.name,
            "caller_network": scenario.caller.label(),
            "callee_network": scenario.callee.label(),
            "must_connect": scenario.connects,
            "as_expected": as_expected,
            "recorded_end_reasons": recorded.iter().map(|r| r.map(EndReason::as_str)).collect::<Vec<_>>(),
            "outcome": outcome.to_json(),
        }));
    }
    Ok(Value::Array(detail))
}

/// Both softphones reported, neither call is `ok`, and the caller's report says the media
/// failed and why (its `end_reason` is `media_failed` with a cause).
fn ended_with_reason(outcome: &CallOutcome) -> bool {
    let failed_with_cause = |r: &Result<Value, String>| {
        r.as_ref().is_ok_and(|v| {
            v["ok"] == Value::Bool(false)
                && v["end_reason"]["kind"] == "media_failed"
                && v["end_reason"]["cause"].is_string()
        })
    };
    failed_with_cause(&outcome.caller) && outcome.callee.is_ok()
}
