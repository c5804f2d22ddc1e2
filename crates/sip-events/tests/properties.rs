//! Property tests: generated documents and summaries survive serialise → parse unchanged,
//! and arbitrary bytes never panic either parser.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use proptest::prelude::*;
use sip_events::pidf::{
    self, Activity, Basic, Device, Document, MediaCaps, Note, Person, Priority, Tuple, UserInput,
};
use sip_events::summary::{self, Counts, MsgClass, Summary};

/// Text as it survives a parse: trimmed, non-empty, any XML character incl. markup ones.
fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9<>&\"' é€中\u{1F600}\t\r\n:/@.;=-]{0,24}"
        .prop_map(|s| s.trim().to_owned())
        .prop_filter("non-empty", |s| !s.is_empty())
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(text())
}

fn note() -> impl Strategy<Value = Note> {
    (text(), proptest::option::of("[a-z]{2}(-[A-Z]{2})?"))
        .prop_map(|(text, lang)| Note { text, lang })
}

fn notes() -> impl Strategy<Value = Vec<Note>> {
    proptest::collection::vec(note(), 0..3)
}

fn user_input() -> impl Strategy<Value = Option<UserInput>> {
    proptest::option::of(prop_oneof![Just(UserInput::Active), Just(UserInput::Idle)])
}

fn caps() -> impl Strategy<Value = MediaCaps> {
    let b = || proptest::option::of(any::<bool>());
    (b(), b(), b()).prop_map(|(audio, video, text)| MediaCaps { audio, video, text })
}

fn tuple() -> impl Strategy<Value = Tuple> {
    (
        (
            text(),
            proptest::option::of(prop_oneof![Just(Basic::Open), Just(Basic::Closed)]),
        ),
        (
            opt_text(),
            proptest::option::of((0u16..=1000).prop_map(Priority)),
        ),
        (notes(), opt_text(), opt_text(), opt_text()),
        (user_input(), caps()),
    )
        .prop_map(
            |(
                (id, basic),
                (contact, priority),
                (notes, timestamp, class, device_id),
                (user_input, caps),
            )| {
                let priority = contact.as_ref().and(priority);
                Tuple {
                    id,
                    basic,
                    contact,
                    priority,
                    notes,
                    timestamp,
                    class,
                    device_id,
                    user_input,
                    caps,
                }
            },
        )
}

fn activity() -> impl Strategy<Value = Activity> {
    prop_oneof![
        Just(Activity::Away),
        Just(Activity::Busy),
        Just(Activity::OnThePhone),
        Just(Activity::Meeting),
        Just(Activity::Appointment),
        Just(Activity::Vacation),
        Just(Activity::Holiday),
        Just(Activity::PermanentAbsence),
        Just(Activity::InTransit),
        Just(Activity::Unknown),
        text().prop_map(Activity::Other),
    ]
}

fn person() -> impl Strategy<Value = Person> {
    (
        text(),
        proptest::collection::vec(activity(), 0..3),
        notes(),
        prop_oneof![Just(None), Just(Some("residence".to_owned())), opt_text()],
        user_input(),
        opt_text(),
        opt_text(),
    )
        .prop_map(
            |(id, activities, notes, place_type, user_input, class, timestamp)| Person {
                id,
                activities,
                notes,
                place_type,
                user_input,
                class,
                timestamp,
            },
        )
}

fn device() -> impl Strategy<Value = Device> {
    (text(), opt_text(), user_input(), notes(), opt_text()).prop_map(
        |(id, device_id, user_input, notes, timestamp)| Device {
            id,
            device_id,
            user_input,
            notes,
            timestamp,
        },
    )
}

fn document() -> impl Strategy<Value = Document> {
    (
        text(),
        proptest::collection::vec(tuple(), 0..4),
        proptest::collection::vec(person(), 0..3),
        proptest::collection::vec(device(), 0..3),
        notes(),
    )
        .prop_map(|(entity, tuples, persons, devices, notes)| Document {
            entity,
            tuples,
            persons,
            devices,
            notes,
        })
}

fn token() -> impl Strategy<Value = String> {
    "X-[A-Za-z0-9-]{1,12}"
}

fn value() -> impl Strategy<Value = String> {
    "[ -~é]{0,30}".prop_map(|s| s.trim().to_owned())
}

fn summary_strategy() -> impl Strategy<Value = Summary> {
    let counts = (any::<u32>(), any::<u32>(), any::<u32>(), any::<u32>()).prop_map(
        |(new, old, urgent_new, urgent_old)| Counts {
            new,
            old,
            urgent_new,
            urgent_old,
        },
    );
    let header = (
        prop_oneof![token(), Just("Subject".to_owned()), Just("From".to_owned())],
        value(),
    );
    (
        any::<bool>(),
        proptest::option::of("sip:[a-z]{1,8}@[a-z]{1,8}\\.example"),
        proptest::collection::btree_map(
            proptest::sample::select(MsgClass::ALL.to_vec()),
            counts,
            0..6,
        ),
        proptest::collection::vec((token(), value()), 0..3),
        proptest::collection::vec(proptest::collection::vec(header, 1..4), 0..3),
    )
        .prop_map(|(waiting, account, classes, extra, messages)| Summary {
            waiting,
            account,
            classes: classes.into_iter().collect(),
            extra,
            messages,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn pidf_round_trips(doc in document()) {
        let xml = doc.to_xml();
        let back = pidf::parse(xml.as_bytes());
        prop_assert_eq!(back.as_ref(), Ok(&doc), "{}", xml);
    }

    #[test]
    fn summary_round_trips(s in summary_strategy()) {
        let text = s.to_text();
        prop_assert_eq!(summary::parse(text.as_bytes()), Ok(s), "{}", text);
    }

    #[test]
    fn pidf_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = pidf::parse(&bytes);
    }

    #[test]
    fn pidf_mutations_never_panic(doc in document(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut xml = doc.to_xml().into_bytes();
        let i = at.index(xml.len());
        xml[i] = byte;
        let _ = pidf::parse(&xml);
        xml.truncate(i);
        let _ = pidf::parse(&xml);
    }

    #[test]
    fn summary_never_panics(text in "[ -~\r\n()/:]{0,300}") {
        let _ = summary::parse(text.as_bytes());
    }
}
