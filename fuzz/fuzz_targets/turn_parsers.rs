//! Fuzzes every parser of STUN/TURN server input: the STUN message decoder and its attribute
//! accessors, ChannelData, the TCP/TLS stream framer, and a TURN client fed the bytes over UDP
//! and over a stream. Nothing may panic; what decodes must re-encode to a message that decodes
//! to the same attributes; frames must be exactly the bytes pushed, in order.
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use ringwire_turn::channel::ChannelData;
use ringwire_turn::stun::{attr, Message, MessageBuilder};
use ringwire_turn::{Credentials, IdGenerator, StreamFramer, Transport, TurnClient, TurnConfig};

fuzz_target!(|data: &[u8]| {
    stun(data);
    channel_data(data);
    framer(data);
    client(data);
});

fn stun(data: &[u8]) {
    let Ok(m) = Message::decode(data) else {
        return;
    };
    let _ = m.mapped_address();
    let _ = m.xor_address(attr::XOR_RELAYED_ADDRESS);
    let _ = m.xor_address(attr::XOR_PEER_ADDRESS);
    let _ = m.error_code();
    let _ = m.text(attr::REALM);
    let _ = m.text(attr::NONCE);
    let _ = m.lifetime();
    let _ = m.check_integrity(b"key");
    if data.len() > 60_000 {
        return; // no room to add MESSAGE-INTEGRITY and FINGERPRINT under the 16-bit length
    }
    let mut b = MessageBuilder::new(m.class, m.method, m.transaction_id);
    for (typ, value) in m.attributes() {
        b = b.attr(*typ, value);
    }
    let again = b.finish(Some(b"key"), true);
    let decoded = Message::decode(&again).expect("a re-encoded message decodes");
    assert!(decoded.check_integrity(b"key"));
    assert_eq!((decoded.class, decoded.method), (m.class, m.method));
    assert_eq!(decoded.attributes(), m.attributes());
}

fn channel_data(data: &[u8]) {
    if let Ok(frame) = ChannelData::decode(data) {
        assert!(frame.data.len() + 4 <= data.len());
        let again = ChannelData::encode(frame.channel, frame.data, true).expect("fits");
        assert_eq!(ChannelData::decode(&again), Ok(frame));
    }
}

/// The framer, fed in chunks whose size comes from the input itself.
fn framer(data: &[u8]) {
    let mut framer = StreamFramer::new();
    let mut out = Vec::new();
    let chunk = usize::from(data.first().copied().unwrap_or(1)).max(1);
    'feed: for part in data.chunks(chunk) {
        if framer.push(part).is_err() {
            break;
        }
        loop {
            match framer.next_frame() {
                Ok(Some((_, frame))) => out.extend_from_slice(&frame),
                Ok(None) => break,
                Err(_) => break 'feed,
            }
        }
    }
    assert_eq!(out[..], data[..out.len()]);
}

/// A TURN client taking the bytes from its server, over UDP and over TCP.
fn client(data: &[u8]) {
    for transport in [Transport::Udp, Transport::Tcp] {
        let server = "127.0.0.1:3478".parse().expect("address");
        let credentials = Credentials { username: "u".into(), password: "p".into() };
        let config = TurnConfig::new(server, transport, credentials);
        let mut client = TurnClient::new(config, IdGenerator::from_u64(1));
        let now = Instant::now();
        client.start(now);
        let _ = client.handle_input(now, data);
        while client.poll_transmit().is_some() {}
        while client.poll_event().is_some() {}
        let _ = client.poll_timeout();
    }
}
