//! Transaction matching keys: client side §17.1.3, server side §17.2.3 (RFC 3261 branch or
//! the RFC 2543 fallback), and the index that finds the INVITE a 2xx ACK belongs to.

use std::sync::Arc;

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

/// §17.2.3 server transaction key, stored once and compactly: the fields are written into
/// one shared byte string (a kind byte, then length-prefixed fields), so a key costs one
/// allocation whatever its kind, the index and the transaction share it, and an RFC 2543 key
/// does not make every entry as large as its seven fields. ACK is keyed as INVITE so that it
/// finds its transaction.
///
/// Two keys are equal exactly when their fields are: every field is length-prefixed, so no
/// field's bytes can run into the next one.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ServerKey(Arc<[u8]>);

/// The branch carries the magic cookie: branch, sent-by and method identify the transaction.
const BRANCH: u8 = 0;
/// RFC 2543 peers: Request-URI, From tag, Call-ID, CSeq, top Via and To tag.
const LEGACY: u8 = 1;

impl ServerKey {
    /// The key of the transaction a request belongs to (ACK maps to INVITE).
    pub(crate) fn of(msg: &Message) -> Option<ServerKey> {
        Self::build(msg, Self::method_of(msg), ToTag::Message)
    }

    /// The key of the INVITE a CANCEL targets: §9.2 applies the §17.2.3 rules as if the
    /// CANCEL were the INVITE.
    pub(crate) fn cancelled_by(msg: &Message) -> Option<ServerKey> {
        Self::build(msg, "INVITE", ToTag::Message)
    }

    /// The key of the request a response answers, when the request's key was an RFC 3261
    /// one: the response copies the top Via (sent-by and branch unchanged) and the CSeq.
    /// Legacy keys need the Request-URI, which a response lacks.
    pub(crate) fn answered_by(response: &Message) -> Option<ServerKey> {
        let method = response.cseq()?.method;
        Self::build(response, method, ToTag::Message).filter(|k| !k.is_legacy())
    }

    /// For an RFC 2543 ACK: the key of an INVITE sent without a To tag. The ACK carries the
    /// tag of the response, which the caller then compares (§17.2.3). `None` for an RFC 3261
    /// key or an ACK without a To tag (its key is already the untagged one).
    pub(crate) fn without_to_tag(msg: &Message) -> Option<ServerKey> {
        msg.to()?.tag()?;
        Self::build(msg, Self::method_of(msg), ToTag::Absent).filter(ServerKey::is_legacy)
    }

    pub(crate) fn shared(&self) -> &Arc<[u8]> {
        &self.0
    }

    pub(crate) fn is_legacy(&self) -> bool {
        self.0.first() == Some(&LEGACY)
    }

    /// Bytes held by the key besides its handle: the shared allocation (two reference
    /// counts and the encoded fields).
    #[cfg(test)]
    pub(crate) fn heap_bytes(&self) -> usize {
        2 * size_of::<usize>() + self.0.len()
    }

    fn method_of(msg: &Message) -> &str {
        match msg.method() {
            "ACK" => "INVITE",
            m => m,
        }
    }

    fn build(msg: &Message, method: &str, to_tag: ToTag) -> Option<ServerKey> {
        let via = msg.top_via()?;
        let mut k = Vec::with_capacity(96);
        if via.is_rfc3261_branch() {
            k.push(BRANCH);
            put(&mut k, method.as_bytes());
            put(&mut k, via.branch()?.as_bytes());
            // Host's Display prints addresses canonically and names as written.
            let host = via.host.to_string();
            put_with(
                &mut k,
                host.len(),
                host.bytes().map(|b| b.to_ascii_lowercase()),
            );
            put_opt(
                &mut k,
                via.port.map(u16::to_be_bytes).as_ref().map(|p| &p[..]),
            );
            return Some(ServerKey(k.into()));
        }
        let top_via = msg.header_values(HeaderName::Via).first().copied()?;
        let via_bytes = || top_via.bytes().filter(|c| *c != b' ' && *c != b'\t');
        k.push(LEGACY);
        put(&mut k, method.as_bytes());
        put(&mut k, msg.uri_str().as_bytes());
        put_opt(&mut k, msg.from()?.tag().map(str::as_bytes));
        put(&mut k, msg.call_id()?.as_bytes());
        k.extend_from_slice(&msg.cseq()?.seq.to_be_bytes());
        put_with(&mut k, via_bytes().count(), via_bytes());
        let tag = msg.to()?.tag();
        put_opt(
            &mut k,
            match to_tag {
                ToTag::Message => tag.map(str::as_bytes),
                ToTag::Absent => None,
            },
        );
        Some(ServerKey(k.into()))
    }
}

/// Where a legacy key's To tag comes from.
#[derive(Clone, Copy)]
enum ToTag {
    Message,
    Absent,
}

/// Appends a field: its length (LEB128) then its bytes.
fn put(k: &mut Vec<u8>, field: &[u8]) {
    put_with(k, field.len(), field.iter().copied());
}

fn put_with(k: &mut Vec<u8>, len: usize, bytes: impl Iterator<Item = u8>) {
    let mut n = len;
    while n >= 0x80 {
        k.push((n & 0x7f) as u8 | 0x80);
        n >>= 7;
    }
    k.push(n as u8);
    k.extend(bytes);
}

/// An optional field: a presence byte, then the field.
fn put_opt(k: &mut Vec<u8>, field: Option<&[u8]>) {
    match field {
        None => k.push(0),
        Some(f) => {
            k.push(1);
            put(k, f);
        }
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
        assert_eq!(
            Some(invite),
            ServerKey::without_to_tag(&req(via, "ACK", "<sip:b@example.com>;tag=t"))
        );
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
