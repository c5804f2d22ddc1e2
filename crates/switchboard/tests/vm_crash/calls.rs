//! Kills during real voicemail calls (raw SIP UA + RTP peer, see `peer`):
//! - deposit: alice calls bob, who has no device, so voicemail answers; the server is
//!   killed during the greeting, during the recording, or just after alice hung up. A kill
//!   during the greeting leaves nothing; a recording with ≥ 2 s of alice's tone is kept
//!   (stored before the kill, or salvaged by the restart's repair) with her tone, ANI and
//!   DNIS; one under the minimum length leaves nothing.
//! - mailbox: bob dials `*98`, enters the PIN with RFC 4733 digits, plays his new messages,
//!   and the server is killed during playback (every message is still there, byte for
//!   byte, and none became heard: a message counts as heard only once it played to the end)
//!   or right after `7` (the message is either whole or entirely gone, row and file).
//!
//! After every restart: [`check_consistent`] (integrity, lists = files, CAS MWI) and the
//! NOTIFY of bob's phone's message-summary fetch carries the store's counts.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use super::peer;
use super::{Rng, check_consistent, listed_counts};
use crate::common::cas::CasClient;
use crate::common::rtp::{RtpPeer, best_tone, tone_wav_b64, wav_samples};
use crate::common::{DOMAIN, Server, ServerOpts, Ua, WAIT};

fn config(port_min: u32) -> String {
    format!(
        "[voicemail]\ndefault_pin = \"1234\"\n[media]\nport_min = {port_min}\nport_max = {}\n",
        port_min + 499
    )
}

/// bob's messages by id, with their file's bytes.
fn snapshot(srv: &Server) -> BTreeMap<i64, (Value, Vec<u8>)> {
    let mut c = CasClient::login(srv, "bob");
    let list = c.call("vm", "list", json!({}));
    list["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let id = m["id"].as_i64().unwrap();
            (
                id,
                (m.clone(), std::fs::read(message_path(srv, id)).unwrap()),
            )
        })
        .collect()
}

fn message_path(srv: &Server, id: i64) -> std::path::PathBuf {
    srv.data_dir()
        .join("voicemail")
        .join(DOMAIN.replace('.', "%2E"))
        .join("bob")
        .join(format!("msg-{id}.wav"))
}

/// The phone's view equals the store (after `check_consistent` made CAS MWI equal it).
fn check_phone(srv: &Server, round: u64) {
    let want = listed_counts(srv, "bob");
    let (waiting, counts, body) = peer::phone_summary(srv, "bob");
    assert_eq!(counts, want, "round {round}: bob's NOTIFY:\n{body}");
    assert_eq!(waiting, want.0 > 0, "round {round}: {body}");
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Deposit {
    Greeting,
    Recording,
    HungUp,
}

#[test]
fn kill_during_sip_deposits_keeps_whole_messages_only() {
    let mut srv = Server::start(ServerOpts::config(&config(34_000)));
    let mut rng = Rng::new("deposit");
    let mut salvaged = 0;
    for round in 0..6u64 {
        let before = snapshot(&srv);
        let mut alice = Ua::new(&srv, "alice");
        let mut rtp = RtpPeer::new();
        let call = peer::call(&mut alice, "bob", &mut rtp);
        assert!(rtp.first_audio(WAIT), "round {round}: no greeting");
        let phase = [Deposit::Greeting, Deposit::Recording, Deposit::HungUp][round as usize % 3];
        let spoke = match phase {
            Deposit::Greeting => {
                std::thread::sleep(Duration::from_millis(rng.between(0, 1500)));
                0
            }
            Deposit::Recording => {
                // `#` skips the greeting; the kill comes while alice still speaks.
                rtp.send_digits("#");
                // Round 1 may be under the minimum, round 4 is over it.
                let ms = if round < 3 {
                    rng.between(300, 1800)
                } else {
                    rng.between(2000, 3200)
                };
                rtp.send_tone(440.0, u32::try_from(ms).unwrap());
                ms
            }
            Deposit::HungUp => {
                rtp.send_digits("#");
                rtp.send_tone(440.0, 2000);
                peer::send_bye(&mut alice, &call);
                std::thread::sleep(Duration::from_millis(rng.between(0, 300)));
                2000
            }
        };
        srv.crash_restart();
        check_consistent(&srv, round);
        let after = snapshot(&srv);
        for (id, (m, bytes)) in &before {
            assert_eq!(after.get(id).map(|(_, b)| b), Some(bytes), "{m} changed");
        }
        let added: Vec<_> = after
            .iter()
            .filter(|(id, _)| !before.contains_key(id))
            .collect();
        eprintln!(
            "deposit round {round}: {phase:?} {spoke} ms → {} kept",
            added.len()
        );
        assert!(added.len() <= 1, "round {round}: {added:?}");
        match phase {
            Deposit::Greeting => assert!(added.is_empty(), "round {round}: kept a greeting"),
            _ if spoke < 600 => assert!(added.is_empty(), "round {round}: under the minimum"),
            _ if spoke >= 2000 => assert_eq!(added.len(), 1, "round {round}: {spoke} ms lost"),
            _ => {}
        }
        for (_, (m, bytes)) in added {
            assert!(m["caller"].as_str().unwrap().contains("alice"), "ANI: {m}");
            assert!(m["called"].as_str().unwrap().contains("bob"), "DNIS: {m}");
            assert!(m["duration_ms"].as_i64().unwrap() >= 1000, "{m}");
            let pcm = wav_samples(bytes);
            assert_eq!(
                pcm.len() as i64 / 8,
                m["duration_ms"].as_i64().unwrap(),
                "{m}"
            );
            // The tone is in there (skip the start, where the `#` was cut).
            let best = best_tone(&pcm, 440.0);
            assert!(best > 0.5, "round {round}: no tone in {m} ({best:.2})");
            if phase == Deposit::Recording {
                salvaged += 1;
                // Recording starts after the 0.3 s beep, ~0.1 s into the tone; the writer
                // hands audio to the kernel every 0.2 s, so the kill costs little more.
                let kept_ms = m["duration_ms"].as_i64().unwrap();
                let lost = spoke as i64 - kept_ms;
                eprintln!("deposit round {round}: spoke {spoke} ms, kept {kept_ms} ms");
                assert!(
                    lost <= 450,
                    "round {round}: the kill lost {lost} ms of {spoke}"
                );
            }
        }
        check_phone(&srv, round);
    }
    eprintln!("recordings kept across a kill mid-recording: {salvaged}");
    let repairs = srv
        .stderr_text()
        .matches("voicemail interrupted recording kept")
        .count();
    assert!(
        repairs >= salvaged,
        "{salvaged} recordings cut by the kill were kept, {repairs} by the repair"
    );
}

#[test]
fn kill_during_playback_and_delete_leaves_whole_messages() {
    let mut srv = Server::start(ServerOpts::config(&config(34_500)));
    let mut rng = Rng::new("mailbox");
    let audio = tone_wav_b64(440.0, 2.0);
    let (mut kept, mut gone) = (0, 0);
    for round in 0..4u64 {
        let mut alice = CasClient::login(&srv, "alice");
        while snapshot(&srv).len() < 2 {
            let r = alice.call("vm", "send", json!({"to": "bob", "audio": audio}));
            assert!(r["id"].is_i64(), "{r}");
        }
        let before = snapshot(&srv);
        // The access menu plays unheard messages first, each group oldest first.
        let current = *before
            .iter()
            .min_by_key(|(id, (m, _))| (m["heard"] == true, **id))
            .unwrap()
            .0;
        let mut bob = Ua::new(&srv, "bob");
        let mut rtp = RtpPeer::new();
        let _call = peer::call(&mut bob, "*98", &mut rtp);
        assert!(rtp.first_audio(WAIT), "round {round}: no PIN prompt");
        rtp.send_digits("1234#");
        rtp.send_digits("1");
        let delete = round % 2 == 1;
        if delete {
            // Inside message one (announcement, then the audio), `7`, then the kill.
            rtp.listen(Duration::from_millis(rng.between(600, 2500)), None);
            rtp.send_digits("7");
            std::thread::sleep(Duration::from_millis(rng.between(0, 150)));
        } else {
            let heard = rtp
                .listen(Duration::from_millis(rng.between(300, 3500)), None)
                .1;
            assert!(heard > 0, "round {round}: nothing played");
        }
        srv.crash_restart();
        check_consistent(&srv, round);
        let after = snapshot(&srv);
        for (id, (m, bytes)) in &before {
            match after.get(id) {
                None if delete && *id == current => {
                    assert!(
                        !message_path(&srv, *id).exists(),
                        "round {round}: file left"
                    );
                    gone += 1;
                }
                None => panic!("round {round}: message {m} lost"),
                Some((m2, b2)) => {
                    assert_eq!(b2, bytes, "round {round}: message {id}'s audio changed");
                    // Not played to the end: its heard flag did not change.
                    assert_eq!(m2["heard"], m["heard"], "round {round}: {m} → {m2}");
                    if delete && *id == current {
                        kept += 1;
                    }
                }
            }
        }
        assert!(after.keys().all(|id| before.contains_key(id)));
        eprintln!("mailbox round {round}: delete={delete} current={current}");
        check_phone(&srv, round);
    }
    eprintln!("kills right after 7: message gone {gone}, message whole {kept}");
}
