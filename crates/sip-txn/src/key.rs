//! Transaction matching keys: client side §17.1.3, server side §17.2.3 (RFC 3261 branch or
//! the RFC 2543 fallback), and the index that finds the INVITE a 2xx ACK belongs to.

use sip::{HeaderName, Message};

/// §17.1.3: a response matches the client transaction whose request had the same top Via
/// branch and the same CSeq method.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ClientKey {
    branch: String,
    method: String,
}

impl ClientKey {
    /// The key of a request or a response; `None` without a top Via branch or a CSeq.
    pub(crate) fn of(msg: &Message) -> Option<ClientKey> {
        let via = msg.top_via()?;
        let branch = via.branch()?;
        let cseq = msg.cseq()?;
        Some(ClientKey {
            branch: branch.to_owned(),
            method: cseq.method.to_owned(),
        })
    }
}

/// §17.2.3 server transaction key. ACK is keyed as INVITE so that it finds its transaction.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum ServerKey {
    /// The branch carries the magic cookie: branch, sent-by and method identify the
    /// transaction.
    Branch {
        branch: String,
        host: String,
        port: Option<u16>,
        method: String,
    },
    /// RFC 2543 peers: Request-URI, To tag, From tag, Call-ID, CSeq and top Via.
    Legacy {
        uri: String,
        to_tag: Option<String>,
        from_tag: Option<String>,
        call_id: String,
        seq: u32,
        method: String,
        via: String,
    },
}

impl ServerKey {
    /// The key of the transaction a request belongs to (ACK maps to INVITE).
    pub(crate) fn of(msg: &Message) -> Option<ServerKey> {
        let method = match msg.method() {
            "ACK" => "INVITE",
            m => m,
        };
        Self::build(msg, method)
    }

    /// The key of the INVITE a CANCEL targets: §9.2 applies the §17.2.3 rules as if the
    /// CANCEL were the INVITE.
    pub(crate) fn cancelled_by(msg: &Message) -> Option<ServerKey> {
        Self::build(msg, "INVITE")
    }

    fn build(msg: &Message, method: &str) -> Option<ServerKey> {
        let via = msg.top_via()?;
        if via.is_rfc3261_branch() {
            return Some(ServerKey::Branch {
                branch: via.branch()?.to_owned(),
                // Host's Display prints addresses canonically and names as written.
                host: via.host.to_string().to_ascii_lowercase(),
                port: via.port,
                method: method.to_owned(),
            });
        }
        let top_via = msg.header_values(HeaderName::Via).first().map(|v| {
            v.chars()
                .filter(|c| *c != ' ' && *c != '\t')
                .collect::<String>()
        })?;
        Some(ServerKey::Legacy {
            uri: msg.uri_str().to_owned(),
            to_tag: msg.to()?.tag().map(str::to_owned),
            from_tag: msg.from()?.tag().map(str::to_owned),
            call_id: msg.call_id()?.to_owned(),
            seq: msg.cseq()?.seq,
            method: method.to_owned(),
            via: top_via,
        })
    }

    /// For an RFC 2543 ACK: the key of an INVITE sent without a To tag. The ACK carries the
    /// tag of the response, which the caller then compares (§17.2.3).
    pub(crate) fn without_to_tag(&self) -> Option<ServerKey> {
        match self {
            ServerKey::Legacy {
                to_tag: Some(_),
                uri,
                from_tag,
                call_id,
                seq,
                method,
                via,
            } => Some(ServerKey::Legacy {
                uri: uri.clone(),
                to_tag: None,
                from_tag: from_tag.clone(),
                call_id: call_id.clone(),
                seq: *seq,
                method: method.clone(),
                via: via.clone(),
            }),
            _ => None,
        }
    }

    pub(crate) fn is_legacy(&self) -> bool {
        matches!(self, ServerKey::Legacy { .. })
    }
}

/// The 2xx ACK has a new branch (§17.1.1.3), so it is found by Call-ID and CSeq number
/// (§13.3.1.4); the From tag is compared after the lookup.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct AckKey {
    call_id: String,
    seq: u32,
}

impl AckKey {
    pub(crate) fn of(msg: &Message) -> Option<AckKey> {
        Some(AckKey {
            call_id: msg.call_id()?.to_owned(),
            seq: msg.cseq()?.seq,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(via: &str, method: &str, to: &str) -> Message {
        let text = format!(
            "{method} sip:b@example.com SIP/2.0\r\nVia: {via}\r\nFrom: <sip:a@example.com>;tag=f\r\nTo: {to}\r\nCall-ID: c1\r\nCSeq: 5 {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        );
        sip::parse_datagram(text.into_bytes()).unwrap()
    }

    #[test]
    fn branch_key_maps_ack_and_cancel_to_invite() {
        let via = "SIP/2.0/UDP HOST.example.com:5060;branch=z9hG4bKx";
        let invite = ServerKey::of(&req(via, "INVITE", "<sip:b@example.com>")).unwrap();
        let ack = ServerKey::of(&req(via, "ACK", "<sip:b@example.com>;tag=t")).unwrap();
        let cancel = req(via, "CANCEL", "<sip:b@example.com>");
        assert_eq!(invite, ack);
        assert_ne!(invite, ServerKey::of(&cancel).unwrap());
        assert_eq!(invite, ServerKey::cancelled_by(&cancel).unwrap());
        let other_host = req(
            "SIP/2.0/UDP other.example.com:5060;branch=z9hG4bKx",
            "INVITE",
            "<sip:b@example.com>",
        );
        assert_ne!(invite, ServerKey::of(&other_host).unwrap());
    }

    #[test]
    fn legacy_key_uses_dialog_fields() {
        let via = "SIP/2.0/UDP h.example.com";
        let invite = ServerKey::of(&req(via, "INVITE", "<sip:b@example.com>")).unwrap();
        assert!(invite.is_legacy());
        let ack = ServerKey::of(&req(via, "ACK", "<sip:b@example.com>;tag=t")).unwrap();
        assert_ne!(invite, ack);
        assert_eq!(Some(invite), ack.without_to_tag());
        let spaced = ServerKey::of(&req(
            "SIP/2.0/UDP  h.example.com",
            "INVITE",
            "<sip:b@example.com>",
        ));
        assert_eq!(
            spaced,
            ServerKey::of(&req(via, "INVITE", "<sip:b@example.com>"))
        );
    }

    #[test]
    fn client_key_needs_branch() {
        let with = req(
            "SIP/2.0/UDP h;branch=z9hG4bKq",
            "OPTIONS",
            "<sip:b@example.com>",
        );
        assert!(ClientKey::of(&with).is_some());
        let without = req("SIP/2.0/UDP h", "OPTIONS", "<sip:b@example.com>");
        assert!(ClientKey::of(&without).is_none());
    }
}
