//! The engine over real loopback sockets: a relay opened late (no SDP in the INVITE) carries
//! RTP once both phones described their media, follows a phone that moves (re-INVITE), and
//! reports inactivity; an IVR endpoint whose peer stops sending reports `MediaTimeout`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::SocketAddr;
use std::time::Duration;

use media_server::{Leg, MediaConfig, MediaEvent, MediaServer, RelayEvent};
use tokio::net::UdpSocket;

fn config(port_min: u16) -> MediaConfig {
    MediaConfig {
        rtp_ip: "127.0.0.1".parse().unwrap(),
        port_min,
        port_max: port_min + 99,
        prompts_dir: None,
        anchor_always: true,
        prefer_opus: false,
    }
}

fn sdp(port: u16) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    )
}

/// The `c=`/`m=` address of a description.
fn addr_of(sdp: &str) -> SocketAddr {
    let s = sdp::parse(sdp.as_bytes()).unwrap();
    let ip = s.connection.as_ref().unwrap().ip().unwrap();
    SocketAddr::new(ip, s.media[0].port)
}

fn rtp(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 0];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&0x0bad_cafe_u32.to_be_bytes());
    p.extend_from_slice(&[0xff; 160]);
    p
}

async fn received(sock: &UdpSocket, within: Duration) -> usize {
    let mut n = 0;
    let mut buf = [0u8; 2048];
    while let Ok(Ok(_)) = tokio::time::timeout(within, sock.recv_from(&mut buf)).await {
        n += 1;
    }
    n
}

async fn send(from: &UdpSocket, to: SocketAddr, count: u16) {
    for seq in 0..count {
        from.send_to(&rtp(seq), to).await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn late_relay_follows_a_moved_peer_and_reports_inactivity() {
    let ms = MediaServer::start(&config(36_000)).unwrap();
    ms.set_inactivity_timeout(Some(Duration::from_millis(1000)));
    let mut events = ms.relay_events();
    let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let b2 = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = |s: &UdpSocket| s.local_addr().unwrap().port();

    // INVITE without SDP: the callee offers (its 2xx), the caller answers (the ACK).
    let id = ms.anchor_late().unwrap();
    let to_a = ms.anchor_sdp(id, Leg::B, sdp(port(&b)).as_bytes()).unwrap();
    let to_b = ms.anchor_sdp(id, Leg::A, sdp(port(&a)).as_bytes()).unwrap();
    let (engine_a, engine_b) = (addr_of(&to_a), addr_of(&to_b));
    assert_ne!(
        engine_a.port(),
        port(&b),
        "the caller was given the callee's port"
    );
    send(&a, engine_a, 5).await;
    assert_eq!(received(&b, Duration::from_millis(200)).await, 5);

    // The callee moves to another socket (re-INVITE): RTP follows it.
    ms.anchor_sdp(id, Leg::B, sdp(port(&b2)).as_bytes())
        .unwrap();
    send(&b2, engine_b, 3).await;
    assert_eq!(received(&a, Duration::from_millis(200)).await, 3);
    send(&a, engine_a, 4).await;
    assert_eq!(received(&b2, Duration::from_millis(200)).await, 4);
    assert_eq!(received(&b, Duration::from_millis(100)).await, 0);

    // Both phones go quiet: one event after the timeout, not before.
    let early = tokio::time::timeout(Duration::from_millis(300), events.recv()).await;
    assert!(early.is_err(), "inactivity reported too early");
    let ev = tokio::time::timeout(Duration::from_secs(2), events.recv()).await;
    assert_eq!(ev.unwrap(), Some(RelayEvent::Inactive { id }));
    ms.close_anchor(id);
}

#[tokio::test]
async fn endpoint_reports_a_silent_peer() {
    let ms = MediaServer::start(&config(36_200)).unwrap();
    ms.set_inactivity_timeout(Some(Duration::from_millis(500)));
    let phone = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut opened = ms
        .answer(sdp(phone.local_addr().unwrap().port()).as_bytes())
        .unwrap();
    let engine = addr_of(&opened.sdp);
    // While the phone sends, no timeout.
    for seq in 0..40 {
        phone.send_to(&rtp(seq), engine).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(opened.events.try_recv().is_err(), "timeout while RTP flows");
    }
    let ev = tokio::time::timeout(Duration::from_secs(2), opened.events.recv()).await;
    assert_eq!(
        ev.unwrap(),
        Some(MediaEvent::MediaTimeout { ep: opened.id })
    );
    ms.close(opened.id);
}

#[tokio::test]
async fn no_common_codec_and_garbage_are_488() {
    let ms = MediaServer::start(&config(36_400)).unwrap();
    let g729 = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 18\r\n";
    for body in [g729.as_bytes(), b"v=0\r\nnonsense".as_slice()] {
        let e = ms.answer(body).unwrap_err();
        assert_eq!(e.sip_status().0, 488, "{e}");
    }
    assert_eq!(ms.ports_in_use(), 0, "a refused offer keeps no ports");
}

/// Many calls on the relay threads: each relays only its own phones, a closed call's ports
/// go back to the pool and stop relaying, and a call opened after it (its slot reused on the
/// relay thread) relays normally.
#[tokio::test]
async fn relays_are_independent_and_closed_ones_release_their_ports() {
    let ms = MediaServer::start(&config(36_600)).unwrap();
    let mut calls = Vec::new();
    for _ in 0..4 {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let (id, to_b) = ms
            .anchor(sdp(a.local_addr().unwrap().port()).as_bytes())
            .unwrap();
        let to_a = ms
            .anchor_answer(id, sdp(b.local_addr().unwrap().port()).as_bytes())
            .unwrap();
        calls.push((id, a, b, addr_of(&to_a), addr_of(&to_b)));
    }
    assert_eq!(ms.ports_in_use(), 8);
    let (closed, a1, _b1, engine_a1, _) = calls.remove(1);
    ms.close_anchor(closed);
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while ms.ports_in_use() != 6 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(ms.ports_in_use(), 6, "the closed call's ports are free");
    let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let d = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let (id, to_d) = ms
        .anchor(sdp(c.local_addr().unwrap().port()).as_bytes())
        .unwrap();
    let to_c = ms
        .anchor_answer(id, sdp(d.local_addr().unwrap().port()).as_bytes())
        .unwrap();
    calls.push((id, c, d, addr_of(&to_c), addr_of(&to_d)));

    for (_, a, b, engine_a, engine_b) in &calls {
        send(a, *engine_a, 3).await;
        send(b, *engine_b, 2).await;
    }
    for (_, a, b, _, _) in &calls {
        assert_eq!(received(b, Duration::from_millis(200)).await, 3);
        assert_eq!(received(a, Duration::from_millis(50)).await, 2);
    }
    // The closed call relays nothing (its port may be unbound or already another's).
    send(&a1, engine_a1, 2).await;
    for (_, _, b, _, _) in &calls {
        assert_eq!(received(b, Duration::from_millis(100)).await, 0);
    }
    for (id, ..) in calls {
        ms.close_anchor(id);
    }
}
