//! SDP for the engine's endpoints: the answer to a phone's offer and our own offer (RFC 3264
//! via the `sdp` crate), and the rewrite that anchors a call (RFC 4566 `c=`/`m=` port of the
//! first audio stream replaced by ours, everything else kept so the two phones still
//! negotiate codecs end to end).
//!
//! Does not: support more than one audio stream (others are kept in a rewrite but their
//! media is not relayed), ICE, or SRTP.

use std::net::{IpAddr, SocketAddr};

use crate::MediaError;

/// Where one peer's media goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub rtp: SocketAddr,
    /// `None` with `a=rtcp-mux`.
    pub rtcp: Option<SocketAddr>,
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

fn text(sdp: &[u8]) -> Result<&str, MediaError> {
    std::str::from_utf8(sdp).map_err(|_| MediaError::Sdp("not UTF-8".into()))
}

/// The peer address of the first audio stream: `c=` (media level wins, RFC 4566 §5.7), the
/// `m=` port, and `a=rtcp` (RFC 3605) or port + 1 unless `a=rtcp-mux` (RFC 5761).
pub fn peer_of(sdp: &str) -> Result<Peer, MediaError> {
    let mut session_ip: Option<IpAddr> = None;
    let mut media_ip: Option<IpAddr> = None;
    let mut port: Option<u16> = None;
    let mut rtcp: Option<u16> = None;
    let mut mux = false;
    let mut in_audio = false;
    let mut seen_media = false;
    for line in sdp.lines() {
        let line = line.trim_end();
        if let Some(m) = line.strip_prefix("m=") {
            if seen_media && in_audio {
                break;
            }
            seen_media = true;
            let mut f = m.split_whitespace();
            in_audio = f.next() == Some("audio") && port.is_none();
            if in_audio {
                port = f.next().and_then(|p| p.split('/').next()?.parse().ok());
            }
            continue;
        }
        if let Some(c) = line.strip_prefix("c=") {
            let ip = c
                .split_whitespace()
                .nth(2)
                .and_then(|a| a.split('/').next()?.parse::<IpAddr>().ok());
            if !seen_media {
                session_ip = ip;
            } else if in_audio {
                media_ip = ip;
            }
            continue;
        }
        if in_audio {
            if let Some(r) = line.strip_prefix("a=rtcp:") {
                rtcp = r.split_whitespace().next().and_then(|p| p.parse().ok());
            } else if line == "a=rtcp-mux" {
                mux = true;
            }
        }
    }
    let ip = media_ip
        .or(session_ip)
        .ok_or_else(|| MediaError::Sdp("no connection address".into()))?;
    let port = port.ok_or_else(|| MediaError::Sdp("no audio stream".into()))?;
    let rtp = SocketAddr::new(ip, port);
    let rtcp = if mux {
        None
    } else {
        Some(SocketAddr::new(
            ip,
            rtcp.unwrap_or_else(|| port.saturating_add(1)),
        ))
    };
    Ok(Peer { rtp, rtcp })
}

/// Replaces the connection address and the first audio port with `local` (and drops
/// `a=rtcp:` rows of that stream, RTCP being on port + 1 of ours). Returns the original
/// peer and the rewritten SDP.
pub fn rewrite(sdp: &[u8], local: SocketAddr) -> Result<(Peer, String), MediaError> {
    let sdp = text(sdp)?;
    let peer = peer_of(sdp)?;
    let family = if local.is_ipv4() { "IP4" } else { "IP6" };
    let mut out = String::with_capacity(sdp.len() + 16);
    let mut in_audio = false;
    let mut done_audio = false;
    for line in sdp.lines() {
        let line = line.trim_end();
        if let Some(m) = line.strip_prefix("m=") {
            let mut f = m.splitn(3, ' ');
            let kind = f.next().unwrap_or_default();
            let _port = f.next();
            let rest = f.next().unwrap_or_default();
            in_audio = kind == "audio" && !done_audio;
            if in_audio {
                done_audio = true;
                out.push_str(&format!("m=audio {} {rest}\r\n", local.port()));
                continue;
            }
        } else if line.starts_with("c=") {
            out.push_str(&format!("c=IN {family} {}\r\n", local.ip()));
            continue;
        } else if line.starts_with("o=") {
            // Keep the origin but point it at us (it names the address of the creator).
            let f: Vec<&str> = line.split(' ').collect();
            if let [o, id, ver, net, _, _] = f.as_slice() {
                out.push_str(&format!("{o} {id} {ver} {net} {family} {}\r\n", local.ip()));
                continue;
            }
        } else if in_audio && (line.starts_with("a=rtcp:") || line == "a=rtcp-mux") {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    Ok((peer, out))
}

/// Our answer to a phone's offer, and what was agreed.
pub fn answer(
    offer: &[u8],
    local: SocketAddr,
    session_id: u64,
) -> Result<(Negotiated, String), MediaError> {
    let offer = text(offer)?;
    let peer = peer_of(offer)?;
    let (codec, payload_type, dtmf_pt) = choose(offer)?;
    let neg = Negotiated {
        peer,
        codec,
        payload_type,
        dtmf_pt,
    };
    let sdp = render(local, session_id, &[(codec, payload_type)], dtmf_pt);
    Ok((neg, sdp))
}

/// Our offer: PCMU, PCMA and telephone-event.
pub fn offer(local: SocketAddr, session_id: u64) -> String {
    render(
        local,
        session_id,
        &[(media::Codec::Pcmu, 0), (media::Codec::Pcma, 8)],
        Some(101),
    )
}

/// What a phone's answer to our offer agreed on: its first format.
pub fn from_answer(answer: &[u8]) -> Result<Negotiated, MediaError> {
    let answer = text(answer)?;
    let peer = peer_of(answer)?;
    let (codec, payload_type, dtmf_pt) = choose(answer)?;
    Ok(Negotiated {
        peer,
        codec,
        payload_type,
        dtmf_pt,
    })
}

/// The first G.711 format of the audio stream, and telephone-event/8000 if present.
fn choose(sdp: &str) -> Result<(media::Codec, u8, Option<u8>), MediaError> {
    let mut formats: Vec<u8> = Vec::new();
    let mut maps: Vec<(u8, String)> = Vec::new();
    let mut in_audio = false;
    for line in sdp.lines() {
        let line = line.trim_end();
        if let Some(m) = line.strip_prefix("m=") {
            if in_audio {
                break;
            }
            let f: Vec<&str> = m.split_whitespace().collect();
            in_audio = f.first() == Some(&"audio");
            if in_audio {
                formats = f.iter().skip(3).filter_map(|p| p.parse().ok()).collect();
            }
        } else if in_audio && let Some(r) = line.strip_prefix("a=rtpmap:") {
            let mut it = r.splitn(2, ' ');
            if let (Some(pt), Some(enc)) = (it.next().and_then(|p| p.parse().ok()), it.next()) {
                maps.push((pt, enc.to_ascii_lowercase()));
            }
        }
    }
    let name_of = |pt: u8| maps.iter().find(|(p, _)| *p == pt).map(|(_, e)| e.as_str());
    let mut codec = None;
    for pt in &formats {
        let c = match (pt, name_of(*pt)) {
            (_, Some(e)) if e.starts_with("pcmu/8000") => Some(media::Codec::Pcmu),
            (_, Some(e)) if e.starts_with("pcma/8000") => Some(media::Codec::Pcma),
            (0, None) => Some(media::Codec::Pcmu),
            (8, None) => Some(media::Codec::Pcma),
            _ => None,
        };
        if let Some(c) = c {
            codec = Some((c, *pt));
            break;
        }
    }
    let (codec, pt) = codec.ok_or(MediaError::NoCodec)?;
    let dtmf = formats
        .iter()
        .copied()
        .find(|p| name_of(*p).is_some_and(|e| e.starts_with("telephone-event/8000")));
    Ok((codec, pt, dtmf))
}

fn render(
    local: SocketAddr,
    session_id: u64,
    formats: &[(media::Codec, u8)],
    dtmf: Option<u8>,
) -> String {
    let family = if local.is_ipv4() { "IP4" } else { "IP6" };
    let ip = local.ip();
    let mut pts: Vec<String> = formats.iter().map(|(_, pt)| pt.to_string()).collect();
    if let Some(d) = dtmf {
        pts.push(d.to_string());
    }
    let mut s = format!(
        "v=0\r\no=switchboard {session_id} 1 IN {family} {ip}\r\ns=switchboard\r\nc=IN {family} {ip}\r\nt=0 0\r\nm=audio {} RTP/AVP {}\r\n",
        local.port(),
        pts.join(" ")
    );
    for (codec, pt) in formats {
        let name = match codec {
            media::Codec::Pcma => "PCMA",
            _ => "PCMU",
        };
        s.push_str(&format!("a=rtpmap:{pt} {name}/8000\r\n"));
    }
    if let Some(d) = dtmf {
        s.push_str(&format!(
            "a=rtpmap:{d} telephone-event/8000\r\na=fmtp:{d} 0-15\r\n"
        ));
    }
    s.push_str("a=ptime:20\r\na=sendrecv\r\n");
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const BARESIP: &str = "v=0\r\no=- 2262205921 914866152 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\na=tool:baresip 1.0.0\r\nm=audio 34848 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\na=ptime:20\r\n";

    #[test]
    fn answer_to_baresip() {
        let local: SocketAddr = "127.0.0.1:20000".parse().unwrap();
        let (neg, sdp) = answer(BARESIP.as_bytes(), local, 7).unwrap();
        assert_eq!(neg.peer.rtp, "127.0.0.1:34848".parse().unwrap());
        assert_eq!(neg.peer.rtcp, Some("127.0.0.1:34849".parse().unwrap()));
        assert_eq!(neg.codec, media::Codec::Pcmu);
        assert_eq!(neg.dtmf_pt, Some(101));
        assert!(sdp.contains("m=audio 20000 RTP/AVP 0 101\r\n"), "{sdp}");
        assert!(sdp.contains("c=IN IP4 127.0.0.1\r\n"));
    }

    #[test]
    fn pcma_only_and_no_common_codec() {
        let local: SocketAddr = "127.0.0.1:20000".parse().unwrap();
        let pcma = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 8\r\n";
        let (neg, _) = answer(pcma.as_bytes(), local, 1).unwrap();
        assert_eq!(
            (neg.codec, neg.payload_type, neg.dtmf_pt),
            (media::Codec::Pcma, 8, None)
        );
        let g729 = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 18\r\n";
        assert!(matches!(
            answer(g729.as_bytes(), local, 1),
            Err(MediaError::NoCodec)
        ));
        assert!(answer(b"garbage", local, 1).is_err());
    }

    #[test]
    fn rewrite_points_at_us_and_keeps_the_rest() {
        let local: SocketAddr = "127.0.0.1:20002".parse().unwrap();
        let (peer, out) = rewrite(BARESIP.as_bytes(), local).unwrap();
        assert_eq!(peer.rtp, "127.0.0.1:34848".parse().unwrap());
        assert!(out.contains("m=audio 20002 RTP/AVP 0 8 101\r\n"));
        assert!(out.contains("a=rtpmap:101 telephone-event/8000\r\n"));
        assert!(!out.contains("34848"));
    }

    #[test]
    fn media_level_connection_wins() {
        let s = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\nc=IN IP4 10.0.0.2\r\na=rtcp:4005\r\n";
        let p = peer_of(s).unwrap();
        assert_eq!(p.rtp, "10.0.0.2:4000".parse().unwrap());
        assert_eq!(p.rtcp, Some("10.0.0.2:4005".parse().unwrap()));
    }
}
