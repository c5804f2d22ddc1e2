//! The SIP and RTP side of the voicemail crash tests: a raw caller (common::Ua) with an RTP
//! socket that sends a G.711 µ-law tone and RFC 4733 digits and hears what the engine plays,
//! plus the message-summary fetch that reads a phone's MWI.
//!
//! Private to vm_crash.rs until the shared helpers (tests/common/rtp.rs) land; the RTP part
//! follows the peer in interop_voicemail.rs.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::common::{self, DOMAIN, Server, Ua, WAIT};
use sip::{HeaderName, Message};

fn ulaw_encode(s: i16) -> u8 {
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

/// One RTP stream to the engine (PCMU, PT 0; telephone-event, PT 101).
pub struct RtpPeer {
    sock: UdpSocket,
    pub to: SocketAddr,
    seq: u16,
    ts: u32,
    phase: f64,
}

impl RtpPeer {
    pub fn new() -> RtpPeer {
        RtpPeer {
            sock: UdpSocket::bind("127.0.0.1:0").unwrap(),
            to: "127.0.0.1:9".parse().unwrap(),
            seq: 1000,
            ts: 5000,
            phase: 0.0,
        }
    }

    pub fn port(&self) -> u16 {
        self.sock.local_addr().unwrap().port()
    }

    fn send(&mut self, pt: u8, marker: bool, ts: u32, payload: &[u8]) {
        let mut p = vec![0x80, pt | if marker { 0x80 } else { 0 }];
        p.extend_from_slice(&self.seq.to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&0x1234_5678u32.to_be_bytes());
        p.extend_from_slice(payload);
        self.seq = self.seq.wrapping_add(1);
        // The server may be dead (killed): a refused send is not an error here.
        let _ = self.sock.send_to(&p, self.to);
    }

    /// `ms` of a sine at `hz`, paced in real time (20 ms packets).
    pub fn send_tone(&mut self, hz: f64, ms: u64) {
        let start = Instant::now();
        for i in 0..ms / 20 {
            let frame: Vec<u8> = (0..160)
                .map(|_| {
                    self.phase += 2.0 * std::f64::consts::PI * hz / 8000.0;
                    ulaw_encode((self.phase.sin() * 12_000.0) as i16)
                })
                .collect();
            let ts = self.ts;
            self.send(0, i == 0, ts, &frame);
            self.ts = self.ts.wrapping_add(160);
            let due = start + Duration::from_millis((i + 1) * 20);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
    }

    /// RFC 4733 events: start, update, three end packets per digit.
    pub fn send_digits(&mut self, digits: &str) {
        for d in digits.chars() {
            let event = match d {
                '0'..='9' => d as u8 - b'0',
                '*' => 10,
                '#' => 11,
                _ => panic!("digit {d}"),
            };
            let ts = self.ts;
            let steps = [
                (160u16, false),
                (480, false),
                (800, true),
                (800, true),
                (800, true),
            ];
            for (i, (dur, end)) in steps.into_iter().enumerate() {
                let mut payload = vec![event, if end { 0x80 | 10 } else { 10 }];
                payload.extend_from_slice(&dur.to_be_bytes());
                self.send(101, i == 0, ts, &payload);
                std::thread::sleep(Duration::from_millis(20));
            }
            self.ts = self.ts.wrapping_add(1600);
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Audio packets received within `dur`.
    pub fn listen(&self, dur: Duration) -> usize {
        let deadline = Instant::now() + dur;
        let mut packets = 0;
        let mut buf = [0u8; 2048];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return packets;
            }
            self.sock.set_read_timeout(Some(left)).unwrap();
            if let Ok((n, _)) = self.sock.recv_from(&mut buf)
                && n > 12
                && buf[1] & 0x7f == 0
            {
                packets += 1;
            }
        }
    }

    /// Waits (at most `max`) for the engine's first audio packet; true if one came.
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
    let k = 2.0 * (2.0 * std::f64::consts::PI * freq / 8000.0).cos();
    let (mut s1, mut s2, mut energy) = (0.0f64, 0.0f64, 0.0f64);
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

/// The 16-bit samples of a WAV file's data chunk.
pub fn wav_samples(bytes: &[u8]) -> Vec<i16> {
    let data = bytes.windows(4).position(|w| w == b"data").expect("data") + 8;
    bytes[data..]
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect()
}

/// A call answered by the server (by voicemail or the mailbox number).
pub struct Call {
    pub invite: common::Request,
    pub ok: Message,
}

fn offer(port: u16) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=crash\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\n"
    )
}

/// The engine's RTP address from an SDP body.
fn media_addr(body: &[u8]) -> SocketAddr {
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

/// Calls `user` (e.g. `bob`, `*98`); it must be answered with 200 within [`WAIT`]. ACKs it and
/// points `rtp` at the engine.
pub fn call(ua: &mut Ua, user: &str, rtp: &mut RtpPeer) -> Call {
    ua.new_call();
    let uri = format!("sip:{user}@{DOMAIN}");
    let contact = format!("<{}>", ua.contact_uri());
    let req = ua
        .request("INVITE", &uri, &format!("<{uri}>"))
        .header("Contact", &contact)
        .sdp(&offer(rtp.port()));
    let invite = ua.send_authenticated(&req, None);
    let ok = ua
        .recv_where(WAIT, |m| {
            invite.answered_by(m) && m.status().is_some_and(|s| s >= 200)
        })
        .expect("a final response to the INVITE");
    assert_eq!(ok.status(), Some(200), "{user} did not answer: {ok:?}");
    let mut ack = invite.clone();
    ack.method = "ACK".into();
    ack.uri = remote_target(&invite, &ok);
    ack.branch = common::new_branch();
    ack.to = ok.header(HeaderName::To).unwrap().to_owned();
    ack.headers
        .retain(|(n, _)| !n.eq_ignore_ascii_case("Proxy-Authorization"));
    ack.content_type = None;
    ack.body.clear();
    ua.send(&ack);
    rtp.to = media_addr(ok.body());
    Call { invite, ok }
}

fn remote_target(invite: &common::Request, ok: &Message) -> String {
    match ok.contacts().first() {
        Some(sip::ContactValue::Addr(a)) => a.uri.raw().to_owned(),
        _ => invite.uri.clone(),
    }
}

/// Sends BYE in `call`'s dialog without waiting for the answer.
pub fn send_bye(ua: &mut Ua, call: &Call) {
    let target = remote_target(&call.invite, &call.ok);
    let mut b = ua.request("BYE", &target, call.ok.header(HeaderName::To).unwrap());
    b.call_id = call.invite.call_id.clone();
    ua.send(&b);
}

/// The `Voice-Message` counts `(new, old)` a phone of `user` is told: a message-summary
/// fetch (SUBSCRIBE with `Expires: 0`, RFC 6665 §4.4.3) and the NOTIFY it brings.
pub fn phone_summary(srv: &Server, user: &str) -> (u64, u64, String) {
    let mut ua = Ua::new(srv, user);
    ua.new_call();
    let uri = format!("sip:{user}@{DOMAIN}");
    let sub = ua
        .request("SUBSCRIBE", &uri, &format!("<{uri}>"))
        .header("Contact", &format!("<{}>", ua.contact_uri()))
        .header("Event", "message-summary")
        .header("Accept", "application/simple-message-summary")
        .header("Expires", "0");
    let resp = ua.authenticated(&sub, None);
    assert!(matches!(resp.status(), Some(200 | 202)), "{resp:?}");
    let notify = ua
        .recv_where(WAIT, |m| m.method() == "NOTIFY")
        .expect("a NOTIFY for the message-summary fetch");
    ua.reply(&notify, 200, "OK", &common::token("t"), &[], None);
    let body = String::from_utf8_lossy(notify.body()).into_owned();
    let counts = body
        .lines()
        .find_map(|l| l.strip_prefix("Voice-Message:"))
        .map(|v| {
            let v = v.split('(').next().unwrap().trim();
            let (n, o) = v.split_once('/').expect("new/old");
            (n.trim().parse().unwrap(), o.trim().parse().unwrap())
        })
        .unwrap_or((0, 0));
    (counts.0, counts.1, body)
}
