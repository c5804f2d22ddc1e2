//! Serialises a [`Document`] as PIDF: the PIDF namespace as default (so `<basic>` has no
//! prefix) and the literal prefixes `dm:`, `rpid:`, `caps:` and `lt:` (baresip matches
//! `<basic>open</basic>` and `<rpid:busy/>` with a regex, see phones/NOTES.md §1.5).
//! Element order follows the schemas (RFC 3863 §4.1, RFC 4479 §6, RFC 4480 §5). All text and
//! attribute values are escaped; characters XML 1.0 cannot carry are dropped.

use std::fmt::Write as _;

use super::{
    Device, Document, MediaCaps, NS_CAPS, NS_DM, NS_PIDF, NS_RPID, Note, Person, Tuple, UserInput,
};

/// RFC 4589 location types, used for `<rpid:place-type>` tokens.
const NS_LT: &str = "urn:ietf:params:xml:ns:location-type";

pub(super) fn document(doc: &Document) -> String {
    let mut out = String::with_capacity(512);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = write!(
        out,
        "<presence xmlns=\"{NS_PIDF}\" xmlns:dm=\"{NS_DM}\" xmlns:rpid=\"{NS_RPID}\""
    );
    if doc.tuples.iter().any(|t| t.caps != MediaCaps::default()) {
        let _ = write!(out, " xmlns:caps=\"{NS_CAPS}\"");
    }
    if doc
        .persons
        .iter()
        .any(|p| p.place_type.as_deref().is_some_and(is_token))
    {
        let _ = write!(out, " xmlns:lt=\"{NS_LT}\"");
    }
    let _ = writeln!(out, " entity=\"{}\">", esc(&doc.entity));
    for t in &doc.tuples {
        tuple(&mut out, t);
    }
    for n in &doc.notes {
        note(&mut out, "note", n);
    }
    for p in &doc.persons {
        person(&mut out, p);
    }
    for d in &doc.devices {
        device(&mut out, d);
    }
    out.push_str("</presence>\n");
    out
}

fn tuple(out: &mut String, t: &Tuple) {
    let _ = writeln!(out, " <tuple id=\"{}\">", esc(&t.id));
    out.push_str("  <status>");
    if let Some(b) = t.basic {
        let _ = write!(out, "<basic>{}</basic>", b.as_str());
    }
    out.push_str("</status>\n");
    opt(out, "dm:deviceID", t.device_id.as_deref());
    opt(out, "rpid:class", t.class.as_deref());
    user_input(out, t.user_input);
    if t.caps != MediaCaps::default() {
        out.push_str("  <caps:servcaps>");
        for (name, v) in [
            ("audio", t.caps.audio),
            ("video", t.caps.video),
            ("text", t.caps.text),
        ] {
            if let Some(v) = v {
                let _ = write!(out, "<caps:{name}>{v}</caps:{name}>");
            }
        }
        out.push_str("</caps:servcaps>\n");
    }
    if let Some(c) = &t.contact {
        match t.priority {
            Some(p) => {
                let _ = writeln!(out, "  <contact priority=\"{p}\">{}</contact>", esc(c));
            }
            None => opt(out, "contact", Some(c)),
        }
    }
    for n in &t.notes {
        note(out, "note", n);
    }
    opt(out, "timestamp", t.timestamp.as_deref());
    out.push_str(" </tuple>\n");
}

fn person(out: &mut String, p: &Person) {
    let _ = writeln!(out, " <dm:person id=\"{}\">", esc(&p.id));
    if !p.activities.is_empty() {
        out.push_str("  <rpid:activities>");
        for a in &p.activities {
            match a {
                super::Activity::Other(text) => {
                    let _ = write!(out, "<rpid:other>{}</rpid:other>", esc(text));
                }
                a => {
                    let _ = write!(out, "<rpid:{}/>", a.token());
                }
            }
        }
        out.push_str("</rpid:activities>\n");
    }
    opt(out, "rpid:class", p.class.as_deref());
    match p.place_type.as_deref() {
        Some(t) if is_token(t) => {
            let _ = writeln!(out, "  <rpid:place-type><lt:{t}/></rpid:place-type>");
        }
        Some(t) => {
            let _ = writeln!(
                out,
                "  <rpid:place-type><rpid:other>{}</rpid:other></rpid:place-type>",
                esc(t)
            );
        }
        None => {}
    }
    user_input(out, p.user_input);
    for n in &p.notes {
        note(out, "dm:note", n);
    }
    opt(out, "dm:timestamp", p.timestamp.as_deref());
    out.push_str(" </dm:person>\n");
}

fn device(out: &mut String, d: &Device) {
    let _ = writeln!(out, " <dm:device id=\"{}\">", esc(&d.id));
    user_input(out, d.user_input);
    opt(out, "dm:deviceID", d.device_id.as_deref());
    for n in &d.notes {
        note(out, "dm:note", n);
    }
    opt(out, "dm:timestamp", d.timestamp.as_deref());
    out.push_str(" </dm:device>\n");
}

fn user_input(out: &mut String, u: Option<UserInput>) {
    if let Some(u) = u {
        let _ = writeln!(out, "  <rpid:user-input>{}</rpid:user-input>", u.as_str());
    }
}

fn opt(out: &mut String, name: &str, value: Option<&str>) {
    if let Some(v) = value {
        let _ = writeln!(out, "  <{name}>{}</{name}>", esc(v));
    }
}

fn note(out: &mut String, name: &str, n: &Note) {
    match &n.lang {
        Some(l) => {
            let _ = writeln!(
                out,
                "  <{name} xml:lang=\"{}\">{}</{name}>",
                esc(l),
                esc(&n.text)
            );
        }
        None => {
            let _ = writeln!(out, "  <{name}>{}</{name}>", esc(&n.text));
        }
    }
}

/// An ASCII NCName usable as an element name (`residence`, `office` …).
fn is_token(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !s.to_ascii_lowercase().starts_with("xml")
}

/// Escapes text for element content and attribute values alike; drops characters that
/// XML 1.0 does not allow (§2.2) and encodes whitespace that parsers would normalise.
pub(super) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#xD;"),
            '\n' => out.push_str("&#xA;"),
            '\t' => out.push_str("&#x9;"),
            c if allowed(c) => out.push(c),
            _ => {}
        }
    }
    out
}

/// XML 1.0 `Char` (§2.2).
pub(super) fn allowed(c: char) -> bool {
    matches!(c, '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
        || matches!(c, '\t' | '\n' | '\r')
}
