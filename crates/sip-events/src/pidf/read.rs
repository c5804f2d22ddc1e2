//! Interprets the element tree as a PIDF document (RFC 3863 §4, RFC 4479 §3, RFC 4480 §3,
//! RFC 5196 §3). Strict on the PIDF core (`<basic>`, `entity`, ids, contact priority);
//! tolerant on RPID/caps values (an unknown `user-input` or activity is ignored, as RFC 4480
//! extension values may be); elements it does not model are skipped unless they carry
//! `mustUnderstand="true"` (RFC 3863 §4.1.5), which refuses the document.

use super::tree::{Element, NS_XML};
use super::{
    Activity, Basic, Device, Document, MediaCaps, NS_CAPS, NS_DM, NS_PIDF, NS_RPID, Note, Person,
    PidfError, Priority, Tuple, UserInput,
};

pub(super) fn document(root: &Element) -> Result<Document, PidfError> {
    if !root.is(NS_PIDF, "presence") {
        return Err(PidfError::NotPidf);
    }
    let entity = root
        .attr("", "entity")
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .ok_or(PidfError::MissingEntity)?;
    let mut doc = Document::new(entity);
    for c in &root.children {
        match (c.ns.as_str(), c.local.as_str()) {
            (NS_PIDF, "tuple") => doc.tuples.push(tuple(c)?),
            (NS_PIDF, "note") | (NS_DM, "note") => doc.notes.push(note(c)),
            (NS_DM, "person") => doc.persons.push(person(c)?),
            (NS_DM, "device") => doc.devices.push(device(c)?),
            _ => unknown(c)?,
        }
    }
    Ok(doc)
}

/// RFC 3863 §4.1.5: an element we skip must not be one the sender marked essential.
fn unknown(e: &Element) -> Result<(), PidfError> {
    let flagged = e
        .attrs
        .iter()
        .filter(|a| a.local == "mustUnderstand" && (a.ns.is_empty() || a.ns == NS_PIDF))
        .any(|a| matches!(a.value.trim(), "true" | "1"));
    if flagged {
        return Err(PidfError::MustUnderstand(e.local.clone()));
    }
    Ok(())
}

fn id(e: &Element, what: &'static str) -> Result<String, PidfError> {
    e.attr("", "id")
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .map(str::to_owned)
        .ok_or(PidfError::MissingId(what))
}

fn text(e: &Element) -> String {
    e.text.trim().to_owned()
}

fn opt_text(e: &Element) -> Option<String> {
    Some(text(e)).filter(|t| !t.is_empty())
}

fn note(e: &Element) -> Note {
    Note {
        text: text(e),
        lang: e.attr(NS_XML, "lang").map(|l| l.trim().to_owned()),
    }
}

fn user_input(e: &Element) -> Option<UserInput> {
    match e.text.trim() {
        "active" => Some(UserInput::Active),
        "idle" => Some(UserInput::Idle),
        _ => None,
    }
}

fn tuple(e: &Element) -> Result<Tuple, PidfError> {
    let mut t = Tuple {
        id: id(e, "tuple")?,
        ..Tuple::default()
    };
    for c in &e.children {
        match (c.ns.as_str(), c.local.as_str()) {
            (NS_PIDF, "status") => status(c, &mut t)?,
            (NS_PIDF, "contact") => {
                if t.contact.is_none() {
                    t.contact = opt_text(c);
                    t.priority = match c.attr("", "priority") {
                        Some(p) => {
                            Some(Priority::parse(p).ok_or(PidfError::InvalidValue("contact"))?)
                        }
                        None => None,
                    };
                }
            }
            (NS_PIDF, "note") => t.notes.push(note(c)),
            (NS_PIDF, "timestamp") => t.timestamp = opt_text(c),
            (NS_RPID, "class") => t.class = opt_text(c),
            (NS_DM, "deviceID") => t.device_id = opt_text(c),
            (NS_RPID, "user-input") => t.user_input = user_input(c),
            (NS_CAPS, "servcaps") => t.caps = servcaps(c)?,
            _ => unknown(c)?,
        }
    }
    Ok(t)
}

fn status(e: &Element, t: &mut Tuple) -> Result<(), PidfError> {
    for c in &e.children {
        match (c.ns.as_str(), c.local.as_str()) {
            (NS_PIDF, "basic") => {
                t.basic = Some(match c.text.trim() {
                    "open" => Basic::Open,
                    "closed" => Basic::Closed,
                    _ => return Err(PidfError::InvalidBasic),
                });
            }
            (NS_RPID, "user-input") => t.user_input = user_input(c),
            _ => unknown(c)?,
        }
    }
    Ok(())
}

fn servcaps(e: &Element) -> Result<MediaCaps, PidfError> {
    let mut caps = MediaCaps::default();
    for c in &e.children {
        let slot = match (c.ns.as_str(), c.local.as_str()) {
            (NS_CAPS, "audio") => &mut caps.audio,
            (NS_CAPS, "video") => &mut caps.video,
            (NS_CAPS, "text") => &mut caps.text,
            _ => {
                unknown(c)?;
                continue;
            }
        };
        *slot = match c.text.trim() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        };
    }
    Ok(caps)
}

fn person(e: &Element) -> Result<Person, PidfError> {
    let mut p = Person {
        id: id(e, "person")?,
        ..Person::default()
    };
    for c in &e.children {
        match (c.ns.as_str(), c.local.as_str()) {
            (NS_RPID, "activities") => activities(c, &mut p.activities)?,
            (NS_DM, "note") | (NS_PIDF, "note") => p.notes.push(note(c)),
            (NS_RPID, "place-type") => p.place_type = place_type(c),
            (NS_RPID, "user-input") => p.user_input = user_input(c),
            (NS_RPID, "class") => p.class = opt_text(c),
            (NS_DM, "timestamp") => p.timestamp = opt_text(c),
            _ => unknown(c)?,
        }
    }
    Ok(p)
}

fn activities(e: &Element, out: &mut Vec<Activity>) -> Result<(), PidfError> {
    for c in &e.children {
        if c.ns != NS_RPID {
            unknown(c)?;
            continue;
        }
        match c.local.as_str() {
            "note" => {}
            "other" => out.push(Activity::Other(text(c))),
            token => match Activity::from_token(token) {
                Some(a) => out.push(a),
                None => unknown(c)?,
            },
        }
    }
    Ok(())
}

/// `<rpid:place-type>`: an RFC 4589 location type element (`<lt:residence/>`), or
/// `<rpid:other>text</rpid:other>`, or bare text.
fn place_type(e: &Element) -> Option<String> {
    for c in &e.children {
        if c.is(NS_RPID, "other") {
            return opt_text(c);
        }
        if c.ns != NS_RPID {
            return Some(c.local.clone());
        }
    }
    opt_text(e)
}

fn device(e: &Element) -> Result<Device, PidfError> {
    let mut d = Device {
        id: id(e, "device")?,
        ..Device::default()
    };
    for c in &e.children {
        match (c.ns.as_str(), c.local.as_str()) {
            (NS_DM, "deviceID") => d.device_id = opt_text(c),
            (NS_RPID, "user-input") => d.user_input = user_input(c),
            (NS_DM, "note") | (NS_PIDF, "note") => d.notes.push(note(c)),
            (NS_DM, "timestamp") => d.timestamp = opt_text(c),
            _ => unknown(c)?,
        }
    }
    Ok(d)
}
