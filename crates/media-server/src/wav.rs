//! WAV files in and out: prompts and messages are 8 kHz mono 16-bit PCM (what G.711 carries).
//!
//! Reading accepts any 16-bit PCM WAV: channels are mixed down and other rates are resampled
//! linearly (good enough for speech prompts an operator drops in). Writing goes to the path
//! the voicemail service names (its `.part` file); `finish` flushes the header and fsyncs,
//! so the service's crash-safe protocol can rename it afterwards.

use std::fs::File;
use std::io::{BufWriter, Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::MediaError;

/// Samples per second on the wire for G.711.
pub const RATE: u32 = 8_000;

/// Decoded audio at 8 kHz, shared between every call that plays it.
pub type Samples = Arc<[i16]>;

/// Decodes a WAV held in memory.
pub fn decode(bytes: &[u8]) -> Result<Samples, MediaError> {
    decode_from(Cursor::new(bytes))
}

/// Reads and decodes a WAV file (blocking).
pub fn read(path: &Path) -> Result<Samples, MediaError> {
    let f = File::open(path).map_err(|e| MediaError::File(path.to_path_buf(), e.to_string()))?;
    decode_from(std::io::BufReader::new(f))
        .map_err(|e| MediaError::File(path.to_path_buf(), e.to_string()))
}

fn decode_from<R: Read>(r: R) -> Result<Samples, MediaError> {
    let reader = hound::WavReader::new(r).map_err(|e| MediaError::Wav(e.to_string()))?;
    let spec = reader.spec();
    if spec.sample_format != hound::SampleFormat::Int || spec.bits_per_sample != 16 {
        return Err(MediaError::Wav("only 16-bit PCM WAV is supported".into()));
    }
    let channels = usize::from(spec.channels.max(1));
    let raw: Vec<i16> = reader
        .into_samples::<i16>()
        .collect::<Result<_, _>>()
        .map_err(|e| MediaError::Wav(e.to_string()))?;
    let mono: Vec<i16> = raw
        .chunks(channels)
        .map(|c| {
            let sum: i32 = c.iter().map(|s| i32::from(*s)).sum();
            let n = i32::try_from(c.len()).unwrap_or(1).max(1);
            i16::try_from(sum / n).unwrap_or(0)
        })
        .collect();
    Ok(resample(&mono, spec.sample_rate).into())
}

/// Linear resampling to 8 kHz.
fn resample(mono: &[i16], rate: u32) -> Vec<i16> {
    if rate == RATE || rate == 0 || mono.is_empty() {
        return mono.to_vec();
    }
    let out_len = (mono.len() as u64 * u64::from(RATE) / u64::from(rate)) as usize;
    (0..out_len)
        .map(|i| {
            let pos = i as f64 * f64::from(rate) / f64::from(RATE);
            let j = pos as usize;
            let frac = pos - j as f64;
            let a = f64::from(mono.get(j).copied().unwrap_or(0));
            let b = f64::from(mono.get(j + 1).copied().unwrap_or(a as i16));
            (a + (b - a) * frac) as i16
        })
        .collect()
}

/// A recording in progress.
pub struct Writer {
    path: PathBuf,
    inner: hound::WavWriter<BufWriter<File>>,
    samples: u64,
}

impl Writer {
    /// Creates (or truncates) `path`.
    pub fn create(path: &Path) -> Result<Writer, MediaError> {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let inner = hound::WavWriter::create(path, spec)
            .map_err(|e| MediaError::File(path.to_path_buf(), e.to_string()))?;
        Ok(Writer {
            path: path.to_path_buf(),
            inner,
            samples: 0,
        })
    }

    pub fn write(&mut self, samples: &[i16]) -> Result<(), MediaError> {
        for s in samples {
            self.inner
                .write_sample(*s)
                .map_err(|e| MediaError::File(self.path.clone(), e.to_string()))?;
        }
        self.samples += samples.len() as u64;
        Ok(())
    }

    /// Milliseconds written so far.
    pub fn duration_ms(&self) -> u64 {
        self.samples * 1000 / u64::from(RATE)
    }

    /// Writes the header, then fsyncs the file: once this returns the recording survives a
    /// crash. Returns the duration in milliseconds.
    pub fn finish(self) -> Result<u64, MediaError> {
        let ms = self.duration_ms();
        let path = self.path.clone();
        self.inner
            .finalize()
            .map_err(|e| MediaError::File(path.clone(), e.to_string()))?;
        File::open(&path)
            .and_then(|f| f.sync_all())
            .map_err(|e| MediaError::File(path.clone(), e.to_string()))?;
        Ok(ms)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn write_then_read_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.wav.part");
        let mut w = Writer::create(&path).unwrap();
        let tone: Vec<i16> = (0..8000).map(|i| ((i % 16) * 1000 - 8000) as i16).collect();
        w.write(&tone).unwrap();
        assert_eq!(w.finish().unwrap(), 1000);
        let back = read(&path).unwrap();
        assert_eq!(&back[..], &tone[..]);
    }

    #[test]
    fn stereo_48k_is_mixed_and_resampled() {
        let mut buf = Cursor::new(Vec::new());
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 48_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::new(&mut buf, spec).unwrap();
        for _ in 0..48_000 {
            w.write_sample(100i16).unwrap();
            w.write_sample(300i16).unwrap();
        }
        w.finalize().unwrap();
        let s = decode(buf.get_ref()).unwrap();
        assert_eq!(s.len(), 8000);
        assert!(s.iter().all(|v| *v == 200));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode(b"RIFF\x00\x00garbage").is_err());
        assert!(decode(&[]).is_err());
    }
}
