//! G.711 companding (ITU-T G.711): µ-law (PCMU, static payload type 0) and A-law (PCMA,
//! payload type 8) between 16-bit linear PCM and 8-bit codes, computed with bit arithmetic.
//! Does not resample: G.711 is 8 kHz mono; callers convert rates elsewhere.
//!
//! µ-law code 0x7F is "negative zero": it decodes to 0, which encodes as 0xFF, so it is the
//! one code that does not survive decode→encode. Every A-law code does.

/// µ-law bias added to the magnitude before segment search (33 in 14-bit units).
const ULAW_BIAS: i32 = 0x84;
/// Largest magnitude µ-law can represent before the bias would overflow 15 bits.
const ULAW_CLIP: i32 = 32635;

/// Encodes one 16-bit linear sample as a µ-law code.
pub fn ulaw_encode(sample: i16) -> u8 {
    let sign: u8 = if sample < 0 { 0x80 } else { 0 };
    let magnitude = i32::from(sample).abs().min(ULAW_CLIP) + ULAW_BIAS;
    // magnitude is in [132, 32767]: its top bit sits at position 7..=14.
    let exponent = (31 - magnitude.leading_zeros()).saturating_sub(7).min(7) as u8;
    let mantissa = ((magnitude >> (exponent + 3)) & 0x0f) as u8;
    !(sign | (exponent << 4) | mantissa)
}

/// Decodes one µ-law code to a 16-bit linear sample.
pub fn ulaw_decode(code: u8) -> i16 {
    let code = !code;
    let exponent = (code >> 4) & 0x07;
    let mantissa = i32::from(code & 0x0f);
    let magnitude = (((mantissa << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;
    let value = if code & 0x80 != 0 {
        -magnitude
    } else {
        magnitude
    };
    value as i16
}

/// Encodes one 16-bit linear sample as an A-law code (even bits inverted, XOR 0x55).
pub fn alaw_encode(sample: i16) -> u8 {
    // A-law works on 13-bit magnitudes; negative values use the one's complement so that
    // -1 and 0 land in the two smallest steps around zero.
    let linear = i32::from(sample) >> 3;
    let (sign, magnitude) = if linear >= 0 {
        (0x80u8, linear)
    } else {
        (0u8, -linear - 1)
    };
    let code = if magnitude >= 0x1000 {
        0x7f
    } else {
        // Segment 0 and 1 share the step size; above that each segment doubles it.
        let top = 31 - (magnitude | 0x1f).leading_zeros(); // 4..=11
        let segment = (top - 4) as u8; // 0..=7
        let shift = if segment < 2 { 1 } else { u32::from(segment) };
        (segment << 4) | ((magnitude >> shift) & 0x0f) as u8
    };
    (sign | code) ^ 0x55
}

/// Decodes one A-law code to a 16-bit linear sample.
pub fn alaw_decode(code: u8) -> i16 {
    let code = code ^ 0x55;
    let segment = (code >> 4) & 0x07;
    let mut magnitude = (i32::from(code & 0x0f) << 4) + 8;
    if segment >= 1 {
        magnitude += 0x100;
    }
    if segment >= 2 {
        magnitude <<= segment - 1;
    }
    let value = if code & 0x80 != 0 {
        magnitude
    } else {
        -magnitude
    };
    value as i16
}

/// The two G.711 laws, for code that picks one by payload type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum G711 {
    /// µ-law, PCMU, RTP payload type 0 (RFC 3551 §4.5.14).
    Ulaw,
    /// A-law, PCMA, RTP payload type 8.
    Alaw,
}

impl G711 {
    /// The law for a static payload type (0 or 8).
    pub fn from_payload_type(pt: u8) -> Option<Self> {
        match pt {
            0 => Some(Self::Ulaw),
            8 => Some(Self::Alaw),
            _ => None,
        }
    }

    /// The static RTP payload type.
    pub fn payload_type(self) -> u8 {
        match self {
            Self::Ulaw => 0,
            Self::Alaw => 8,
        }
    }

    /// Encodes one sample.
    pub fn encode_sample(self, sample: i16) -> u8 {
        match self {
            Self::Ulaw => ulaw_encode(sample),
            Self::Alaw => alaw_encode(sample),
        }
    }

    /// Decodes one code.
    pub fn decode_sample(self, code: u8) -> i16 {
        match self {
            Self::Ulaw => ulaw_decode(code),
            Self::Alaw => alaw_decode(code),
        }
    }

    /// Appends the codes of `pcm` to `out`.
    pub fn encode(self, pcm: &[i16], out: &mut Vec<u8>) {
        out.extend(pcm.iter().map(|&s| self.encode_sample(s)));
    }

    /// Appends the samples of `codes` to `out`.
    pub fn decode(self, codes: &[u8], out: &mut Vec<i16>) {
        out.extend(codes.iter().map(|&c| self.decode_sample(c)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulaw_known_values() {
        assert_eq!(ulaw_encode(0), 0xff);
        assert_eq!(ulaw_encode(-1), 0x7f);
        assert_eq!(ulaw_decode(0xff), 0);
        assert_eq!(ulaw_decode(0x7f), 0);
        assert_eq!(ulaw_decode(0x80), 32124);
        assert_eq!(ulaw_decode(0x00), -32124);
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
        // First segment boundaries: steps of 8 (2 in 14-bit units) up to 120.
        assert_eq!(ulaw_decode(0xfe), 8);
        assert_eq!(ulaw_decode(0xf0), 120);
        assert_eq!(ulaw_decode(0xef), 132);
        assert_eq!(ulaw_encode(1000), 0xce);
        assert_eq!(ulaw_decode(0xce), 988);
    }

    #[test]
    fn alaw_known_values() {
        assert_eq!(alaw_encode(0), 0xd5);
        assert_eq!(alaw_encode(-1), 0x55);
        assert_eq!(alaw_decode(0xd5), 8);
        assert_eq!(alaw_decode(0x55), -8);
        assert_eq!(alaw_decode(0xaa), 32256);
        assert_eq!(alaw_decode(0x2a), -32256);
        assert_eq!(alaw_encode(i16::MAX), 0xaa);
        assert_eq!(alaw_encode(i16::MIN), 0x2a);
        assert_eq!(alaw_encode(1000), 0xfa);
        assert_eq!(alaw_decode(0xfa), 1008);
    }

    #[test]
    fn every_code_round_trips() {
        for code in 0..=255u8 {
            assert_eq!(alaw_encode(alaw_decode(code)), code, "A-law {code:#x}");
            let expect = if code == 0x7f { 0xff } else { code };
            assert_eq!(ulaw_encode(ulaw_decode(code)), expect, "µ-law {code:#x}");
        }
    }

    #[test]
    fn decoding_is_monotonic_and_symmetric() {
        // Codes ordered by magnitude decode to increasing values.
        let mut last = -1;
        for code in (0x80..=0xffu8).rev() {
            let v = i32::from(ulaw_decode(code));
            assert!(v > last || (code == 0xff && v == 0));
            assert_eq!(i32::from(ulaw_decode(code & 0x7f)), -v);
            last = v;
        }
        for m in 0..128u8 {
            let pos = alaw_decode((m | 0x80) ^ 0x55);
            let neg = alaw_decode(m ^ 0x55);
            assert_eq!(pos, -neg);
        }
    }

    #[test]
    fn encoding_error_is_within_half_a_step() {
        for s in (i16::MIN..=i16::MAX).step_by(7) {
            for law in [G711::Ulaw, G711::Alaw] {
                let back = i32::from(law.decode_sample(law.encode_sample(s)));
                let err = (back - i32::from(s)).abs();
                // Largest step is 1024 (µ) / 1024 (A); clipping adds up to ~650 at the ends.
                assert!(err <= 1024, "{law:?} {s} -> {back}");
                if i32::from(s).abs() < 4000 {
                    assert!(err <= 128, "{law:?} {s} -> {back}");
                }
            }
        }
    }
}
