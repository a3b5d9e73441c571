//! Delay, jitter, reordering, duplication, partitions, rate limits and determinism of the
//! simulated network.

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ringwire_sim::{Datagram, LinkConfig, Loss, SimNetwork};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn a() -> SocketAddr {
    addr("198.18.0.1:4000")
}

fn b() -> SocketAddr {
    addr("198.18.0.2:5000")
}

/// Sends `n` numbered packets from `a` to `b`, `gap` apart, and returns every delivery with
/// its arrival time, draining until nothing is in flight.
fn run(net: &mut SimNetwork, t0: Instant, n: u32, gap: Duration) -> Vec<(Instant, Datagram)> {
    let mut out = Vec::new();
    let mut next_send = 0;
    let mut now = t0;
    loop {
        let send_at = (next_send < n).then(|| t0 + gap * next_send);
        let Some(at) = [send_at, net.next_delivery_time()]
            .into_iter()
            .flatten()
            .min()
        else {
            break;
        };
        now = now.max(at);
        while let Some(d) = net.poll_delivery(now) {
            out.push((now, d));
        }
        if send_at.is_some_and(|t| t <= now) {
            net.send(now, a(), b(), next_send.to_be_bytes().to_vec());
            next_send += 1;
        }
    }
    out
}

fn seq(d: &Datagram) -> u32 {
    u32::from_be_bytes(d.payload.clone().try_into().unwrap())
}

#[test]
fn jitter_stays_within_delay_plus_jitter_and_spreads_over_it() {
    let mut net = SimNetwork::new(5);
    net.bind(b());
    let (delay, jitter) = (Duration::from_millis(50), Duration::from_millis(30));
    net.set_link(a(), b(), LinkConfig::with_delay(delay).jitter(jitter));
    let t0 = Instant::now();
    let got = run(&mut net, t0, 10_000, Duration::from_millis(20));
    assert_eq!(got.len(), 10_000);
    let mut min = Duration::MAX;
    let mut max = Duration::ZERO;
    let mut sum = Duration::ZERO;
    for (at, d) in &got {
        let transit = *at - d.sent_at;
        min = min.min(transit);
        max = max.max(transit);
        sum += transit;
    }
    assert!(min >= delay, "{min:?}");
    assert!(max < delay + jitter, "{max:?}");
    // Uniform: the extremes are nearly reached and the mean is in the middle.
    assert!(min < delay + Duration::from_millis(1), "{min:?}");
    assert!(max > delay + jitter - Duration::from_millis(1), "{max:?}");
    let mean = sum / 10_000;
    let middle = delay + jitter / 2;
    assert!(mean.abs_diff(middle) < Duration::from_millis(1), "{mean:?}");
}

#[test]
fn without_jitter_or_reorder_order_is_kept() {
    let mut net = SimNetwork::new(5);
    net.bind(b());
    net.set_link(a(), b(), LinkConfig::with_delay(Duration::from_millis(50)));
    let got = run(&mut net, Instant::now(), 1000, Duration::from_millis(1));
    let order: Vec<u32> = got.iter().map(|(_, d)| seq(d)).collect();
    assert_eq!(order, (0..1000).collect::<Vec<_>>());
}

#[test]
fn reorder_holds_packets_back_so_later_ones_overtake() {
    let mut net = SimNetwork::new(6);
    net.bind(b());
    let config =
        LinkConfig::with_delay(Duration::from_millis(40)).reorder(0.2, Duration::from_millis(25));
    net.set_link(a(), b(), config);
    let got = run(&mut net, Instant::now(), 10_000, Duration::from_millis(10));
    assert_eq!(got.len(), 10_000, "reordering loses nothing");
    let reordered = net.stats(a(), b()).reordered;
    assert!((1800..2200).contains(&reordered), "{reordered}");
    // A packet held back 25 ms is overtaken by the ones sent in the next 25 ms (two or three
    // at 10 ms spacing), unless they were held back too.
    let order: Vec<u32> = got.iter().map(|(_, d)| seq(d)).collect();
    let inversions = order.windows(2).filter(|w| w[0] > w[1]).count();
    assert!(inversions > 1000, "{inversions} inversions");
    for (at, d) in &got {
        let transit = *at - d.sent_at;
        assert!(
            transit == Duration::from_millis(40) || transit == Duration::from_millis(65),
            "{transit:?}"
        );
    }
    let mut sorted = order.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..10_000).collect::<Vec<_>>());
}

#[test]
fn duplicates_arrive_twice_at_the_configured_rate() {
    let mut net = SimNetwork::new(7);
    net.bind(b());
    let config = LinkConfig::with_delay(Duration::from_millis(20))
        .jitter(Duration::from_millis(5))
        .duplicate(0.05);
    net.set_link(a(), b(), config);
    let got = run(&mut net, Instant::now(), 20_000, Duration::from_millis(20));
    let stats = net.stats(a(), b());
    assert_eq!(got.len() as u64, 20_000 + stats.duplicated);
    assert_eq!(stats.delivered, got.len() as u64);
    let rate = stats.duplicated as f64 / 20_000.0;
    assert!((rate - 0.05).abs() < 0.006, "{rate}");
    let mut counts = vec![0u32; 20_000];
    for (_, d) in &got {
        counts[seq(d) as usize] += 1;
    }
    assert!(counts.iter().all(|c| (1..=2).contains(c)));
    assert_eq!(
        counts.iter().filter(|c| **c == 2).count() as u64,
        stats.duplicated
    );
}

#[test]
fn partition_drops_every_port_both_ways_and_heal_restores() {
    let mut net = SimNetwork::new(8);
    let (a1, a2, b1, c1) = (
        addr("198.18.0.1:1"),
        addr("198.18.0.1:2"),
        addr("198.18.0.2:1"),
        addr("198.18.0.3:1"),
    );
    for x in [a1, a2, b1, c1] {
        net.bind(x);
    }
    net.set_default_link(LinkConfig::with_delay(Duration::from_millis(10)));
    let t0 = Instant::now();
    let later = t0 + Duration::from_secs(1);
    // In flight before the partition: still arrives.
    net.send(t0, a1, b1, vec![0]);
    net.partition(a1.ip(), b1.ip());
    assert!(net.is_partitioned(b1.ip(), a1.ip()));
    net.send(t0, a1, b1, vec![1]);
    net.send(t0, a2, b1, vec![2]);
    net.send(t0, b1, a2, vec![3]);
    net.send(t0, a1, c1, vec![4]);
    let mut got: Vec<u8> = std::iter::from_fn(|| net.poll_delivery(later))
        .map(|d| d.payload[0])
        .collect();
    got.sort_unstable();
    assert_eq!(
        got,
        [0, 4],
        "only the earlier packet and the third host get through"
    );
    let ip_a: IpAddr = a1.ip();
    assert_eq!(net.stats(ip_a, b1.ip()).partitioned, 2);
    assert_eq!(net.stats(b1.ip(), ip_a).partitioned, 1);

    net.heal(b1.ip(), a1.ip());
    net.send(later, a1, b1, vec![5]);
    net.send(later, b1, a2, vec![6]);
    let done = later + Duration::from_secs(1);
    let got: Vec<u8> = std::iter::from_fn(|| net.poll_delivery(done))
        .map(|d| d.payload[0])
        .collect();
    assert_eq!(got, [5, 6]);
}

#[test]
fn host_links_apply_to_every_port_and_address_links_override() {
    let mut net = SimNetwork::new(9);
    let (a1, a2, b1) = (addr("198.18.0.1:1"), addr("198.18.0.1:2"), b());
    net.bind(b1);
    net.set_link(
        a1.ip(),
        b1.ip(),
        LinkConfig::default().loss(Loss::Random(1.0)),
    );
    net.set_link(a2, b1, LinkConfig::with_delay(Duration::from_millis(5)));
    let t0 = Instant::now();
    net.send(t0, a1, b1, vec![1]);
    net.send(t0, a2, b1, vec![2]);
    let got: Vec<u8> = std::iter::from_fn(|| net.poll_delivery(t0 + Duration::from_secs(1)))
        .map(|d| d.payload[0])
        .collect();
    assert_eq!(got, [2]);
    assert_eq!(net.stats(a1.ip(), b1.ip()).lost, 1);
    assert_eq!(net.stats(a1.ip(), b1.ip()).sent, 2);
}

#[test]
fn rate_limit_caps_throughput_and_drops_what_does_not_fit() {
    let mut net = SimNetwork::new(10);
    net.bind(b());
    // 64 kbit/s with room for 4 kB: 200-byte packets every 10 ms offer 160 kbit/s.
    let config = LinkConfig::with_delay(Duration::from_millis(10)).rate_limit(64_000, 4_000);
    net.set_link(a(), b(), config);
    let t0 = Instant::now();
    let mut now = t0;
    let mut delivered_bytes = 0usize;
    let mut last_arrival = t0;
    let mut max_transit = Duration::ZERO;
    for i in 0..1000u32 {
        let mut payload = vec![0u8; 200];
        payload[..4].copy_from_slice(&i.to_be_bytes());
        net.send(now, a(), b(), payload);
        now += Duration::from_millis(10);
        while let Some(d) = net.poll_delivery(now) {
            delivered_bytes += d.payload.len();
            last_arrival = now;
            max_transit = max_transit.max(now - d.sent_at);
        }
    }
    let stats = net.stats(a(), b());
    assert!(stats.rate_dropped > 0);
    assert_eq!(
        stats.rate_dropped + stats.delivered + net.in_flight() as u64,
        1000
    );
    // Over the 10 s the link carried what 64 kbit/s allows, not more.
    let secs = (last_arrival - t0).as_secs_f64();
    let kbps = delivered_bytes as f64 * 8.0 / secs / 1000.0;
    assert!((58.0..=64.5).contains(&kbps), "{kbps} kbit/s");
    // The full queue delays packets by up to 4 kB at 64 kbit/s (500 ms), plus the 10 ms link
    // delay, plus up to 10 ms because this loop polls every 10 ms — and no more.
    assert!(max_transit > Duration::from_millis(450), "{max_transit:?}");
    assert!(max_transit <= Duration::from_millis(520), "{max_transit:?}");
}

/// Everything observable about a run: which packets arrived, when, and in what order.
fn trace(seed: u64) -> Vec<(Duration, u32)> {
    let mut net = SimNetwork::new(seed);
    net.bind(b());
    let config = LinkConfig::with_delay(Duration::from_millis(30))
        .jitter(Duration::from_millis(20))
        .loss(Loss::bursty(0.05, 2.0))
        .duplicate(0.02)
        .reorder(0.05, Duration::from_millis(15));
    net.set_link(a(), b(), config);
    let t0 = Instant::now();
    run(&mut net, t0, 2000, Duration::from_millis(20))
        .iter()
        .map(|(at, d)| (*at - t0, seq(d)))
        .collect()
}

#[test]
fn same_seed_gives_the_same_deliveries_different_seed_does_not() {
    let first = trace(1234);
    assert_eq!(first, trace(1234));
    assert_ne!(first, trace(1235));
    assert!(first.len() > 1800, "{}", first.len());
}
