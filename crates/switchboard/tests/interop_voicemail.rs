//! Voicemail over real calls, end to end through the media engine.
//!
//! The raw-SIP tests need no external tool: a test UA (common::Ua) places the calls and a
//! tiny RTP peer in this file sends G.711 µ-law (a 440 Hz tone), RFC 4733 digits, and
//! decodes what the engine sends back. They prove: a call that is not answered within the
//! ring timeout is answered by voicemail (200 with the engine's SDP), the message is
//! recorded to a WAV that carries the caller's tone, the mailbox number (`*98`) asks for the
//! PIN over RFC 4733, plays the message back (the tone is heard), and `7` deletes it.
//! The anchoring test proves that with `anchor = "always"` RTP from the negotiated peer is
//! relayed and RTP from any other socket is dropped.
//! The baresip test does the same with real phones (see tests/phones/voicemail_test.py).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{DOMAIN, Server, ServerOpts, Ua, WAIT, sdp};
use sip::{HeaderName, Message};

const CONFIG: &str = "[calls]\nring_timeout = 1\n[voicemail]\ndefault_pin = \"1234\"\n[media]\nport_min = 30000\nport_max = 30999\n";

// ------------------------------------------------------------------------------------------
// A tiny RTP peer
// ------------------------------------------------------------------------------------------

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

fn ulaw_decode(b: u8) -> i16 {
    let b = !b;
    let sign = b & 0x80;
    let exp = (b >> 4) & 0x07;
    let mant = i32::from(b & 0x0f);
    let v = (((mant << 3) + 0x84) << exp) - 0x84;
    (if sign != 0 { -v } else { v }) as i16
}

struct RtpPeer {
    sock: UdpSocket,
    to: SocketAddr,
    seq: u16,
    ts: u32,
    ssrc: u32,
    phase: f64,
}

impl RtpPeer {
    fn new() -> RtpPeer {
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

    fn port(&self) -> u16 {
        self.sock.local_addr().unwrap().port()
    }

    fn packet(&mut self, pt: u8, marker: bool, ts: u32, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x80, pt | if marker { 0x80 } else { 0 }];
        p.extend_from_slice(&self.seq.to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&self.ssrc.to_be_bytes());
        p.extend_from_slice(payload);
        self.seq = self.seq.wrapping_add(1);
        p
    }

    /// `ms` of a sine at `hz`, paced in real time (20 ms packets), PCMU.
    fn send_tone(&mut self, hz: f64, ms: u32) {
        let start = Instant::now();
        for i in 0..ms / 20 {
            let frame: Vec<u8> = (0..160)
                .map(|_| {
                    self.phase += 2.0 * std::f64::consts::PI * hz / 8000.0;
                    ulaw_encode((self.phase.sin() * 12_000.0) as i16)
                })
                .collect();
            let ts = self.ts;
            let p = self.packet(0, i == 0, ts, &frame);
            self.sock.send_to(&p, self.to).unwrap();
            self.ts = self.ts.wrapping_add(160);
            let due = start + Duration::from_millis(u64::from(i + 1) * 20);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
    }

    /// RFC 4733 events (PT 101) for each digit: start, update, three end packets.
    fn send_digits(&mut self, digits: &str) {
        for d in digits.chars() {
            let event = match d {
                '0'..='9' => d as u8 - b'0',
                '*' => 10,
                '#' => 11,
                _ => panic!("digit {d}"),
            };
            let ts = self.ts;
            for (i, (dur, end)) in [
                (160u16, false),
                (480, false),
                (800, true),
                (800, true),
                (800, true),
            ]
            .into_iter()
            .enumerate()
            {
                let mut payload = vec![event, if end { 0x80 | 10 } else { 10 }];
                payload.extend_from_slice(&dur.to_be_bytes());
                let p = self.packet(101, i == 0, ts, &payload);
                self.sock.send_to(&p, self.to).unwrap();
                std::thread::sleep(Duration::from_millis(20));
            }
            self.ts = self.ts.wrapping_add(1600);
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Decoded audio received within `dur`, stopping early after `quiet` without packets
    /// once something arrived. Returns (samples, packets).
    fn listen(&self, dur: Duration, quiet: Option<Duration>) -> (Vec<i16>, usize) {
        let deadline = Instant::now() + dur;
        let mut pcm = Vec::new();
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
                Ok((n, _)) if n > 12 && buf[1] & 0x7f == 0 => {
                    packets += 1;
                    pcm.extend(buf[12..n].iter().map(|b| ulaw_decode(*b)));
                }
                Ok(_) => {}
                Err(_) => {
                    if packets > 0 && quiet.is_some() {
                        break;
                    }
                }
            }
        }
        (pcm, packets)
    }
}

/// Power of `freq` relative to the signal's total power (Goertzel), 0..1.
fn tone_share(pcm: &[i16], freq: f64) -> f64 {
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

// ------------------------------------------------------------------------------------------
// SIP helpers
// ------------------------------------------------------------------------------------------

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

fn offer(port: u16) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=test\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\n"
    )
}

/// A call from `ua` to `uri` that must be answered (200 within `wait`); returns the 200.
fn call(ua: &mut Ua, uri: &str, sdp: &str, wait: Duration) -> (common::Request, Message) {
    ua.new_call();
    let to = format!("<{uri}>");
    let contact = format!("<{}>", ua.contact_uri());
    let req = ua
        .request("INVITE", uri, &to)
        .header("Contact", &contact)
        .sdp(sdp);
    let r = ua.send_authenticated(&req, None);
    let ok = ua
        .recv_where(wait, |m| {
            r.answered_by(m) && m.status().is_some_and(|s| s >= 200)
        })
        .expect("a final response to the INVITE");
    assert_eq!(ok.status(), Some(200), "expected 200, got {ok:?}");
    (r, ok)
}

/// ACK for a 2xx (new transaction, R-URI = the remote target).
fn ack(ua: &mut Ua, invite: &common::Request, ok: &Message) {
    let target = match ok.contacts().first() {
        Some(sip::ContactValue::Addr(a)) => a.uri.raw().to_owned(),
        _ => invite.uri.clone(),
    };
    let mut a = invite.clone();
    a.method = "ACK".into();
    a.uri = target;
    a.branch = common::new_branch();
    a.to = ok.header(HeaderName::To).unwrap().to_owned();
    a.headers
        .retain(|(n, _)| !n.eq_ignore_ascii_case("Proxy-Authorization"));
    a.content_type = None;
    a.body.clear();
    ua.send(&a);
}

fn bye(ua: &mut Ua, invite: &common::Request, ok: &Message) -> Message {
    let target = match ok.contacts().first() {
        Some(sip::ContactValue::Addr(a)) => a.uri.raw().to_owned(),
        _ => invite.uri.clone(),
    };
    let mut b = ua.request("BYE", &target, ok.header(HeaderName::To).unwrap());
    b.call_id = invite.call_id.clone();
    ua.transact(&b)
}

fn messages(dir: &Path) -> Vec<PathBuf> {
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

fn read_wav(path: &Path) -> Vec<i16> {
    let bytes = std::fs::read(path).unwrap();
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

/// Leaves a message for bob (registered, not answering) from alice: 2 s of 440 Hz, then BYE.
fn leave_message(server: &Server) {
    let mut bob = Ua::new(server, "bob");
    let contact = format!("<{}>", bob.contact_uri());
    assert_eq!(bob.register(&[&contact], Some(600)).status(), Some(200));
    let mut alice = Ua::new(server, "alice");
    let mut rtp = RtpPeer::new();
    let uri = format!("sip:bob@{DOMAIN}");
    let t0 = Instant::now();
    let (inv, ok) = call(&mut alice, &uri, &offer(rtp.port()), Duration::from_secs(6));
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "answered before the ring timeout"
    );
    let incoming = bob.recv_where(Duration::from_millis(200), |m| m.method() == "INVITE");
    assert!(incoming.is_some(), "bob's phone was never rung");
    ack(&mut alice, &inv, &ok);
    rtp.to = media_addr(ok.body());
    // Greeting + beep, then the engine goes quiet: recording has started.
    let (greeting, packets) = rtp.listen(Duration::from_secs(15), Some(Duration::from_millis(400)));
    assert!(packets > 100, "greeting too short: {packets} packets");
    assert!(
        tone_share(&greeting[greeting.len() - 2400..], 1000.0) > 0.3,
        "no beep at the end of the greeting"
    );
    rtp.send_tone(440.0, 2000);
    assert_eq!(bye(&mut alice, &inv, &ok).status(), Some(200));
}

#[test]
fn raw_sip_deposit_on_no_answer_then_access_plays_and_deletes() {
    let server = Server::start(ServerOpts::config(CONFIG));
    leave_message(&server);
    // Hang-up keeps what was said: one message with the tone.
    let deadline = Instant::now() + WAIT;
    let mut msgs = messages(&server.data_dir());
    while msgs.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        msgs = messages(&server.data_dir());
    }
    assert_eq!(
        msgs.len(),
        1,
        "one message stored:\n{}",
        server.stderr_text()
    );
    let audio = read_wav(&msgs[0]);
    assert!(
        audio.len() > 8000,
        "message too short: {} samples",
        audio.len()
    );
    assert!(
        tone_share(&audio, 440.0) > 0.5,
        "the message does not carry the caller's tone"
    );

    // Bob dials the mailbox number, enters the PIN, plays the new message, deletes it.
    let mut bob = Ua::new(&server, "bob");
    let mut rtp = RtpPeer::new();
    let (inv, ok) = call(
        &mut bob,
        &format!("sip:*98@{DOMAIN}"),
        &offer(rtp.port()),
        WAIT,
    );
    ack(&mut bob, &inv, &ok);
    rtp.to = media_addr(ok.body());
    let (pin_prompt, n) = rtp.listen(Duration::from_millis(1500), None);
    assert!(n > 20 && !pin_prompt.is_empty(), "no PIN prompt");
    rtp.send_digits("1234#");
    rtp.send_digits("1");
    // "Message one from …", the message, the options: the tone must be in there.
    let (heard, _) = rtp.listen(Duration::from_secs(12), None);
    let best = heard
        .chunks(4000)
        .map(|c| tone_share(c, 440.0))
        .fold(0.0, f64::max);
    assert!(
        best > 0.5,
        "the message's tone was not heard (best share {best:.2})"
    );
    rtp.send_digits("7");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !messages(&server.data_dir()).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        messages(&server.data_dir()).is_empty(),
        "7 did not delete the message"
    );
    assert_eq!(bye(&mut bob, &inv, &ok).status(), Some(200));
}

#[test]
fn anchored_call_relays_only_the_negotiated_peer() {
    let server = Server::start(ServerOpts::config(
        "[media]\nanchor = \"always\"\nport_min = 31000\nport_max = 31999\n",
    ));
    let mut bob = Ua::new(&server, "bob");
    let contact = format!("<{}>", bob.contact_uri());
    assert_eq!(bob.register(&[&contact], Some(600)).status(), Some(200));
    let mut alice = Ua::new(&server, "alice");
    let a_rtp = RtpPeer::new();
    let mut b_rtp = RtpPeer::new();
    let mut intruder = RtpPeer::new();
    alice.new_call();
    let uri = format!("sip:bob@{DOMAIN}");
    let contact_a = format!("<{}>", alice.contact_uri());
    let req = alice
        .request("INVITE", &uri, &format!("<{uri}>"))
        .header("Contact", &contact_a)
        .sdp(&sdp("alice", a_rtp.port()));
    let inv = alice.send_authenticated(&req, None);
    let incoming = bob
        .recv_where(WAIT, |m| m.method() == "INVITE")
        .expect("bob's INVITE");
    // Bob was offered the engine, not alice.
    let engine_b = media_addr(incoming.body());
    assert_ne!(engine_b.port(), a_rtp.port());
    bob.reply(
        &incoming,
        200,
        "OK",
        "bobtag",
        &[("Contact", &contact)],
        Some(&sdp("bob", b_rtp.port())),
    );
    let ok = alice
        .recv_where(WAIT, |m| inv.answered_by(m) && m.status() == Some(200))
        .expect("200 to alice");
    let engine_a = media_addr(ok.body());
    assert_ne!(
        engine_a.port(),
        b_rtp.port(),
        "alice was given bob's address"
    );
    ack(&mut alice, &inv, &ok);
    // Bob → engine → alice.
    b_rtp.to = engine_b;
    b_rtp.send_tone(440.0, 200);
    let (_, got) = a_rtp.listen(Duration::from_millis(500), Some(Duration::from_millis(200)));
    assert!(
        got >= 5,
        "bob's RTP was not relayed to alice ({got} packets)"
    );
    // A third socket sending to the same engine port is dropped.
    intruder.to = engine_b;
    intruder.send_tone(440.0, 200);
    let (_, got) = a_rtp.listen(Duration::from_millis(500), None);
    assert_eq!(got, 0, "RTP from a foreign source was relayed");
}

#[test]
fn baresip_leaves_message_and_hears_it_back() {
    if !common::have("baresip") || !common::have("python3") {
        return;
    }
    let server = Server::start(ServerOpts::config(
        "[calls]\nring_timeout = 2\n[voicemail]\ndefault_pin = \"1234\"\n[media]\nport_min = 32000\nport_max = 32999\n",
    ));
    let work = tempfile::tempdir().unwrap();
    let port = server.addr.port().to_string();
    let domain = format!("127.0.0.1:{port}");
    let out = std::process::Command::new("python3")
        .arg(common::repo().join("tests/phones/voicemail_test.py"))
        .args([
            "127.0.0.1",
            &port,
            &domain,
            "alice",
            &server.password("alice"),
            "bob",
            &server.password("bob"),
            "1234",
        ])
        .arg("--workdir")
        .arg(work.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("\"ok\": true"),
        "baresip voicemail failed:\n{stdout}\n{}\n--- server\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.stderr_text()
    );
    // 7 deleted the message.
    assert!(
        messages(&server.data_dir()).is_empty(),
        "the message was not deleted"
    );
}
