//! STUN attribute types and value codecs: (XOR-)addresses for IPv4 and IPv6, ERROR-CODE,
//! LIFETIME, CHANNEL-NUMBER and text attributes, each checked against the length its RFC allows.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::message::{TransactionId, MAGIC_COOKIE};
use crate::Error;

/// MAPPED-ADDRESS (RFC 5389 §15.1), only read from servers that predate XOR-MAPPED-ADDRESS.
pub const MAPPED_ADDRESS: u16 = 0x0001;
/// USERNAME (RFC 5389 §15.3).
pub const USERNAME: u16 = 0x0006;
/// MESSAGE-INTEGRITY (RFC 5389 §15.4).
pub const MESSAGE_INTEGRITY: u16 = 0x0008;
/// ERROR-CODE (RFC 5389 §15.6).
pub const ERROR_CODE: u16 = 0x0009;
/// CHANNEL-NUMBER (RFC 8656 §18.1).
pub const CHANNEL_NUMBER: u16 = 0x000C;
/// LIFETIME (RFC 8656 §18.2).
pub const LIFETIME: u16 = 0x000D;
/// XOR-PEER-ADDRESS (RFC 8656 §18.3).
pub const XOR_PEER_ADDRESS: u16 = 0x0012;
/// DATA (RFC 8656 §18.4).
pub const DATA: u16 = 0x0013;
/// REALM (RFC 5389 §15.7).
pub const REALM: u16 = 0x0014;
/// NONCE (RFC 5389 §15.8).
pub const NONCE: u16 = 0x0015;
/// XOR-RELAYED-ADDRESS (RFC 8656 §18.5).
pub const XOR_RELAYED_ADDRESS: u16 = 0x0016;
/// REQUESTED-ADDRESS-FAMILY (RFC 8656 §18.6).
pub const REQUESTED_ADDRESS_FAMILY: u16 = 0x0017;
/// REQUESTED-TRANSPORT (RFC 8656 §18.8).
pub const REQUESTED_TRANSPORT: u16 = 0x0019;
/// XOR-MAPPED-ADDRESS (RFC 5389 §15.2).
pub const XOR_MAPPED_ADDRESS: u16 = 0x0020;
/// ALTERNATE-SERVER (RFC 5389 §15.11), with a 300 Try Alternate.
pub const ALTERNATE_SERVER: u16 = 0x8023;
/// SOFTWARE (RFC 5389 §15.10).
pub const SOFTWARE: u16 = 0x8022;
/// FINGERPRINT (RFC 5389 §15.5).
pub const FINGERPRINT: u16 = 0x8028;

/// USERNAME is at most 513 bytes (RFC 5389 §15.3).
pub const MAX_USERNAME: usize = 513;
/// REALM, NONCE, SOFTWARE and the ERROR-CODE reason are under 128 characters: 763 bytes.
pub const MAX_TEXT: usize = 763;
/// UDP, as the protocol number REQUESTED-TRANSPORT carries.
pub const TRANSPORT_UDP: u8 = 17;

/// Decodes an XOR-MAPPED/-RELAYED/-PEER-ADDRESS value.
pub fn decode_xor_address(value: &[u8], tid: &TransactionId) -> Result<SocketAddr, Error> {
    let mut mask = [0u8; 16];
    mask[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    mask[4..].copy_from_slice(&tid.0);
    decode_address(value, Some(&mask))
}

/// Decodes a MAPPED-ADDRESS value, or an XOR one when `mask` (cookie ‖ transaction id) is given.
pub fn decode_address(value: &[u8], mask: Option<&[u8; 16]>) -> Result<SocketAddr, Error> {
    let zero = [0u8; 16];
    let mask = mask.unwrap_or(&zero);
    let (family, rest) = match value {
        [_, family, rest @ ..] => (*family, rest),
        _ => return Err(Error::Malformed("address attribute too short")),
    };
    let (port, addr) = match rest {
        [p0, p1, addr @ ..] => (u16::from_be_bytes([p0 ^ mask[0], p1 ^ mask[1]]), addr),
        _ => return Err(Error::Malformed("address attribute too short")),
    };
    let ip = match (family, addr.len()) {
        (0x01, 4) => {
            let mut b = [0u8; 4];
            for (i, byte) in b.iter_mut().enumerate() {
                *byte = addr[i] ^ mask[i];
            }
            IpAddr::V4(Ipv4Addr::from(b))
        }
        (0x02, 16) => {
            let mut b = [0u8; 16];
            for (i, byte) in b.iter_mut().enumerate() {
                *byte = addr[i] ^ mask[i];
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return Err(Error::Malformed("address attribute family or length")),
    };
    Ok(SocketAddr::new(ip, port))
}

/// Encodes an XOR address value for `addr` in a message with transaction id `tid`.
pub fn encode_xor_address(addr: SocketAddr, tid: &TransactionId) -> Vec<u8> {
    let mut mask = [0u8; 16];
    mask[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    mask[4..].copy_from_slice(&tid.0);
    let port = addr.port().to_be_bytes();
    let mut out = vec![0, 0, port[0] ^ mask[0], port[1] ^ mask[1]];
    match addr.ip() {
        IpAddr::V4(ip) => {
            out[1] = 0x01;
            out.extend(ip.octets().iter().zip(&mask).map(|(a, m)| a ^ m));
        }
        IpAddr::V6(ip) => {
            out[1] = 0x02;
            out.extend(ip.octets().iter().zip(&mask).map(|(a, m)| a ^ m));
        }
    }
    out
}

/// Decodes an ERROR-CODE value into `(code, reason)`; codes outside 300–699 are malformed.
pub fn decode_error_code(value: &[u8]) -> Result<(u16, &str), Error> {
    let [_, _, class, number, reason @ ..] = value else {
        return Err(Error::Malformed("ERROR-CODE too short"));
    };
    let class = u16::from(class & 0x07);
    let number = u16::from(*number);
    if !(3..=6).contains(&class) || number > 99 || reason.len() > MAX_TEXT {
        return Err(Error::Malformed("ERROR-CODE value"));
    }
    let reason = std::str::from_utf8(reason).map_err(|_| Error::Malformed("ERROR-CODE reason"))?;
    Ok((class * 100 + number, reason))
}

/// Decodes a 32-bit attribute (LIFETIME).
pub fn decode_u32(value: &[u8]) -> Result<u32, Error> {
    let bytes: [u8; 4] = value
        .try_into()
        .map_err(|_| Error::Malformed("32-bit attribute length"))?;
    Ok(u32::from_be_bytes(bytes))
}

/// Decodes a UTF-8 text attribute of at most `max` bytes.
pub fn decode_text(value: &[u8], max: usize) -> Result<&str, Error> {
    if value.len() > max {
        return Err(Error::Malformed("text attribute too long"));
    }
    std::str::from_utf8(value).map_err(|_| Error::Malformed("text attribute not UTF-8"))
}

/// Encodes CHANNEL-NUMBER: the number and two reserved bytes.
pub fn encode_channel_number(channel: u16) -> [u8; 4] {
    let b = channel.to_be_bytes();
    [b[0], b[1], 0, 0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xor_address_round_trips_v4_and_v6() {
        let tid = TransactionId([7; 12]);
        for addr in [
            "192.0.2.1:32853",
            "[2001:db8:1234:5678:11:2233:4455:6677]:32853",
            "0.0.0.0:0",
        ] {
            let addr: SocketAddr = addr.parse().unwrap();
            assert_eq!(
                decode_xor_address(&encode_xor_address(addr, &tid), &tid).unwrap(),
                addr
            );
        }
    }

    #[test]
    fn address_lengths_are_bounded() {
        let tid = TransactionId([0; 12]);
        assert!(decode_xor_address(&[0, 1, 0, 0, 1, 2, 3], &tid).is_err());
        assert!(decode_xor_address(&[0, 2, 0, 0, 1, 2, 3, 4], &tid).is_err());
        assert!(decode_xor_address(&[0, 3, 0, 0, 1, 2, 3, 4], &tid).is_err());
        assert!(decode_xor_address(&[], &tid).is_err());
    }

    #[test]
    fn error_code_is_checked() {
        assert_eq!(decode_error_code(&[0, 0, 4, 1, b'U']).unwrap(), (401, "U"));
        assert_eq!(decode_error_code(&[0, 0, 4, 38]).unwrap(), (438, ""));
        assert!(decode_error_code(&[0, 0, 2, 0]).is_err());
        assert!(decode_error_code(&[0, 0, 4, 100]).is_err());
        assert!(decode_error_code(&[0, 0, 4]).is_err());
        assert!(decode_error_code(&[0, 0, 4, 1, 0xff]).is_err());
    }
}
