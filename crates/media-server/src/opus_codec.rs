//! Opus for IVR legs (RFC 7587; codec RFC 6716) through Debian's libopus (crate `opus`,
//! linked with pkg-config): the I/O side's [`media::CodecFactory`], so the pure `media`
//! crate stays free of C.
//!
//! Encoder and decoder run at 8 kHz mono, the rate of every PCM buffer in the engine:
//! libopus accepts 8 kHz input (narrowband Opus is valid Opus; the RTP clock stays 48 kHz,
//! RFC 7587 §4.1) and decodes any Opus stream, wideband or stereo, straight to 8 kHz mono
//! with its own band-limiting (RFC 6716 §4), so no resampler is needed here. A lost packet
//! is concealed by libopus (decode of no data, RFC 6716 §4.4).
//!
//! Does not: send stereo, use in-band FEC or DTX, choose a bitrate (libopus's default for
//! 8 kHz VoIP, about 10–20 kbit/s), or transcode in the relay.

use media::{Codec, CodecFactory, Decoder, Encoder, G711Codecs};
use opus::{Application, Channels};
use tracing::warn;

/// PCM and RTP rate we run libopus at (the engine's PCM rate).
const RATE: u32 = media::SAMPLE_RATE;
/// The longest Opus packet is 120 ms (RFC 6716 §3.2.5): 960 samples at 8 kHz.
const MAX_SAMPLES: usize = 960;
/// Largest encoded frame we accept from libopus (RFC 6716 §3.4 R5 limits a frame to 1275
/// bytes; at 8 kHz it is far smaller).
const MAX_PACKET: usize = 1275;

/// G.711 built in, Opus through libopus.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpusCodecs;

impl CodecFactory for OpusCodecs {
    fn encoder(&self, codec: Codec) -> Option<Box<dyn Encoder>> {
        if codec != Codec::Opus {
            return G711Codecs.encoder(codec);
        }
        match opus::Encoder::new(RATE, Channels::Mono, Application::Voip) {
            Ok(e) => Some(Box::new(OpusEncoder(e))),
            Err(e) => {
                warn!(error = %e, "opus encoder unavailable");
                None
            }
        }
    }

    fn decoder(&self, codec: Codec) -> Option<Box<dyn Decoder>> {
        if codec != Codec::Opus {
            return G711Codecs.decoder(codec);
        }
        match opus::Decoder::new(RATE, Channels::Mono) {
            Ok(d) => Some(Box::new(OpusDecoder {
                inner: d,
                buf: vec![0; MAX_SAMPLES].into_boxed_slice(),
            })),
            Err(e) => {
                warn!(error = %e, "opus decoder unavailable");
                None
            }
        }
    }
}

struct OpusEncoder(opus::Encoder);

impl std::fmt::Debug for OpusEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpusEncoder")
    }
}

impl Encoder for OpusEncoder {
    fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + MAX_PACKET, 0);
        let n = out
            .get_mut(start..)
            .map_or(Ok(0), |buf| self.0.encode(pcm, buf))
            .unwrap_or(0);
        out.truncate(start + n);
    }
}

struct OpusDecoder {
    inner: opus::Decoder,
    buf: Box<[i16]>,
}

impl std::fmt::Debug for OpusDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpusDecoder")
    }
}

impl OpusDecoder {
    /// Decodes `payload` (empty: conceal) into at most `max` samples appended to `out`.
    fn run(&mut self, payload: &[u8], max: usize, out: &mut Vec<i16>) -> bool {
        let Some(buf) = self.buf.get_mut(..max.min(MAX_SAMPLES)) else {
            return false;
        };
        match self.inner.decode(payload, buf, false) {
            Ok(n) => {
                out.extend_from_slice(buf.get(..n).unwrap_or_default());
                true
            }
            Err(_) => false,
        }
    }
}

impl Decoder for OpusDecoder {
    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) {
        if payload.is_empty() {
            return; // not a packet; concealment is asked for separately
        }
        // A corrupt packet (RFC 6716 §3.4) decodes to nothing; the recorder then leaves a
        // gap that the next packet's timestamp fills with silence.
        self.run(payload, MAX_SAMPLES, out);
    }

    fn conceal(&mut self, samples: usize, out: &mut Vec<i16>) {
        let before = out.len();
        // libopus conceals in multiples of 2.5 ms (20 samples at 8 kHz).
        let n = samples - samples % 20;
        if n == 0 || !self.run(&[], n, out) {
            out.truncate(before);
        }
        out.resize(before + samples, 0);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use media::{ToneGenerator, goertzel};

    #[test]
    fn a_tone_survives_encoding_and_decoding() {
        let mut enc = OpusCodecs.encoder(Codec::Opus).unwrap();
        let mut dec = OpusCodecs.decoder(Codec::Opus).unwrap();
        let tone = ToneGenerator::new(440.0, 8000).clip(8000);
        let mut pcm = Vec::new();
        for frame in tone.chunks(160) {
            let mut bytes = Vec::new();
            enc.encode(frame, &mut bytes);
            assert!(!bytes.is_empty() && bytes.len() < 200, "{}", bytes.len());
            dec.decode(&bytes, &mut pcm);
        }
        assert_eq!(pcm.len(), 8000);
        let tail = &pcm[1600..];
        assert!(goertzel(tail, 440.0) > 50.0 * goertzel(tail, 1000.0));
        // Loss concealment keeps the length; garbage decodes to nothing, never a panic.
        dec.conceal(160, &mut pcm);
        dec.conceal(7, &mut pcm);
        assert_eq!(pcm.len(), 8167);
        let before = pcm.len();
        dec.decode(&[0xff, 0xff, 0xff], &mut pcm);
        dec.decode(&[0x03], &mut pcm);
        assert!(pcm.len() - before <= 2 * MAX_SAMPLES);
    }

    #[test]
    fn g711_comes_from_the_builtin_codecs() {
        let mut enc = OpusCodecs.encoder(Codec::Pcmu).unwrap();
        let mut bytes = Vec::new();
        enc.encode(&[0; 160], &mut bytes);
        assert_eq!(bytes.len(), 160);
    }
}
