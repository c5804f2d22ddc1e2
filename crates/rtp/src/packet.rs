//! RTP data packets (RFC 3550 §5.1, §5.3.1): a zero-copy parse of one datagram and a writer
//! that appends to a caller's buffer. Does not interpret payloads or header-extension
//! contents (RFC 8285 elements are left to callers), and does not track sequence state
//! (see [`crate::stats`]).

use crate::RtpError;

/// RTP protocol version this crate speaks (RFC 3550 §5.1).
pub const RTP_VERSION: u8 = 2;
/// Fixed header length without CSRCs.
pub const FIXED_HEADER_LEN: usize = 12;
/// Most CSRCs a header can carry (4-bit CC field).
pub const MAX_CSRCS: usize = 15;

/// Up to 15 contributing sources, stored inline so a header is `Copy` and parsing never
/// allocates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Csrcs {
    len: u8,
    ids: [u32; MAX_CSRCS],
}

impl Csrcs {
    /// The CSRC list `ids`, or `None` when it holds more than 15 entries.
    pub fn new(ids: &[u32]) -> Option<Self> {
        let mut out = Self::default();
        for &id in ids {
            out.push(id)?;
        }
        Some(out)
    }

    /// Appends one CSRC; `None` when the list is full.
    pub fn push(&mut self, id: u32) -> Option<()> {
        let slot = self.ids.get_mut(usize::from(self.len))?;
        *slot = id;
        self.len += 1;
        Some(())
    }

    /// The CSRCs in header order.
    pub fn as_slice(&self) -> &[u32] {
        self.ids.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// Number of CSRCs.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// True when the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl std::ops::Deref for Csrcs {
    type Target = [u32];
    fn deref(&self) -> &[u32] {
        self.as_slice()
    }
}

/// The RTP fixed header (RFC 3550 §5.1). `padding` and `extension` reflect the wire bits
/// on parse; on write they are derived from [`RtpPacket::padding`] and
/// [`RtpPacket::extension`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RtpHeader {
    pub version: u8,
    pub padding: bool,
    pub extension: bool,
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub csrcs: Csrcs,
}

impl RtpHeader {
    /// A version-2 header with no CSRCs, no marker, no padding, no extension.
    pub fn new(payload_type: u8, sequence: u16, timestamp: u32, ssrc: u32) -> Self {
        Self {
            version: RTP_VERSION,
            padding: false,
            extension: false,
            marker: false,
            payload_type,
            sequence,
            timestamp,
            ssrc,
            csrcs: Csrcs::default(),
        }
    }

    /// Encoded length of this header alone (fixed part plus CSRCs).
    pub fn len(&self) -> usize {
        FIXED_HEADER_LEN + 4 * self.csrcs.len()
    }

    /// Never true: a header has at least 12 bytes. Present for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// A header extension (RFC 3550 §5.3.1): the 16-bit profile word and its data, whose
/// length is a multiple of four bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Extension<'a> {
    pub profile: u16,
    pub data: &'a [u8],
}

/// One RTP packet viewing the datagram it was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RtpPacket<'a> {
    pub header: RtpHeader,
    pub extension: Option<Extension<'a>>,
    pub payload: &'a [u8],
    /// Padding bytes at the end, including the final count octet; 0 means no padding.
    pub padding: u8,
}

impl<'a> RtpPacket<'a> {
    /// A packet without extension or padding.
    pub fn new(header: RtpHeader, payload: &'a [u8]) -> Self {
        Self {
            header,
            extension: None,
            payload,
            padding: 0,
        }
    }

    /// Parses one RTP datagram. Rejects other versions, truncated headers, CSRC or
    /// extension lists running past the end, and padding counts of zero or longer than
    /// what follows the header.
    pub fn parse(buf: &'a [u8]) -> Result<Self, RtpError> {
        let fixed: &[u8; FIXED_HEADER_LEN] = buf
            .first_chunk()
            .ok_or(RtpError::Truncated("fixed header"))?;
        let [b0, b1, s0, s1, t0, t1, t2, t3, c0, c1, c2, c3] = *fixed;
        let version = b0 >> 6;
        if version != RTP_VERSION {
            return Err(RtpError::Version(version));
        }
        let padding = b0 & 0x20 != 0;
        let extension = b0 & 0x10 != 0;
        let cc = usize::from(b0 & 0x0f);
        let mut rest = buf.get(FIXED_HEADER_LEN..).unwrap_or(&[]);
        let mut csrcs = Csrcs::default();
        for _ in 0..cc {
            let (id, tail) = take_u32(rest).ok_or(RtpError::Truncated("CSRC list"))?;
            csrcs.push(id).ok_or(RtpError::Truncated("CSRC list"))?;
            rest = tail;
        }
        let ext = if extension {
            let (word, tail) = take_u32(rest).ok_or(RtpError::Truncated("extension header"))?;
            let words = usize::from((word & 0xffff) as u16);
            let data = tail
                .get(..words * 4)
                .ok_or(RtpError::Truncated("extension data"))?;
            rest = tail.get(words * 4..).unwrap_or(&[]);
            Some(Extension {
                profile: (word >> 16) as u16,
                data,
            })
        } else {
            None
        };
        let mut pad = 0u8;
        if padding {
            pad = *rest.last().ok_or(RtpError::Padding)?;
            if pad == 0 || usize::from(pad) > rest.len() {
                return Err(RtpError::Padding);
            }
            rest = rest.get(..rest.len() - usize::from(pad)).unwrap_or(&[]);
        }
        Ok(Self {
            header: RtpHeader {
                version,
                padding,
                extension,
                marker: b1 & 0x80 != 0,
                payload_type: b1 & 0x7f,
                sequence: u16::from_be_bytes([s0, s1]),
                timestamp: u32::from_be_bytes([t0, t1, t2, t3]),
                ssrc: u32::from_be_bytes([c0, c1, c2, c3]),
                csrcs,
            },
            extension: ext,
            payload: rest,
            padding: pad,
        })
    }

    /// Encoded length of the whole packet.
    pub fn len(&self) -> usize {
        self.header.len()
            + self.extension.map_or(0, |e| 4 + e.data.len())
            + self.payload.len()
            + usize::from(self.padding)
    }

    /// True when the packet carries no payload bytes.
    pub fn is_empty(&self) -> bool {
        self.payload.is_empty()
    }

    /// Appends the encoded packet to `out` (one reservation, no other allocation). The P and
    /// X bits follow `padding` and `extension`; the version is always 2. Fails when the
    /// payload type exceeds 7 bits or the extension data is not whole 32-bit words (or
    /// longer than 65535 words); `out` is then left unchanged.
    pub fn write(&self, out: &mut Vec<u8>) -> Result<(), RtpError> {
        let start = out.len();
        out.resize(start + self.len(), 0);
        let tail = out.get_mut(start..).unwrap_or(&mut []);
        if let Err(e) = self.write_to(tail) {
            out.truncate(start);
            return Err(e);
        }
        Ok(())
    }

    /// Writes the packet at the start of `buf`, returning the number of bytes used; fails
    /// with [`RtpError::BufferTooSmall`] when it does not fit. No allocation.
    pub fn write_to(&self, buf: &mut [u8]) -> Result<usize, RtpError> {
        let h = &self.header;
        if h.payload_type > 0x7f {
            return Err(RtpError::PayloadType(h.payload_type));
        }
        let ext_words = match self.extension {
            Some(e) if e.data.len() % 4 != 0 || e.data.len() / 4 > usize::from(u16::MAX) => {
                return Err(RtpError::ExtensionLength(e.data.len()));
            }
            Some(e) => Some((e.profile, (e.data.len() / 4) as u16, e.data)),
            None => None,
        };
        let need = self.len();
        let dst = buf.get_mut(..need).ok_or(RtpError::BufferTooSmall(need))?;
        let mut w = Cursor { buf: dst, pos: 0 };
        w.put(&[
            (RTP_VERSION << 6)
                | (u8::from(self.padding != 0) << 5)
                | (u8::from(ext_words.is_some()) << 4)
                | h.csrcs.len() as u8,
            (u8::from(h.marker) << 7) | h.payload_type,
        ]);
        w.put(&h.sequence.to_be_bytes());
        w.put(&h.timestamp.to_be_bytes());
        w.put(&h.ssrc.to_be_bytes());
        for id in h.csrcs.iter() {
            w.put(&id.to_be_bytes());
        }
        if let Some((profile, words, data)) = ext_words {
            w.put(&profile.to_be_bytes());
            w.put(&words.to_be_bytes());
            w.put(data);
        }
        w.put(self.payload);
        if self.padding != 0 {
            for _ in 1..self.padding {
                w.put(&[0]);
            }
            w.put(&[self.padding]);
        }
        Ok(need)
    }
}

/// Sequential writer over a slice already checked to be long enough.
struct Cursor<'b> {
    buf: &'b mut [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn put(&mut self, bytes: &[u8]) {
        if let Some(dst) = self.buf.get_mut(self.pos..self.pos + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
        self.pos += bytes.len();
    }
}

/// RFC 5761 §4 demultiplexing: true when the second octet is an RTCP packet type (192–223),
/// i.e. an RTP payload type 64–95 with the marker bit set, which RTP must not use.
pub fn is_rtcp(buf: &[u8]) -> bool {
    matches!(buf.get(1), Some(192..=223)) && buf.first().is_some_and(|b| b >> 6 == 2)
}

/// Reads the SSRC of an RTP datagram without parsing the rest (relays filter on it).
pub fn peek_ssrc(buf: &[u8]) -> Option<u32> {
    let b: [u8; 4] = buf.get(8..12)?.try_into().ok()?;
    Some(u32::from_be_bytes(b))
}

fn take_u32(buf: &[u8]) -> Option<(u32, &[u8])> {
    let (word, rest) = buf.split_first_chunk::<4>()?;
    Some((u32::from_be_bytes(*word), rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_minimal_packet() {
        let mut buf = vec![0x80, 0x00, 0x12, 0x34, 0, 0, 0, 160, 0xde, 0xad, 0xbe, 0xef];
        buf.extend_from_slice(&[0xffu8; 160]);
        let p = RtpPacket::parse(&buf).unwrap();
        assert_eq!(p.header.payload_type, 0);
        assert_eq!(p.header.sequence, 0x1234);
        assert_eq!(p.header.timestamp, 160);
        assert_eq!(p.header.ssrc, 0xdead_beef);
        assert_eq!(p.payload.len(), 160);
        assert!(!p.header.marker);
    }

    #[test]
    fn skips_extension_and_honours_padding() {
        let buf = [
            0xb1, 0xe5, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, // V=2 P X CC=1, M, PT=101
            0, 0, 0, 9, // CSRC
            0xbe, 0xde, 0, 1, 1, 2, 3, 4, // extension: 1 word
            0xaa, 0xbb, // payload
            0, 0, 3, // padding 3
        ];
        let p = RtpPacket::parse(&buf).unwrap();
        assert!(p.header.marker && p.header.padding && p.header.extension);
        assert_eq!(p.header.payload_type, 101);
        assert_eq!(p.header.csrcs.as_slice(), &[9]);
        assert_eq!(
            p.extension,
            Some(Extension {
                profile: 0xbede,
                data: &[1, 2, 3, 4]
            })
        );
        assert_eq!(p.payload, &[0xaa, 0xbb]);
        assert_eq!(p.padding, 3);
        let mut out = Vec::new();
        p.write(&mut out).unwrap();
        assert_eq!(out, buf);
        let mut fixed = [0u8; 64];
        assert_eq!(p.write_to(&mut fixed).unwrap(), buf.len());
        assert!(p.write_to(&mut fixed[..10]).is_err());
    }

    #[test]
    fn rejects_malformed() {
        assert!(RtpPacket::parse(&[]).is_err());
        assert!(RtpPacket::parse(&[0x80; 11]).is_err());
        assert!(RtpPacket::parse(&[0x40; 12]).is_err()); // version 1
        assert!(RtpPacket::parse(&[0x81, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).is_err()); // CSRC missing
        assert!(RtpPacket::parse(&[0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]).is_err());
        assert!(RtpPacket::parse(&[0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).is_err()); // pad 0
        assert!(RtpPacket::parse(&[0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]).is_err()); // pad > rest
        assert!(RtpPacket::parse(&[0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).is_err()); // no pad byte
    }

    #[test]
    fn demux_and_peek() {
        assert!(is_rtcp(&[0x80, 200, 0, 6]));
        assert!(!is_rtcp(&[0x80, 0, 0, 6]));
        assert!(!is_rtcp(&[0x80, 0xe5]));
        assert_eq!(
            peek_ssrc(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2]),
            Some(258)
        );
        assert_eq!(peek_ssrc(&[0x80]), None);
    }
}
