//! What watchers receive: a [`View`] as a PIDF document (RFC 3863, RPID RFC 4480 activities,
//! RFC 5196 caps) and as a CAS object, under a rollup policy.
//!
//! Privacy by construction: the only inputs are the virtual address (`user@domain`) and the
//! view, which holds no device data, so no contact, IP address, port, instance id or device
//! count can appear. The entity and every `<contact>` are `sip:user@domain`; tuple ids are
//! class names (`voice`, `video`, `im`) in the compound document and `summary` in a rolled-up
//! one; the person id is `person`.
//!
//! "Connected on mobile" (a CAS client said `mobile: true`) is one more tuple of the compound
//! document, present only while it is true: `<tuple id="mobile">` with `<basic>open</basic>`,
//! the RPID class `mobile` (RFC 4480 §3.3, a tuple grouping) and the note `mobile`. It says
//! that the person is reachable on a mobile client, nothing about which device or how many.
//!
//! PIDF has only `open`/`closed`: a reachable class is `open`, `offline` is `closed`, and busy
//! or away are said with RPID activities (phones such as baresip read `<rpid:busy/>`,
//! `<rpid:on-the-phone/>` and `<rpid:away/>`). Each tuple's `<note>` carries the state word
//! (`available`, `busy`, `away`, `offline`, `semi-available`); the person's note is the
//! user's.

use cas_proto::Object;
use serde_json::{Value, json};
use sip_events::pidf::{Activity, Basic, Document, MediaCaps, Note, Person, Tuple};

use super::model::{Class, Rollup, State, Summary, View};
use super::rollup::{activity_state, summary};

/// Tuple id, RPID class and note of the "connected on mobile" tuple of the compound view.
pub const MOBILE: &str = "mobile";

/// The PIDF XML of `aor`'s `view` under `rollup`.
pub fn pidf(aor: &str, view: &View, rollup: Rollup) -> String {
    document(aor, view, rollup).to_xml()
}

/// The PIDF document of `aor`'s `view` under `rollup`.
pub fn document(aor: &str, view: &View, rollup: Rollup) -> Document {
    let uri = format!("sip:{aor}");
    let tuple = |id: &str, open: bool, word: &str, caps: MediaCaps| Tuple {
        id: id.to_owned(),
        basic: Some(if open { Basic::Open } else { Basic::Closed }),
        contact: open.then(|| uri.clone()),
        notes: vec![note(word)],
        caps,
        ..Tuple::default()
    };
    let (tuples, activities) = match rollup {
        Rollup::Compound => {
            let mut tuples: Vec<Tuple> = Class::ALL
                .into_iter()
                .map(|c| {
                    let s = view.class(c);
                    tuple(c.as_str(), s != State::Offline, s.as_str(), caps(c))
                })
                .collect();
            if view.mobile {
                tuples.push(Tuple {
                    class: Some(MOBILE.to_owned()),
                    ..tuple(MOBILE, true, MOBILE, MediaCaps::default())
                });
            }
            let mut acts = view.activities.clone();
            for s in [State::Busy, State::Away] {
                let any = Class::ALL.into_iter().any(|c| view.class(c) == s);
                ensure(&mut acts, s, any);
            }
            (tuples, acts)
        }
        Rollup::MostAvailable | Rollup::SemiAvailable => {
            let word = summary(view, rollup);
            let t = tuple(
                "summary",
                word.is_open(),
                word.as_str(),
                MediaCaps::default(),
            );
            (vec![t], rolled_activities(view, word))
        }
    };
    let person = Person {
        id: "person".into(),
        activities,
        notes: view.note.iter().map(|n| note(n)).collect(),
        ..Person::default()
    };
    Document {
        entity: uri.clone(),
        tuples,
        persons: vec![person],
        ..Document::default()
    }
}

/// The CAS object of `aor` (`authorized: true`) under `rollup`: `user`, `authorized`,
/// `version`, `rollup`, `state`, `note`; the compound view adds `classes`, `mobile` and
/// `activities`.
pub fn json(aor: &str, version: u64, view: &View, rollup: Rollup) -> Object {
    let mut o = Object::new();
    o.insert("user".into(), json!(aor));
    o.insert("authorized".into(), json!(true));
    o.insert("version".into(), json!(version));
    o.insert("rollup".into(), json!(rollup.as_str()));
    o.insert("state".into(), json!(summary(view, rollup).as_str()));
    o.insert(
        "note".into(),
        view.note.as_deref().map_or(Value::Null, |n| json!(n)),
    );
    if rollup == Rollup::Compound {
        let classes: serde_json::Map<String, Value> = Class::ALL
            .into_iter()
            .map(|c| (c.as_str().to_owned(), json!(view.class(c).as_str())))
            .collect();
        o.insert("classes".into(), Value::Object(classes));
        o.insert("mobile".into(), json!(view.mobile));
        let acts: Vec<&str> = view.activities.iter().map(activity_name).collect();
        o.insert("activities".into(), json!(acts));
    }
    o
}

/// The CAS object of a user the caller may not see: no state at all.
pub fn unauthorized(aor: &str, pending: bool) -> Object {
    let mut o = Object::new();
    o.insert("user".into(), json!(aor));
    o.insert("authorized".into(), json!(false));
    if pending {
        o.insert("pending".into(), json!(true));
    }
    o
}

fn activity_name(a: &Activity) -> &str {
    match a {
        Activity::Other(t) => t,
        other => other.token(),
    }
}

fn note(text: &str) -> Note {
    Note {
        text: text.to_owned(),
        lang: None,
    }
}

fn caps(c: Class) -> MediaCaps {
    MediaCaps {
        audio: (c == Class::Voice).then_some(true),
        video: (c == Class::Video).then_some(true),
        text: (c == Class::Im).then_some(true),
    }
}

/// Adds the plain activity for `state` (`busy` or `away`) when `wanted` and no activity of
/// that kind is there yet.
fn ensure(acts: &mut Vec<Activity>, state: State, wanted: bool) {
    if wanted && !acts.iter().any(|a| activity_state(a) == state) {
        acts.push(if state == State::Busy {
            Activity::Busy
        } else {
            Activity::Away
        });
    }
}

/// The activities a rolled-up document shows: none that contradict the word (a person who is
/// available on IM while on the phone is "available" under most-available).
fn rolled_activities(view: &View, word: Summary) -> Vec<Activity> {
    let keep = |a: &&Activity| match word {
        Summary::State(State::Busy) => activity_state(a) != State::Away,
        Summary::State(State::Away) => activity_state(a) != State::Busy,
        Summary::State(State::Offline) => activity_state(a) == State::Away,
        Summary::State(State::Available) | Summary::SemiAvailable => {
            activity_state(a) == State::Available
        }
    };
    let mut acts: Vec<Activity> = view.activities.iter().filter(keep).cloned().collect();
    ensure(&mut acts, State::Busy, word == Summary::State(State::Busy));
    ensure(&mut acts, State::Away, word == Summary::State(State::Away));
    acts
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn on_call() -> View {
        View {
            voice: State::Busy,
            video: State::Offline,
            im: State::Available,
            mobile: true,
            note: Some("call me".into()),
            activities: vec![Activity::OnThePhone],
        }
    }

    #[test]
    fn compound_names_classes_and_the_virtual_address_only() {
        let d = document("bob@example.test", &on_call(), Rollup::Compound);
        assert_eq!(d.entity, "sip:bob@example.test");
        assert_eq!(d.tuples[0].basic, Some(Basic::Open));
        assert_eq!(d.tuples[1].basic, Some(Basic::Closed));
        assert_eq!(d.tuples[1].contact, None);
        assert_eq!(d.tuples[2].contact.as_deref(), Some("sip:bob@example.test"));
        assert_eq!(d.persons[0].activities, [Activity::OnThePhone]);
        assert_eq!(d.persons[0].notes[0].text, "call me");
        let ids: Vec<&str> = d.tuples.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["voice", "video", "im", "mobile"]);
        let xml = pidf("bob@example.test", &on_call(), Rollup::Compound);
        let back = sip_events::pidf::parse(xml.as_bytes()).unwrap();
        let m = back.tuples.iter().find(|t| t.id == MOBILE).unwrap();
        assert_eq!(m.basic, Some(Basic::Open));
        assert_eq!(m.class.as_deref(), Some(MOBILE));
        assert_eq!(m.contact.as_deref(), Some("sip:bob@example.test"));
        let still = View {
            mobile: false,
            ..on_call()
        };
        let d = document("bob@example.test", &still, Rollup::Compound);
        assert!(d.tuples.iter().all(|t| t.id != MOBILE));
        let j = json("bob@example.test", 7, &on_call(), Rollup::Compound);
        assert_eq!(j["classes"]["voice"], "busy");
        assert_eq!(j["state"], "available");
        assert_eq!(j["activities"][0], "on-the-phone");
        assert_eq!(j["mobile"], true);
    }

    #[test]
    fn rollups_say_one_word_without_contradiction() {
        let v = on_call();
        let d = document("bob@example.test", &v, Rollup::MostAvailable);
        assert_eq!(d.tuples.len(), 1);
        assert_eq!(d.tuples[0].id, "summary");
        assert_eq!(d.tuples[0].notes[0].text, "available");
        assert!(d.persons[0].activities.is_empty());
        let d = document("bob@example.test", &v, Rollup::SemiAvailable);
        assert_eq!(d.tuples[0].notes[0].text, "semi-available");
        assert_eq!(d.tuples[0].basic, Some(Basic::Open));
        let ringing = View {
            voice: State::Busy,
            ..View::default()
        };
        let d = document("bob@example.test", &ringing, Rollup::MostAvailable);
        assert_eq!(d.persons[0].activities, [Activity::Busy]);
        let d = document("bob@example.test", &ringing, Rollup::Compound);
        assert_eq!(d.persons[0].activities, [Activity::Busy]);
        let off = document("bob@example.test", &View::default(), Rollup::SemiAvailable);
        assert_eq!(off.tuples[0].basic, Some(Basic::Closed));
        let j = json("bob@example.test", 1, &v, Rollup::SemiAvailable);
        assert_eq!(j["state"], "semi-available");
        assert!(j.get("classes").is_none());
    }
}
