//! [`SimNetwork`]: an in-memory UDP network between `SocketAddr`s, in virtual time.
//!
//! `send` decides at once, with the network's seeded generator, what happens to a datagram —
//! partitioned, lost, queued behind a rate limit, delayed, held back, duplicated — and files the
//! surviving copies under their arrival time. The driver asks [`SimNetwork::next_delivery_time`]
//! when to wake and takes arrivals with [`SimNetwork::poll_delivery`], earliest first; arrivals
//! at the same instant come out in the order they were filed. A datagram to an address nobody
//! bound is dropped (and counted) when it arrives, as a closed port would.
//!
//! Links are configured per direction, for a host (`IpAddr`, all its ports) or one socket
//! address; the most specific match wins: address→address, address→host, host→address,
//! host→host, then the default link. The random state of a link (its Gilbert–Elliott channel,
//! its bottleneck queue) is shared by all flows that use the same configured link; flows on the
//! default link share it per pair of hosts.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use ringwire_netem::{Fate, LinkConfig, LinkState, SeededRng};

use crate::link::LinkStats;

/// One side of a link: a whole host or one socket address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    /// Every port of this IP address.
    Host(IpAddr),
    /// Exactly this address and port.
    Addr(SocketAddr),
}

impl Endpoint {
    /// Whether `addr` belongs to this endpoint.
    pub fn matches(&self, addr: SocketAddr) -> bool {
        match self {
            Endpoint::Host(ip) => *ip == addr.ip(),
            Endpoint::Addr(a) => *a == addr,
        }
    }
}

impl From<IpAddr> for Endpoint {
    fn from(ip: IpAddr) -> Self {
        Endpoint::Host(ip)
    }
}

impl From<std::net::Ipv4Addr> for Endpoint {
    fn from(ip: std::net::Ipv4Addr) -> Self {
        Endpoint::Host(ip.into())
    }
}

impl From<std::net::Ipv6Addr> for Endpoint {
    fn from(ip: std::net::Ipv6Addr) -> Self {
        Endpoint::Host(ip.into())
    }
}

impl From<SocketAddr> for Endpoint {
    fn from(addr: SocketAddr) -> Self {
        Endpoint::Addr(addr)
    }
}

/// A datagram handed out by [`SimNetwork::poll_delivery`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram {
    pub from: SocketAddr,
    pub to: SocketAddr,
    pub payload: Vec<u8>,
    /// When it was sent (its arrival time is the `now` it was polled at or before).
    pub sent_at: Instant,
}

type LinkKey = (Endpoint, Endpoint);

/// The simulated network. See the module docs.
#[derive(Debug)]
pub struct SimNetwork {
    rng: SeededRng,
    default_link: LinkConfig,
    links: HashMap<LinkKey, LinkConfig>,
    states: HashMap<LinkKey, LinkState>,
    bound: BTreeSet<SocketAddr>,
    /// Unordered host pairs, stored smaller first.
    partitions: BTreeSet<(IpAddr, IpAddr)>,
    /// In flight, by (arrival, filing order).
    queue: BTreeMap<(Instant, u64), Datagram>,
    filed: u64,
    stats: BTreeMap<(SocketAddr, SocketAddr), LinkStats>,
}

impl SimNetwork {
    /// An empty network whose every random decision follows from `seed`. The default link is
    /// perfect (no delay, no loss) until [`SimNetwork::set_default_link`].
    pub fn new(seed: u64) -> Self {
        SimNetwork {
            rng: SeededRng::new(seed),
            default_link: LinkConfig::default(),
            links: HashMap::new(),
            states: HashMap::new(),
            bound: BTreeSet::new(),
            partitions: BTreeSet::new(),
            queue: BTreeMap::new(),
            filed: 0,
            stats: BTreeMap::new(),
        }
    }

    /// Opens `addr` for delivery. An unspecified IP (`0.0.0.0:port`, `[::]:port`) receives for
    /// every IP of its family on that port.
    pub fn bind(&mut self, addr: SocketAddr) {
        self.bound.insert(addr);
    }

    /// Closes `addr`: datagrams arriving from now on are dropped as unbound.
    pub fn unbind(&mut self, addr: SocketAddr) {
        self.bound.remove(&addr);
    }

    /// Whether a datagram to `addr` would be delivered to a socket.
    pub fn is_bound(&self, addr: SocketAddr) -> bool {
        if self.bound.contains(&addr) {
            return true;
        }
        let any: IpAddr = match addr.ip() {
            IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        };
        self.bound.contains(&SocketAddr::new(any, addr.port()))
    }

    /// The link used by datagrams no `set_link` matches.
    pub fn set_default_link(&mut self, config: LinkConfig) {
        self.default_link = config;
    }

    /// Configures the direction `from` → `to` (each a host or one address). Replaces an earlier
    /// configuration of the same pair and resets its state.
    pub fn set_link(
        &mut self,
        from: impl Into<Endpoint>,
        to: impl Into<Endpoint>,
        config: LinkConfig,
    ) {
        let key = (from.into(), to.into());
        self.states.remove(&key);
        self.links.insert(key, config);
    }

    /// Configures both directions between `a` and `b` alike.
    pub fn set_link_both(
        &mut self,
        a: impl Into<Endpoint>,
        b: impl Into<Endpoint>,
        config: LinkConfig,
    ) {
        let (a, b) = (a.into(), b.into());
        self.set_link(a, b, config);
        self.set_link(b, a, config);
    }

    /// Removes the configuration of `from` → `to`; it falls back to less specific ones.
    pub fn clear_link(&mut self, from: impl Into<Endpoint>, to: impl Into<Endpoint>) {
        let key = (from.into(), to.into());
        self.links.remove(&key);
        self.states.remove(&key);
    }

    /// The configuration a datagram from `from` to `to` would cross.
    pub fn link(&self, from: SocketAddr, to: SocketAddr) -> &LinkConfig {
        let (key, configured) = self.link_key(from, to);
        if configured {
            if let Some(config) = self.links.get(&key) {
                return config;
            }
        }
        &self.default_link
    }

    /// Cuts every datagram between the hosts `a` and `b`, both ways and on every port, until
    /// [`SimNetwork::heal`]. Datagrams already in flight still arrive.
    pub fn partition(&mut self, a: IpAddr, b: IpAddr) {
        self.partitions.insert(ordered(a, b));
    }

    /// Undoes [`SimNetwork::partition`].
    pub fn heal(&mut self, a: IpAddr, b: IpAddr) {
        self.partitions.remove(&ordered(a, b));
    }

    /// Whether `a` and `b` are partitioned.
    pub fn is_partitioned(&self, a: IpAddr, b: IpAddr) -> bool {
        self.partitions.contains(&ordered(a, b))
    }

    /// Sends a datagram at `now`. What becomes of it is decided here, from the link's
    /// configuration and the network's seeded generator.
    pub fn send(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, payload: Vec<u8>) {
        self.flow(from, to).sent += 1;
        if self.is_partitioned(from.ip(), to.ip()) {
            self.flow(from, to).partitioned += 1;
            return;
        }
        let (key, configured) = self.link_key(from, to);
        let config = if configured {
            self.links.get(&key).unwrap_or(&self.default_link)
        } else {
            &self.default_link
        };
        let config = *config;
        let state = self.states.entry(key).or_default();
        match state.admit(&config, now, payload.len(), &mut self.rng) {
            Fate::Lost => self.flow(from, to).lost += 1,
            Fate::RateDropped => self.flow(from, to).rate_dropped += 1,
            Fate::Arrives {
                at,
                reordered,
                copy,
            } => {
                if reordered {
                    self.flow(from, to).reordered += 1;
                }
                match copy {
                    Some(copy_at) => {
                        self.file(at, from, to, payload.clone(), now);
                        self.flow(from, to).duplicated += 1;
                        self.file(copy_at, from, to, payload, now);
                    }
                    None => self.file(at, from, to, payload, now),
                }
            }
        }
    }

    /// When the next datagram arrives, if any is in flight.
    pub fn next_delivery_time(&self) -> Option<Instant> {
        self.queue.first_key_value().map(|((at, _), _)| *at)
    }

    /// The next datagram due by `now`: earliest arrival first, ties in the order they were
    /// filed. Datagrams to unbound addresses are dropped on the way and counted.
    pub fn poll_delivery(&mut self, now: Instant) -> Option<Datagram> {
        loop {
            let due = self
                .queue
                .first_key_value()
                .is_some_and(|((at, _), _)| *at <= now);
            if !due {
                return None;
            }
            let (_, datagram) = self.queue.pop_first()?;
            if self.is_bound(datagram.to) {
                self.flow(datagram.from, datagram.to).delivered += 1;
                return Some(datagram);
            }
            self.flow(datagram.from, datagram.to).unbound += 1;
        }
    }

    /// Datagrams (copies included) filed and not yet polled.
    pub fn in_flight(&self) -> usize {
        self.queue.len()
    }

    /// Counters summed over every flow from `from` to `to` (hosts or addresses).
    pub fn stats(&self, from: impl Into<Endpoint>, to: impl Into<Endpoint>) -> LinkStats {
        let (from, to) = (from.into(), to.into());
        let mut sum = LinkStats::default();
        for ((f, t), s) in &self.stats {
            if from.matches(*f) && to.matches(*t) {
                sum.add(s);
            }
        }
        sum
    }

    /// Counters summed over the whole network.
    pub fn total_stats(&self) -> LinkStats {
        let mut sum = LinkStats::default();
        for s in self.stats.values() {
            sum.add(s);
        }
        sum
    }

    fn file(
        &mut self,
        arrival: Instant,
        from: SocketAddr,
        to: SocketAddr,
        payload: Vec<u8>,
        sent_at: Instant,
    ) {
        self.filed += 1;
        self.queue.insert(
            (arrival, self.filed),
            Datagram {
                from,
                to,
                payload,
                sent_at,
            },
        );
    }

    fn flow(&mut self, from: SocketAddr, to: SocketAddr) -> &mut LinkStats {
        self.stats.entry((from, to)).or_default()
    }

    /// The most specific configured link for the pair, or the per-host-pair key of the default
    /// link (`false`).
    fn link_key(&self, from: SocketAddr, to: SocketAddr) -> (LinkKey, bool) {
        let (fa, fh) = (Endpoint::Addr(from), Endpoint::Host(from.ip()));
        let (ta, th) = (Endpoint::Addr(to), Endpoint::Host(to.ip()));
        [(fa, ta), (fa, th), (fh, ta), (fh, th)]
            .into_iter()
            .find(|key| self.links.contains_key(key))
            .map(|key| (key, true))
            .unwrap_or(((fh, th), false))
    }
}

fn ordered(a: IpAddr, b: IpAddr) -> (IpAddr, IpAddr) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use ringwire_netem::Loss;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn most_specific_link_wins() {
        let mut net = SimNetwork::new(1);
        let (a1, a2, b) = (
            addr("198.18.0.1:1"),
            addr("198.18.0.1:2"),
            addr("198.18.0.2:1"),
        );
        net.set_link(
            a1.ip(),
            b.ip(),
            LinkConfig::with_delay(Duration::from_millis(10)),
        );
        net.set_link(a1, b, LinkConfig::with_delay(Duration::from_millis(20)));
        assert_eq!(net.link(a1, b).delay, Duration::from_millis(20));
        assert_eq!(net.link(a2, b).delay, Duration::from_millis(10));
        assert_eq!(net.link(b, a1).delay, Duration::ZERO, "links are one-way");
        net.clear_link(a1, b);
        assert_eq!(net.link(a1, b).delay, Duration::from_millis(10));
    }

    #[test]
    fn delivers_after_the_delay_in_order_and_counts() {
        let mut net = SimNetwork::new(1);
        let (a, b) = (addr("198.18.0.1:5000"), addr("198.18.0.2:6000"));
        net.bind(b);
        net.set_default_link(LinkConfig::with_delay(Duration::from_millis(30)));
        let t0 = Instant::now();
        net.send(t0, a, b, vec![1]);
        net.send(t0, a, b, vec![2]);
        assert_eq!(
            net.next_delivery_time(),
            Some(t0 + Duration::from_millis(30))
        );
        assert_eq!(net.poll_delivery(t0 + Duration::from_millis(29)), None);
        let now = t0 + Duration::from_millis(30);
        let first = net.poll_delivery(now).unwrap();
        let second = net.poll_delivery(now).unwrap();
        assert_eq!((first.payload, second.payload), (vec![1], vec![2]));
        assert_eq!((first.from, first.to, first.sent_at), (a, b, t0));
        assert_eq!(net.poll_delivery(now), None);
        let stats = net.stats(a, b);
        assert_eq!((stats.sent, stats.delivered, stats.dropped()), (2, 2, 0));
    }

    #[test]
    fn unbound_destinations_drop_and_count_and_wildcard_binds_receive() {
        let mut net = SimNetwork::new(1);
        let (a, b) = (addr("198.18.0.1:5000"), addr("198.18.0.2:6000"));
        let t0 = Instant::now();
        net.send(t0, a, b, vec![1]);
        assert_eq!(net.poll_delivery(t0), None);
        assert_eq!(net.stats(a, b).unbound, 1);
        net.bind(addr("0.0.0.0:6000"));
        net.send(t0, a, b, vec![2]);
        assert_eq!(net.poll_delivery(t0).map(|d| d.payload), Some(vec![2]));
        net.unbind(addr("0.0.0.0:6000"));
        net.send(t0, a, b, vec![3]);
        assert_eq!(net.poll_delivery(t0), None);
        assert_eq!(net.stats(a, b).unbound, 2);
    }

    #[test]
    fn random_loss_counts_match_deliveries() {
        let mut net = SimNetwork::new(3);
        let (a, b) = (addr("198.18.0.1:1"), addr("198.18.0.2:1"));
        net.bind(b);
        net.set_link(a, b, LinkConfig::default().loss(Loss::Random(0.5)));
        let t0 = Instant::now();
        for i in 0..1000u32 {
            net.send(t0, a, b, i.to_be_bytes().to_vec());
        }
        let mut got = 0;
        while net.poll_delivery(t0).is_some() {
            got += 1;
        }
        let stats = net.stats(a, b);
        assert_eq!(stats.delivered, got);
        assert_eq!(stats.lost + stats.delivered, 1000);
        assert!((400..600).contains(&stats.lost), "{stats:?}");
    }
}
