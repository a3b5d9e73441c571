//! Reading Opus packet headers (RFC 6716 §3) without decoding: enough to know whether a packet
//! carries in-band FEC for the packet before it.
//!
//! libopus silently substitutes concealment when asked for FEC from a packet that has none, which
//! would make "recovered by FEC" statistics lie. libopus 1.5+ has `opus_packet_has_lbrr` for
//! this, but the `opus` crate does not wrap it and this crate forbids `unsafe`, so the same check
//! is done here in safe Rust. It never allocates: it runs on the playout path.

/// The largest packet [`super::OpusEncoder`] produces: one TOC byte plus the 1275-byte maximum
/// of a single Opus frame (RFC 6716 §3.2.1). Size encode buffers with it.
pub const MAX_PACKET_BYTES: usize = 1276;

/// Encoded packets of this many bytes or fewer are DTX frames: the encoder found nothing worth
/// sending. The sender may skip them (the receiver's decoder then runs comfort noise/PLC), which
/// is the point of DTX; the same threshold is what WebRTC uses.
pub const DTX_PACKET_MAX_BYTES: usize = 2;

/// Whether `packet` carries in-band FEC (SILK "LBRR" data) for the packet before it.
///
/// Only SILK-only and hybrid packets can; CELT-only packets never do. The LBRR flag is one of
/// the bits the SILK encoder patches into the very start of the range-coded frame, after one
/// voice-activity bit per SILK frame, so it can be read from the first payload byte. Malformed
/// packets answer `false`.
pub fn has_fec(packet: &[u8]) -> bool {
    let Some(&toc) = packet.first() else {
        return false;
    };
    let config = toc >> 3;
    // Configs 0-11 are SILK-only with 10/20/40/60 ms frames, 12-15 hybrid with 10/20 ms frames,
    // 16-31 CELT-only.
    let silk_frames: u8 = match config {
        0..=11 => match config % 4 {
            0 | 1 => 1,
            2 => 2,
            _ => 3,
        },
        12..=15 => 1,
        _ => return false,
    };
    let stereo = toc & 0x04 != 0;
    let Some(first) = first_frame(packet) else {
        return false;
    };
    let Some(&byte) = first.first() else {
        // A zero-length frame is a DTX/lost frame with nothing in it.
        return false;
    };
    // Bit layout from the top: VAD flags (one per SILK frame), then the LBRR flag; for stereo
    // the side channel's VAD flags and LBRR flag follow.
    let mid_lbrr = (byte >> (7 - silk_frames)) & 1 == 1;
    let side_lbrr = stereo && (byte >> (6 - 2 * silk_frames)) & 1 == 1;
    mid_lbrr || side_lbrr
}

/// The first Opus frame inside a packet, per the framing codes of RFC 6716 §3.2.
fn first_frame(packet: &[u8]) -> Option<&[u8]> {
    let toc = *packet.first()?;
    let rest = &packet[1..];
    match toc & 0x03 {
        // One frame.
        0 => Some(rest),
        // Two frames of equal size.
        1 => (rest.len() % 2 == 0).then(|| &rest[..rest.len() / 2]),
        // Two frames, the first one's length given.
        2 => {
            let (size, used) = frame_length(rest)?;
            rest.get(used..used + size)
        }
        // An arbitrary number of frames, with optional padding and optional explicit lengths.
        _ => {
            let header = ringwire_opus::code3_header(rest)?;
            let (vbr, frames, rest) = (header.vbr, header.frames, header.data());
            let data_len = rest.len();
            if vbr && frames > 1 {
                // Lengths of every frame but the last precede the frame data.
                let (first_size, used) = frame_length(rest)?;
                let mut offset = used;
                for _ in 1..frames - 1 {
                    let (_, used) = frame_length(rest.get(offset..)?)?;
                    offset += used;
                }
                let end = offset.checked_add(first_size)?;
                (end <= data_len).then(|| &rest[offset..end])
            } else {
                // CBR: equal frames (a single frame is CBR and VBR alike).
                (data_len % frames == 0).then(|| &rest[..data_len / frames])
            }
        }
    }
}

/// A frame length field (RFC 6716 §3.2.1): one byte below 252, else two bytes. Returns the length
/// and the number of bytes the field used.
fn frame_length(bytes: &[u8]) -> Option<(usize, usize)> {
    let first = usize::from(*bytes.first()?);
    if first < 252 {
        Some((first, 1))
    } else {
        let second = usize::from(*bytes.get(1)?);
        Some((second * 4 + first, 2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn celt_and_empty_packets_have_no_fec() {
        assert!(!has_fec(&[]));
        // Config 31 (CELT FB 20 ms), code 0, with a payload whose top bits would look like LBRR.
        assert!(!has_fec(&[31 << 3, 0xff, 0xff]));
    }

    #[test]
    fn reads_the_lbrr_bit_after_the_vad_bit() {
        // Config 1 (SILK NB 20 ms), mono, code 0: VAD bit 7, LBRR bit 6.
        assert!(has_fec(&[1 << 3, 0b0100_0000]));
        assert!(!has_fec(&[1 << 3, 0b1000_0000]));
        // Config 2 (SILK NB 40 ms = two SILK frames): VAD bits 7-6, LBRR bit 5.
        assert!(has_fec(&[2 << 3, 0b0010_0000]));
        assert!(!has_fec(&[2 << 3, 0b0100_0000]));
        // Hybrid FB 20 ms (config 15).
        assert!(has_fec(&[15 << 3, 0b0100_0000, 0x12]));
    }

    #[test]
    fn finds_the_first_frame_in_every_framing_code() {
        let silk = 1 << 3;
        // Code 1: two equal frames; only the first one's flag counts.
        assert!(has_fec(&[silk | 1, 0x40, 0x00]));
        assert!(!has_fec(&[silk | 1, 0x00, 0x40]));
        assert!(!has_fec(&[silk | 1, 0x40, 0x00, 0x00])); // odd payload: malformed
                                                          // Code 2: explicit first length.
        assert!(has_fec(&[silk | 2, 1, 0x40, 0x00]));
        assert!(!has_fec(&[silk | 2, 9, 0x40])); // length past the end
                                                 // Code 3, CBR, 2 frames, padded by 1 byte.
        assert!(has_fec(&[silk | 3, 0x42, 1, 0x40, 0x00, 0xee]));
        // Code 3, VBR, 3 frames with lengths 1 and 2, then the last.
        assert!(has_fec(&[silk | 3, 0x83, 1, 2, 0x40, 0, 0, 0]));
        assert!(!has_fec(&[silk | 3, 0x80])); // zero frames
    }
}
