//! Local addresses str0m would refuse are rejected up front with a typed error.

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

use std::net::SocketAddr;
use std::time::Instant;

use ringwire_core::peer::{InvalidAddressReason, PeerConfig, PeerConnection};
use ringwire_core::CoreError;

fn reason_for(addrs: &[&str]) -> Result<(), CoreError> {
    let addrs: Vec<SocketAddr> = addrs.iter().map(|a| a.parse().unwrap()).collect();
    PeerConnection::new_offerer(PeerConfig::new(addrs), Instant::now()).map(|_| ())
}

#[test]
fn invalid_local_addresses_are_rejected_with_a_typed_error() {
    use InvalidAddressReason::*;
    let cases: &[(&str, InvalidAddressReason)] = &[
        ("0.0.0.0:5000", Unspecified),
        ("[::]:5000", Unspecified),
        ("169.254.1.2:5000", LinkLocal),
        ("[fe80::1]:5000", LinkLocal),
        ("224.0.0.1:5000", Multicast),
        ("255.255.255.255:5000", Broadcast),
        ("10.0.0.1:0", PortZero),
    ];
    for (addr, want) in cases {
        match reason_for(&["10.0.0.1:5000", addr]) {
            Err(CoreError::InvalidLocalAddress { index, reason }) => {
                assert_eq!((index, reason), (1, *want), "{addr}");
            }
            other => panic!("{addr}: expected InvalidLocalAddress, got {other:?}"),
        }
    }
    assert!(matches!(reason_for(&[]), Err(CoreError::NoLocalAddress)));
    assert!(reason_for(&["10.0.0.1:5000", "[2001:db8::1]:5000"]).is_ok());
}

#[test]
fn error_messages_say_what_to_do_without_the_address() {
    let err = reason_for(&["0.0.0.0:5000"]).unwrap_err().to_string();
    assert!(err.contains("bind a concrete interface address"), "{err}");
    assert!(!err.contains("0.0.0.0:5000"), "{err}");
}

#[test]
fn a_later_local_address_is_checked_too() {
    let mut pc = PeerConnection::new_answerer(
        PeerConfig::new(["10.0.0.1:5000".parse().unwrap()]),
        Instant::now(),
    )
    .unwrap();
    assert!(matches!(
        pc.add_local_address("0.0.0.0:6000".parse().unwrap()),
        Err(CoreError::InvalidLocalAddress {
            reason: InvalidAddressReason::Unspecified,
            ..
        })
    ));
}
