//! Opus on IVR legs (RFC 7587), over the wire with a raw UA whose RTP side encodes and
//! decodes real Opus (libopus, 48 kHz stereo like a softphone).
//!
//! Proves: a caller offering only `opus/48000/2` + `telephone-event/48000` reaches bob's
//! voicemail (200 answering opus at 48 kHz), its Opus 440 Hz tone is stored in the 8 kHz WAV;
//! the mailbox number (`*98`) offered only Opus takes the PIN as 48 kHz RFC 4733 events and
//! plays the message back as Opus that decodes to the tone; a G.711 caller still gets G.711
//! even when it lists Opus first (the documented rule: G.711 when offered), and with
//! `[media] prefer_opus = true` the same offer gets Opus.
//!
//! Opus is the opt-in cargo feature `opus` (libopus); these run with
//! `cargo test -p switchboard --features opus --test media_opus`. Built without it (the
//! README's `cargo test`), the one test here proves the other side: an Opus-only offer to
//! voicemail gets 488, `prefer_opus = true` is accepted, warned about (start-up log and
//! `check-config`) and changes nothing (a G.711 caller listing Opus first gets G.711).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::calls::{ack, bye, call};
use common::rtp::short_prompts;
use common::{DOMAIN, Server, ServerOpts, Ua, WAIT};

const OPUS_PT: u8 = 111;
const EVENT_PT: u8 = 110;

fn config(prompts: &std::path::Path, ports: u16, prefer_opus: bool) -> String {
    format!(
        "[voicemail]\ndefault_pin = \"1234\"\n[media]\nport_min = {ports}\nport_max = {}\nprompts_dir = \"{}\"\nprefer_opus = {prefer_opus}\n",
        ports + 99,
        prompts.display()
    )
}

fn opus_offer(port: u16) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP {OPUS_PT} {EVENT_PT}\r\na=rtpmap:{OPUS_PT} opus/48000/2\r\na=fmtp:{OPUS_PT} useinbandfec=1\r\na=rtpmap:{EVENT_PT} telephone-event/48000\r\na=fmtp:{EVENT_PT} 0-15\r\na=ptime:20\r\n"
    )
}

/// The first `m=audio` line of an SDP body.
fn m_line(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .lines()
        .find(|l| l.starts_with("m=audio"))
        .unwrap_or_default()
        .to_owned()
}

/// The calls that need libopus on both sides.
#[cfg(feature = "opus")]
mod with_opus {
    use std::time::{Duration, Instant};

    use super::*;
    use common::rtp::{RtpPeer, best_tone, media_addr, message_files, read_wav, tone_share};

    /// A softphone's media side speaking Opus at 48 kHz stereo: common's RTP peer with an
    /// Opus encoder and decoder.
    struct OpusPeer {
        rtp: RtpPeer,
        enc: media_server::opus::Encoder,
        dec: media_server::opus::Decoder,
        phase: f64,
    }

    impl OpusPeer {
        fn new() -> OpusPeer {
            OpusPeer {
                rtp: RtpPeer::new(),
                enc: media_server::opus::Encoder::new(
                    48000,
                    media_server::opus::Channels::Stereo,
                    media_server::opus::Application::Voip,
                )
                .unwrap(),
                // The listener decodes to 8 kHz mono so the common Goertzel helpers apply.
                dec: media_server::opus::Decoder::new(8000, media_server::opus::Channels::Mono)
                    .unwrap(),
                phase: 0.0,
            }
        }

        fn port(&self) -> u16 {
            self.rtp.port()
        }

        /// `ms` of a sine at `hz` on both channels, Opus in 20 ms packets, paced in real time.
        fn send_tone(&mut self, hz: f64, ms: u32) {
            let start = Instant::now();
            for i in 0..ms / 20 {
                let mut pcm = Vec::with_capacity(1920);
                for _ in 0..960 {
                    self.phase += 2.0 * std::f64::consts::PI * hz / 48000.0;
                    let s = (self.phase.sin() * 12_000.0) as i16;
                    pcm.extend([s, s]);
                }
                let mut out = [0u8; 1500];
                let n = self.enc.encode(&pcm, &mut out).unwrap();
                let ts = self.rtp.next_ts(960);
                self.rtp.send_packet(OPUS_PT, i == 0, ts, &out[..n]);
                let due = start + Duration::from_millis(u64::from(i + 1) * 20);
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
            }
        }

        /// RFC 4733 events at the 48 kHz clock.
        fn send_digits(&mut self, digits: &str) {
            self.rtp.send_events(EVENT_PT, 48000, digits);
        }

        /// Opus received within `dur` (stopping after `quiet` of silence once something came),
        /// decoded to 8 kHz mono; (samples, Opus packets, packets of any other payload type).
        fn listen(&mut self, dur: Duration, quiet: Duration) -> (Vec<i16>, usize, usize) {
            let (mut pcm, mut other) = (Vec::new(), 0);
            let dec = &mut self.dec;
            let packets = self.rtp.receive(dur, Some(quiet), |pt, payload| {
                if pt == OPUS_PT {
                    let mut out = [0i16; 960];
                    let got = dec.decode(payload, &mut out, false).unwrap();
                    pcm.extend_from_slice(&out[..got]);
                    return true;
                }
                if !(72..=76).contains(&pt) {
                    other += 1;
                }
                false
            });
            (pcm, packets, other)
        }
    }

    #[test]
    fn opus_only_caller_deposits_and_hears_the_message_as_opus() {
        let prompts = short_prompts(300);
        let server = Server::start(ServerOpts::config(&config(prompts.path(), 34600, false)));
        // bob has no registered device: his mailbox answers at once.
        let mut alice = Ua::new(&server, "alice");
        let mut rtp = OpusPeer::new();
        let uri = format!("sip:bob@{DOMAIN}");
        let (inv, ok) = call(&mut alice, &uri, &opus_offer(rtp.port()), WAIT);
        let answer = String::from_utf8_lossy(ok.body()).into_owned();
        assert!(
            m_line(ok.body()).ends_with(&format!("RTP/AVP {OPUS_PT} {EVENT_PT}"))
                && answer.contains(&format!("a=rtpmap:{OPUS_PT} opus/48000/2\r\n"))
                && answer.contains(&format!("a=rtpmap:{EVENT_PT} telephone-event/48000\r\n")),
            "{answer}"
        );
        ack(&mut alice, &inv, &ok);
        rtp.rtp.to = media_addr(ok.body());
        // Greeting + beep arrive as Opus; then recording starts.
        let (greeting, packets, other) =
            rtp.listen(Duration::from_secs(5), Duration::from_millis(300));
        assert!(
            packets > 20 && other == 0,
            "greeting: {packets} opus, {other} other packets"
        );
        assert!(
            tone_share(&greeting[greeting.len() - 2400..], 1000.0) > 0.3,
            "no beep at the end of the Opus greeting"
        );
        rtp.send_tone(440.0, 1500);
        assert_eq!(bye(&mut alice, &inv, &ok).status(), Some(200));

        let deadline = Instant::now() + WAIT;
        let mut msgs = message_files(&server.data_dir());
        while msgs.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            msgs = message_files(&server.data_dir());
        }
        assert_eq!(msgs.len(), 1, "one message:\n{}", server.stderr_text());
        let audio = read_wav(&msgs[0]);
        assert!(
            (9600..=14_400).contains(&audio.len()),
            "1.5 s of Opus at 48 kHz timestamps is 1.2-1.8 s at 8 kHz: {} samples",
            audio.len()
        );
        let share = tone_share(&audio[1600..], 440.0);
        assert!(share > 0.5, "stored WAV lacks the 440 Hz tone ({share:.2})");

        // bob dials the mailbox offering only Opus: PIN as 48 kHz events, `1` plays the message.
        let mut bob = Ua::new(&server, "bob");
        let mut rtp = OpusPeer::new();
        let (inv, ok) = call(
            &mut bob,
            &format!("sip:*98@{DOMAIN}"),
            &opus_offer(rtp.port()),
            WAIT,
        );
        assert!(
            m_line(ok.body()).contains(&format!(" {OPUS_PT} ")),
            "{ok:?}"
        );
        ack(&mut bob, &inv, &ok);
        rtp.rtp.to = media_addr(ok.body());
        let (_, n, _) = rtp.listen(Duration::from_secs(2), Duration::from_millis(300));
        assert!(n > 10, "no PIN prompt");
        rtp.send_digits("1234#");
        rtp.listen(Duration::from_secs(3), Duration::from_millis(300));
        rtp.send_digits("1");
        let (heard, n, other) = rtp.listen(Duration::from_secs(8), Duration::from_millis(400));
        let best = best_tone(&heard, 440.0);
        assert!(
            best > 0.5 && other == 0,
            "message not heard over Opus (best 440 Hz share {best:.2}, {n} opus, {other} other)"
        );
        assert_eq!(bye(&mut bob, &inv, &ok).status(), Some(200));
    }

    #[test]
    fn g711_callers_keep_g711_unless_opus_is_preferred() {
        let prompts = short_prompts(300);
        // Opus listed first, PCMU too: G.711 by default.
        let both = |port: u16| {
            format!(
                "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP {OPUS_PT} 0 101\r\na=rtpmap:{OPUS_PT} opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\n"
            )
        };
        for (prefer, ports, want) in [
            (false, 34700, "RTP/AVP 0 101"),
            (true, 34800, "RTP/AVP 111"),
        ] {
            let server = Server::start(ServerOpts::config(&config(prompts.path(), ports, prefer)));
            let mut alice = Ua::new(&server, "alice");
            let (inv, ok) = call(&mut alice, &format!("sip:bob@{DOMAIN}"), &both(5000), WAIT);
            assert!(
                m_line(ok.body()).ends_with(want),
                "prefer_opus = {prefer}: {}",
                m_line(ok.body())
            );
            ack(&mut alice, &inv, &ok);
            assert_eq!(bye(&mut alice, &inv, &ok).status(), Some(200));
        }
    }
}

/// Built without the feature: no Opus on IVR legs, G.711 as before, `prefer_opus` ignored
/// with a warning at start.
#[cfg(not(feature = "opus"))]
#[test]
fn without_the_feature_opus_only_gets_488_and_g711_still_works() {
    let prompts = short_prompts(300);
    let server = Server::start(ServerOpts::config(&config(prompts.path(), 34600, true)));
    let mut alice = Ua::new(&server, "alice");
    let uri = format!("sip:bob@{DOMAIN}");
    alice.new_call();
    let inv = alice
        .request("INVITE", &uri, &format!("<{uri}>"))
        .header("Contact", &format!("<{}>", alice.contact_uri()))
        .sdp(&opus_offer(5000));
    let resp = alice.authenticated(&inv, None);
    assert_eq!(resp.status(), Some(488), "{resp:?}");

    // Opus listed first, PCMU too, prefer_opus = true: G.711 all the same.
    let both = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 5002 RTP/AVP {OPUS_PT} 0 101\r\na=rtpmap:{OPUS_PT} opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\n"
    );
    let (inv, ok) = call(&mut alice, &uri, &both, WAIT);
    assert!(m_line(ok.body()).ends_with("RTP/AVP 0 101"), "{ok:?}");
    ack(&mut alice, &inv, &ok);
    assert_eq!(bye(&mut alice, &inv, &ok).status(), Some(200));
    assert!(
        server
            .stderr_text()
            .contains("prefer_opus has no effect: built without the opus feature"),
        "no warning about prefer_opus:\n{}",
        server.stderr_text()
    );

    // check-config accepts the key and says it does nothing in this build.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("switchboard.toml");
    std::fs::write(&file, "[media]\nprefer_opus = true\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("check-config")
        .arg(&file)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("prefer_opus has no effect: built without the opus feature"),
        "{err}"
    );
}
