//! Scenario tests of the TURN client against a scripted server on a virtual clock: the 401 and
//! 438 dances, typed failures, retransmission and deadlines, TCP framing, deallocation, and
//! forged responses. The data path and the refresh schedules are in [`data_path`].

mod data_path;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::*;
use crate::stun::attr;
use crate::stun::integrity::long_term_key;

pub(super) const SERVER: &str = "192.0.2.10:3478";
pub(super) const RELAYED: &str = "198.51.100.1:50000";
pub(super) const MAPPED: &str = "203.0.113.5:4000";
pub(super) const PEER: &str = "198.51.100.77:6000";

/// A scripted TURN server: answers each request with what `reply` says, checking credentials.
pub(super) struct Server {
    nonce: String,
    password: String,
    /// Error codes to answer the next requests with (after authentication), in order.
    pub(super) errors: Vec<u16>,
    lifetime: u32,
}

impl Server {
    pub(super) fn new() -> Self {
        Server {
            nonce: "n1".into(),
            password: "pass".into(),
            errors: Vec::new(),
            lifetime: 600,
        }
    }

    fn key(&self) -> [u8; 16] {
        long_term_key("user", "example.org", &self.password)
    }

    /// The response to one request, or `None` for indications.
    pub(super) fn answer(&mut self, request: &[u8]) -> Option<Vec<u8>> {
        let m = Message::decode(request).unwrap();
        if m.class != Class::Request {
            return None;
        }
        let reply = |class| MessageBuilder::new(class, m.method, m.transaction_id);
        let authed = m.has_integrity()
            && m.check_integrity(&self.key())
            && m.text(attr::NONCE).unwrap() == Some(&self.nonce);
        if !m.has_integrity() || !m.check_integrity(&self.key()) {
            return Some(
                reply(Class::Error)
                    .attr(attr::ERROR_CODE, &[0, 0, 4, 1])
                    .attr(attr::REALM, b"example.org")
                    .attr(attr::NONCE, self.nonce.as_bytes())
                    .finish(None, true),
            );
        }
        if !authed {
            return Some(
                reply(Class::Error)
                    .attr(attr::ERROR_CODE, &[0, 0, 4, 38])
                    .attr(attr::NONCE, self.nonce.as_bytes())
                    .finish(Some(&self.key()), true),
            );
        }
        if !self.errors.is_empty() {
            let code = self.errors.remove(0);
            let value = [0, 0, (code / 100) as u8, (code % 100) as u8];
            let mut b = reply(Class::Error).attr(attr::ERROR_CODE, &value);
            if code == 438 {
                self.nonce.push('x');
                b = b.attr(attr::NONCE, self.nonce.as_bytes());
            }
            return Some(b.finish(Some(&self.key()), true));
        }
        let b = reply(Class::Success);
        let b = match m.method {
            Method::Allocate => b
                .xor_address(attr::XOR_RELAYED_ADDRESS, RELAYED.parse().unwrap())
                .xor_address(attr::XOR_MAPPED_ADDRESS, MAPPED.parse().unwrap())
                .attr(attr::LIFETIME, &self.lifetime.to_be_bytes()),
            Method::Refresh => b.attr(attr::LIFETIME, m.attr(attr::LIFETIME).unwrap()),
            _ => b,
        };
        Some(b.finish(Some(&self.key()), true))
    }
}

pub(super) fn client(transport: Transport) -> TurnClient {
    let credentials = Credentials {
        username: "user".into(),
        password: "pass".into(),
    };
    TurnClient::new(
        TurnConfig::new(SERVER.parse().unwrap(), transport, credentials),
        IdGenerator::from_u64(7),
    )
}

/// Delivers every transmit to the server and its answers back; returns the events.
pub(super) fn exchange(c: &mut TurnClient, s: &mut Server, now: Instant) -> Vec<TurnEvent> {
    while let Some(t) = c.poll_transmit() {
        assert_eq!(t.destination, SERVER.parse().unwrap());
        if let Some(answer) = s.answer(&t.contents) {
            c.handle_input(now, &answer).unwrap();
        }
    }
    std::iter::from_fn(|| c.poll_event()).collect()
}

pub(super) fn allocated(transport: Transport) -> (TurnClient, Server, Instant) {
    let (mut c, mut s, t0) = (client(transport), Server::new(), Instant::now());
    c.start(t0);
    let events = exchange(&mut c, &mut s, t0);
    let expected = TurnEvent::Allocated {
        relayed: RELAYED.parse().unwrap(),
        mapped: Some(MAPPED.parse().unwrap()),
        lifetime: Duration::from_secs(600),
    };
    assert_eq!(events, [expected]);
    (c, s, t0)
}

#[test]
fn allocate_goes_through_the_401_dance() {
    let (c, _, _) = allocated(Transport::Udp);
    assert_eq!(c.relayed(), Some(RELAYED.parse().unwrap()));
}

#[test]
fn same_seed_same_bytes() {
    let run = || {
        let mut c = client(Transport::Udp);
        c.start(Instant::now());
        c.poll_transmit().unwrap().contents
    };
    assert_eq!(run(), run());
}

#[test]
fn wrong_password_is_unauthorized() {
    let (mut c, mut s, t0) = (client(Transport::Udp), Server::new(), Instant::now());
    s.password = "other".into();
    c.start(t0);
    assert_eq!(
        exchange(&mut c, &mut s, t0),
        [TurnEvent::Failed(Error::Unauthorized)]
    );
    assert!(c.is_closed());
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn stale_nonce_is_retried_then_given_up() {
    let (mut c, mut s, t0) = (client(Transport::Udp), Server::new(), Instant::now());
    s.errors = vec![438];
    c.start(t0);
    assert!(matches!(
        exchange(&mut c, &mut s, t0)[..],
        [TurnEvent::Allocated { .. }]
    ));
    let (mut c, mut s) = (client(Transport::Udp), Server::new());
    s.errors = vec![438; 4];
    c.start(t0);
    assert_eq!(
        exchange(&mut c, &mut s, t0),
        [TurnEvent::Failed(Error::StaleNonce)]
    );
}

#[test]
fn allocate_errors_are_typed() {
    for (code, error) in [
        (486, Error::QuotaReached),
        (508, Error::InsufficientCapacity),
        (403, Error::Forbidden),
        (442, Error::UnsupportedTransport),
        (
            500,
            Error::Server {
                code: 500,
                reason: String::new(),
            },
        ),
    ] {
        let (mut c, mut s, t0) = (client(Transport::Udp), Server::new(), Instant::now());
        s.errors = vec![code];
        c.start(t0);
        assert_eq!(exchange(&mut c, &mut s, t0), [TurnEvent::Failed(error)]);
    }
}

#[test]
fn silent_server_times_out_after_retransmits() {
    let (mut c, t0) = (client(Transport::Udp), Instant::now());
    c.start(t0);
    let mut sends = vec![];
    let mut events = vec![];
    while let Some(at) = c.poll_timeout() {
        while c.poll_transmit().is_some() {
            sends.push((at - t0).as_millis());
        }
        c.handle_timeout(at);
        events.extend(std::iter::from_fn(|| c.poll_event()));
    }
    assert_eq!(sends.len(), 6, "{sends:?}");
    assert_eq!(events, [TurnEvent::Failed(Error::Timeout)]);
}

#[test]
fn tcp_sends_once_and_frames_chunked_input() {
    let (mut c, mut s, t0) = (client(Transport::Tcp), Server::new(), Instant::now());
    c.start(t0);
    // Feed the server's answers one byte at a time.
    while let Some(t) = c.poll_transmit() {
        for byte in s.answer(&t.contents).unwrap() {
            c.handle_input(t0, &[byte]).unwrap();
        }
    }
    assert!(matches!(c.poll_event(), Some(TurnEvent::Allocated { .. })));
    assert!(c.poll_timeout().is_some());
    // Garbage on the stream closes the client.
    assert!(c.handle_input(t0, &[0xff, 0, 0, 0]).is_err());
    assert_eq!(
        c.poll_event(),
        Some(TurnEvent::Failed(Error::Malformed("stream out of step")))
    );
}

#[test]
fn lost_allocation_on_refresh_is_reported() {
    let (mut c, mut s, _) = allocated(Transport::Udp);
    s.errors = vec![437];
    let at = c.poll_timeout().unwrap();
    c.handle_timeout(at);
    assert_eq!(
        exchange(&mut c, &mut s, at),
        [TurnEvent::Failed(Error::AllocationMismatch)]
    );
}

#[test]
fn deallocate_sends_refresh_zero() {
    let (mut c, mut s, t0) = allocated(Transport::Udp);
    c.deallocate(t0);
    let t = c.poll_transmit().unwrap();
    let m = Message::decode(&t.contents).unwrap();
    assert_eq!(
        (m.method, m.lifetime().unwrap()),
        (Method::Refresh, Some(0))
    );
    c.handle_input(t0, &s.answer(&t.contents).unwrap()).unwrap();
    assert_eq!(c.poll_event(), Some(TurnEvent::Deallocated));
    assert_eq!(c.poll_timeout(), None);
    assert_eq!(
        c.send_to(PEER.parse().unwrap(), b"x"),
        Err(Error::NoAllocation)
    );
}

#[test]
fn forged_success_without_the_key_is_ignored() {
    let (mut c, mut s, t0) = (client(Transport::Udp), Server::new(), Instant::now());
    c.start(t0);
    let first = c.poll_transmit().unwrap();
    c.handle_input(t0, &s.answer(&first.contents).unwrap())
        .unwrap();
    let second = c.poll_transmit().unwrap();
    let id = Message::decode(&second.contents).unwrap().transaction_id;
    let relayed: SocketAddr = "192.0.2.66:1".parse().unwrap();
    let forged = MessageBuilder::new(Class::Success, Method::Allocate, id)
        .xor_address(attr::XOR_RELAYED_ADDRESS, relayed)
        .finish(Some(b"not the key"), true);
    assert!(c.handle_input(t0, &forged).is_err());
    assert_eq!(c.poll_event(), None);
    c.handle_input(t0, &s.answer(&second.contents).unwrap())
        .unwrap();
    assert!(matches!(c.poll_event(), Some(TurnEvent::Allocated { .. })));
    let _: IpAddr = relayed.ip();
}

#[test]
fn deallocate_while_allocating_deletes_without_announcing() {
    let (mut c, mut s, t0) = (client(Transport::Udp), Server::new(), Instant::now());
    c.start(t0);
    let first = c.poll_transmit().unwrap();
    c.handle_input(t0, &s.answer(&first.contents).unwrap())
        .unwrap();
    c.deallocate(t0);
    assert_eq!(exchange(&mut c, &mut s, t0), [TurnEvent::Deallocated]);
    assert!(c.is_closed());
}

#[test]
fn try_alternate_names_the_other_server() {
    let (mut c, t0) = (client(Transport::Udp), Instant::now());
    c.start(t0);
    let request = c.poll_transmit().unwrap();
    let id = Message::decode(&request.contents).unwrap().transaction_id;
    let redirect = MessageBuilder::new(Class::Error, Method::Allocate, id)
        .attr(attr::ERROR_CODE, &[0, 0, 3, 0])
        .attr(attr::ALTERNATE_SERVER, &[0, 1, 0x0d, 0x96, 192, 0, 2, 20])
        .finish(None, true);
    c.handle_input(t0, &redirect).unwrap();
    let alternate = "192.0.2.20:3478".parse().unwrap();
    assert_eq!(
        c.poll_event(),
        Some(TurnEvent::Failed(Error::TryAlternate(alternate)))
    );
}

#[test]
fn an_oversized_username_fails_at_start() {
    let credentials = Credentials {
        username: "u".repeat(514),
        password: "p".into(),
    };
    let config = TurnConfig::new(SERVER.parse().unwrap(), Transport::Udp, credentials);
    let mut c = TurnClient::new(config, IdGenerator::from_u64(1));
    c.start(Instant::now());
    assert!(c.poll_transmit().is_none());
    assert!(matches!(
        c.poll_event(),
        Some(TurnEvent::Failed(Error::InvalidCredentials(_)))
    ));
}
