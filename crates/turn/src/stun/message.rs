//! The STUN message (RFC 5389 §6): header, class and method, transaction id, the attribute list
//! checked against the message length, MESSAGE-INTEGRITY verification and FINGERPRINT checking
//! on decode, and a builder that appends both on encode.

use std::fmt;
use std::net::SocketAddr;

use super::attr;
use super::integrity::{constant_time_eq, fingerprint, hmac_sha1};
use crate::Error;

/// The fixed magic cookie of RFC 5389 messages.
pub const MAGIC_COOKIE: u32 = 0x2112_A442;
/// Length of the STUN header.
pub const HEADER_LEN: usize = 20;
/// More attributes than this in one message is treated as malformed (no valid message we read
/// has more than a dozen).
pub const MAX_ATTRIBUTES: usize = 32;

/// A 96-bit transaction id.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TransactionId(pub [u8; 12]);

impl fmt::Debug for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// The message class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// A request, answered by a success or error response.
    Request,
    /// An indication: no response.
    Indication,
    /// A success response.
    Success,
    /// An error response.
    Error,
}

/// The message method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Binding (RFC 5389).
    Binding,
    /// Allocate (RFC 8656).
    Allocate,
    /// Refresh.
    Refresh,
    /// Send indication.
    Send,
    /// Data indication.
    Data,
    /// CreatePermission.
    CreatePermission,
    /// ChannelBind.
    ChannelBind,
    /// Any other method.
    Other(u16),
}

impl Method {
    fn code(self) -> u16 {
        match self {
            Method::Binding => 0x001,
            Method::Allocate => 0x003,
            Method::Refresh => 0x004,
            Method::Send => 0x006,
            Method::Data => 0x007,
            Method::CreatePermission => 0x008,
            Method::ChannelBind => 0x009,
            Method::Other(code) => code & 0x0fff,
        }
    }

    fn from_code(code: u16) -> Self {
        match code {
            0x001 => Method::Binding,
            0x003 => Method::Allocate,
            0x004 => Method::Refresh,
            0x006 => Method::Send,
            0x007 => Method::Data,
            0x008 => Method::CreatePermission,
            0x009 => Method::ChannelBind,
            other => Method::Other(other),
        }
    }
}

fn message_type(class: Class, method: Method) -> u16 {
    let m = method.code();
    let c = match class {
        Class::Request => 0b00,
        Class::Indication => 0b01,
        Class::Success => 0b10,
        Class::Error => 0b11,
    };
    (m & 0x000f) | ((m & 0x0070) << 1) | ((m & 0x0f80) << 2) | ((c & 1) << 4) | ((c & 2) << 7)
}

fn split_type(t: u16) -> (Class, Method) {
    let m = (t & 0x000f) | ((t & 0x00e0) >> 1) | ((t & 0x3e00) >> 2);
    let class = match ((t >> 4) & 1) | ((t >> 7) & 2) {
        0 => Class::Request,
        1 => Class::Indication,
        2 => Class::Success,
        _ => Class::Error,
    };
    (class, Method::from_code(m))
}

/// True when `data` starts like a STUN message (first two bits zero and the magic cookie),
/// which is how STUN is told apart from ChannelData, DTLS and RTP on a shared socket.
pub fn is_stun(data: &[u8]) -> bool {
    data.len() >= HEADER_LEN && data[0] & 0xc0 == 0 && data[4..8] == MAGIC_COOKIE.to_be_bytes()
}

/// A decoded STUN message borrowing its bytes. Attributes after MESSAGE-INTEGRITY other than
/// FINGERPRINT are ignored, as RFC 5389 §15.4 says; a FINGERPRINT present was checked.
#[derive(Debug)]
pub struct Message<'a> {
    /// The class.
    pub class: Class,
    /// The method.
    pub method: Method,
    /// The transaction id.
    pub transaction_id: TransactionId,
    raw: &'a [u8],
    attributes: Vec<(u16, &'a [u8])>,
    /// Offset of the MESSAGE-INTEGRITY attribute's header, if present.
    integrity_at: Option<usize>,
}

impl<'a> Message<'a> {
    /// Decodes one whole message (a UDP datagram, or a frame cut by the stream framer).
    pub fn decode(raw: &'a [u8]) -> Result<Self, Error> {
        if !is_stun(raw) {
            return Err(Error::Malformed("not a STUN message"));
        }
        let length = usize::from(u16::from_be_bytes([raw[2], raw[3]]));
        if length % 4 != 0 || HEADER_LEN + length != raw.len() {
            return Err(Error::Malformed("STUN length"));
        }
        let (class, method) = split_type(u16::from_be_bytes([raw[0], raw[1]]));
        let mut tid = [0u8; 12];
        tid.copy_from_slice(&raw[8..20]);
        let mut message = Message {
            class,
            method,
            transaction_id: TransactionId(tid),
            raw,
            attributes: Vec::new(),
            integrity_at: None,
        };
        let mut at = HEADER_LEN;
        while at < raw.len() {
            let Some(header) = raw.get(at..at + 4) else {
                return Err(Error::Malformed("attribute header"));
            };
            let typ = u16::from_be_bytes([header[0], header[1]]);
            let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
            let padded = (len + 3) & !3;
            let Some(value) = raw.get(at + 4..at + 4 + len) else {
                return Err(Error::Malformed("attribute length"));
            };
            if at + 4 + padded > raw.len() {
                return Err(Error::Malformed("attribute padding"));
            }
            if message.attributes.len() >= MAX_ATTRIBUTES {
                return Err(Error::Malformed("too many attributes"));
            }
            match typ {
                attr::FINGERPRINT => {
                    if len != 4 || at + 8 != raw.len() {
                        return Err(Error::Malformed("FINGERPRINT not last"));
                    }
                    let expected = fingerprint(&[&raw[..at]]);
                    if attr::decode_u32(value)? != expected {
                        return Err(Error::Malformed("FINGERPRINT mismatch"));
                    }
                }
                attr::MESSAGE_INTEGRITY if message.integrity_at.is_none() => {
                    if len != 20 {
                        return Err(Error::Malformed("MESSAGE-INTEGRITY length"));
                    }
                    message.integrity_at = Some(at);
                }
                _ if message.integrity_at.is_none() => message.attributes.push((typ, value)),
                _ => {}
            }
            at += 4 + padded;
        }
        Ok(message)
    }

    /// The first attribute of type `typ`.
    pub fn attr(&self, typ: u16) -> Option<&'a [u8]> {
        self.attributes
            .iter()
            .find(|(t, _)| *t == typ)
            .map(|(_, v)| *v)
    }

    /// The attributes before MESSAGE-INTEGRITY (and FINGERPRINT), in order: `(type, value)`.
    pub fn attributes(&self) -> &[(u16, &'a [u8])] {
        &self.attributes
    }

    /// An XOR address attribute, decoded.
    pub fn xor_address(&self, typ: u16) -> Result<Option<SocketAddr>, Error> {
        self.attr(typ)
            .map(|v| attr::decode_xor_address(v, &self.transaction_id))
            .transpose()
    }

    /// XOR-MAPPED-ADDRESS, or MAPPED-ADDRESS from an old server.
    pub fn mapped_address(&self) -> Result<Option<SocketAddr>, Error> {
        match self.xor_address(attr::XOR_MAPPED_ADDRESS)? {
            Some(addr) => Ok(Some(addr)),
            None => self
                .attr(attr::MAPPED_ADDRESS)
                .map(|v| attr::decode_address(v, None))
                .transpose(),
        }
    }

    /// ERROR-CODE as `(code, reason)`.
    pub fn error_code(&self) -> Result<Option<(u16, &'a str)>, Error> {
        self.attr(attr::ERROR_CODE)
            .map(attr::decode_error_code)
            .transpose()
    }

    /// A text attribute (REALM, NONCE, SOFTWARE) bounded to 763 bytes.
    pub fn text(&self, typ: u16) -> Result<Option<&'a str>, Error> {
        self.attr(typ)
            .map(|v| attr::decode_text(v, attr::MAX_TEXT))
            .transpose()
    }

    /// LIFETIME in seconds.
    pub fn lifetime(&self) -> Result<Option<u32>, Error> {
        self.attr(attr::LIFETIME).map(attr::decode_u32).transpose()
    }

    /// Whether MESSAGE-INTEGRITY is present.
    pub fn has_integrity(&self) -> bool {
        self.integrity_at.is_some()
    }

    /// Verifies MESSAGE-INTEGRITY under `key`; false when absent or wrong.
    pub fn check_integrity(&self, key: &[u8]) -> bool {
        let Some(at) = self.integrity_at else {
            return false;
        };
        // The length field counts up to the end of MESSAGE-INTEGRITY (RFC 5389 §15.4).
        let Ok(length) = u16::try_from(at + 24 - HEADER_LEN) else {
            return false;
        };
        let mac = hmac_sha1(
            key,
            &[&self.raw[..2], &length.to_be_bytes(), &self.raw[4..at]],
        );
        constant_time_eq(&mac, &self.raw[at + 4..at + 24])
    }
}

/// Builds one message; `finish` appends MESSAGE-INTEGRITY and FINGERPRINT.
#[derive(Debug)]
pub struct MessageBuilder {
    buf: Vec<u8>,
    transaction_id: TransactionId,
}

impl MessageBuilder {
    /// Starts a message.
    pub fn new(class: Class, method: Method, transaction_id: TransactionId) -> Self {
        let mut buf = Vec::with_capacity(128);
        buf.extend_from_slice(&message_type(class, method).to_be_bytes());
        buf.extend_from_slice(&[0, 0]);
        buf.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        buf.extend_from_slice(&transaction_id.0);
        MessageBuilder {
            buf,
            transaction_id,
        }
    }

    /// Appends an attribute, zero-padded to four bytes. Values over 65,535 bytes are cut (no
    /// caller passes one: relayed data is bounded by the datagram size).
    pub fn attr(mut self, typ: u16, value: &[u8]) -> Self {
        let len = u16::try_from(value.len()).unwrap_or(u16::MAX);
        self.buf.extend_from_slice(&typ.to_be_bytes());
        self.buf.extend_from_slice(&len.to_be_bytes());
        self.buf.extend_from_slice(&value[..usize::from(len)]);
        let pad = (4 - usize::from(len) % 4) % 4;
        self.buf.extend_from_slice(&[0u8; 3][..pad]);
        self
    }

    /// Appends an XOR address attribute.
    pub fn xor_address(self, typ: u16, addr: SocketAddr) -> Self {
        let value = attr::encode_xor_address(addr, &self.transaction_id);
        self.attr(typ, &value)
    }

    fn set_length(&mut self, extra: usize) {
        let length = u16::try_from(self.buf.len() + extra - HEADER_LEN).unwrap_or(u16::MAX);
        self.buf[2..4].copy_from_slice(&length.to_be_bytes());
    }

    /// Ends the message, with MESSAGE-INTEGRITY under `key` if given and FINGERPRINT if asked.
    pub fn finish(mut self, key: Option<&[u8]>, with_fingerprint: bool) -> Vec<u8> {
        if let Some(key) = key {
            self.set_length(24);
            let mac = hmac_sha1(key, &[&self.buf]);
            self.buf
                .extend_from_slice(&attr::MESSAGE_INTEGRITY.to_be_bytes());
            self.buf.extend_from_slice(&20u16.to_be_bytes());
            self.buf.extend_from_slice(&mac);
        }
        if with_fingerprint {
            self.set_length(8);
            let crc = fingerprint(&[&self.buf]);
            self.buf.extend_from_slice(&attr::FINGERPRINT.to_be_bytes());
            self.buf.extend_from_slice(&4u16.to_be_bytes());
            self.buf.extend_from_slice(&crc.to_be_bytes());
        } else {
            self.set_length(0);
        }
        self.buf
    }
}
