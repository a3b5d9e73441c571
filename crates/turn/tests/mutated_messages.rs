//! The stable-toolchain stand-in for the `turn_parsers` fuzz target: valid server messages
//! (Allocate success, 401, Data indication, ChannelData) mutated deterministically — bytes
//! flipped, lengths rewritten, cut short, extended, spliced — through the STUN decoder,
//! ChannelData, the stream framer and a TURN client over UDP and TCP. Nothing may panic, and
//! the framer returns exactly the bytes it was given.
#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

use std::time::Instant;

use ringwire_netem::SeededRng;
use ringwire_turn::channel::ChannelData;
use ringwire_turn::stun::{attr, Class, Message, MessageBuilder, Method, TransactionId};
use ringwire_turn::{Credentials, IdGenerator, StreamFramer, Transport, TurnClient, TurnConfig};

fn seeds() -> Vec<Vec<u8>> {
    let tid = TransactionId([5; 12]);
    vec![
        MessageBuilder::new(Class::Success, Method::Allocate, tid)
            .xor_address(
                attr::XOR_RELAYED_ADDRESS,
                "198.51.100.1:50000".parse().unwrap(),
            )
            .xor_address(
                attr::XOR_MAPPED_ADDRESS,
                "[2001:db8::1]:4000".parse().unwrap(),
            )
            .attr(attr::LIFETIME, &600u32.to_be_bytes())
            .finish(Some(b"key"), true),
        MessageBuilder::new(Class::Error, Method::Allocate, tid)
            .attr(attr::ERROR_CODE, &[0, 0, 4, 1, b'U', b'n'])
            .attr(attr::REALM, b"ringwire.test")
            .attr(attr::NONCE, b"abcdef0123")
            .finish(None, true),
        MessageBuilder::new(Class::Indication, Method::Data, tid)
            .xor_address(attr::XOR_PEER_ADDRESS, "198.51.100.7:6000".parse().unwrap())
            .attr(attr::DATA, b"media!")
            .finish(None, false),
        ChannelData::encode(0x4000, b"hello", true).unwrap(),
    ]
}

/// The workspace's seeded generator (`ringwire-netem`).
type Rng = SeededRng;

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut m = seeds[rng.index(seeds.len())].clone();
    for _ in 0..1 + rng.index(3) {
        match rng.index(6) {
            0 if !m.is_empty() => {
                let at = rng.index(m.len());
                m[at] ^= 1 << rng.index(8);
            }
            1 if m.len() >= 4 => {
                // Rewrite a 16-bit length field: the header's, or an attribute's.
                let at = if rng.index(2) == 0 {
                    2
                } else {
                    20 + 4 * rng.index(m.len().saturating_sub(20) / 4) + 2
                };
                if at + 2 <= m.len() {
                    m[at..at + 2].copy_from_slice(&(rng.next_u64() as u16).to_be_bytes());
                }
            }
            2 => m.truncate(rng.index(m.len() + 1)),
            3 => m.extend((0..rng.index(9)).map(|_| rng.next_u64() as u8)),
            4 => {
                let other = &seeds[rng.index(seeds.len())];
                m.extend_from_slice(&other[..rng.index(other.len() + 1)]);
            }
            _ => {
                let at = rng.index(m.len() + 1);
                m.insert(at, rng.next_u64() as u8);
            }
        }
    }
    m
}

fn exercise(data: &[u8]) {
    if let Ok(m) = Message::decode(data) {
        let _ = (
            m.mapped_address(),
            m.error_code(),
            m.text(attr::REALM),
            m.lifetime(),
        );
        let _ = (
            m.xor_address(attr::XOR_PEER_ADDRESS),
            m.check_integrity(b"key"),
        );
    }
    let _ = ChannelData::decode(data);
    let mut framer = StreamFramer::new();
    let mut out = Vec::new();
    'feed: for part in data.chunks(3) {
        framer.push(part).unwrap();
        loop {
            match framer.next_frame() {
                Ok(Some((_, frame))) => out.extend_from_slice(&frame),
                Ok(None) => break,
                Err(_) => break 'feed,
            }
        }
    }
    assert_eq!(out[..], data[..out.len()]);
    for transport in [Transport::Udp, Transport::Tcp] {
        let credentials = Credentials {
            username: "u".into(),
            password: "p".into(),
        };
        let config = TurnConfig::new("127.0.0.1:3478".parse().unwrap(), transport, credentials);
        let mut client = TurnClient::new(config, IdGenerator::from_u64(1));
        let now = Instant::now();
        client.start(now);
        let _ = client.handle_input(now, data);
        while client.poll_transmit().is_some() {}
        while client.poll_event().is_some() {}
    }
}

#[test]
fn seeds_are_valid() {
    let seeds = seeds();
    for seed in &seeds[..3] {
        Message::decode(seed).unwrap();
    }
    ChannelData::decode(&seeds[3]).unwrap();
}

#[test]
fn mutated_server_messages_never_panic() {
    let seeds = seeds();
    let mut rng = Rng::new(0x7275_6e67_7769_7265);
    for _ in 0..20_000 {
        exercise(&mutate(&mut rng, &seeds));
    }
}
