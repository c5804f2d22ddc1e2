//! The audio codecs a media graph speaks: G.711 µ-law (PCMU, static payload type 0) and
//! A-law (PCMA, 8), RFC 3551 §4.5.14, 8 kHz, one byte per sample.
//!
//! Does not: Opus (negotiated by `sdp`, not yet encoded here), resampling.

/// A negotiated audio codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 µ-law.
    Pcmu,
    /// G.711 A-law.
    Pcma,
}

impl Codec {
    /// The static RTP payload type (RFC 3551 table 4).
    pub fn static_payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// The codec of a static payload type, if it is one of ours.
    pub fn from_static_payload_type(pt: u8) -> Option<Self> {
        match pt {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            _ => None,
        }
    }

    /// Appends the encoding of `pcm` to `out`.
    pub fn encode(self, pcm: &[i16], out: &mut Vec<u8>) {
        match self {
            Codec::Pcmu => out.extend(pcm.iter().map(|&s| rtp::g711::ulaw_encode(s))),
            Codec::Pcma => out.extend(pcm.iter().map(|&s| rtp::g711::alaw_encode(s))),
        }
    }

    /// Appends the decoding of `payload` to `out`.
    pub fn decode(self, payload: &[u8], out: &mut Vec<i16>) {
        match self {
            Codec::Pcmu => out.extend(payload.iter().map(|&b| rtp::g711::ulaw_decode(b))),
            Codec::Pcma => out.extend(payload.iter().map(|&b| rtp::g711::alaw_decode(b))),
        }
    }

    /// Samples carried by a payload of `len` bytes.
    pub fn samples_in(self, len: usize) -> usize {
        len
    }
}
