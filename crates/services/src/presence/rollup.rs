//! Aggregation, as one pure function: everything known about a person ([`Sources`]) becomes
//! one [`View`] (a state per service class, mobile, note, activities), and a view becomes one
//! word per rollup policy ([`summary`]).
//!
//! The rules (also in docs/cas-guide.md, "Presence"):
//! 1. A device is a registration and/or publications under one opaque key. Its state is its
//!    newest publication when it has one (RFC 3863 `basic` closed → offline; RPID busy-like
//!    activities → busy; away-like → away; otherwise available), else `available` while it is
//!    registered. Its classes are its registration's; a device that only publishes has the
//!    classes its tuples declare (RFC 5196 caps), voice when they declare none.
//! 2. A class's state is the most available state of the devices that have it; IM is also
//!    `available` while the user has a CAS session. No device for a class = `offline`, which
//!    is never confused with idle (`available`).
//! 3. Then the person: a call (ringing, on a call, on hold) makes voice busy (and video, when
//!    reachable); a manual status busy/dnd or the call handling mode `meeting` caps every
//!    reachable class at busy; manual away, `out_of_office` and `extended_absence` cap it at
//!    away. Nothing turns an offline class into a reachable one.
//! 4. Most-available = the best class. Semi-available = `available` when every class that is
//!    reachable is available, `semi-available` when some but not all are, otherwise the best
//!    state (busy/away/offline).

use sip_events::pidf::{Activity, Basic, Document};

use super::model::{
    CallActivity, Class, Classes, DeviceInfo, Manual, ModeEffect, Rollup, State, Summary, View,
};

/// Everything that decides one person's presence, borrowed from the service's table.
#[derive(Debug, Clone, Default)]
pub struct Sources<'a> {
    /// Registered devices.
    pub registered: &'a [DeviceInfo],
    /// Live publications as `(device key, document)`, oldest first.
    pub published: Vec<(&'a str, &'a Document)>,
    /// The user's calls now.
    pub calls: Vec<CallActivity>,
    /// Live CAS sessions.
    pub sessions: usize,
    /// A CAS session declared itself mobile.
    pub mobile: bool,
    pub manual: Option<Manual>,
    /// The note set through CAS.
    pub note: Option<&'a str>,
    pub mode: ModeEffect,
}

/// The compound view of `s`.
pub fn view(s: &Sources<'_>) -> View {
    let mut v = View {
        mobile: s.mobile,
        ..View::default()
    };
    let mut activities: Vec<Activity> = Vec::new();
    let mut published_note: Option<String> = None;
    let raise = |v: &mut View, classes: Classes, state: State| {
        for c in Class::ALL {
            if classes.has(c) {
                let slot = slot(v, c);
                *slot = (*slot).max(state);
            }
        }
    };
    for d in s.registered {
        // A device that publishes is judged by its publication (below).
        if !s.published.iter().any(|(k, _)| *k == d.key) {
            raise(&mut v, d.classes, State::Available);
        }
    }
    // Newest publication per device wins.
    for (i, (key, doc)) in s.published.iter().enumerate() {
        if s.published.iter().skip(i + 1).any(|(k, _)| k == key) {
            continue;
        }
        let classes = s
            .registered
            .iter()
            .find(|d| d.key == *key)
            .map_or_else(|| declared_classes(doc), |d| d.classes);
        let state = published_state(doc);
        raise(&mut v, classes, state);
        if state != State::Offline {
            activities.extend(
                doc.persons
                    .iter()
                    .flat_map(|p| p.activities.iter().cloned()),
            );
        }
        if let Some(n) = first_note(doc) {
            published_note = Some(n);
        }
    }
    if s.sessions > 0 {
        v.im = State::Available;
    }
    // The person: mode and manual status cap every reachable class.
    let cap = match (s.manual, s.mode) {
        (Some(Manual::Busy | Manual::Dnd), _) | (_, ModeEffect::Meeting) => Some(State::Busy),
        (Some(Manual::Away), _) | (_, ModeEffect::OutOfOffice | ModeEffect::ExtendedAbsence) => {
            Some(State::Away)
        }
        _ => None,
    };
    if let Some(cap) = cap {
        for c in Class::ALL {
            let slot = slot(&mut v, c);
            if *slot != State::Offline {
                *slot = (*slot).min(cap);
            }
        }
    }
    match s.manual {
        Some(Manual::Away) => activities.push(Activity::Away),
        Some(Manual::Busy | Manual::Dnd) => activities.push(Activity::Busy),
        Some(Manual::Available) | None => {}
    }
    match s.mode {
        ModeEffect::Meeting => activities.push(Activity::Meeting),
        ModeEffect::OutOfOffice => activities.push(Activity::Away),
        ModeEffect::ExtendedAbsence => activities.push(Activity::Vacation),
        ModeEffect::None => {}
    }
    if !s.calls.is_empty() {
        v.voice = State::Busy;
        if v.video != State::Offline {
            v.video = State::Busy;
        }
    }
    if s.calls
        .iter()
        .any(|c| matches!(c, CallActivity::OnCall | CallActivity::OnHold))
    {
        activities.push(Activity::OnThePhone);
    }
    activities.sort_by(|a, b| {
        a.token()
            .cmp(b.token())
            .then_with(|| other_text(a).cmp(other_text(b)))
    });
    activities.dedup();
    v.activities = activities;
    v.note = s.note.map(str::to_owned).or(published_note);
    v
}

/// One word for `view` under `rollup` (`Compound` answers like most-available).
pub fn summary(view: &View, rollup: Rollup) -> Summary {
    let states = Class::ALL.map(|c| view.class(c));
    let best = states.iter().copied().max().unwrap_or_default();
    match rollup {
        Rollup::MostAvailable | Rollup::Compound => Summary::State(best),
        Rollup::SemiAvailable => {
            let reachable = states.iter().filter(|s| **s != State::Offline);
            let (n, available) = reachable.fold((0, 0), |(n, a), s| {
                (n + 1, a + usize::from(*s == State::Available))
            });
            if n > 0 && available > 0 && available < n {
                Summary::SemiAvailable
            } else {
                Summary::State(best)
            }
        }
    }
}

fn slot(v: &mut View, c: Class) -> &mut State {
    match c {
        Class::Voice => &mut v.voice,
        Class::Video => &mut v.video,
        Class::Im => &mut v.im,
    }
}

fn other_text(a: &Activity) -> &str {
    match a {
        Activity::Other(t) => t,
        _ => "",
    }
}

/// What an RPID activity says about availability: busy-like, away-like, or nothing
/// (`Available`).
pub fn activity_state(a: &Activity) -> State {
    match a {
        Activity::Busy
        | Activity::OnThePhone
        | Activity::Meeting
        | Activity::Appointment
        | Activity::Presentation
        | Activity::Performance => State::Busy,
        Activity::Away
        | Activity::Vacation
        | Activity::Holiday
        | Activity::PermanentAbsence
        | Activity::Travel
        | Activity::Sleeping
        | Activity::Meal
        | Activity::Breakfast
        | Activity::Dinner
        | Activity::Shopping
        | Activity::InTransit => State::Away,
        _ => State::Available,
    }
}

/// The state a published document claims for its device.
fn published_state(doc: &Document) -> State {
    let basics: Vec<Basic> = doc.tuples.iter().filter_map(|t| t.basic).collect();
    if !basics.is_empty() && basics.iter().all(|b| *b == Basic::Closed) {
        return State::Offline;
    }
    doc.persons
        .iter()
        .flat_map(|p| p.activities.iter())
        .map(activity_state)
        .min()
        .unwrap_or(State::Available)
}

/// The classes a publication's tuples declare (RFC 5196), voice when none says anything.
fn declared_classes(doc: &Document) -> Classes {
    let mut c = Classes::default();
    let mut said = false;
    for t in &doc.tuples {
        said |= t.caps.audio.is_some() || t.caps.video.is_some() || t.caps.text.is_some();
        c.voice |= t.caps.audio == Some(true);
        c.video |= t.caps.video == Some(true);
        c.im |= t.caps.text == Some(true);
    }
    if said { c } else { Classes::VOICE }
}

/// The first note of a document: the person's, then a tuple's, then the document's.
fn first_note(doc: &Document) -> Option<String> {
    doc.persons
        .iter()
        .flat_map(|p| p.notes.iter())
        .chain(doc.tuples.iter().flat_map(|t| t.notes.iter()))
        .chain(doc.notes.iter())
        .map(|n| n.text.trim())
        .find(|t| !t.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use sip_events::pidf::{Person, Tuple};

    use super::*;

    fn dev(key: &str, voice: bool, video: bool, im: bool) -> DeviceInfo {
        DeviceInfo {
            key: key.into(),
            classes: Classes { voice, video, im },
        }
    }

    fn doc(basic: Basic, activities: &[Activity]) -> Document {
        Document {
            entity: "sip:bob@example.test".into(),
            tuples: vec![Tuple {
                id: "t1".into(),
                basic: Some(basic),
                ..Tuple::default()
            }],
            persons: vec![Person {
                id: "p1".into(),
                activities: activities.to_vec(),
                ..Person::default()
            }],
            ..Document::default()
        }
    }

    fn states(v: &View) -> [&'static str; 3] {
        [v.voice.as_str(), v.video.as_str(), v.im.as_str()]
    }

    #[test]
    fn nothing_is_offline_and_registration_is_available() {
        let v = view(&Sources::default());
        assert_eq!(states(&v), ["offline"; 3]);
        assert_eq!(summary(&v, Rollup::MostAvailable).as_str(), "offline");
        assert_eq!(summary(&v, Rollup::SemiAvailable).as_str(), "offline");
        let devs = [
            dev("desk", true, false, false),
            dev("soft", true, true, true),
        ];
        let v = view(&Sources {
            registered: &devs[..1],
            ..Sources::default()
        });
        assert_eq!(states(&v), ["available", "offline", "offline"]);
        // Offline classes do not make a person semi-available.
        assert_eq!(summary(&v, Rollup::SemiAvailable).as_str(), "available");
        let v = view(&Sources {
            registered: &devs,
            ..Sources::default()
        });
        assert_eq!(states(&v), ["available"; 3]);
    }

    #[test]
    fn publications_decide_their_device() {
        let devs = [
            dev("desk", true, false, false),
            dev("soft", true, false, true),
        ];
        let closed = doc(Basic::Closed, &[]);
        let busy = doc(Basic::Open, &[Activity::OnThePhone]);
        // The softphone says closed: only the desk phone is available for voice, IM is gone.
        let v = view(&Sources {
            registered: &devs,
            published: vec![("soft", &closed)],
            ..Sources::default()
        });
        assert_eq!(states(&v), ["available", "offline", "offline"]);
        // Both closed: offline although registered (a phone set to offline by its user).
        let v = view(&Sources {
            registered: &devs,
            published: vec![("soft", &closed), ("desk", &closed)],
            ..Sources::default()
        });
        assert_eq!(states(&v), ["offline"; 3]);
        // Newest publication of a device wins.
        let v = view(&Sources {
            registered: &devs[1..],
            published: vec![("soft", &closed), ("soft", &busy)],
            ..Sources::default()
        });
        assert_eq!(states(&v), ["busy", "offline", "busy"]);
        assert_eq!(v.activities, [Activity::OnThePhone]);
        // A device that only publishes counts for voice.
        let open = doc(Basic::Open, &[]);
        let v = view(&Sources {
            published: vec![("sipp", &open)],
            ..Sources::default()
        });
        assert_eq!(states(&v), ["available", "offline", "offline"]);
    }

    #[test]
    fn rollups() {
        let devs = [dev("desk", true, false, false)];
        // On a call with a CAS session open: voice busy, IM available.
        let v = view(&Sources {
            registered: &devs,
            calls: vec![CallActivity::OnCall],
            sessions: 1,
            ..Sources::default()
        });
        assert_eq!(states(&v), ["busy", "offline", "available"]);
        assert_eq!(summary(&v, Rollup::MostAvailable).as_str(), "available");
        assert_eq!(
            summary(&v, Rollup::SemiAvailable).as_str(),
            "semi-available"
        );
        // Ringing is busy without claiming on-the-phone.
        let v = view(&Sources {
            registered: &devs,
            calls: vec![CallActivity::Ringing],
            ..Sources::default()
        });
        assert_eq!(summary(&v, Rollup::SemiAvailable).as_str(), "busy");
        assert!(v.activities.is_empty());
    }

    #[test]
    fn person_caps_reachable_classes_only() {
        let devs = [dev("desk", true, true, false)];
        let base = Sources {
            registered: &devs,
            sessions: 2,
            mobile: true,
            ..Sources::default()
        };
        let v = view(&Sources {
            manual: Some(Manual::Away),
            note: Some("back at 3"),
            ..base.clone()
        });
        assert_eq!(states(&v), ["away"; 3]);
        assert_eq!(v.note.as_deref(), Some("back at 3"));
        assert!(v.mobile);
        assert_eq!(v.activities, [Activity::Away]);
        let v = view(&Sources {
            registered: &[],
            manual: Some(Manual::Dnd),
            ..base.clone()
        });
        assert_eq!(states(&v), ["offline", "offline", "busy"]);
        let v = view(&Sources {
            mode: ModeEffect::Meeting,
            manual: Some(Manual::Available),
            ..base.clone()
        });
        assert_eq!(states(&v), ["busy"; 3]);
        assert_eq!(v.activities, [Activity::Meeting]);
        let v = view(&Sources {
            mode: ModeEffect::ExtendedAbsence,
            calls: vec![CallActivity::OnHold],
            ..base
        });
        assert_eq!(states(&v), ["busy", "busy", "away"]);
        assert_eq!(v.activities, [Activity::OnThePhone, Activity::Vacation]);
    }
}
