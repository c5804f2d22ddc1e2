//! Just enough of the WAV (RIFF) header to accept uploaded audio and to know how long a
//! recording is: the `fmt ` chunk (PCM 16-bit, G.711 A-law/µ-law) and the `data` chunk.
//! Pure: bytes in, facts out; never panics on any input.

/// What a WAV file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WavInfo {
    /// 1 = PCM, 6 = A-law, 7 = µ-law.
    pub format: u16,
    pub channels: u16,
    pub sample_rate: u32,
    pub bits: u16,
    /// Audio bytes present in the file (a header that claims more than the file holds, as
    /// left by an interrupted writer, counts what is there).
    pub data_len: u32,
}

impl WavInfo {
    /// Duration in milliseconds.
    pub fn duration_ms(&self) -> u64 {
        let frame = u64::from(self.channels) * u64::from(self.bits / 8);
        let per_second = frame * u64::from(self.sample_rate);
        if per_second == 0 {
            return 0;
        }
        u64::from(self.data_len) * 1000 / per_second
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WavError {
    #[error("not a RIFF/WAVE file")]
    NotWave,
    #[error("the fmt chunk is missing or short")]
    NoFormat,
    #[error("no data chunk")]
    NoData,
    #[error("unsupported audio: format {format}, {bits} bits, {channels} channels, {rate} Hz")]
    Unsupported {
        format: u16,
        bits: u16,
        channels: u16,
        rate: u32,
    },
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([*s.first()?, *s.get(1)?]))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([
        *s.first()?,
        *s.get(1)?,
        *s.get(2)?,
        *s.get(3)?,
    ]))
}

/// Reads the header of a WAV file (its first bytes suffice when they include the `data`
/// chunk header; `total_len` is the whole file's length).
pub fn parse(b: &[u8], total_len: u64) -> Result<WavInfo, WavError> {
    if b.get(0..4) != Some(b"RIFF") || b.get(8..12) != Some(b"WAVE") {
        return Err(WavError::NotWave);
    }
    let mut at = 12usize;
    let mut fmt: Option<(u16, u16, u32, u16)> = None;
    while let (Some(id), Some(len)) = (b.get(at..at + 4), u32_at(b, at + 4)) {
        let body = at + 8;
        match id {
            b"fmt " => {
                let f = (|| {
                    Some((
                        u16_at(b, body)?,
                        u16_at(b, body + 2)?,
                        u32_at(b, body + 4)?,
                        u16_at(b, body + 14)?,
                    ))
                })();
                fmt = Some(f.ok_or(WavError::NoFormat)?);
            }
            b"data" => {
                let (format, channels, rate, bits) = fmt.ok_or(WavError::NoFormat)?;
                let present = total_len.saturating_sub(body as u64);
                let data_len = u32::try_from(u64::from(len).min(present)).unwrap_or(u32::MAX);
                let info = WavInfo {
                    format,
                    channels,
                    sample_rate: rate,
                    bits,
                    data_len,
                };
                return check(info);
            }
            _ => {}
        }
        // Chunks are padded to an even length.
        let len = usize::try_from(len).map_err(|_| WavError::NoData)?;
        at = body
            .checked_add(len)
            .and_then(|x| x.checked_add(len % 2))
            .ok_or(WavError::NoData)?;
    }
    Err(if fmt.is_some() {
        WavError::NoData
    } else {
        WavError::NoFormat
    })
}

/// A recording cut short by a crash (its writer never fixed the sizes, so the header may
/// claim 0 bytes): the offset of its audio and what it holds, counting every whole frame
/// present in the file whatever the header says. `None` when the header itself is unusable.
pub fn salvage(b: &[u8], total_len: u64) -> Option<(u64, WavInfo)> {
    // Parse with the data chunk claiming everything, then trim to whole frames.
    let mut info = parse(b, total_len).ok()?;
    let at = data_offset(b)?;
    let frame = u64::from(info.channels) * u64::from(info.bits / 8).max(1);
    let present = total_len.saturating_sub(at);
    let whole = present - present % frame.max(1);
    info.data_len = u32::try_from(whole.min(u64::from(u32::MAX).saturating_sub(at))).ok()?;
    Some((at, info))
}

/// Where the `data` chunk's audio starts.
fn data_offset(b: &[u8]) -> Option<u64> {
    let mut at = 12usize;
    while let (Some(id), Some(len)) = (b.get(at..at + 4), u32_at(b, at + 4)) {
        let body = at.checked_add(8)?;
        if id == b"data" {
            return u64::try_from(body).ok();
        }
        let len = usize::try_from(len).ok()?;
        at = body.checked_add(len)?.checked_add(len % 2)?;
    }
    None
}

fn check(i: WavInfo) -> Result<WavInfo, WavError> {
    let ok = matches!((i.format, i.bits), (1, 16) | (6, 8) | (7, 8))
        && i.channels == 1
        && (8000..=48_000).contains(&i.sample_rate);
    if ok {
        Ok(i)
    } else {
        Err(WavError::Unsupported {
            format: i.format,
            bits: i.bits,
            channels: i.channels,
            rate: i.sample_rate,
        })
    }
}

/// A mono 16-bit PCM WAV file of `samples` at `rate` (tests and tools).
pub fn pcm16(rate: u32, samples: &[i16]) -> Vec<u8> {
    let data_len = u32::try_from(samples.len() * 2).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(44 + samples.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36u32.saturating_add(data_len)).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn header_and_duration() {
        let w = pcm16(8000, &[0i16; 12_000]);
        let i = parse(&w, w.len() as u64).unwrap();
        assert_eq!(
            (i.format, i.channels, i.sample_rate, i.bits),
            (1, 1, 8000, 16)
        );
        assert_eq!(i.duration_ms(), 1500);
        // A writer killed before it fixed the sizes: only what is there counts.
        let cut = &w[..44 + 8000];
        assert_eq!(parse(cut, cut.len() as u64).unwrap().duration_ms(), 500);
    }

    #[test]
    fn salvage_counts_what_an_interrupted_writer_left() {
        // As a WAV writer leaves it when killed: sizes still 0, an odd byte at the end.
        let mut w = pcm16(8000, &[7i16; 12_000]);
        w[4..8].copy_from_slice(&0u32.to_le_bytes());
        w[40..44].copy_from_slice(&0u32.to_le_bytes());
        w.push(1);
        assert_eq!(parse(&w, w.len() as u64).unwrap().duration_ms(), 0);
        let (at, info) = salvage(&w, w.len() as u64).unwrap();
        assert_eq!((at, info.data_len, info.duration_ms()), (44, 24_000, 1500));
        // Only a header, or not a WAV at all.
        assert_eq!(salvage(&w[..44], 44).unwrap().1.data_len, 0);
        assert!(salvage(b"RIFF", 4).is_none());
        for n in 0..60 {
            let _ = salvage(&w[..n], n as u64);
        }
    }

    #[test]
    fn hostile_input_never_panics() {
        let w = pcm16(8000, &[1, 2, 3]);
        for n in 0..w.len() {
            let _ = parse(&w[..n], n as u64);
        }
        assert_eq!(parse(b"hello", 5), Err(WavError::NotWave));
        let mut bad = w.clone();
        bad[22] = 2; // stereo
        assert!(matches!(
            parse(&bad, bad.len() as u64),
            Err(WavError::Unsupported { .. })
        ));
        let mut huge = w;
        huge[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(parse(&huge, huge.len() as u64).is_err());
    }
}
