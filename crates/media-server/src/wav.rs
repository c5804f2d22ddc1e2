//! WAV files in and out: prompts and messages are 8 kHz mono 16-bit PCM (what G.711 carries).
//!
//! Reading accepts any 16-bit PCM WAV: channels are mixed down and other rates are resampled
//! linearly (good enough for speech prompts an operator drops in). Writing goes to the path
//! the voicemail service names (its `.part` file); `finish` flushes the header and fsyncs,
//! so the service's crash-safe protocol can rename it afterwards.
//!
//! While recording, audio reaches the kernel every 0.2 s (a `kill -9` loses at most that),
//! once a second with the header's sizes brought up to date (a checkpoint: a few small
//! system calls, so the file is a valid WAV up to there), and about every four seconds
//! [`Writer::sync_due`] gives the caller an fsync to run on a blocking thread (a power
//! loss then loses at most a few seconds), never more than one at a time. The voicemail
//! service's crash repair keeps whatever whole frames reached the disk.

use std::fs::File;
use std::io::{BufWriter, Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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

/// Bytes buffered before they go to the kernel: 0.2 s of audio (five `write`s a second,
/// one per ten packets), what a `kill -9` can lose.
const BUFFER: usize = 2 * RATE as usize / 5;
/// Samples between header checkpoints: one second.
const FLUSH_EVERY: u64 = RATE as u64;
/// Samples between fsyncs: four seconds.
const SYNC_EVERY: u64 = 4 * RATE as u64;

/// A recording in progress.
pub struct Writer {
    path: PathBuf,
    inner: hound::WavWriter<BufWriter<File>>,
    /// The same open file, for fsyncs on another thread.
    file: Arc<File>,
    samples: u64,
    flushed: u64,
    synced: u64,
    /// An fsync handed out by [`Writer::sync_due`] is still running.
    syncing: Arc<AtomicBool>,
}

/// An fsync of a recording in progress, to run on a blocking thread ([`Writer::sync_due`]).
pub struct SyncJob {
    file: Arc<File>,
    syncing: Arc<AtomicBool>,
}

impl SyncJob {
    /// Makes what was checkpointed durable (blocking).
    pub fn run(self) -> std::io::Result<()> {
        let r = self.file.sync_data();
        self.syncing.store(false, Ordering::Release);
        r
    }
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
        let err = |e: String| MediaError::File(path.to_path_buf(), e);
        let file = File::create(path).map_err(|e| err(e.to_string()))?;
        let shared = file.try_clone().map_err(|e| err(e.to_string()))?;
        let inner = hound::WavWriter::new(BufWriter::with_capacity(BUFFER, file), spec)
            .map_err(|e| err(e.to_string()))?;
        Ok(Writer {
            path: path.to_path_buf(),
            inner,
            file: Arc::new(shared),
            samples: 0,
            flushed: 0,
            synced: 0,
            syncing: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Appends samples; checkpoints after every second of audio (see the module doc).
    pub fn write(&mut self, samples: &[i16]) -> Result<(), MediaError> {
        for s in samples {
            self.inner
                .write_sample(*s)
                .map_err(|e| MediaError::File(self.path.clone(), e.to_string()))?;
        }
        self.samples += samples.len() as u64;
        if self.samples - self.flushed >= FLUSH_EVERY {
            self.flushed = self.samples;
            self.inner
                .flush()
                .map_err(|e| MediaError::File(self.path.clone(), e.to_string()))?;
        }
        Ok(())
    }

    /// An fsync to run off the hot path when a few seconds were checkpointed since the last
    /// one and none is running; `None` otherwise.
    pub fn sync_due(&mut self) -> Option<SyncJob> {
        if self.flushed - self.synced < SYNC_EVERY || self.syncing.swap(true, Ordering::AcqRel) {
            return None;
        }
        self.synced = self.flushed;
        Some(SyncJob {
            file: self.file.clone(),
            syncing: self.syncing.clone(),
        })
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
        self.file
            .sync_all()
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

    /// What a `kill -9` leaves: all but the last 0.2 s at most, and a header that counts
    /// every checkpointed second; fsyncs are handed out every four seconds, one at a time.
    #[test]
    fn a_recording_checkpoints_every_second_and_syncs_every_few() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.wav.part");
        let mut w = Writer::create(&path).unwrap();
        let frame = [1000i16; 160];
        let mut jobs = 0;
        for i in 1..=275 {
            w.write(&frame).unwrap();
            if let Some(job) = w.sync_due() {
                assert!(w.sync_due().is_none(), "a second fsync while one runs");
                job.run().unwrap();
                jobs += 1;
            }
            if i == 55 {
                // 1.1 s written: the first second is on disk, counted by the header.
                assert_eq!(std::fs::metadata(&path).unwrap().len(), 44 + 16_000);
                assert_eq!(read(&path).unwrap().len(), 8000);
            }
        }
        // 5.5 s written (88,000 bytes): checkpoints at 1..5 s, one fsync at 4 s, and what
        // followed the last checkpoint in 0.2 s blocks.
        assert_eq!(jobs, 1);
        std::mem::forget(w); // the crash: no finish, no drop
        let len = std::fs::metadata(&path).unwrap().len();
        assert_eq!(len, 44 + 86_400, "more than 0.2 s lost");
        assert_eq!(
            read(&path).unwrap().len(),
            40_000,
            "header at the 5 s checkpoint"
        );
    }

    /// What checkpoints cost on the task that records (run with `--ignored --nocapture`):
    /// the time of each 20 ms frame's `write`, with checkpoints and without (a writer that
    /// never reaches one), over 60 s of audio.
    #[test]
    #[ignore]
    fn checkpoint_cost() {
        let dir = tempfile::tempdir().unwrap();
        let frame = [1000i16; 160];
        for (name, every) in [("with checkpoints", true), ("plain BufWriter", false)] {
            let path = dir.path().join(format!("{every}.wav"));
            let mut w = Writer::create(&path).unwrap();
            let mut times = Vec::with_capacity(3000);
            let start = std::time::Instant::now();
            for _ in 0..3000 {
                let t = std::time::Instant::now();
                w.write(&frame).unwrap();
                if !every {
                    (w.flushed, w.synced) = (w.samples, w.samples); // never due
                }
                if let Some(job) = w.sync_due() {
                    std::thread::spawn(move || job.run());
                }
                times.push(t.elapsed());
            }
            let total = start.elapsed();
            times.sort();
            eprintln!(
                "{name}: mean {:?}/frame, p99 {:?}, max {:?}",
                total / 3000,
                times[2970],
                times[2999]
            );
        }
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
