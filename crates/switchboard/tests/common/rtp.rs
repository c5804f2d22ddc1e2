//! A tiny RTP peer for media tests: sends G.711 µ-law tones (real-time paced, 20 ms
//! packets) and RFC 4733 digits, decodes what it receives, and tells which tone is in it
//! (Goertzel). Plus the SDP bits a test needs: an offer for a port, the address in a body.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub fn ulaw_encode(s: i16) -> u8 {
    const BIAS: i32 = 0x84;
    let mut v = i32::from(s);
    let sign = if v < 0 {
        v = -v;
        0x80
    } else {
        0
    };
    v = (v + BIAS).min(32_635 + BIAS);
    let mut exp = 7;
    let mut mask = 0x4000;
    while exp > 0 && v & mask == 0 {
        exp -= 1;
        mask >>= 1;
    }
    let mant = (v >> (exp + 3)) & 0x0f;
    !(sign | (exp << 4) as u8 | mant as u8)
}

pub fn ulaw_decode(b: u8) -> i16 {
    let b = !b;
    let sign = b & 0x80;
    let exp = (b >> 4) & 0x07;
    let mant = i32::from(b & 0x0f);
    let v = (((mant << 3) + 0x84) << exp) - 0x84;
    (if sign != 0 { -v } else { v }) as i16
}

pub struct RtpPeer {
    pub sock: UdpSocket,
    pub to: SocketAddr,
    seq: u16,
    ts: u32,
    ssrc: u32,
    phase: f64,
}

impl Default for RtpPeer {
    fn default() -> Self {
        RtpPeer::new()
    }
}

impl RtpPeer {
    pub fn new() -> RtpPeer {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        RtpPeer {
            sock,
            to: "127.0.0.1:9".parse().unwrap(),
            seq: 1000,
            ts: 5000,
            ssrc: 0x1234_5678,
            phase: 0.0,
        }
    }

    pub fn port(&self) -> u16 {
        self.sock.local_addr().unwrap().port()
    }

    /// Sends one RTP packet (the next sequence number) to `to`. The server may be dead
    /// (crash tests): a refused send is not an error here.
    pub fn send_packet(&mut self, pt: u8, marker: bool, ts: u32, payload: &[u8]) {
        let mut p = vec![0x80, pt | if marker { 0x80 } else { 0 }];
        p.extend_from_slice(&self.seq.to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&self.ssrc.to_be_bytes());
        p.extend_from_slice(payload);
        self.seq = self.seq.wrapping_add(1);
        let _ = self.sock.send_to(&p, self.to);
    }

    /// The current RTP timestamp; the clock then advances by `step`.
    pub fn next_ts(&mut self, step: u32) -> u32 {
        let ts = self.ts;
        self.ts = self.ts.wrapping_add(step);
        ts
    }

    /// `ms` of a sine at `hz`, paced in real time (20 ms packets), PCMU.
    pub fn send_tone(&mut self, hz: f64, ms: u32) {
        let start = Instant::now();
        for i in 0..ms / 20 {
            let frame: Vec<u8> = (0..160)
                .map(|_| {
                    self.phase += 2.0 * std::f64::consts::PI * hz / 8000.0;
                    ulaw_encode((self.phase.sin() * 12_000.0) as i16)
                })
                .collect();
            let ts = self.next_ts(160);
            self.send_packet(0, i == 0, ts, &frame);
            let due = start + Duration::from_millis(u64::from(i + 1) * 20);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
    }

    /// RFC 4733 events (PT 101) for each digit: start, update, three end packets.
    pub fn send_digits(&mut self, digits: &str) {
        self.send_events(101, 8000, digits);
    }

    /// RFC 4733 events with payload type `pt` at an RTP clock of `rate` Hz (durations and
    /// timestamps scale with it): per digit 20/60/100 ms, the end packet three times.
    pub fn send_events(&mut self, pt: u8, rate: u32, digits: &str) {
        let per_ms = (rate / 1000) as u16;
        for d in digits.chars() {
            let event = match d {
                '0'..='9' => d as u8 - b'0',
                '*' => 10,
                '#' => 11,
                _ => panic!("digit {d}"),
            };
            let ts = self.next_ts(200 * u32::from(per_ms));
            for (i, (ms, end)) in [
                (20u16, false),
                (60, false),
                (100, true),
                (100, true),
                (100, true),
            ]
            .into_iter()
            .enumerate()
            {
                let mut payload = vec![event, if end { 0x80 | 10 } else { 10 }];
                payload.extend_from_slice(&(ms * per_ms).to_be_bytes());
                self.send_packet(pt, i == 0, ts, &payload);
                std::thread::sleep(Duration::from_millis(20));
            }
            std::thread::sleep(Duration::from_millis(60));
        }
    }

    /// Decoded audio received within `dur`, stopping early after `quiet` without packets
    /// once something arrived. Returns (samples, packets).
    pub fn listen(&self, dur: Duration, quiet: Option<Duration>) -> (Vec<i16>, usize) {
        let mut pcm = Vec::new();
        let packets = self.receive(dur, quiet, |pt, payload| {
            if pt == 0 {
                pcm.extend(payload.iter().map(|b| ulaw_decode(*b)));
            }
            pt == 0
        });
        (pcm, packets)
    }

    /// Hands each RTP packet received within `dur` to `take(payload type, payload)`, which
    /// says whether it is audio; stops early after `quiet` without packets once audio came.
    /// Returns the number of audio packets.
    pub fn receive(
        &self,
        dur: Duration,
        quiet: Option<Duration>,
        mut take: impl FnMut(u8, &[u8]) -> bool,
    ) -> usize {
        let deadline = Instant::now() + dur;
        let mut packets = 0;
        let mut buf = [0u8; 2048];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let wait = match quiet {
                Some(q) if packets > 0 => q.min(left),
                _ => left,
            };
            self.sock.set_read_timeout(Some(wait)).unwrap();
            match self.sock.recv_from(&mut buf) {
                Ok((n, _)) if n > 12 => {
                    if take(buf[1] & 0x7f, &buf[12..n]) {
                        packets += 1;
                    }
                }
                Ok(_) => {}
                Err(_) => {
                    if packets > 0 && quiet.is_some() {
                        break;
                    }
                }
            }
        }
        packets
    }

    /// Waits (at most `max`) for the first audio packet from the engine; true if one came.
    pub fn first_audio(&self, max: Duration) -> bool {
        let deadline = Instant::now() + max;
        let mut buf = [0u8; 2048];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            self.sock.set_read_timeout(Some(left)).unwrap();
            if let Ok((n, _)) = self.sock.recv_from(&mut buf)
                && n > 12
                && buf[1] & 0x7f == 0
            {
                return true;
            }
        }
    }
}

/// Power of `freq` relative to the signal's total power (Goertzel), 0..1.
pub fn tone_share(pcm: &[i16], freq: f64) -> f64 {
    if pcm.is_empty() {
        return 0.0;
    }
    let k = 2.0 * (2.0 * std::f64::consts::PI * freq / 8000.0).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    let mut energy = 0.0;
    for &x in pcm {
        let x = f64::from(x);
        energy += x * x;
        let s0 = x + k * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - k * s1 * s2;
    if energy == 0.0 {
        0.0
    } else {
        2.0 * power / (energy * pcm.len() as f64)
    }
}

/// The best [`tone_share`] of `freq` over half-second windows.
pub fn best_tone(pcm: &[i16], freq: f64) -> f64 {
    pcm.chunks(4000)
        .map(|c| tone_share(c, freq))
        .fold(0.0, f64::max)
}

/// The RTP address (`c=` + first `m=audio` port) of an SDP body.
pub fn media_addr(body: &[u8]) -> SocketAddr {
    let text = String::from_utf8_lossy(body);
    let ip = text
        .lines()
        .find_map(|l| l.strip_prefix("c=IN IP4 "))
        .expect("c= line")
        .trim();
    let port = text
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|l| l.split_whitespace().next())
        .expect("m= line");
    format!("{ip}:{port}").parse().unwrap()
}

/// An offer for PCMU and telephone-event on `port`.
pub fn offer(port: u16) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=test\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\n"
    )
}

/// A directory of operator prompts replacing every built-in voicemail prompt but the beep
/// with `ms` of a quiet 300 Hz tone, so IVR tests do not wait through speech.
pub fn short_prompts(ms: u32) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let n = (8 * ms) as usize;
    let samples: Vec<i16> = (0..n)
        .map(|i| ((i as f64 * 2.0 * std::f64::consts::PI * 300.0 / 8000.0).sin() * 3000.0) as i16)
        .collect();
    let wav = services::voicemail::wav::pcm16(8000, &samples);
    for (name, _) in services::voicemail::prompts::PROMPTS {
        if *name != "beep" {
            std::fs::write(dir.path().join(format!("{name}.wav")), &wav).unwrap();
        }
    }
    dir
}

/// `secs` of a `hz` tone as a base64 WAV (8 kHz, 16-bit mono), e.g. for CAS `vm.send`.
pub fn tone_wav_b64(hz: f64, secs: f64) -> String {
    let n = (8000.0 * secs) as usize;
    let samples: Vec<i16> = (0..n)
        .map(|i| ((i as f64 * 2.0 * std::f64::consts::PI * hz / 8000.0).sin() * 9000.0) as i16)
        .collect();
    b64(&services::voicemail::wav::pcm16(8000, &samples))
}

/// Standard base64 (CAS carries audio that way).
pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// How many stored messages (`msg-*`) `user`'s mailbox directory holds.
pub fn wav_files(srv: &super::Server, user: &str) -> usize {
    let dir = srv
        .data_dir()
        .join("voicemail")
        .join(super::DOMAIN.replace('.', "%2E"))
        .join(user);
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("msg-"))
                .count()
        })
        .unwrap_or(0)
}

/// The stored voicemail messages (`msg-*.wav`) under `dir`.
pub fn message_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("msg-") && n.ends_with(".wav"))
            {
                out.push(p);
            }
        }
    }
    out
}

/// The samples of a 16-bit PCM WAV file.
pub fn read_wav(path: &Path) -> Vec<i16> {
    wav_samples(&std::fs::read(path).unwrap())
}

/// The 16-bit samples of a WAV's data chunk.
pub fn wav_samples(bytes: &[u8]) -> Vec<i16> {
    let data = bytes
        .windows(4)
        .position(|w| w == b"data")
        .expect("data chunk")
        + 8;
    bytes[data..]
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect()
}
