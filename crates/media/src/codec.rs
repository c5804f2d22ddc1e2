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
    /// The G.711 law that does the work (`rtp::G711`).
    fn law(self) -> rtp::G711 {
        match self {
            Codec::Pcmu => rtp::G711::Ulaw,
            Codec::Pcma => rtp::G711::Alaw,
        }
    }

    /// The static RTP payload type (RFC 3551 table 4).
    pub fn static_payload_type(self) -> u8 {
        self.law().payload_type()
    }

    /// The codec of a static payload type, if it is one of ours.
    pub fn from_static_payload_type(pt: u8) -> Option<Self> {
        match rtp::G711::from_payload_type(pt)? {
            rtp::G711::Ulaw => Some(Codec::Pcmu),
            rtp::G711::Alaw => Some(Codec::Pcma),
        }
    }

    /// Appends the encoding of `pcm` to `out`.
    pub fn encode(self, pcm: &[i16], out: &mut Vec<u8>) {
        self.law().encode(pcm, out);
    }

    /// Appends the decoding of `payload` to `out`.
    pub fn decode(self, payload: &[u8], out: &mut Vec<i16>) {
        self.law().decode(payload, out);
    }
}
