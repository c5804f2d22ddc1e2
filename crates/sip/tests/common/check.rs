//! Compares a parsed message with the model it was printed from.

use sip::{ContactValue, HeaderName, Message, NameAddr};

use super::model::{Addr, Kind, Model, Uri};

fn uri_eq(got: &sip::Uri<'_>, want: &Uri, what: &str) -> Result<(), String> {
    let text = want.text();
    if got.raw() != text {
        return Err(format!("{what}: uri {:?} != {text:?}", got.raw()));
    }
    let s = got.as_sip().ok_or(format!("{what}: not a SIP URI"))?;
    let ok = s.secure == want.secure
        && s.user == want.user.as_deref()
        && s.host_text == want.host.text()
        && s.port == want.port
        && want.params.iter().all(|(k, _)| {
            // Lookups find the first parameter of a name.
            let first = want.params.iter().find(|(k2, _)| k2 == k).map(|(_, v)| v);
            s.param(k) == first.map(|v| v.as_deref().unwrap_or(""))
        });
    if ok {
        Ok(())
    } else {
        Err(format!("{what}: {s:?} != {want:?}"))
    }
}

fn addr_eq(
    got: Option<NameAddr<'_>>,
    want: &Addr,
    what: &str,
    contact: bool,
) -> Result<(), String> {
    let got = got.ok_or(format!("{what}: did not parse"))?;
    uri_eq(&got.uri, &want.uri, what)?;
    let display = want.display.as_ref().map(|d| d.expected());
    if got.display() != display {
        return Err(format!(
            "{what}: display {:?} != {display:?}",
            got.display()
        ));
    }
    if !contact && got.tag() != want.tag.as_deref() {
        return Err(format!("{what}: tag {:?} != {:?}", got.tag(), want.tag));
    }
    if contact {
        let q = want.q.as_ref().map(|q| q.parse::<f32>().unwrap());
        if got.expires() != want.expires || got.q() != q {
            return Err(format!("{what}: expires/q {got:?} != {want:?}"));
        }
    }
    Ok(())
}

/// Every typed accessor returns what the model holds.
pub fn assert_matches(m: &Message, want: &Model) -> Result<(), String> {
    match &want.kind {
        Kind::Request { method, uri } => {
            if m.method() != method || !m.is_request() {
                return Err(format!("method {:?} != {method:?}", m.method()));
            }
            uri_eq(
                &m.uri().ok_or("request-uri did not parse")?,
                uri,
                "request-uri",
            )?;
        }
        Kind::Response { code, reason, .. } => {
            if m.status() != Some(*code) || m.reason() != reason {
                return Err(format!("status {:?} {:?}", m.status(), m.reason()));
            }
        }
    }
    let vias = m.vias();
    if vias.len() != want.vias.len() {
        return Err(format!("{} vias, want {}", vias.len(), want.vias.len()));
    }
    for (got, w) in vias.iter().zip(&want.vias) {
        let got = got.as_ref().ok_or("via did not parse")?;
        let ok = got.transport == w.transport
            && got.host_text == w.host.text()
            && got.port == w.port
            && got.branch() == Some(w.branch.as_str())
            && got.param("rport").is_some() == w.rport
            && got.param("received") == w.received.as_deref();
        if !ok {
            return Err(format!("via {got:?} != {w:?}"));
        }
    }
    if m.top_via().map(|v| v.branch().map(str::to_owned)) != Some(Some(want.vias[0].branch.clone()))
    {
        return Err("top via".into());
    }
    addr_eq(m.from(), &want.from, "from", false)?;
    addr_eq(m.to(), &want.to, "to", false)?;
    if m.call_id() != Some(want.call_id.as_str()) {
        return Err(format!("call-id {:?}", m.call_id()));
    }
    let cseq = m.cseq().ok_or("cseq")?;
    if cseq.seq != want.cseq || cseq.method != want.method() {
        return Err(format!("cseq {cseq:?}"));
    }
    let contacts = m.contacts();
    if contacts.len() != want.contacts.len() {
        return Err(format!(
            "{} contacts, want {}",
            contacts.len(),
            want.contacts.len()
        ));
    }
    for (got, w) in contacts.into_iter().zip(&want.contacts) {
        let ContactValue::Addr(a) = got else {
            return Err("contact *".into());
        };
        addr_eq(Some(a), w, "contact", true)?;
    }
    if m.max_forwards() != want.max_forwards {
        return Err(format!("max-forwards {:?}", m.max_forwards()));
    }
    for (k, _) in &want.extras {
        // Names are case-insensitive and a lookup finds the first row.
        let (_, v) = want
            .extras
            .iter()
            .find(|(k2, _)| k2.eq_ignore_ascii_case(k))
            .unwrap();
        if m.header_named(k) != Some(v.as_str()) {
            return Err(format!("{k}: {:?} != {v:?}", m.header_named(k)));
        }
    }
    if m.content_type() != want.content_type.as_deref() {
        return Err(format!("content-type {:?}", m.content_type()));
    }
    if m.body() != want.body.as_slice() || m.content_length() != Ok(Some(want.body.len())) {
        return Err("body".into());
    }
    if m.header_values(HeaderName::Via).len() != want.vias.len() {
        return Err("via values".into());
    }
    Ok(())
}
