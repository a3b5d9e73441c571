//! The STUN and TURN clients against a real coturn (Debian's `/usr/bin/turnserver`) on
//! 127.0.0.1 and ::1, with this test as the driver over real UDP, TCP and TLS (rustls)
//! connections: Binding gets the mapped address (IPv4 and IPv6) and times out on a silent port;
//! Allocate with TURN REST credentials succeeds (IPv4 and IPv6 relays); data goes to a plain
//! UDP socket through the relay by Send indication and by ChannelData, and replies come back
//! unwrapped; wrong and expired credentials give `Error::Unauthorized`; a stale nonce (438) on
//! Refresh and ChannelBind is renewed; a server that goes away is reported (TCP closed, UDP
//! Refresh timeout); an allocation outlives its REST credentials; Refresh(0) deallocates.
//! Skipped, with a message, when `turnserver` is not installed.

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

mod support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use ringwire_turn::{BindingEvent, Error, IdGenerator, RetransmitConfig, StunBinding, TurnEvent};
use support::{Coturn, Driver, Via};

fn first<T>(events: &[TurnEvent], f: impl Fn(&TurnEvent) -> Option<T>) -> Option<T> {
    events.iter().find_map(f)
}

#[test]
fn stun_binding_gets_the_mapped_address() {
    let Some(server) = Coturn::start() else {
        return;
    };
    let mut servers = vec![server.addr()];
    if support::has_ipv6() {
        servers.push(SocketAddr::new(
            Ipv6Addr::LOCALHOST.into(),
            server.addr().port(),
        ));
    }
    for server in servers {
        let socket = UdpSocket::bind(SocketAddr::new(server.ip(), 0)).unwrap();
        let config = RetransmitConfig::default();
        let mut binding = StunBinding::new(server, config, IdGenerator::from_u64(1));
        binding.start(Instant::now());
        let event = support::run_binding(&mut binding, &socket, Duration::from_secs(5));
        let local = socket.local_addr().unwrap();
        assert_eq!(
            event,
            Some(BindingEvent::Mapped { mapped: local }),
            "{server}"
        );
    }
}

#[test]
fn stun_binding_to_a_silent_port_times_out() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap(); // bound, never answers
    let config = RetransmitConfig {
        deadline: Duration::from_millis(800),
        ..RetransmitConfig::default()
    };
    let mut binding = StunBinding::new(
        silent.local_addr().unwrap(),
        config,
        IdGenerator::from_u64(2),
    );
    binding.start(Instant::now());
    let event = support::run_binding(&mut binding, &socket, Duration::from_secs(5));
    assert_eq!(event, Some(BindingEvent::Failed(Error::Timeout)));
}

fn relay_round_trip(via: Via) {
    let started = if via == Via::Tls {
        Coturn::start_with_tls()
    } else {
        Coturn::start()
    };
    let Some(server) = started else {
        return;
    };
    let loopback: IpAddr = if via == Via::Udp6 {
        Ipv6Addr::LOCALHOST.into()
    } else {
        Ipv4Addr::LOCALHOST.into()
    };
    let mut d = Driver::connect(via, &server, server.credentials("alice", 600));
    d.client.start(Instant::now());
    let allocated = d.run_until(|e| matches!(e, TurnEvent::Allocated { .. }));
    let (relayed, mapped) = first(&allocated, |e| match e {
        TurnEvent::Allocated {
            relayed, mapped, ..
        } => Some((*relayed, *mapped)),
        _ => None,
    })
    .expect("allocated");
    assert_eq!(relayed.ip(), loopback);
    assert_eq!(mapped, Some(d.local_addr()));

    let peer = UdpSocket::bind(SocketAddr::new(loopback, 0)).unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let peer_addr = peer.local_addr().unwrap();
    let recv_at_peer = || {
        let mut buf = [0u8; 2048];
        let (n, from) = peer
            .recv_from(&mut buf)
            .expect("datagram through the relay");
        (buf[..n].to_vec(), from)
    };
    let data_event = |want: &'static [u8]| {
        move |e: &TurnEvent| match e {
            TurnEvent::Data(d) => d.peer == peer_addr && d.data == want,
            _ => false,
        }
    };

    // Before any permission the client refuses rather than letting the server drop it.
    assert_eq!(
        d.client.send_to(peer_addr, b"x"),
        Err(Error::NoPermission(peer_addr.ip()))
    );

    // Send and Data indications under a permission.
    d.client
        .create_permission(Instant::now(), peer_addr.ip())
        .unwrap();
    d.run_until(|e| *e == TurnEvent::PermissionCreated(peer_addr.ip()));
    let t = d.client.send_to(peer_addr, b"by send indication").unwrap();
    d.send(&t);
    assert_eq!(recv_at_peer(), (b"by send indication".to_vec(), relayed));
    peer.send_to(b"reply by data indication", relayed).unwrap();
    d.run_until(data_event(b"reply by data indication"));

    // ChannelData once the channel is bound (odd length: padded over TCP).
    let channel = d.client.bind_channel(Instant::now(), peer_addr).unwrap();
    d.run_until(|e| {
        *e == TurnEvent::ChannelBound {
            peer: peer_addr,
            channel,
        }
    });
    let t = d.client.send_to(peer_addr, b"by channel").unwrap();
    assert_eq!(t.contents[..2], channel.to_be_bytes());
    d.send(&t);
    assert_eq!(recv_at_peer(), (b"by channel".to_vec(), relayed));
    peer.send_to(b"reply by channel!", relayed).unwrap();
    d.run_until(data_event(b"reply by channel!"));

    d.client.deallocate(Instant::now());
    d.run_until(|e| *e == TurnEvent::Deallocated);
    assert!(d.client.is_closed());
    assert!(
        d.events.iter().all(|e| !matches!(e, TurnEvent::Failed(_))),
        "{:?}",
        d.events
    );
}

#[test]
fn udp_allocation_relays_both_ways_and_deallocates() {
    relay_round_trip(Via::Udp);
}

#[test]
fn tcp_allocation_relays_both_ways_and_deallocates() {
    relay_round_trip(Via::Tcp);
}

#[test]
fn udp_ipv6_allocation_relays_both_ways_and_deallocates() {
    if !support::has_ipv6() {
        eprintln!("SKIPPED: no IPv6 loopback (::1) on this machine");
        return;
    }
    relay_round_trip(Via::Udp6);
}

#[test]
fn tls_allocation_relays_both_ways_and_deallocates() {
    relay_round_trip(Via::Tls);
}

fn rejected(via: Via, credentials: ringwire_turn::Credentials, server: &Coturn) {
    let mut d = Driver::connect(via, server, credentials);
    d.client.start(Instant::now());
    let events = d.run_until(|e| matches!(e, TurnEvent::Failed(_) | TurnEvent::Allocated { .. }));
    assert_eq!(events.last(), Some(&TurnEvent::Failed(Error::Unauthorized)));
}

#[test]
fn wrong_or_expired_credentials_are_unauthorized() {
    let Some(server) = Coturn::start() else {
        return;
    };
    let mut wrong = server.credentials("mallory", 600);
    wrong.password = "not-the-password".into();
    rejected(Via::Udp, wrong.clone(), &server);
    rejected(Via::Tcp, wrong, &server);
    rejected(Via::Udp, server.credentials("late", -60), &server);
}

#[test]
fn two_sockets_get_two_allocations() {
    let Some(server) = Coturn::start() else {
        return;
    };
    let relayed = |id: &str| {
        let mut d = Driver::connect(Via::Udp, &server, server.credentials(id, 600));
        d.client.start(Instant::now());
        d.run_until(|e| matches!(e, TurnEvent::Allocated { .. }));
        d.client.relayed().expect("relayed")
    };
    let (a, b): (SocketAddr, SocketAddr) = (relayed("a"), relayed("b"));
    assert_ne!(a, b);
}

#[test]
fn stale_nonces_are_renewed_and_refreshes_keep_the_relay() {
    // coturn's nonces live 1 s here (counted in whole seconds): requests 2.5 s later get 438.
    let Some(server) = Coturn::start_configured("stale-nonce=1\n") else {
        return;
    };
    let mut d = Driver::connect(Via::Udp, &server, server.credentials("bob", 3600));
    d.client.start(Instant::now());
    d.run_until(|e| matches!(e, TurnEvent::Allocated { .. }));
    let relayed = d.client.relayed().unwrap();
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let peer_addr = peer.local_addr().unwrap();
    let channel = d.client.bind_channel(Instant::now(), peer_addr).unwrap();
    d.run_until(|e| {
        *e == TurnEvent::ChannelBound {
            peer: peer_addr,
            channel,
        }
    });

    std::thread::sleep(Duration::from_millis(2500)); // the nonce goes stale
                                                     // Jump the client's clock to when the allocation and the channel are refreshed.
    d.clock_ahead = Duration::from_secs(545);
    let events = d.run_until(|e| matches!(e, TurnEvent::Refreshed { .. }));
    assert!(
        matches!(events.last(), Some(TurnEvent::Refreshed { .. })),
        "{events:?}"
    );
    // The channel refresh (sent with the allocation's) went through the 438 too.
    std::thread::sleep(Duration::from_millis(200));
    d.run_for(Duration::from_millis(300));
    let t = d.client.send_to(peer_addr, b"after refresh").unwrap();
    d.send(&t);
    let mut buf = [0u8; 64];
    let (n, from) = peer.recv_from(&mut buf).unwrap();
    assert_eq!((&buf[..n], from), (&b"after refresh"[..], relayed));
    let failures: Vec<_> = d
        .events
        .iter()
        .filter(|e| matches!(e, TurnEvent::Failed(_) | TurnEvent::ChannelFailed { .. }))
        .collect();
    assert!(failures.is_empty(), "{failures:?}");
}

#[test]
fn turn_server_going_away_is_reported() {
    let Some(server) = Coturn::start() else {
        return;
    };
    // Over TCP the connection ends with the server.
    let mut tcp = Driver::connect(Via::Tcp, &server, server.credentials("carol", 600));
    tcp.client.start(Instant::now());
    tcp.run_until(|e| matches!(e, TurnEvent::Allocated { .. }));
    // Over UDP the next Refresh times out.
    let mut udp = Driver::connect(Via::Udp, &server, server.credentials("dave", 600));
    udp.client.start(Instant::now());
    udp.run_until(|e| matches!(e, TurnEvent::Allocated { .. }));
    drop(server);
    tcp.run_until(|e| *e == TurnEvent::Failed(Error::ConnectionClosed));
    udp.clock_ahead = Duration::from_secs(545);
    udp.run_for(Duration::from_millis(100)); // the Refresh goes out, unanswered
    udp.clock_ahead = Duration::from_secs(545 + 11); // past its 10 s deadline
    udp.run_until(|e| *e == TurnEvent::Failed(Error::Timeout));
}

/// coturn (4.6) checks a TURN REST username's expiry when the allocation is made, not on its
/// later requests: a call longer than the credentials' TTL keeps its relay (with the same
/// username, as RFC 8656 requires); only new allocations need the refreshed credentials.
#[test]
fn an_allocation_outlives_its_rest_credentials() {
    let Some(server) = Coturn::start() else {
        return;
    };
    let mut d = Driver::connect(Via::Udp, &server, server.credentials("erin", 2));
    d.client.start(Instant::now());
    d.run_until(|e| matches!(e, TurnEvent::Allocated { .. }));
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    let peer_addr = peer.local_addr().unwrap();
    std::thread::sleep(Duration::from_millis(3500)); // the username's expiry passes
    let channel = d.client.bind_channel(Instant::now(), peer_addr).unwrap();
    d.run_until(|e| {
        *e == TurnEvent::ChannelBound {
            peer: peer_addr,
            channel,
        }
    });
    d.clock_ahead = Duration::from_secs(545);
    let events = d.run_until(|e| matches!(e, TurnEvent::Refreshed { .. } | TurnEvent::Failed(_)));
    assert!(
        matches!(events.last(), Some(TurnEvent::Refreshed { .. })),
        "{events:?}"
    );
}
