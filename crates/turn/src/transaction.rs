//! What every STUN request shares: a transaction id from a seeded generator, and the RFC 5389
//! §7.2.1 retransmission schedule (over UDP: resend after RTO, doubling, a bounded number of
//! sends; over TCP/TLS: send once) under one total deadline.

use std::time::{Duration, Instant};

use crate::stun::integrity::hmac_sha1;
use crate::stun::TransactionId;

/// How requests are retransmitted and when they give up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetransmitConfig {
    /// First retransmission timeout; doubles after each send (RFC 5389 suggests 500 ms; ICE
    /// gathering wants an answer sooner, so 250 ms by default).
    pub initial_rto: Duration,
    /// The RTO never grows past this.
    pub max_rto: Duration,
    /// Sends over UDP, the first included (RFC 5389's Rc is 7).
    pub max_sends: u32,
    /// The transaction fails with [`crate::Error::Timeout`] this long after the first send,
    /// over any transport.
    pub deadline: Duration,
}

impl Default for RetransmitConfig {
    /// 250 ms doubling to at most 4 s, 7 sends (0, 0.25, 0.75, 1.75, 3.75, 7.75 s), failing 10 s
    /// after the first send — a dead server costs a gathering pass at most 10 s.
    fn default() -> Self {
        RetransmitConfig {
            initial_rto: Duration::from_millis(250),
            max_rto: Duration::from_secs(4),
            max_sends: 7,
            deadline: Duration::from_secs(10),
        }
    }
}

/// What a transaction's timer says when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tick {
    /// Nothing due yet.
    Wait,
    /// Send the request again.
    Resend,
    /// Give up: the deadline passed.
    Expired,
}

/// One request's retransmission state.
#[derive(Debug, Clone)]
pub(crate) struct Retransmit {
    next_send: Option<Instant>,
    rto: Duration,
    sends: u32,
    deadline: Instant,
}

impl Retransmit {
    /// Started by the first send at `now`; `reliable` (TCP/TLS) never resends.
    pub(crate) fn new(now: Instant, config: &RetransmitConfig, reliable: bool) -> Self {
        let next_send = (!reliable && config.max_sends > 1).then(|| now + config.initial_rto);
        Retransmit {
            next_send,
            rto: config.initial_rto,
            sends: 1,
            deadline: now + config.deadline,
        }
    }

    /// The next instant this timer needs.
    pub(crate) fn poll_timeout(&self) -> Instant {
        self.next_send
            .map_or(self.deadline, |t| t.min(self.deadline))
    }

    /// Advances to `now`.
    pub(crate) fn tick(&mut self, now: Instant, config: &RetransmitConfig) -> Tick {
        if now >= self.deadline {
            return Tick::Expired;
        }
        match self.next_send {
            Some(t) if now >= t => {
                self.sends += 1;
                self.rto = (self.rto * 2).min(config.max_rto);
                self.next_send = (self.sends < config.max_sends).then(|| now + self.rto);
                Tick::Resend
            }
            _ => Tick::Wait,
        }
    }
}

/// Transaction ids from a seed: HMAC-SHA1(seed, counter), so they are unpredictable to anyone
/// without the seed (RFC 5389 §6 wants them random against off-path spoofing), and the same in
/// every run of a test that uses the same seed. Drivers seed it from the OS (`getrandom`).
#[derive(Clone)]
pub struct IdGenerator {
    key: [u8; 32],
    counter: u64,
}

impl std::fmt::Debug for IdGenerator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdGenerator")
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}

impl IdGenerator {
    /// A generator keyed by 32 random bytes (production: from the OS).
    pub fn new(seed: [u8; 32]) -> Self {
        IdGenerator {
            key: seed,
            counter: 0,
        }
    }

    /// A generator from a small seed, for tests and simulations.
    pub fn from_u64(seed: u64) -> Self {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&seed.to_le_bytes());
        Self::new(key)
    }

    /// The next transaction id.
    pub fn next_id(&mut self) -> TransactionId {
        self.counter = self.counter.wrapping_add(1);
        let mac = hmac_sha1(&self.key, &[&self.counter.to_be_bytes()]);
        let mut id = [0u8; 12];
        id.copy_from_slice(&mac[..12]);
        TransactionId(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_schedule_doubles_and_ends_at_the_deadline() {
        let cfg = RetransmitConfig::default();
        let t0 = Instant::now();
        let mut r = Retransmit::new(t0, &cfg, false);
        let mut sends = vec![Duration::ZERO];
        loop {
            let at = r.poll_timeout();
            match r.tick(at, &cfg) {
                Tick::Resend => sends.push(at - t0),
                Tick::Expired => {
                    assert_eq!(at - t0, cfg.deadline);
                    break;
                }
                Tick::Wait => panic!("timer fired with nothing due"),
            }
        }
        let ms: Vec<u128> = sends.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [0, 250, 750, 1750, 3750, 7750]);
    }

    #[test]
    fn tcp_sends_once() {
        let cfg = RetransmitConfig::default();
        let t0 = Instant::now();
        let mut r = Retransmit::new(t0, &cfg, true);
        assert_eq!(r.poll_timeout(), t0 + cfg.deadline);
        assert_eq!(r.tick(t0 + Duration::from_secs(5), &cfg), Tick::Wait);
        assert_eq!(r.tick(t0 + cfg.deadline, &cfg), Tick::Expired);
    }

    #[test]
    fn ids_are_deterministic_per_seed_and_distinct() {
        let mut a = IdGenerator::from_u64(1);
        let mut b = IdGenerator::from_u64(1);
        let mut c = IdGenerator::from_u64(2);
        let (x, y) = (a.next_id(), a.next_id());
        assert_ne!(x, y);
        assert_eq!(x, b.next_id());
        assert_ne!(x, c.next_id());
    }
}
