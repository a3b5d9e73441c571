//! RFC 2198 redundant audio (RED) for Opus, as browsers send it (`red/48000/2`, fmtp
//! `111/111`): each packet carries the current Opus frame plus copies of one or more earlier
//! ones, so a frame lost on the way comes back with a later packet. Opus in-band FEC only
//! rebuilds the one frame before a packet, and coarsely; RED rebuilds whole frames, as far back
//! as the sender's distances reach, which is what bursts of loss need.
//!
//! [`RedPacket::parse`] reads a RED payload from the network (untrusted: every length is
//! checked, nothing panics); [`RedEncoder`] builds one from the frames a call sends. Both are
//! sans-IO and clock-free; timestamps are RTP units (48 kHz).

use std::collections::VecDeque;

use crate::MediaError;

/// Most redundant blocks accepted in one packet. Browsers send one; a packet claiming dozens
/// is garbage or an attempt to make the receiver work.
pub const MAX_BLOCKS: usize = 8;
/// Deepest distance, in frames, [`RedEncoder`] sends.
pub const MAX_DISTANCE: u8 = 3;
/// A redundant block's length field is 10 bits.
const MAX_BLOCK_LEN: usize = (1 << 10) - 1;
/// A redundant block's timestamp offset field is 14 bits.
const MAX_TS_OFFSET: u32 = (1 << 14) - 1;

/// One block of a RED payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedBlock<'a> {
    /// The payload type of the block's data (the Opus PT for audio).
    pub pt: u8,
    /// How far before the packet's RTP timestamp this block's media starts (0 for the primary).
    pub ts_offset: u32,
    pub data: &'a [u8],
}

/// A parsed RED payload: redundant blocks, oldest first as sent, then the primary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedPacket<'a> {
    pub redundant: Vec<RedBlock<'a>>,
    pub primary: RedBlock<'a>,
}

/// Why a RED payload was refused (a reason, like `InvalidAddressReason` in core: the receiver
/// counts it and drops the packet; nothing propagates it as an error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MalformedRed {
    #[error("RED payload is empty")]
    Empty,
    #[error("RED header {index} is cut short")]
    TruncatedHeader { index: usize },
    #[error("RED payload has more than {MAX_BLOCKS} redundant blocks")]
    TooManyBlocks,
    #[error("RED block {index} claims {len} bytes but only {left} remain")]
    TruncatedBlock {
        index: usize,
        len: usize,
        left: usize,
    },
}

impl<'a> RedPacket<'a> {
    /// Reads a RED payload. Each redundant block's header is 4 bytes (F=1, PT, 14-bit
    /// timestamp offset, 10-bit length); the last header is 1 byte (F=0, PT) and the primary
    /// takes what is left after the redundant blocks.
    pub fn parse(payload: &'a [u8]) -> Result<RedPacket<'a>, MalformedRed> {
        let mut headers = Vec::new();
        let mut at = 0;
        let primary_pt = loop {
            let first = *payload.get(at).ok_or(if at == 0 {
                MalformedRed::Empty
            } else {
                MalformedRed::TruncatedHeader {
                    index: headers.len(),
                }
            })?;
            if first & 0x80 == 0 {
                at += 1;
                break first & 0x7f;
            }
            let header = payload
                .get(at..at + 4)
                .ok_or(MalformedRed::TruncatedHeader {
                    index: headers.len(),
                })?;
            if headers.len() == MAX_BLOCKS {
                return Err(MalformedRed::TooManyBlocks);
            }
            let ts_offset = (u32::from(header[1]) << 6) | (u32::from(header[2]) >> 2);
            let len = (usize::from(header[2] & 0x03) << 8) | usize::from(header[3]);
            headers.push((first & 0x7f, ts_offset, len));
            at += 4;
        };
        let mut redundant = Vec::with_capacity(headers.len());
        for (index, (pt, ts_offset, len)) in headers.into_iter().enumerate() {
            let left = payload.len() - at;
            let data = payload
                .get(at..at + len)
                .ok_or(MalformedRed::TruncatedBlock { index, len, left })?;
            redundant.push(RedBlock {
                pt,
                ts_offset,
                data,
            });
            at += len;
        }
        Ok(RedPacket {
            redundant,
            primary: RedBlock {
                pt: primary_pt,
                ts_offset: 0,
                data: &payload[at..],
            },
        })
    }
}

/// Builds RED payloads from the frames a call sends: remembers the last [`MAX_DISTANCE`]
/// frames (without their padding, and so without DRED) and puts the ones `distances` frames
/// back in front of each new frame.
#[derive(Debug, Clone)]
pub struct RedEncoder {
    /// The primary codec's payload type, written into every block header.
    pt: u8,
    /// One frame in RTP units.
    frame_ts: u32,
    /// Recent frames, newest last: (media time in 48 kHz units, payload).
    history: VecDeque<(u64, Vec<u8>)>,
}

impl RedEncoder {
    /// An encoder for frames of `frame_ts` RTP units carrying payload type `pt`.
    pub fn new(pt: u8, frame_ts: u32) -> Result<RedEncoder, MediaError> {
        if pt > 127 || frame_ts == 0 || frame_ts * u32::from(MAX_DISTANCE) > MAX_TS_OFFSET {
            return Err(MediaError::Config(format!(
                "RED: payload type {pt} must be 0..=127 and a frame ({frame_ts} units) 1..={}",
                MAX_TS_OFFSET / u32::from(MAX_DISTANCE)
            )));
        }
        Ok(RedEncoder {
            pt,
            frame_ts,
            history: VecDeque::with_capacity(usize::from(MAX_DISTANCE) + 1),
        })
    }

    /// Writes into `out` the RED payload for `frame` at media time `time`, carrying the frames
    /// sent `levels` (at most [`MAX_DISTANCE`]) frames back and nearer, oldest first, where
    /// they were sent and fit; `levels` 0 writes the primary alone. Then remembers `frame`.
    pub fn encode(&mut self, time: u64, frame: &[u8], levels: u8, out: &mut Vec<u8>) {
        out.clear();
        // Headers first, then the blocks' data in the same order: two passes over the history,
        // so the per-frame path does not allocate.
        for (offset, data) in self.blocks(time, levels) {
            let len = data.len();
            out.push(0x80 | self.pt);
            out.push((offset >> 6) as u8);
            out.push((((offset & 0x3f) << 2) as u8) | (len >> 8) as u8);
            out.push(len as u8);
        }
        out.push(self.pt);
        for (_, data) in self.blocks(time, levels) {
            out.extend_from_slice(data);
        }
        out.extend_from_slice(frame);
        self.remember(time, frame);
    }

    /// The remembered frames 1 to `levels` (at most [`MAX_DISTANCE`]) frames before `time`
    /// that fit in a block, oldest first, with their timestamp offsets.
    fn blocks(&self, time: u64, levels: u8) -> impl Iterator<Item = (u32, &[u8])> {
        let frame_ts = u64::from(self.frame_ts);
        let deepest = u64::from(levels.min(MAX_DISTANCE));
        self.history.iter().filter_map(move |(t, data)| {
            let back = time.checked_sub(*t)?;
            let wanted = back % frame_ts == 0 && (1..=deepest).contains(&(back / frame_ts));
            let fits = !data.is_empty() && data.len() <= MAX_BLOCK_LEN;
            // `back` is at most MAX_DISTANCE frames, which `new` keeps within 14 bits.
            (wanted && fits).then_some((back as u32, data.as_slice()))
        })
    }

    /// Forgets the sent frames: what follows must not carry audio from before (a DTMF tone
    /// replaced it on the wire, or the stream restarted).
    pub fn clear(&mut self) {
        self.history.clear();
    }

    /// Keeps `frame` for the copies to come, without its padding: a copy only has to rebuild
    /// its own frame, and the DRED history in an Opus packet's padding is carried by the newer
    /// packet the copy rides in, from a later point (`ringwire_opus::strip_padding`).
    fn remember(&mut self, time: u64, frame: &[u8]) {
        let mut kept = if self.history.len() == usize::from(MAX_DISTANCE) {
            self.history
                .pop_front()
                .map(|(_, reused)| reused)
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        ringwire_opus::strip_padding(frame, &mut kept);
        self.history.push_back((time, kept));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPUS: u8 = 111;

    fn frame(i: u8) -> Vec<u8> {
        vec![i; 10 + usize::from(i)]
    }

    #[test]
    fn browser_style_packet_parses() {
        // One redundant block 960 units back, 3 bytes, then a 2-byte primary.
        let bytes = [0x80 | OPUS, 0x0f, 0x00, 0x03, OPUS, 1, 2, 3, 9, 9];
        let p = RedPacket::parse(&bytes).unwrap();
        assert_eq!(
            p.redundant,
            vec![RedBlock {
                pt: OPUS,
                ts_offset: 960,
                data: &[1, 2, 3]
            }]
        );
        assert_eq!(p.primary.data, &[9, 9]);
        assert_eq!(p.primary.pt, OPUS);
    }

    #[test]
    fn primary_only_and_empty_primary_parse() {
        let p = RedPacket::parse(&[OPUS, 7]).unwrap();
        assert!(p.redundant.is_empty());
        assert_eq!(p.primary.data, &[7]);
        assert_eq!(
            RedPacket::parse(&[OPUS]).unwrap().primary.data,
            &[] as &[u8]
        );
    }

    #[test]
    fn malformed_packets_are_refused_with_the_reason() {
        assert_eq!(RedPacket::parse(&[]), Err(MalformedRed::Empty));
        assert_eq!(
            RedPacket::parse(&[0x80 | OPUS, 0, 0]),
            Err(MalformedRed::TruncatedHeader { index: 0 })
        );
        assert_eq!(
            RedPacket::parse(&[0x80 | OPUS, 0, 0, 4]),
            Err(MalformedRed::TruncatedHeader { index: 1 })
        );
        assert_eq!(
            RedPacket::parse(&[0x80 | OPUS, 0x0f, 0, 5, OPUS, 1, 2]),
            Err(MalformedRed::TruncatedBlock {
                index: 0,
                len: 5,
                left: 2
            })
        );
        let many: Vec<u8> = std::iter::repeat([0x80 | OPUS, 0, 0, 0])
            .take(MAX_BLOCKS + 1)
            .flatten()
            .chain([OPUS])
            .collect();
        assert_eq!(RedPacket::parse(&many), Err(MalformedRed::TooManyBlocks));
    }

    #[test]
    fn encoder_carries_the_frames_asked_for_and_parses_back() {
        let mut enc = RedEncoder::new(OPUS, 960).unwrap();
        let mut out = Vec::new();
        enc.encode(0, &frame(0), 2, &mut out);
        assert_eq!(out[0], OPUS, "nothing sent before: primary only");
        assert_eq!(&out[1..], &frame(0)[..]);
        enc.encode(960, &frame(1), 2, &mut out);
        enc.encode(1920, &frame(2), 2, &mut out);
        let p = RedPacket::parse(&out).unwrap();
        let got: Vec<(u32, &[u8])> = p.redundant.iter().map(|b| (b.ts_offset, b.data)).collect();
        assert_eq!(got, vec![(1920, &frame(0)[..]), (960, &frame(1)[..])]);
        assert_eq!(p.primary.data, &frame(2)[..]);

        enc.encode(2880, &frame(3), 1, &mut out);
        let p = RedPacket::parse(&out).unwrap();
        assert_eq!(p.redundant.len(), 1);
        assert_eq!(p.redundant[0].data, &frame(2)[..]);
        enc.encode(3840, &frame(4), 0, &mut out);
        assert_eq!(out, [&[OPUS][..], &frame(4)].concat());
    }

    #[test]
    fn a_gap_in_what_was_sent_is_not_filled_with_the_wrong_frame() {
        let mut enc = RedEncoder::new(OPUS, 960).unwrap();
        let mut out = Vec::new();
        enc.encode(0, &frame(0), 2, &mut out);
        // Frame at 960 never went out (a DTMF report took its place).
        enc.encode(1920, &frame(2), 1, &mut out);
        assert!(RedPacket::parse(&out).unwrap().redundant.is_empty());
        enc.clear();
        enc.encode(2880, &frame(3), 3, &mut out);
        assert!(RedPacket::parse(&out).unwrap().redundant.is_empty());
    }

    #[test]
    fn oversized_frames_are_not_made_redundant() {
        let mut enc = RedEncoder::new(OPUS, 960).unwrap();
        let mut out = Vec::new();
        enc.encode(0, &[5; MAX_BLOCK_LEN + 1], 1, &mut out);
        enc.encode(960, &[6; 4], 1, &mut out);
        let p = RedPacket::parse(&out).unwrap();
        assert!(p.redundant.is_empty(), "a 10-bit length cannot say 1024");
        assert_eq!(p.primary.data, &[6; 4]);
    }

    /// The stable stand-in for the fuzz target: packets the encoder made, with bytes flipped,
    /// cut and appended, never panic the parser, and what parses accounts for every byte.
    #[test]
    fn mutated_packets_never_panic_and_parse_consistently() {
        let mut enc = RedEncoder::new(OPUS, 960).unwrap();
        let mut out = Vec::new();
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut parsed = 0;
        for i in 0..5000u64 {
            enc.encode(i * 960, &frame((i % 40) as u8), (i % 4) as u8, &mut out);
            let mut bytes = out.clone();
            for _ in 0..next() % 4 {
                let at = (next() as usize) % bytes.len();
                bytes[at] ^= 1 << (next() % 8);
            }
            if next() % 3 == 0 {
                bytes.truncate((next() as usize) % (bytes.len() + 1));
            }
            if next() % 5 == 0 {
                bytes.extend((0..next() % 8).map(|_| next() as u8));
            }
            if let Ok(p) = RedPacket::parse(&bytes) {
                parsed += 1;
                let carried: usize = p.redundant.iter().map(|b| b.data.len()).sum();
                let headers = 4 * p.redundant.len() + 1;
                assert_eq!(headers + carried + p.primary.data.len(), bytes.len());
            }
        }
        assert!(parsed > 1000, "most mutations still parse: {parsed}");
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(RedEncoder::new(128, 960).is_err());
        assert!(RedEncoder::new(OPUS, 0).is_err());
        assert!(RedEncoder::new(OPUS, 48_000).is_err());
    }
}
