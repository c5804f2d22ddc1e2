//! Real and RFC example bodies (see corpus/*/SOURCE.md): each parses to what it says, and
//! each survives `to_xml`/`to_text` → parse unchanged.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use sip_events::pidf::{self, Activity, Basic, Document, Priority, UserInput};
use sip_events::summary::{self, Counts, MsgClass};

fn load(dir: &str, name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(dir)
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn pidf_file(name: &str) -> Document {
    let doc = pidf::parse(&load("pidf", name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let again = pidf::parse(doc.to_xml().as_bytes()).unwrap();
    assert_eq!(again, doc, "{name} does not round-trip");
    doc
}

#[test]
fn every_pidf_file_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/pidf");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".xml") {
            pidf_file(&name);
            n += 1;
        }
    }
    assert!(n >= 8);
}

#[test]
fn rfc3863_prefixed_example() {
    let d = pidf_file("rfc3863-s6.xml");
    assert_eq!(d.entity, "pres:someone@example.com");
    let t = &d.tuples[0];
    assert_eq!((t.id.as_str(), t.basic), ("sg89ae", Some(Basic::Open)));
    assert_eq!(t.contact.as_deref(), Some("tel:+09012345678"));
    assert_eq!(t.priority, Some(Priority(800)));
}

#[test]
fn rfc3863_extensions_are_skipped_and_notes_keep_language() {
    let d = pidf_file("rfc3863-extended.xml");
    assert_eq!(d.tuples.len(), 2);
    let t = &d.tuples[0];
    assert_eq!(t.basic, Some(Basic::Open));
    assert_eq!(t.notes.len(), 2);
    assert_eq!(t.notes[1].lang.as_deref(), Some("fr"));
    assert_eq!(t.notes[1].text, "Ne dérangez pas, s'il vous plaît");
    assert_eq!(t.timestamp.as_deref(), Some("2001-10-27T16:49:29Z"));
    assert_eq!(d.tuples[1].priority, Some(Priority(1000)));
    assert_eq!(d.notes[0].text, "I'll be in Tokyo next week");
}

#[test]
fn rfc4480_example() {
    let d = pidf_file("rfc4480-s4.xml");
    assert_eq!(d.tuples.len(), 3);
    assert_eq!(
        d.tuples[0].device_id.as_deref(),
        Some("urn:device:0003ba4811e3")
    );
    assert_eq!(d.tuples[2].class.as_deref(), Some("email"));
    let dev = &d.devices[0];
    assert_eq!(dev.id, "pc147");
    assert_eq!(dev.user_input, Some(UserInput::Idle));
    assert_eq!(dev.notes[0].text, "PC");
    let p = &d.persons[0];
    assert_eq!(p.activities, vec![Activity::Away]);
    assert_eq!(p.class.as_deref(), Some("calendar"));
    assert_eq!(p.place_type.as_deref(), Some("residence"));
    assert_eq!(p.notes[0].text, "Scoring 120");
    assert_eq!(p.timestamp.as_deref(), Some("2005-05-30T16:09:44+05:00"));
}

#[test]
fn rfc4479_style_with_caps() {
    let d = pidf_file("rfc4479-style.xml");
    let t = &d.tuples[0];
    assert_eq!(t.caps.audio, Some(true));
    assert_eq!(t.caps.video, Some(false));
    assert_eq!(t.caps.text, None);
    assert_eq!(d.persons[0].activities, vec![Activity::OnThePhone]);
    assert_eq!(d.persons[0].user_input, Some(UserInput::Active));
    assert_eq!(d.devices[0].device_id, t.device_id);
}

#[test]
fn baresip_publish() {
    let d = pidf_file("baresip-publish.xml");
    assert_eq!(d.entity, "sip:alice@127.0.0.1:5088");
    assert_eq!(d.persons[0].id, "p4159");
    assert!(d.persons[0].activities.is_empty());
    assert_eq!(d.tuples[0].basic, Some(Basic::Open));
}

#[test]
fn sipp_busy_and_prefix_variants_agree() {
    let a = pidf_file("sipp-busy-publish.xml");
    let b = pidf_file("prefix-variants.xml");
    assert_eq!(a, b);
    assert_eq!(a.persons[0].activities, vec![Activity::Busy]);
    assert_eq!(a.tuples[0].notes[0].text, "In a meeting");
}

#[test]
fn kamailio_aggregate_with_redeclared_namespaces() {
    let d = pidf_file("kamailio-aggregate-notify.xml");
    let basics: Vec<_> = d.tuples.iter().map(|t| t.basic).collect();
    assert_eq!(basics, vec![Some(Basic::Open), Some(Basic::Closed)]);
    assert_eq!(d.persons.len(), 2);
    assert_eq!(d.persons[0].activities, vec![Activity::Busy]);
}

#[test]
fn generated_xml_suits_baresips_regex() {
    let mut d = Document::new("sip:bob@example.com");
    d.tuples.push(pidf::Tuple {
        id: "t1".into(),
        basic: Some(Basic::Open),
        ..Default::default()
    });
    d.persons.push(pidf::Person {
        id: "p1".into(),
        activities: vec![Activity::OnThePhone],
        ..Default::default()
    });
    let xml = d.to_xml();
    assert!(xml.contains("<basic>open</basic>"), "{xml}");
    assert!(xml.contains("<rpid:on-the-phone/>"), "{xml}");
    assert!(xml.contains("xmlns:rpid=\"urn:ietf:params:xml:ns:pidf:rpid\""));
}

fn summary_file(name: &str) -> summary::Summary {
    let s = summary::parse(&load("summary", name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(summary::parse(s.to_text().as_bytes()).unwrap(), s, "{name}");
    s
}

#[test]
fn rfc3842_example() {
    let s = summary_file("rfc3842-s7.txt");
    assert!(s.waiting);
    assert_eq!(s.account.as_deref(), Some("sip:alice@vmail.example.com"));
    let c = Counts {
        new: 2,
        old: 8,
        urgent_new: 0,
        urgent_old: 2,
    };
    assert_eq!(s.counts(MsgClass::Voice), c);
    assert_eq!(
        s.to_text(),
        String::from_utf8(load("summary", "rfc3842-s7.txt")).unwrap()
    );
}

#[test]
fn rfc3842_message_headers() {
    let s = summary_file("rfc3842-headers.txt");
    assert_eq!(s.messages.len(), 2);
    assert_eq!(
        s.messages[0][2],
        ("Subject".into(), "carpool tonight?".into())
    );
    assert_eq!(s.messages[1][3], ("Priority".into(), "urgent".into()));
    assert_eq!(s.counts(MsgClass::Voice).urgent_new, 1);
}

#[test]
fn sipp_and_loose_bodies() {
    let s = summary_file("sipp-mwi-publish.txt");
    assert_eq!(s.counts(MsgClass::Voice).old, 8);
    let l = summary_file("loose.txt");
    assert!(!l.waiting);
    assert_eq!(l.counts(MsgClass::Voice).old, 3);
    assert_eq!(
        l.counts(MsgClass::Fax),
        Counts {
            new: 1,
            old: 0,
            urgent_new: 1,
            urgent_old: 0
        }
    );
    assert_eq!(l.extra, vec![("X-Vendor-Thing".into(), "kept".into())]);
}
