//! Splits a TCP/TLS byte stream from a TURN server into messages (RFC 8656 §12.5: STUN messages
//! and ChannelData back to back, ChannelData padded to four bytes; no RFC 4571 length prefix).
//!
//! The stream is self-describing: a first byte of 0x00–0x3F starts a STUN message whose length
//! is in its header, 0x40–0x4F a ChannelData message. Anything else means the stream is out of
//! step (or not TURN), which cannot be repaired: the driver closes the connection.

use crate::channel::{self, is_channel_data};
use crate::stun::message::{HEADER_LEN, MAGIC_COOKIE};
use crate::Error;

/// The most a framer holds: one maximal STUN message (20 + 65,532 bytes) and a few more bytes.
pub const MAX_BUFFERED: usize = 20 + 65_535 + 4096;

/// What one frame holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// A STUN message.
    Stun,
    /// A ChannelData message (including its padding).
    ChannelData,
}

/// Cuts a byte stream into whole STUN or ChannelData messages.
#[derive(Debug, Default)]
pub struct StreamFramer {
    buf: Vec<u8>,
    /// Set once the stream was found out of step: every later call fails.
    broken: bool,
}

impl StreamFramer {
    /// An empty framer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes read from the stream. Fails if more than [`MAX_BUFFERED`] bytes would wait
    /// for a frame boundary (no valid frame is that long).
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), Error> {
        if self.buf.len() + bytes.len() > MAX_BUFFERED {
            self.broken = true;
            return Err(Error::Malformed("stream frame too long"));
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    /// Bytes received but not yet returned as a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next whole frame, `Ok(None)` if more bytes are needed, or an error if the stream is
    /// out of step (close it).
    pub fn next_frame(&mut self) -> Result<Option<(FrameKind, Vec<u8>)>, Error> {
        if self.broken {
            return Err(Error::Malformed("stream out of step"));
        }
        let Some(&first) = self.buf.first() else {
            return Ok(None);
        };
        let (kind, total) = if first & 0xc0 == 0 {
            // Check the length and cookie as soon as they are in, so garbage fails early.
            let length = match self.buf.get(2..4) {
                Some(l) => usize::from(u16::from_be_bytes([l[0], l[1]])),
                None => return Ok(None),
            };
            let cookie_ok =
                !matches!(self.buf.get(4..8), Some(c) if c != MAGIC_COOKIE.to_be_bytes());
            if length % 4 != 0 || !cookie_ok {
                self.broken = true;
                return Err(Error::Malformed("stream out of step"));
            }
            (FrameKind::Stun, HEADER_LEN + length)
        } else if (0x40..=0x4f).contains(&first) {
            if self.buf.len() < channel::HEADER_LEN {
                return Ok(None);
            }
            debug_assert!(is_channel_data(&self.buf));
            let length = usize::from(u16::from_be_bytes([self.buf[2], self.buf[3]]));
            (
                FrameKind::ChannelData,
                channel::HEADER_LEN + ((length + 3) & !3),
            )
        } else {
            self.broken = true;
            return Err(Error::Malformed("stream out of step"));
        };
        if self.buf.len() < total {
            return Ok(None);
        }
        let rest = self.buf.split_off(total);
        let frame = std::mem::replace(&mut self.buf, rest);
        Ok(Some((kind, frame)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::ChannelData;
    use crate::stun::{Class, MessageBuilder, Method, TransactionId};

    fn stream() -> (Vec<u8>, Vec<Vec<u8>>) {
        let a = MessageBuilder::new(Class::Request, Method::Binding, TransactionId([1; 12]))
            .finish(None, true);
        let b = ChannelData::encode(0x4000, b"hello", true).unwrap();
        let c = ChannelData::encode(0x4fff, b"", true).unwrap();
        let d = MessageBuilder::new(Class::Success, Method::Binding, TransactionId([2; 12]))
            .attr(0x8022, b"x")
            .finish(Some(b"key"), true);
        let frames = vec![a, b, c, d];
        (frames.concat(), frames)
    }

    #[test]
    fn splits_at_every_chunking() {
        let (bytes, frames) = stream();
        for chunk in 1..bytes.len() {
            let mut framer = StreamFramer::new();
            let mut got = Vec::new();
            for part in bytes.chunks(chunk) {
                framer.push(part).unwrap();
                while let Some((_, frame)) = framer.next_frame().unwrap() {
                    got.push(frame);
                }
            }
            assert_eq!(got, frames, "chunk size {chunk}");
            assert_eq!(framer.buffered(), 0);
        }
    }

    #[test]
    fn out_of_step_stream_fails_and_stays_failed() {
        let mut framer = StreamFramer::new();
        framer.push(&[0x80, 0, 0, 0]).unwrap();
        assert!(framer.next_frame().is_err());
        assert!(framer.next_frame().is_err());
        let mut framer = StreamFramer::new();
        framer.push(&[0, 1, 0, 3, 0x21, 0x12, 0xa4, 0x42]).unwrap();
        assert!(framer.next_frame().is_err());
    }

    #[test]
    fn buffer_is_bounded() {
        let mut framer = StreamFramer::new();
        assert!(framer.push(&vec![0; MAX_BUFFERED + 1]).is_err());
    }
}
