//! The TURN client's data path and upkeep against the scripted server: permissions and channels
//! asked for before the allocation, Send indications then ChannelData out, Data indications and
//! ChannelData in (strangers and unknown channels dropped), typed permission/channel failures,
//! and refreshes of the allocation, permissions and channels before their lifetimes end.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::super::*;
use super::{allocated, client, exchange, Server, PEER};
use crate::stun::attr;

#[test]
fn refreshes_come_before_the_lifetimes_end() {
    let (mut c, mut s, t0) = allocated(Transport::Udp);
    let peer: SocketAddr = PEER.parse().unwrap();
    c.create_permission(t0, peer.ip()).unwrap();
    c.bind_channel(t0, peer).unwrap();
    exchange(&mut c, &mut s, t0);
    let mut sent: Vec<(Method, u64)> = vec![];
    let mut now = t0;
    while now < t0 + Duration::from_secs(1300) {
        now = c.poll_timeout().unwrap();
        c.handle_timeout(now);
        while let Some(t) = c.poll_transmit() {
            let m = Message::decode(&t.contents).unwrap();
            sent.push((m.method, (now - t0).as_secs()));
            let answer = s.answer(&t.contents).unwrap();
            c.handle_input(now, &answer).unwrap();
        }
        for event in std::iter::from_fn(|| c.poll_event()) {
            let refreshed = TurnEvent::Refreshed {
                lifetime: Duration::from_secs(600),
            };
            assert_eq!(
                event, refreshed,
                "refreshes of permissions and channels are silent"
            );
        }
    }
    let at = |method| {
        sent.iter()
            .filter(|(m, _)| *m == method)
            .map(|(_, t)| *t)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        at(Method::CreatePermission),
        [240, 480, 720, 960, 1200, 1440]
    );
    assert_eq!(at(Method::ChannelBind), [540, 1080]);
    assert_eq!(at(Method::Refresh), [540, 1080]);
}

#[test]
fn peers_asked_for_before_the_allocation_are_installed_after_it() {
    let (mut c, mut s, t0) = (client(Transport::Udp), Server::new(), Instant::now());
    let peer: SocketAddr = PEER.parse().unwrap();
    c.bind_channel(t0, peer).unwrap();
    c.start(t0);
    let events = exchange(&mut c, &mut s, t0);
    assert!(matches!(events[0], TurnEvent::Allocated { .. }));
    assert_eq!(
        events[1],
        TurnEvent::ChannelBound {
            peer,
            channel: 0x4000
        }
    );
}

#[test]
fn data_path_send_indication_then_channel_data() {
    let (mut c, mut s, t0) = allocated(Transport::Udp);
    let peer: SocketAddr = PEER.parse().unwrap();
    assert_eq!(c.send_to(peer, b"x"), Err(Error::NoPermission(peer.ip())));
    c.create_permission(t0, peer.ip()).unwrap();
    assert_eq!(
        exchange(&mut c, &mut s, t0),
        [TurnEvent::PermissionCreated(peer.ip())]
    );
    let t = c.send_to(peer, b"hello").unwrap();
    let m = Message::decode(&t.contents).unwrap();
    assert_eq!((m.class, m.method), (Class::Indication, Method::Send));
    assert_eq!(m.xor_address(attr::XOR_PEER_ADDRESS).unwrap(), Some(peer));
    assert_eq!(m.attr(attr::DATA), Some(&b"hello"[..]));
    c.bind_channel(t0, peer).unwrap();
    exchange(&mut c, &mut s, t0);
    let t = c.send_to(peer, b"hello").unwrap();
    assert_eq!(
        t.contents,
        [0x40, 0x00, 0x00, 0x05, b'h', b'e', b'l', b'l', b'o']
    );
    let v6: SocketAddr = "[2001:db8::1]:5".parse().unwrap();
    assert_eq!(c.send_to(v6, b"x"), Err(Error::PeerFamily(v6)));
}

#[test]
fn incoming_data_is_unwrapped() {
    let (mut c, mut s, t0) = allocated(Transport::Udp);
    let peer: SocketAddr = PEER.parse().unwrap();
    let stranger: SocketAddr = "192.0.2.99:1".parse().unwrap();
    c.bind_channel(t0, peer).unwrap();
    exchange(&mut c, &mut s, t0);
    let data_indication = |from: SocketAddr| {
        MessageBuilder::new(
            Class::Indication,
            Method::Data,
            crate::stun::TransactionId([3; 12]),
        )
        .xor_address(attr::XOR_PEER_ADDRESS, from)
        .attr(attr::DATA, b"pong")
        .finish(None, true)
    };
    c.handle_input(t0, &data_indication(peer)).unwrap();
    c.handle_input(t0, &data_indication(stranger)).unwrap();
    c.handle_input(t0, &ChannelData::encode(0x4000, b"ping", false).unwrap())
        .unwrap();
    c.handle_input(t0, &ChannelData::encode(0x4001, b"????", false).unwrap())
        .unwrap();
    let data = |d: &[u8]| {
        TurnEvent::Data(PeerData {
            peer,
            data: d.to_vec(),
        })
    };
    assert_eq!(
        std::iter::from_fn(|| c.poll_event()).collect::<Vec<_>>(),
        [data(b"pong"), data(b"ping")]
    );
}

#[test]
fn permission_and_channel_failures_are_typed_and_keep_the_allocation() {
    let (mut c, mut s, t0) = allocated(Transport::Udp);
    let peer: SocketAddr = PEER.parse().unwrap();
    s.errors = vec![403];
    c.create_permission(t0, peer.ip()).unwrap();
    let expected = TurnEvent::PermissionFailed {
        peer: peer.ip(),
        error: Error::Forbidden,
    };
    assert_eq!(exchange(&mut c, &mut s, t0), [expected]);
    s.errors = vec![400];
    c.bind_channel(t0, peer).unwrap();
    let events = exchange(&mut c, &mut s, t0);
    assert!(matches!(
        &events[..],
        [TurnEvent::ChannelFailed {
            error: Error::Server { code: 400, .. },
            ..
        }]
    ));
    assert!(c.relayed().is_some());
}
