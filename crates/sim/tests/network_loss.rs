//! Loss statistics over 100 000 packets match the configured models.

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ringwire_sim::{LinkConfig, Loss, SimNetwork};

const PACKETS: u32 = 100_000;

fn addrs() -> (SocketAddr, SocketAddr) {
    (
        "198.18.0.1:4000".parse().unwrap(),
        "198.18.0.2:4000".parse().unwrap(),
    )
}

/// Sends numbered packets 20 ms apart and returns, for each, whether it arrived.
fn arrivals(seed: u64, loss: Loss) -> Vec<bool> {
    let (a, b) = addrs();
    let mut net = SimNetwork::new(seed);
    net.bind(b);
    net.set_link(
        a,
        b,
        LinkConfig::with_delay(Duration::from_millis(30)).loss(loss),
    );
    let mut now = Instant::now();
    let mut got = vec![false; PACKETS as usize];
    for i in 0..PACKETS {
        net.send(now, a, b, i.to_be_bytes().to_vec());
        now += Duration::from_millis(20);
        while let Some(d) = net.poll_delivery(now) {
            let n = u32::from_be_bytes(d.payload.try_into().unwrap());
            got[n as usize] = true;
        }
    }
    now += Duration::from_secs(1);
    while let Some(d) = net.poll_delivery(now) {
        let n = u32::from_be_bytes(d.payload.try_into().unwrap());
        got[n as usize] = true;
    }
    let stats = net.stats(a, b);
    let delivered = got.iter().filter(|g| **g).count() as u64;
    assert_eq!(stats.sent, u64::from(PACKETS));
    assert_eq!(stats.delivered, delivered);
    assert_eq!(stats.lost + stats.delivered, stats.sent);
    got
}

fn loss_fraction(got: &[bool]) -> f64 {
    got.iter().filter(|g| !**g).count() as f64 / got.len() as f64
}

/// Lengths of the runs of consecutive lost packets.
fn bursts(got: &[bool]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut run = 0;
    for arrived in got {
        if *arrived {
            if run > 0 {
                out.push(run);
            }
            run = 0;
        } else {
            run += 1;
        }
    }
    if run > 0 {
        out.push(run);
    }
    out
}

#[test]
fn random_loss_of_ten_percent_is_within_one_point() {
    for seed in [1, 2, 3] {
        let got = arrivals(seed, Loss::Random(0.10));
        let loss = loss_fraction(&got);
        assert!((loss - 0.10).abs() < 0.01, "seed {seed}: loss {loss}");
        // Independent losses: bursts average 1 / (1 - p) ≈ 1.11 packets.
        let b = bursts(&got);
        let mean = b.iter().sum::<usize>() as f64 / b.len() as f64;
        assert!(
            (mean - 1.0 / 0.9).abs() < 0.05,
            "seed {seed}: mean burst {mean}"
        );
    }
}

#[test]
fn bursty_loss_has_the_requested_mean_and_burst_length() {
    for seed in [1, 2, 3] {
        let got = arrivals(seed, Loss::bursty(0.10, 3.0));
        let loss = loss_fraction(&got);
        assert!((loss - 0.10).abs() < 0.015, "seed {seed}: loss {loss}");
        let b = bursts(&got);
        let mean = b.iter().sum::<usize>() as f64 / b.len() as f64;
        assert!((mean - 3.0).abs() < 0.5, "seed {seed}: mean burst {mean}");
        // Really bursty: far more long runs than independent loss would give
        // (P(run >= 5) is (2/3)^4 ≈ 20% here, 0.01% for independent 10% loss).
        let long = b.iter().filter(|len| **len >= 5).count() as f64 / b.len() as f64;
        assert!(long > 0.1, "seed {seed}: {long} of bursts are 5 or longer");
    }
}

#[test]
fn no_loss_delivers_everything() {
    let got = arrivals(9, Loss::None);
    assert!(got.iter().all(|g| *g));
}
