//! SDP for the engine's endpoints and relays, on the `sdp` crate: the answer to a phone's
//! offer and our own offer (RFC 3264 §5–6 via `sdp::answer`/`sdp::offer`), the outcome of an
//! exchange (`sdp::negotiated`), and the rewrite that anchors a call
//! (`sdp::rewrite_connection`: `c=`, the relayed port and the origin's address point at us;
//! codecs stay as the phones wrote them, so Opus or anything else passes through a relay).
//!
//! Codec choice for IVR legs (voicemail, mailbox access, play-on-phone): G.711 whenever the
//! peer offers it (voicemail is stored at 8 kHz and G.711 costs nothing to code), Opus (RFC
//! 7587, through libopus) only when it is the only common codec; with `[media] prefer_opus`
//! Opus whenever the peer offers it. Our own offers list both, in that order of preference.
//! Built without the cargo feature `opus` there is no Opus codec: IVR legs offer and accept
//! G.711 only (an Opus-only offer gets [`MediaError::NoCodec`], 488) and `prefer_opus` is
//! ignored; relayed descriptions are not affected.
//!
//! Only the first active audio stream is served. In a relayed description every other
//! stream is disabled (port 0, RFC 3264 §8.2): the relay would not carry it. Not here: ICE,
//! SRTP, transcoding.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use sdp::{Capabilities, Connection, Direction, Media, MediaKind, Session, SessionIds};

use crate::MediaError;

/// Where one peer's media goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub rtp: SocketAddr,
    /// `None` with `a=rtcp-mux` (RFC 5761).
    pub rtcp: Option<SocketAddr>,
    /// The description holds the stream (RFC 3264 §8.4): a direction other than
    /// `sendrecv` (`sendonly`, `recvonly`, `inactive`) or the `0.0.0.0` address. While
    /// either side of a relay holds, silence is expected and no inactivity is reported.
    pub held: bool,
}

/// The outcome of offer/answer for an IVR endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    pub peer: Peer,
    pub codec: media::Codec,
    pub payload_type: u8,
    /// RFC 4733 telephone-event payload type, when both sides have it.
    pub dtmf_pt: Option<u8>,
}

const G711: [sdp::Codec; 2] = [sdp::Codec::Pcmu, sdp::Codec::Pcma];
#[cfg(feature = "opus")]
const OPUS: [sdp::Codec; 1] = [sdp::Codec::Opus];

/// What an IVR endpoint can do with `codecs` (in preference order) and telephone-event, one
/// codec in answers.
fn capabilities(ip: IpAddr, codecs: &[sdp::Codec]) -> Capabilities {
    Capabilities {
        codecs: codecs.to_vec(),
        ..Capabilities::new(ip)
    }
}

/// The codec sets to try in turn (see the module doc).
#[cfg(feature = "opus")]
fn preference(prefer_opus: bool) -> &'static [&'static [sdp::Codec]] {
    if prefer_opus {
        &[&OPUS, &G711]
    } else {
        &[&G711, &OPUS]
    }
}

/// Without libopus: G.711 only, whatever `prefer_opus` says.
#[cfg(not(feature = "opus"))]
fn preference(_prefer_opus: bool) -> &'static [&'static [sdp::Codec]] {
    &[&G711]
}

fn parse(body: &[u8]) -> Result<Session, MediaError> {
    sdp::parse(body).map_err(|e| MediaError::Sdp(e.to_string()))
}

/// The first audio stream that is not disabled.
fn audio_index(s: &Session) -> Result<usize, MediaError> {
    s.media
        .iter()
        .position(|m| m.kind == MediaKind::Audio && m.port != 0)
        .ok_or_else(|| MediaError::Sdp("no audio stream".into()))
}

/// The peer address of stream `index`: `c=` (media level wins, RFC 8866 §5.7), the `m=`
/// port, and `a=rtcp` (RFC 3605) or port + 1 unless `a=rtcp-mux` (RFC 5761).
fn peer_at(s: &Session, index: usize) -> Result<Peer, MediaError> {
    let m = s
        .media
        .get(index)
        .ok_or_else(|| MediaError::Sdp("no audio stream".into()))?;
    let ip = s
        .connection_for(index)
        .and_then(Connection::ip)
        .ok_or_else(|| MediaError::Sdp("no connection address".into()))?;
    let rtp = SocketAddr::new(ip, m.port);
    let rtcp = if m.has_attribute("rtcp-mux") {
        None
    } else {
        let (port, addr) = rtcp_attribute(m).unwrap_or((m.port.saturating_add(1), None));
        Some(SocketAddr::new(addr.unwrap_or(ip), port))
    };
    let held = s.direction(index) != Direction::SendRecv || ip.is_unspecified();
    Ok(Peer { rtp, rtcp, held })
}

/// `a=rtcp:<port> [IN IP4 <addr>]` (RFC 3605 §2.1).
fn rtcp_attribute(m: &Media) -> Option<(u16, Option<IpAddr>)> {
    let mut t = m.attribute("rtcp")?.split_whitespace();
    let port = t.next()?.parse().ok()?;
    Some((port, t.nth(2).and_then(|a| a.parse().ok())))
}

/// The peer of the first audio stream of a description (a re-INVITE moving the media).
pub fn peer_of(body: &[u8]) -> Result<Peer, MediaError> {
    let s = parse(body)?;
    peer_at(&s, audio_index(&s)?)
}

/// What an exchange agreed on for the first active stream, seen from `local`'s owner.
fn outcome(local: &Session, remote: &Session) -> Result<Negotiated, MediaError> {
    let stream = sdp::negotiated(local, remote)
        .into_iter()
        .find(|s| s.kind == MediaKind::Audio)
        .ok_or(MediaError::NoCodec)?;
    let codec = match stream.codec {
        sdp::Codec::Pcmu => media::Codec::Pcmu,
        sdp::Codec::Pcma => media::Codec::Pcma,
        sdp::Codec::Opus => media::Codec::Opus,
    };
    Ok(Negotiated {
        peer: peer_at(remote, stream.index)?,
        codec,
        payload_type: stream.payload_type,
        dtmf_pt: stream.telephone_event,
    })
}

/// Our answer to a phone's offer (one audio stream on `local`, the rest rejected), and what
/// was agreed; the codec by the rule in the module doc. No common codec:
/// [`MediaError::NoCodec`] (488).
pub fn answer(
    offer: &[u8],
    local: SocketAddr,
    session_id: u64,
    prefer_opus: bool,
) -> Result<(Negotiated, String), MediaError> {
    let offer = parse(offer)?;
    let mut taken = false;
    let mut port = |_: usize, kind: &MediaKind| {
        let ok = *kind == MediaKind::Audio && !taken;
        taken |= ok;
        ok.then_some(local.port())
    };
    let ids = SessionIds {
        id: session_id,
        version: 1,
    };
    for codecs in preference(prefer_opus) {
        let caps = capabilities(local.ip(), codecs);
        if let Ok(ours) = sdp::answer(&offer, &caps, ids, &mut port) {
            let neg = outcome(&ours, &offer)?;
            return Ok((neg, ours.to_string()));
        }
    }
    Err(MediaError::NoCodec)
}

/// Our offer on `local`: PCMU, PCMA, Opus (Opus first with `prefer_opus`; no Opus without
/// the feature) and telephone-event at each codec's rate (kept to read the answer).
pub fn offer(local: SocketAddr, session_id: u64, prefer_opus: bool) -> Session {
    let ids = SessionIds {
        id: session_id,
        version: 1,
    };
    let codecs: Vec<sdp::Codec> = preference(prefer_opus).concat();
    sdp::offer(&capabilities(local.ip(), &codecs), ids, local.port())
}

/// What a phone's answer to our `offer` agreed on.
pub fn from_answer(offer: &Session, answer: &[u8]) -> Result<Negotiated, MediaError> {
    outcome(offer, &parse(answer)?)
}

/// Points a phone's description at the relay socket `local`: the first audio stream gets
/// our port, `c=` and the origin's address become ours (a held stream keeps `0.0.0.0`),
/// RTCP/ICE attributes and `a=rtcp-mux` go (we take RTCP on port + 1), other streams are
/// disabled. Returns the phone's own media address and the rewritten description.
pub fn rewrite(body: &[u8], local: SocketAddr) -> Result<(Peer, String), MediaError> {
    let mut s = parse(body)?;
    let index = audio_index(&s)?;
    let peer = peer_at(&s, index)?;
    let addr = match (peer.rtp.ip().is_unspecified(), local.ip()) {
        (false, ip) => ip,
        (true, IpAddr::V4(_)) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        (true, IpAddr::V6(_)) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    let mut ports = Vec::with_capacity(s.media.len());
    for (i, m) in s.media.iter_mut().enumerate() {
        if i == index {
            m.attributes.retain(|a| a.name != "rtcp-mux");
        } else {
            m.port = 0;
        }
        ports.push(local.port());
    }
    sdp::rewrite_connection(&mut s, addr, &ports).map_err(|e| MediaError::Sdp(e.to_string()))?;
    let c = Connection::new(local.ip());
    s.origin.addr_type = c.addr_type;
    s.origin.address = c.address;
    Ok((peer, s.to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const BARESIP: &str = "v=0\r\no=- 2262205921 914866152 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\na=tool:baresip 1.0.0\r\nm=audio 34848 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\na=ptime:20\r\n";

    fn sdp_with(media: &str) -> String {
        format!("v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n{media}")
    }

    #[test]
    fn answer_to_baresip() {
        let local: SocketAddr = "127.0.0.1:20000".parse().unwrap();
        let (neg, sdp) = answer(BARESIP.as_bytes(), local, 7, false).unwrap();
        assert_eq!(neg.peer.rtp, "127.0.0.1:34848".parse().unwrap());
        assert_eq!(neg.peer.rtcp, Some("127.0.0.1:34849".parse().unwrap()));
        assert_eq!(neg.codec, media::Codec::Pcmu);
        assert_eq!(neg.dtmf_pt, Some(101));
        assert!(sdp.contains("m=audio 20000 RTP/AVP 0 101\r\n"), "{sdp}");
        assert!(sdp.contains("c=IN IP4 127.0.0.1\r\n"));
        assert!(sdp.contains("a=sendrecv\r\n"));
    }

    #[test]
    fn pcma_only_and_no_common_codec() {
        let local: SocketAddr = "127.0.0.1:20000".parse().unwrap();
        let pcma = sdp_with("m=audio 4000 RTP/AVP 8\r\n");
        let (neg, _) = answer(pcma.as_bytes(), local, 1, false).unwrap();
        assert_eq!(
            (neg.codec, neg.payload_type, neg.dtmf_pt),
            (media::Codec::Pcma, 8, None)
        );
        let g729 = sdp_with("m=audio 4000 RTP/AVP 18\r\n");
        let e = answer(g729.as_bytes(), local, 1, false).unwrap_err();
        assert!(matches!(e, MediaError::NoCodec));
        assert_eq!(e.sip_status().0, 488);
        assert_eq!(
            answer(b"garbage", local, 1, false)
                .unwrap_err()
                .sip_status()
                .0,
            488
        );
    }

    const OPUS_ONLY: &str = "m=audio 4000 RTP/AVP 96 97\r\na=rtpmap:96 opus/48000/2\r\na=fmtp:96 useinbandfec=1\r\na=rtpmap:97 telephone-event/48000\r\n";
    const OPUS_AND_PCMA: &str = "m=audio 4000 RTP/AVP 96 8 101\r\na=rtpmap:96 opus/48000/2\r\na=rtpmap:101 telephone-event/8000\r\n";

    #[cfg(feature = "opus")]
    #[test]
    fn g711_when_offered_opus_when_it_is_the_only_common_codec() {
        let local: SocketAddr = "127.0.0.1:20000".parse().unwrap();
        let only = sdp_with(OPUS_ONLY);
        let (neg, sdp) = answer(only.as_bytes(), local, 1, false).unwrap();
        assert_eq!(
            (neg.codec, neg.payload_type, neg.dtmf_pt),
            (media::Codec::Opus, 96, Some(97))
        );
        assert!(sdp.contains("m=audio 20000 RTP/AVP 96 97\r\n"), "{sdp}");
        assert!(sdp.contains("a=rtpmap:96 opus/48000/2\r\n"), "{sdp}");
        // Opus listed first but G.711 offered too: G.711, unless Opus is preferred.
        let both = sdp_with(OPUS_AND_PCMA);
        let (neg, _) = answer(both.as_bytes(), local, 1, false).unwrap();
        assert_eq!((neg.codec, neg.dtmf_pt), (media::Codec::Pcma, Some(101)));
        let (neg, _) = answer(both.as_bytes(), local, 1, true).unwrap();
        assert_eq!((neg.codec, neg.dtmf_pt), (media::Codec::Opus, None));
        let (neg, _) = answer(BARESIP.as_bytes(), local, 1, true).unwrap();
        assert_eq!(neg.codec, media::Codec::Pcmu, "no Opus offered");
        // A phone answering our offer with Opus.
        let ours = offer(local, 2, false);
        let neg = from_answer(&ours, only.as_bytes()).unwrap();
        assert_eq!((neg.codec, neg.dtmf_pt), (media::Codec::Opus, Some(97)));
        assert!(
            offer(local, 2, true)
                .to_string()
                .contains("RTP/AVP 111 0 8 101 110\r\n")
        );
    }

    /// Built without libopus: Opus is neither offered nor accepted, `prefer_opus` changes
    /// nothing, G.711 works as before.
    #[cfg(not(feature = "opus"))]
    #[test]
    fn without_the_feature_opus_is_refused_and_g711_kept() {
        let local: SocketAddr = "127.0.0.1:20000".parse().unwrap();
        for prefer_opus in [false, true] {
            let e = answer(sdp_with(OPUS_ONLY).as_bytes(), local, 1, prefer_opus).unwrap_err();
            assert!(matches!(e, MediaError::NoCodec), "{e}");
            assert_eq!(e.sip_status().0, 488);
            let (neg, sdp) =
                answer(sdp_with(OPUS_AND_PCMA).as_bytes(), local, 1, prefer_opus).unwrap();
            assert_eq!((neg.codec, neg.dtmf_pt), (media::Codec::Pcma, Some(101)));
            assert!(!sdp.contains("opus"), "{sdp}");
            let ours = offer(local, 2, prefer_opus).to_string();
            assert!(ours.contains("m=audio 20000 RTP/AVP 0 8 101\r\n"), "{ours}");
            assert!(!ours.contains("opus") && !ours.contains("/48000"), "{ours}");
        }
        // A phone answering our offer with Opus anyway: nothing in common.
        let ours = offer(local, 2, false);
        assert!(matches!(
            from_answer(&ours, sdp_with(OPUS_ONLY).as_bytes()),
            Err(MediaError::NoCodec)
        ));
    }

    #[test]
    fn video_is_rejected_and_a_later_audio_stream_is_used() {
        let local: SocketAddr = "127.0.0.1:20000".parse().unwrap();
        let offer = sdp_with(
            "m=video 5000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\nm=audio 4000 RTP/AVP 0\r\n",
        );
        let (neg, sdp) = answer(offer.as_bytes(), local, 1, false).unwrap();
        assert_eq!(neg.peer.rtp, "10.0.0.1:4000".parse().unwrap());
        assert!(sdp.contains("m=video 0 RTP/AVP 96\r\n"), "{sdp}");
        assert!(sdp.contains("m=audio 20000 RTP/AVP 0\r\n"), "{sdp}");
    }

    #[test]
    fn our_offer_and_the_answer_to_it() {
        let local: SocketAddr = "127.0.0.1:20004".parse().unwrap();
        let ours = offer(local, 9, false);
        let text = ours.to_string();
        let m = if crate::OPUS {
            "m=audio 20004 RTP/AVP 0 8 111 101 110\r\n"
        } else {
            "m=audio 20004 RTP/AVP 0 8 101\r\n"
        };
        assert!(text.contains(m), "{text}");
        let neg = from_answer(&ours, BARESIP.as_bytes()).unwrap();
        assert_eq!(
            (neg.codec, neg.payload_type, neg.dtmf_pt),
            (media::Codec::Pcmu, 0, Some(101))
        );
        let pcma = sdp_with("m=audio 4000 RTP/AVP 8\r\na=rtcp-mux\r\n");
        let neg = from_answer(&ours, pcma.as_bytes()).unwrap();
        assert_eq!((neg.codec, neg.peer.rtcp), (media::Codec::Pcma, None));
    }

    #[test]
    fn rewrite_points_at_us_and_keeps_the_rest() {
        let local: SocketAddr = "127.0.0.1:20002".parse().unwrap();
        let (peer, out) = rewrite(BARESIP.as_bytes(), local).unwrap();
        assert_eq!(peer.rtp, "127.0.0.1:34848".parse().unwrap());
        assert!(out.contains("m=audio 20002 RTP/AVP 0 8 101\r\n"));
        assert!(out.contains("a=rtpmap:101 telephone-event/8000\r\n"));
        assert!(!out.contains("34848"));
        assert!(out.contains("o=- 2262205921 914866152 IN IP4 127.0.0.1\r\n"));
    }

    #[test]
    fn rewrite_passes_opus_hides_the_phone_and_keeps_hold() {
        let local: SocketAddr = "192.0.2.9:20002".parse().unwrap();
        let offer = "v=0\r\no=- 5 6 IN IP4 10.1.1.1\r\ns=-\r\nc=IN IP4 10.1.1.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 111 0\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 useinbandfec=1\r\na=rtcp:4009\r\na=rtcp-mux\r\nm=video 5000 RTP/AVP 96\r\nc=IN IP4 10.1.1.2\r\na=rtpmap:96 H264/90000\r\n";
        let (peer, out) = rewrite(offer.as_bytes(), local).unwrap();
        assert_eq!(peer.rtcp, None, "rtcp-mux");
        assert!(out.contains("m=audio 20002 RTP/AVP 111 0\r\n"), "{out}");
        assert!(out.contains("a=rtpmap:111 opus/48000/2\r\na=fmtp:111 useinbandfec=1\r\n"));
        assert!(out.contains("m=video 0 RTP/AVP 96\r\n"), "{out}");
        assert!(!out.contains("10.1.1") && !out.contains("rtcp"), "{out}");
        assert!(out.contains("o=- 5 6 IN IP4 192.0.2.9\r\n"));
        let held = "v=0\r\no=- 5 7 IN IP4 10.1.1.1\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
        let (peer, out) = rewrite(held.as_bytes(), local).unwrap();
        assert!(peer.rtp.ip().is_unspecified() && peer.held);
        assert!(out.contains("c=IN IP4 0.0.0.0\r\n"), "{out}");
    }

    #[test]
    fn hold_in_either_direction_is_seen() {
        let local: SocketAddr = "127.0.0.1:20002".parse().unwrap();
        let (peer, _) = rewrite(BARESIP.as_bytes(), local).unwrap();
        assert!(!peer.held, "sendrecv");
        for dir in ["sendonly", "recvonly", "inactive"] {
            let s = BARESIP.replace("a=sendrecv", &format!("a={dir}"));
            assert!(rewrite(s.as_bytes(), local).unwrap().0.held, "{dir}");
        }
        // Session-level direction applies to the stream (RFC 3264 §5.1).
        let s = sdp_with("a=inactive\r\nm=audio 4000 RTP/AVP 0\r\n");
        assert!(peer_of(s.as_bytes()).unwrap().held);
        assert!(
            !peer_of(sdp_with("m=audio 4000 RTP/AVP 0\r\n").as_bytes())
                .unwrap()
                .held
        );
    }

    #[test]
    fn media_level_connection_wins() {
        let s = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\nc=IN IP4 10.0.0.2\r\na=rtcp:4005\r\n";
        let p = peer_of(s.as_bytes()).unwrap();
        assert_eq!(p.rtp, "10.0.0.2:4000".parse().unwrap());
        assert_eq!(p.rtcp, Some("10.0.0.2:4005".parse().unwrap()));
    }
}
