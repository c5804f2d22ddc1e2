//! Small DSP helpers on 8 kHz PCM: a sine [`ToneGenerator`], the recording [`beep`], a
//! saturating two-stream [`mix`], and the Goertzel algorithm ([`goertzel`]) that measures the
//! power of one frequency (used for in-band DTMF detection and by tests to check tones).
//!
//! Does not: resample, filter, or handle rates other than [`SAMPLE_RATE`](crate::SAMPLE_RATE).

use crate::{Clip, SAMPLE_RATE};

/// Phase-continuous sine generator (one or two frequencies, e.g. a DTMF pair).
#[derive(Debug, Clone)]
pub struct ToneGenerator {
    steps: [f64; 2],
    phases: [f64; 2],
    amplitude: f64,
    count: usize,
}

impl ToneGenerator {
    /// A single tone of `freq` Hz at `amplitude` (0..=32767).
    pub fn new(freq: f64, amplitude: i16) -> Self {
        Self::dual(freq, 0.0, amplitude)
    }

    /// The sum of two tones (each at half `amplitude`), e.g. DTMF (697 Hz + 1209 Hz for `1`).
    pub fn dual(f1: f64, f2: f64, amplitude: i16) -> Self {
        let step = |f: f64| std::f64::consts::TAU * f / f64::from(SAMPLE_RATE);
        let count = if f2 > 0.0 { 2 } else { 1 };
        ToneGenerator {
            steps: [step(f1), step(f2)],
            phases: [0.0; 2],
            amplitude: f64::from(amplitude) / count as f64,
            count,
        }
    }

    /// Fills `out` with the next samples.
    pub fn fill(&mut self, out: &mut [i16]) {
        for sample in out.iter_mut() {
            let mut value = 0.0;
            for (phase, step) in self.phases.iter_mut().zip(self.steps).take(self.count) {
                value += phase.sin();
                *phase = (*phase + step) % std::f64::consts::TAU;
            }
            *sample = (value * self.amplitude).round().clamp(-32768.0, 32767.0) as i16;
        }
    }

    /// The next `samples` samples as a new clip.
    pub fn clip(&mut self, samples: usize) -> Clip {
        let mut buf = vec![0i16; samples];
        self.fill(&mut buf);
        buf.into()
    }
}

/// The "record after the tone" beep: 1 kHz for 250 ms at about -10 dBFS.
pub fn beep() -> Clip {
    ToneGenerator::new(1000.0, 10_000).clip(SAMPLE_RATE as usize / 4)
}

/// Adds `other` into `into` with saturation (two-party mixing, e.g. a prompt over a call);
/// samples beyond the shorter buffer are left unchanged.
pub fn mix(into: &mut [i16], other: &[i16]) {
    for (a, b) in into.iter_mut().zip(other) {
        *a = a.saturating_add(*b);
    }
}

/// Relative power of `freq` Hz in `samples` (Goertzel algorithm), normalised by the block
/// length squared so that a full-scale sine gives about 0.25 × 32768².
pub fn goertzel(samples: &[i16], freq: f64) -> f64 {
    let n = samples.len();
    if n == 0 {
        return 0.0;
    }
    let coeff = 2.0 * (std::f64::consts::TAU * freq / f64::from(SAMPLE_RATE)).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    power / (n as f64 * n as f64)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_tone_has_its_frequency_and_not_others() {
        let clip = ToneGenerator::new(440.0, 8000).clip(800);
        let on = goertzel(&clip, 440.0);
        let off = goertzel(&clip, 1000.0);
        assert!(on > 100.0 * off, "on={on} off={off}");
    }

    #[test]
    fn dual_tone_contains_both() {
        let clip = ToneGenerator::dual(697.0, 1209.0, 16000).clip(400);
        let low = goertzel(&clip, 697.0);
        let high = goertzel(&clip, 1209.0);
        let other = goertzel(&clip, 941.0);
        assert!(low > 50.0 * other && high > 50.0 * other);
    }

    #[test]
    fn beep_is_a_quarter_second() {
        assert_eq!(beep().len(), 2000);
        assert!(beep().iter().any(|&s| s > 9000));
    }

    #[test]
    fn mix_saturates() {
        let mut a = [30000i16, -30000, 5];
        mix(&mut a, &[10000, -10000]);
        assert_eq!(a, [32767, -32768, 5]);
    }
}
