//! Binding client scenarios on a virtual clock: mapped addresses (IPv4, IPv6, old-style
//! MAPPED-ADDRESS), the retransmission schedule and the deadline, error responses, and
//! datagrams that are not the answer.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::*;
use crate::stun::attr;

fn server() -> SocketAddr {
    "192.0.2.10:3478".parse().unwrap()
}

fn started() -> (StunBinding, Instant, Message<'static>) {
    let mut b = StunBinding::new(
        server(),
        RetransmitConfig::default(),
        IdGenerator::from_u64(1),
    );
    let t0 = Instant::now();
    b.start(t0);
    let t = b.poll_transmit().unwrap();
    assert_eq!((t.destination, t.transport), (server(), Transport::Udp));
    let request = Message::decode(Box::leak(t.contents.into_boxed_slice())).unwrap();
    assert_eq!(
        (request.class, request.method),
        (Class::Request, Method::Binding)
    );
    (b, t0, request)
}

fn answer(request: &Message<'_>, class: Class) -> MessageBuilder {
    MessageBuilder::new(class, Method::Binding, request.transaction_id)
}

#[test]
fn mapped_address_v4_and_v6() {
    for mapped in ["203.0.113.5:4000", "[2001:db8::5]:4000"] {
        let mapped: SocketAddr = mapped.parse().unwrap();
        let (mut b, t0, request) = started();
        let response = answer(&request, Class::Success)
            .xor_address(attr::XOR_MAPPED_ADDRESS, mapped)
            .finish(None, true);
        assert!(b.accepts(server(), &response));
        b.handle_input(t0, server(), &response).unwrap();
        assert_eq!(b.poll_event(), Some(BindingEvent::Mapped { mapped }));
        assert_eq!(b.mapped(), Some(mapped));
        assert_eq!(b.poll_timeout(), None);
    }
}

#[test]
fn old_mapped_address_is_read() {
    let (mut b, t0, request) = started();
    let response = answer(&request, Class::Success)
        .attr(attr::MAPPED_ADDRESS, &[0, 1, 0x0f, 0xa0, 203, 0, 113, 5])
        .finish(None, false);
    b.handle_input(t0, server(), &response).unwrap();
    assert_eq!(b.mapped(), Some("203.0.113.5:4000".parse().unwrap()));
}

#[test]
fn silent_server_fails_with_timeout_after_the_schedule() {
    let (mut b, t0, _) = started();
    let mut resends = vec![];
    while let Some(at) = b.poll_timeout() {
        b.handle_timeout(at);
        while b.poll_transmit().is_some() {
            resends.push((at - t0).as_millis());
        }
    }
    assert_eq!(resends, [250, 750, 1750, 3750, 7750]);
    assert_eq!(b.poll_event(), Some(BindingEvent::Failed(Error::Timeout)));
}

#[test]
fn an_early_timeout_call_does_nothing() {
    let (mut b, t0, _) = started();
    b.handle_timeout(t0 + Duration::from_millis(100));
    assert!(b.poll_transmit().is_none());
    assert!(b.poll_event().is_none());
}

#[test]
fn error_response_is_typed() {
    let (mut b, t0, request) = started();
    let response = answer(&request, Class::Error)
        .attr(attr::ERROR_CODE, &[0, 0, 4, 20, b'x'])
        .finish(None, true);
    b.handle_input(t0, server(), &response).unwrap();
    let error = Error::Server {
        code: 420,
        reason: "x".into(),
    };
    assert_eq!(b.poll_event(), Some(BindingEvent::Failed(error)));
}

#[test]
fn other_datagrams_are_not_the_answer() {
    let (mut b, t0, request) = started();
    let other = MessageBuilder::new(
        Class::Success,
        Method::Binding,
        crate::stun::TransactionId([9; 12]),
    )
    .xor_address(attr::XOR_MAPPED_ADDRESS, server())
    .finish(None, true);
    assert!(!b.accepts(server(), &other), "another transaction");
    b.handle_input(t0, server(), &other).unwrap();
    let response = answer(&request, Class::Success)
        .xor_address(attr::XOR_MAPPED_ADDRESS, server())
        .finish(None, true);
    let elsewhere: SocketAddr = "192.0.2.11:3478".parse().unwrap();
    assert!(!b.accepts(elsewhere, &response));
    b.handle_input(t0, elsewhere, &response).unwrap();
    assert!(!b.accepts(server(), b"\x80\x00rtp"));
    assert!(b.handle_input(t0, server(), b"garbage").is_err());
    assert_eq!(b.poll_event(), None);
    let no_address = answer(&request, Class::Success).finish(None, true);
    assert!(b.handle_input(t0, server(), &no_address).is_err());
}

#[test]
fn start_again_refreshes_the_mapping() {
    let (mut b, t0, request) = started();
    let response = answer(&request, Class::Success)
        .xor_address(attr::XOR_MAPPED_ADDRESS, server())
        .finish(None, true);
    b.handle_input(t0, server(), &response).unwrap();
    b.start(t0 + Duration::from_secs(20));
    assert!(b.poll_transmit().is_some());
    assert_eq!(b.mapped(), None);
    assert!(b.poll_timeout().is_some());
}
