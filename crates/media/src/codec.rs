//! The audio codecs a media graph speaks: G.711 µ-law (PCMU, static payload type 0) and
//! A-law (PCMA, 8), RFC 3551 §4.5.14, and Opus (RFC 7587, dynamic payload type).
//!
//! Every PCM buffer in this crate is 8 kHz mono; the codec converts at the edge. G.711 is
//! built in (stateless, `rtp::G711`). Opus is stateful and lives in a C library, which a pure
//! crate does not link: the I/O side hands a [`CodecFactory`] to
//! [`crate::Session::with_codecs`], and the session asks it for one [`Encoder`] (playback)
//! and one [`Decoder`] per consumer (recorder, in-band DTMF detector), so that no decoder
//! state is shared between two streams of packets.
//!
//! RTP timestamps count at the codec's clock rate ([`Codec::clock_rate`]: 8000 for G.711,
//! always 48000 for Opus whatever the audio bandwidth, RFC 7587 §4.1); one 8 kHz sample is
//! [`Codec::ts_per_sample`] timestamp units.
//!
//! Does not: resample (an Opus implementation encodes and decodes at 8 kHz itself, which
//! libopus does with its own band-limiting), transcode between two RTP legs.

use std::fmt::Debug;

/// A negotiated audio codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 µ-law.
    Pcmu,
    /// G.711 A-law.
    Pcma,
    /// Opus (`opus/48000/2`, RFC 7587); needs a [`CodecFactory`] that provides it.
    Opus,
}

/// Payload type our own offers give Opus (dynamic, RFC 3551 §3).
const OPUS_PT: u8 = 111;

impl Codec {
    /// The G.711 law that does the work (`None` for Opus).
    fn law(self) -> Option<rtp::G711> {
        match self {
            Codec::Pcmu => Some(rtp::G711::Ulaw),
            Codec::Pcma => Some(rtp::G711::Alaw),
            Codec::Opus => None,
        }
    }

    /// The static RTP payload type (RFC 3551 table 4); for Opus the dynamic type our offers
    /// use (111), since the offer decides.
    pub fn static_payload_type(self) -> u8 {
        self.law().map_or(OPUS_PT, rtp::G711::payload_type)
    }

    /// The codec of a static payload type, if it is one of ours.
    pub fn from_static_payload_type(pt: u8) -> Option<Self> {
        match rtp::G711::from_payload_type(pt)? {
            rtp::G711::Ulaw => Some(Codec::Pcmu),
            rtp::G711::Alaw => Some(Codec::Pcma),
        }
    }

    /// The RTP clock rate (RFC 3551 §4.5.14; RFC 7587 §4.1: Opus is always 48000).
    pub fn clock_rate(self) -> u32 {
        match self {
            Codec::Pcmu | Codec::Pcma => 8000,
            Codec::Opus => 48000,
        }
    }

    /// RTP timestamp units per 8 kHz PCM sample (1 for G.711, 6 for Opus).
    pub fn ts_per_sample(self) -> u32 {
        self.clock_rate() / crate::SAMPLE_RATE
    }

    /// Appends the G.711 encoding of `pcm` to `out` (Opus appends nothing: it is stateful,
    /// see [`Encoder`]).
    pub fn encode(self, pcm: &[i16], out: &mut Vec<u8>) {
        if let Some(law) = self.law() {
            law.encode(pcm, out);
        }
    }

    /// Appends the G.711 decoding of `payload` to `out` (Opus appends nothing, see
    /// [`Decoder`]).
    pub fn decode(self, payload: &[u8], out: &mut Vec<i16>) {
        if let Some(law) = self.law() {
            law.decode(payload, out);
        }
    }
}

/// Turns 20 ms frames of 8 kHz PCM into RTP payloads (one encoder per sending leg).
pub trait Encoder: Send + Debug {
    /// Appends the payload for `pcm` (one frame) to `out`; appends nothing when it cannot.
    fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>);
}

/// Turns RTP payloads into 8 kHz PCM (one decoder per stream of packets it sees in order).
pub trait Decoder: Send + Debug {
    /// Appends the audio of `payload` to `out`; appends nothing for an undecodable payload
    /// (it came off the network: never panic).
    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>);

    /// Appends `samples` of concealment for a lost packet (silence by default; Opus has
    /// packet-loss concealment).
    fn conceal(&mut self, samples: usize, out: &mut Vec<i16>) {
        out.resize(out.len() + samples, 0);
    }
}

/// Makes encoders and decoders; `None` when the codec is not available.
pub trait CodecFactory: Send + Sync + Debug {
    /// A new encoder for `codec`.
    fn encoder(&self, codec: Codec) -> Option<Box<dyn Encoder>>;
    /// A new decoder for `codec`.
    fn decoder(&self, codec: Codec) -> Option<Box<dyn Decoder>>;
}

/// The built-in codecs: G.711 only (Opus needs an I/O-side factory).
#[derive(Debug, Clone, Copy, Default)]
pub struct G711Codecs;

/// A G.711 law as an [`Encoder`] / [`Decoder`].
#[derive(Debug, Clone, Copy)]
struct G711Coder(rtp::G711);

impl Encoder for G711Coder {
    fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) {
        self.0.encode(pcm, out);
    }
}

impl Decoder for G711Coder {
    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) {
        self.0.decode(payload, out);
    }
}

impl CodecFactory for G711Codecs {
    fn encoder(&self, codec: Codec) -> Option<Box<dyn Encoder>> {
        codec
            .law()
            .map(|l| Box::new(G711Coder(l)) as Box<dyn Encoder>)
    }

    fn decoder(&self, codec: Codec) -> Option<Box<dyn Decoder>> {
        codec
            .law()
            .map(|l| Box::new(G711Coder(l)) as Box<dyn Decoder>)
    }
}

/// A decoder that yields nothing, for a codec the factory does not have (the recording
/// then holds silence instead of the call failing).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mute;

impl Decoder for Mute {
    fn decode(&mut self, _payload: &[u8], _out: &mut Vec<i16>) {}
}

/// A decoder for `codec` from `factory`, or [`Mute`].
pub(crate) fn decoder(factory: &dyn CodecFactory, codec: Codec) -> Box<dyn Decoder> {
    factory.decoder(codec).unwrap_or_else(|| Box::new(Mute))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn clock_rates_and_builtin_factory() {
        assert_eq!(
            (Codec::Pcmu.ts_per_sample(), Codec::Opus.ts_per_sample()),
            (1, 6)
        );
        assert_eq!(Codec::Opus.static_payload_type(), 111);
        assert!(G711Codecs.encoder(Codec::Opus).is_none());
        let mut enc = G711Codecs.encoder(Codec::Pcma).unwrap();
        let mut dec = G711Codecs.decoder(Codec::Pcma).unwrap();
        let mut bytes = Vec::new();
        enc.encode(&[0, 1000, -1000], &mut bytes);
        let mut pcm = Vec::new();
        dec.decode(&bytes, &mut pcm);
        assert_eq!(pcm.len(), 3);
        dec.conceal(5, &mut pcm);
        assert_eq!(pcm.len(), 8);
    }
}
