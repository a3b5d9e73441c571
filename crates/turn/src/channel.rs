//! ChannelData messages (RFC 8656 §12.4): a 4-byte header (channel number 0x4000–0x4FFF,
//! length) and the application data, padded to four bytes over TCP/TLS and optionally over UDP.

use crate::Error;

/// Header length of a ChannelData message.
pub const HEADER_LEN: usize = 4;
/// The first channel number (RFC 8656 §12).
pub const MIN_CHANNEL: u16 = 0x4000;
/// The last channel number (RFC 8656 §12).
pub const MAX_CHANNEL: u16 = 0x4fff;

/// True when `data` starts like a ChannelData message (first byte 0x40–0x4F).
pub fn is_channel_data(data: &[u8]) -> bool {
    data.len() >= HEADER_LEN && (0x40..=0x4f).contains(&data[0])
}

/// A decoded ChannelData message borrowing its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelData<'a> {
    /// The channel number.
    pub channel: u16,
    /// The application data (the peer's datagram).
    pub data: &'a [u8],
}

impl<'a> ChannelData<'a> {
    /// Decodes one ChannelData message. Trailing padding (up to 3 bytes) is allowed; anything
    /// shorter than the length field says, or longer than its padding, is malformed.
    pub fn decode(raw: &'a [u8]) -> Result<Self, Error> {
        if !is_channel_data(raw) {
            return Err(Error::Malformed("not ChannelData"));
        }
        let channel = u16::from_be_bytes([raw[0], raw[1]]);
        let len = usize::from(u16::from_be_bytes([raw[2], raw[3]]));
        let Some(data) = raw.get(HEADER_LEN..HEADER_LEN + len) else {
            return Err(Error::Malformed("ChannelData length"));
        };
        if raw.len() > HEADER_LEN + ((len + 3) & !3) {
            return Err(Error::Malformed("ChannelData trailing bytes"));
        }
        Ok(ChannelData { channel, data })
    }

    /// Encodes a ChannelData message; `pad` pads to four bytes (required over streams).
    pub fn encode(channel: u16, data: &[u8], pad: bool) -> Result<Vec<u8>, Error> {
        let len = u16::try_from(data.len()).map_err(|_| Error::PayloadTooLong(data.len()))?;
        let padded = if pad {
            (data.len() + 3) & !3
        } else {
            data.len()
        };
        let mut out = Vec::with_capacity(HEADER_LEN + padded);
        out.extend_from_slice(&channel.to_be_bytes());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(data);
        out.resize(HEADER_LEN + padded, 0);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_padded_and_not() {
        for pad in [false, true] {
            for len in 0..9 {
                let data: Vec<u8> = (0..len).collect();
                let raw = ChannelData::encode(0x4001, &data, pad).unwrap();
                assert_eq!(raw.len().is_multiple_of(4), pad || len.is_multiple_of(4));
                let cd = ChannelData::decode(&raw).unwrap();
                assert_eq!((cd.channel, cd.data), (0x4001, &data[..]));
            }
        }
    }

    #[test]
    fn lengths_are_checked() {
        assert!(ChannelData::decode(&[0x40, 0x00, 0x00, 0x05, 1, 2, 3, 4]).is_err());
        assert!(ChannelData::decode(&[0x40, 0x00, 0x00, 0x01, 1, 0, 0, 0, 0]).is_err());
        assert!(ChannelData::decode(&[0x40, 0x00, 0x00]).is_err());
        assert!(ChannelData::decode(&[0x50, 0x00, 0x00, 0x00]).is_err());
        assert!(ChannelData::encode(0x4000, &vec![0; 70_000], true).is_err());
    }
}
