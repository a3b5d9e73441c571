//! The Opus packet framing (RFC 6716 §3) that this workspace reads without libopus: a code 3
//! packet's header (frame count, padding; the receiver's FEC check in `ringwire-media` reads
//! frames with it), and taking a packet's padding off, and with it the extensions that live in
//! the padding (DRED). Pure Rust: libopus's own `opus_packet_unpad` keeps extensions.
//!
//! Why a sender wants this: an RFC 2198 copy of an earlier packet only has to rebuild that
//! packet's own frame. Its DRED is history the newer packet it rides in carries anyway, from a
//! later point, so a copy with DRED pays for the same history twice or three times over.

/// Writes into `out` the packet `packet` without its padding (and so without extensions): a
/// one-frame packet of code 3 becomes a code 0 packet of the same frame. Any other packet (code
/// 0, 1 or 2, which have no padding, or several frames) is copied unchanged, as is anything
/// that does not parse: this is for the sender's own packets, and a copy is never worse.
/// Returns whether padding was taken off.
pub fn strip_padding(packet: &[u8], out: &mut Vec<u8>) -> bool {
    out.clear();
    match one_frame_of_code3(packet) {
        Some((toc, frame)) => {
            out.push(toc & !0x03);
            out.extend_from_slice(frame);
            true
        }
        None => {
            out.extend_from_slice(packet);
            false
        }
    }
}

/// The header of a code 3 packet (RFC 6716 §3.2.5): any number of frames, optional padding,
/// optional explicit frame lengths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code3<'a> {
    /// Whether each frame but the last has its length written before the frame data.
    pub vbr: bool,
    /// How many frames the packet holds (at least one).
    pub frames: usize,
    /// Bytes of padding at the packet's end (where extensions such as DRED live).
    pub padding: usize,
    /// What follows the header: the frame lengths (VBR), the frames, then the padding. It is at
    /// least `padding` bytes long.
    pub body: &'a [u8],
}

impl<'a> Code3<'a> {
    /// The frames' bytes (length fields included, padding left out).
    pub fn data(&self) -> &'a [u8] {
        &self.body[..self.body.len() - self.padding]
    }
}

/// Reads the frame-count byte and the padding length of a code 3 packet; `rest` is the packet
/// after its TOC byte. `None` when it is cut short, claims no frames, or claims more padding
/// than it has bytes.
pub fn code3_header(rest: &[u8]) -> Option<Code3<'_>> {
    let (&count, mut rest) = rest.split_first()?;
    let frames = usize::from(count & 0x3f);
    if frames == 0 {
        return None;
    }
    let mut padding = 0usize;
    if count & 0x40 != 0 {
        // Padding length: each 255 means 254 bytes and another length byte follows.
        loop {
            let (&byte, after) = rest.split_first()?;
            rest = after;
            if byte == 255 {
                padding += 254;
            } else {
                padding += usize::from(byte);
                break;
            }
        }
    }
    (rest.len() >= padding).then_some(Code3 {
        vbr: count & 0x80 != 0,
        frames,
        padding,
        body: rest,
    })
}

/// The TOC byte and the frame of a code 3 packet that carries exactly one frame and some padding.
fn one_frame_of_code3(packet: &[u8]) -> Option<(u8, &[u8])> {
    let (&toc, rest) = packet.split_first()?;
    if toc & 0x03 != 3 {
        return None;
    }
    let header = code3_header(rest)?;
    if header.frames != 1 || header.padding == 0 {
        return None;
    }
    // With one frame there is no length field, VBR or not: the frame is what the padding
    // leaves. A code 0 packet holds at most 1275 bytes of frame (RFC 6716 §3.2.1).
    let frame = header.data();
    (frame.len() <= 1275).then_some((toc, frame))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_padded_frame_becomes_code_0() {
        // TOC 0x7b (CELT FB 20 ms, code 3), one frame with padding: 2 length bytes (255, 3)
        // mean 257 bytes of padding.
        let mut packet = vec![0x7b, 0x41, 255, 3];
        packet.extend_from_slice(&[7; 40]);
        packet.extend_from_slice(&[9; 257]);
        let mut out = Vec::new();
        assert!(strip_padding(&packet, &mut out));
        assert_eq!(out[0], 0x78);
        assert_eq!(&out[1..], &[7; 40]);
    }

    #[test]
    fn packets_without_padding_or_with_several_frames_are_copied() {
        let mut out = Vec::new();
        for packet in [
            vec![0x78, 1, 2, 3],          // code 0
            vec![0x79, 1, 2],             // code 1
            vec![0x7b, 0x01, 5, 6],       // code 3, one frame, no padding
            vec![0x7b, 0x42, 1, 5, 6, 0], // code 3, two frames
            vec![0x7b, 0x41, 9, 1],       // padding longer than the packet
            vec![0x7b, 0x41],             // cut short
            vec![],
        ] {
            assert!(!strip_padding(&packet, &mut out), "{packet:?}");
            assert_eq!(out, packet);
        }
    }

    #[test]
    fn code3_headers_are_read_or_refused() {
        // VBR, two frames, 3 bytes of padding.
        let h = code3_header(&[0xc2, 3, 2, 1, 1, 9, 0, 0, 0]).expect("parses");
        assert!(h.vbr);
        assert_eq!((h.frames, h.padding), (2, 3));
        assert_eq!(h.data(), &[2, 1, 1, 9]);
        assert_eq!(code3_header(&[0x00]), None, "no frames");
        assert_eq!(
            code3_header(&[0x41, 5, 1, 2]),
            None,
            "more padding than bytes"
        );
        assert_eq!(code3_header(&[0x41, 255]), None, "padding length cut short");
        assert_eq!(code3_header(&[]), None);
    }
}
