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

use std::time::{Duration, Instant};

use common::calls::{ack, bye, call, connect};
use common::rtp::{
    RtpPeer, best_tone, media_addr, message_files as messages, offer, read_wav, short_prompts,
    tone_share,
};
use common::{DOMAIN, Server, ServerOpts, Ua, WAIT, sdp};

/// Short prompts (300 ms each) and a 1 s ring timeout keep these tests quick.
fn config(prompts: &std::path::Path, ring_timeout: u32, ports: u16) -> String {
    format!(
        "[calls]\nring_timeout = {ring_timeout}\n[voicemail]\ndefault_pin = \"1234\"\n[media]\nport_min = {ports}\nport_max = {}\nprompts_dir = \"{}\"\n",
        ports + 999,
        prompts.display()
    )
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
    let (inv, ok) = call(&mut alice, &uri, &offer(rtp.port()), Duration::from_secs(4));
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "answered before the ring timeout"
    );
    let incoming = bob.recv_where(Duration::from_millis(200), |m| m.method() == "INVITE");
    assert!(incoming.is_some(), "bob's phone was never rung");
    ack(&mut alice, &inv, &ok);
    rtp.to = media_addr(ok.body());
    // Greeting + beep, then the engine goes quiet: recording has started.
    let (greeting, packets) = rtp.listen(Duration::from_secs(5), Some(Duration::from_millis(300)));
    assert!(packets > 20, "greeting too short: {packets} packets");
    assert!(
        tone_share(&greeting[greeting.len() - 2400..], 1000.0) > 0.3,
        "no beep at the end of the greeting"
    );
    rtp.send_tone(440.0, 1500);
    assert_eq!(bye(&mut alice, &inv, &ok).status(), Some(200));
}

#[test]
fn raw_sip_deposit_on_no_answer_then_access_plays_and_deletes() {
    let prompts = short_prompts(300);
    let server = Server::start(ServerOpts::config(&config(prompts.path(), 1, 30000)));
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
    let (pin_prompt, n) = rtp.listen(Duration::from_secs(2), Some(Duration::from_millis(300)));
    assert!(n > 10 && !pin_prompt.is_empty(), "no PIN prompt");
    rtp.send_digits("1234#");
    // "You have one new message", the menu: then 1 plays the new messages.
    rtp.listen(Duration::from_secs(3), Some(Duration::from_millis(300)));
    rtp.send_digits("1");
    // "Message one from …", the message, the options: the tone must be in there.
    let (heard, _) = rtp.listen(Duration::from_secs(8), Some(Duration::from_millis(400)));
    let best = best_tone(&heard, 440.0);
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

/// The "straight to voicemail" call handling mode (CAS `config`): the mailbox answers at
/// once and no phone of the callee rings.
#[test]
fn straight_to_voicemail_mode_answers_without_ringing() {
    let prompts = short_prompts(300);
    let server = Server::start(ServerOpts::config(&config(prompts.path(), 1, 31500)));
    let mut bob = Ua::new(&server, "bob");
    let contact = format!("<{}>", bob.contact_uri());
    assert_eq!(bob.register(&[&contact], Some(600)).status(), Some(200));
    let mut bob_cas = common::cas::CasClient::login(&server, "bob");
    for (message, fields) in [
        (
            "configure",
            serde_json::json!({"mode": "meeting", "action": "voicemail"}),
        ),
        ("set", serde_json::json!({"mode": "meeting"})),
    ] {
        let r = bob_cas.call("config", message, fields);
        assert_eq!(r["response"], 0, "{r}");
    }
    let mut alice = Ua::new(&server, "alice");
    let rtp = RtpPeer::new();
    let t0 = Instant::now();
    let (inv, ok) = call(
        &mut alice,
        &format!("sip:bob@{DOMAIN}"),
        &offer(rtp.port()),
        WAIT,
    );
    assert!(t0.elapsed() < Duration::from_millis(900), "it rang first");
    ack(&mut alice, &inv, &ok);
    assert!(
        bob.recv_where(Duration::from_millis(300), |m| m.method() == "INVITE")
            .is_none(),
        "bob's phone rang"
    );
    let (_, packets) = rtp.listen(Duration::from_secs(2), Some(Duration::from_millis(300)));
    assert!(packets > 10, "no greeting");
    assert_eq!(bye(&mut alice, &inv, &ok).status(), Some(200));
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
    let (_, ok, incoming) = connect(
        &mut alice,
        &mut bob,
        &sdp("alice", a_rtp.port()),
        &sdp("bob", b_rtp.port()),
    );
    // Neither phone was given the other's address, only the engine's.
    let engine_b = media_addr(incoming.body());
    assert_ne!(
        engine_b.port(),
        a_rtp.port(),
        "bob was given alice's address"
    );
    let engine_a = media_addr(ok.body());
    assert_ne!(
        engine_a.port(),
        b_rtp.port(),
        "alice was given bob's address"
    );
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
    let prompts = short_prompts(300);
    let server = Server::start(ServerOpts::config(&config(prompts.path(), 1, 32000)));
    common::phones::run_script(
        &server,
        "voicemail_test.py",
        ["alice", "bob"],
        &["1234", "--greeting", "2", "--tone", "2", "--listen", "4"],
        30,
    );
    // 7 deleted the message.
    assert!(
        messages(&server.data_dir()).is_empty(),
        "the message was not deleted"
    );
}
