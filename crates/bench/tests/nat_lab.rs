//! Calls across real NATs (issue 16): the shipped binary's `bench nat` builds a closed lab of
//! network namespaces (cone, symmetric, TCP-only, IPv6 behind a stateful firewall, IPv6-only
//! behind NAT64/DNS64), starts the server and coturn on its "internet", and places 20 calls per
//! cell between native softphones inside the home networks. Every call must connect with each
//! side's tone found in the other's recording, through a candidate pair the cell allows. Then
//! a device moves mid-call from one network to another, and the call must go on; and a direct
//! path dies with no interface event, and the call must move to the relay and go on.
//! Chromium (the browser client) behind a cone NAT and a native phone behind a symmetric NAT
//! call each other both ways, two Chromiums make a call in every network cell, and four failure
//! scenarios must end by themselves with a reason that the server's record keeps too (or, for a
//! dead STUN server, not matter). Needs root (network namespaces), nftables,
//! coturn, tayga, unbound, Chromium and web/node_modules; scripts/test installs them.

use std::process::Command;

use serde_json::Value;

const CALLS_PER_CELL: usize = 20;
/// Handover calls run one after another (one device moves), so fewer than a cell's.
const HANDOVERS: usize = 6;
/// Chromium↔native calls per direction, one at a time (a browser each).
const BROWSER_CALLS: usize = 3;
/// Calls whose direct path dies silently mid-call (35 s each).
const PATH_DEATHS: usize = 1;
/// Chromium↔Chromium calls in each network cell, one at a time (two browsers each).
const BROWSER_PAIR_CALLS: usize = 1;

#[test]
fn every_cell_of_the_nat_matrix_connects_with_audio_both_ways() {
    let output = Command::new(env!("CARGO_BIN_EXE_ringwire-bench"))
        .args(["nat", "--json", "--calls"])
        .arg(CALLS_PER_CELL.to_string())
        .arg("--handovers")
        .arg(HANDOVERS.to_string())
        .arg("--browser-calls")
        .arg(BROWSER_CALLS.to_string())
        .arg("--path-deaths")
        .arg(PATH_DEATHS.to_string())
        .arg("--browser-pair-calls")
        .arg(BROWSER_PAIR_CALLS.to_string())
        .output()
        .expect("run ringwire bench nat");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let result: Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no JSON result; stdout:\n{stdout}\nstderr:\n{stderr}"));
    assert!(
        result.get("error").is_none(),
        "the lab failed: {}\nstderr:\n{stderr}",
        result["error"]
    );
    let cells = result["detail"]["cells"]
        .as_array()
        .unwrap_or_else(|| panic!("no cells in {result}"));
    // Six network cells, then Chromium behind a cone NAT and a native phone behind a
    // symmetric one calling each other both ways.
    assert_eq!(cells.len(), 7, "{result}");
    let mut failures = Vec::new();
    for cell in cells {
        let name = cell["cell"].as_str().unwrap_or("?");
        let expected: Vec<&str> = cell["expected_pairs"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let outcomes = cell["outcomes"].as_array().unwrap();
        let expected_calls = if name.starts_with("Chromium") {
            2 * BROWSER_CALLS
        } else {
            CALLS_PER_CELL
        };
        assert_eq!(outcomes.len(), expected_calls, "{name}");
        for (i, call) in outcomes.iter().enumerate() {
            if call["ok"] != Value::Bool(true) {
                failures.push(format!("{name} call {i}: {call}"));
                continue;
            }
            // Both sides heard each other (checked by `ok`); the path is one the cell allows.
            let pair = call["pair"].as_str().unwrap_or("none");
            if !expected.iter().any(|e| pair.starts_with(e)) {
                failures.push(format!(
                    "{name} call {i}: connected through {pair}, expected one of {expected:?}"
                ));
            }
        }
        eprintln!(
            "{name}: {}/{expected_calls} connected; pairs {}",
            cell["connected"], cell["pairs"]
        );
        // The same cell between two browser clients, through the same NATs and coturn: the
        // server's ICE configuration serves a web app as it serves the native engine.
        if !name.starts_with("Chromium") {
            let browsers = cell["chromium_pairs"]["outcomes"].as_array().unwrap();
            assert_eq!(browsers.len(), BROWSER_PAIR_CALLS, "{name}");
            for (i, call) in browsers.iter().enumerate() {
                if call["ok"] != Value::Bool(true) {
                    failures.push(format!("Chromium↔Chromium {name} call {i}: {call}"));
                }
            }
        }
    }
    // Handover: the device moves from a home cone NAT to a carrier-grade (symmetric) NAT and
    // back; each call must go on with audio both ways after the move.
    check_survived(
        "handover",
        &result["detail"]["handover"],
        HANDOVERS,
        &mut failures,
    );
    // A direct path that dies with no interface event: the media goes quiet, ICE restarts, the
    // call moves to the relay and goes on with audio both ways.
    check_survived(
        "silent path death",
        &result["detail"]["path_deaths"],
        PATH_DEATHS,
        &mut failures,
    );
    // The same run's baseline: two phones on one home network, through a server with no ICE
    // servers at all (its invite→ringing is the figure the cells' must match; here only that
    // it works).
    let baseline = &result["detail"]["no_ice_baseline"];
    assert_eq!(baseline["calls"], CALLS_PER_CELL, "{baseline}");
    if baseline["connected"] != baseline["calls"] {
        failures.push(format!("the no-ICE baseline lost calls: {baseline}"));
    }
    // Failures: wrong TURN credentials, coturn down and UDP blocked with no TURN end by
    // themselves (the caller never hangs up) with `media_failed` and a cause; a STUN server
    // that never answers does not stop a call that srflx can carry.
    let scenarios = result["detail"]["failures"]
        .as_array()
        .expect("failure scenarios");
    assert_eq!(scenarios.len(), 4, "{scenarios:?}");
    for scenario in scenarios {
        let name = scenario["scenario"].as_str().unwrap_or("?");
        eprintln!(
            "failure scenario {name}: as expected = {}",
            scenario["as_expected"]
        );
        if scenario["as_expected"] != Value::Bool(true) {
            failures.push(format!("failure scenario {name}: {}", scenario["outcome"]));
            continue;
        }
        let caller = &scenario["outcome"]["caller"];
        if name.contains("TURN") || name.contains("coturn") {
            // What was tried and why it failed is in the report, for the app to show.
            let tried = caller["gathering_failures"].as_array().map_or(0, Vec::len);
            if tried == 0 {
                failures.push(format!(
                    "failure scenario {name}: the report does not say what failed: {caller}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} call(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Mid-call event calls (`bench nat`'s `handover` or `path_deaths`): as many as run, and each
/// one survived with audio both ways at the end.
fn check_survived(what: &str, calls: &Value, expected: usize, failures: &mut Vec<String>) {
    let survived = calls["survived"]
        .as_array()
        .unwrap_or_else(|| panic!("no {what} results"));
    assert_eq!(survived.len(), expected, "{calls}");
    for (i, ok) in survived.iter().enumerate() {
        if ok != &Value::Bool(true) {
            failures.push(format!(
                "{what} call {i} did not survive: {}",
                calls["outcomes"][i]
            ));
        }
    }
    eprintln!(
        "{what}: {expected} calls; longest gaps at the far end {} ms",
        calls["far_gaps_ms"]
    );
}
