//! Gathering alone, sans-IO: a STUN server's answer becomes a server-reflexive candidate, a
//! silent one is recorded and never fatal, and the relay-only policy gathers no srflx and
//! says why no relay can come.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ringwire_proto::CallId;
use ringwire_turn::stun::{attr, Class, Message, MessageBuilder, Method};
use ringwire_turn::IceServerUrl;

use super::*;

fn server(url: &str, addr: &str) -> IceServer {
    IceServer {
        url: IceServerUrl::parse(url).unwrap(),
        addr: addr.parse().unwrap(),
        credentials: None,
    }
}

fn start(servers: &[IceServer], policy: IceTransportPolicy, now: Instant) -> Gathering {
    let local: SocketAddr = "10.0.0.2:5000".parse().unwrap();
    let mut next = 1;
    Gathering::start(CallId::random(), now, servers, &[local], policy, &mut next)
}

fn transmits(g: &mut Gathering) -> Vec<(SocketAddr, SocketAddr, Vec<u8>)> {
    std::iter::from_fn(|| g.poll_output())
        .filter_map(|o| match o {
            Output::Transmit {
                source,
                destination,
                contents,
            } => Some((source, destination, contents)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_stun_answer_becomes_a_server_reflexive_candidate() {
    let now = Instant::now();
    let stun = server("stun:198.51.100.1", "198.51.100.1:3478");
    let mut g = start(&[stun], IceTransportPolicy::All, now);
    let sent = transmits(&mut g);
    assert_eq!(sent.len(), 1, "one Binding request from the one socket");
    let (local, to, request) = &sent[0];
    let request = Message::decode(request).unwrap();
    let mapped: SocketAddr = "203.0.113.7:41000".parse().unwrap();
    let response = MessageBuilder::new(Class::Success, Method::Binding, request.transaction_id)
        .xor_address(attr::XOR_MAPPED_ADDRESS, mapped)
        .finish(None, true);
    assert!(g.accepts(*to, *local, &response));
    g.handle_datagram(now, *to, *local, &response);
    let Some(GatherEvent::Candidate(c)) = g.poll_event() else {
        panic!("a candidate");
    };
    assert_eq!(c.kind(), str0m::CandidateKind::ServerReflexive);
    assert_eq!(c.addr(), mapped);
    assert_eq!(g.candidates().len(), 1);
    assert!(g.failures().is_empty());
}

#[test]
fn a_silent_stun_server_is_recorded_not_fatal() {
    let now = Instant::now();
    let stun = server("stun:198.51.100.1", "198.51.100.1:3478");
    let mut g = start(&[stun], IceTransportPolicy::All, now);
    let mut at = now;
    while let Some(t) = g.poll_timeout() {
        assert!(at < now + Duration::from_secs(120), "the binding gives up");
        at = t;
        g.handle_timeout(at);
    }
    assert!(matches!(g.poll_event(), Some(GatherEvent::Failed)));
    assert!(g.failures()[0].contains("STUN"), "{:?}", g.failures());
    assert_eq!(
        g.relay_impossible(),
        None,
        "not relay-only: host still carries calls"
    );
}

#[test]
fn relay_only_gathers_no_srflx_and_says_when_no_relay_can_come() {
    let now = Instant::now();
    let stun = server("stun:198.51.100.1", "198.51.100.1:3478");
    let mut g = start(&[stun], IceTransportPolicy::Relay, now);
    assert!(
        transmits(&mut g).is_empty(),
        "no STUN binding under relay-only"
    );
    assert!(matches!(g.poll_event(), Some(GatherEvent::Failed)));
    let why = g.relay_impossible().expect("no relay can come");
    assert!(why.contains("no TURN server"), "{why}");
}

#[test]
fn a_relay_over_tcp_ranks_below_one_over_udp_whichever_came_first() {
    let server: SocketAddr = "198.18.0.2:3478".parse().unwrap();
    let tcp_first = relayed_candidate(
        "198.18.0.2:50001".parse().unwrap(),
        RelayTransport::Tcp,
        server,
        0,
    );
    let udp_second = relayed_candidate(
        "198.18.0.2:50002".parse().unwrap(),
        RelayTransport::Udp,
        server,
        1,
    );
    let tls_third = relayed_candidate(
        "198.18.0.2:50003".parse().unwrap(),
        RelayTransport::Tls,
        server,
        2,
    );
    assert!(udp_second.prio() > tcp_first.prio());
    assert!(tcp_first.prio() > tls_third.prio());
    // Still below every server-reflexive candidate.
    let srflx = str0m::Candidate::server_reflexive(
        "203.0.113.5:4000".parse().unwrap(),
        "10.0.0.2:4000".parse().unwrap(),
        "udp",
    )
    .unwrap();
    assert!(srflx.prio() > udp_second.prio());
    // A peer reads it back as the same relayed candidate.
    let line = udp_second.to_sdp_string();
    let parsed = str0m::Candidate::from_sdp_string(&line).unwrap();
    assert_eq!(parsed.kind(), str0m::CandidateKind::Relayed);
    assert_eq!(parsed.prio(), udp_second.prio());
    assert_eq!(parsed.addr(), udp_second.addr());
    // Relays of one server, one transport and one relayed IP share a foundation.
    let again = relayed_candidate(
        "198.18.0.2:50009".parse().unwrap(),
        RelayTransport::Tcp,
        server,
        3,
    );
    assert!(line.starts_with("candidate:"));
    assert_eq!(
        tcp_first.to_sdp_string().split(' ').next(),
        again.to_sdp_string().split(' ').next()
    );
    assert_ne!(
        tcp_first.to_sdp_string().split(' ').next(),
        udp_second.to_sdp_string().split(' ').next()
    );
}
