//! Bodies that must be refused, each with the error it must get; and hostile sizes and
//! shapes that must fail cleanly (never panic).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use sip_events::pidf::{self, Limits, PidfError};
use sip_events::summary::{self, SummaryError};

const HEAD: &str =
    r#"<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:x="urn:example:x" entity="sip:a@b">"#;

fn wrap(inner: &str) -> String {
    format!("{HEAD}{inner}</presence>")
}

#[test]
fn invalid_pidf_table() {
    let tuple = |status: &str| {
        wrap(&format!(
            r#"<tuple id="t"><status>{status}</status></tuple>"#
        ))
    };
    let cases: Vec<(&str, String, PidfError)> = vec![
        (
            "basic unknown (baresip before REGISTER)",
            tuple("<basic>unknown</basic>"),
            PidfError::InvalidBasic,
        ),
        ("basic empty", tuple("<basic/>"), PidfError::InvalidBasic),
        (
            "basic upper case",
            tuple("<basic>OPEN</basic>"),
            PidfError::InvalidBasic,
        ),
        (
            "missing entity",
            r#"<presence xmlns="urn:ietf:params:xml:ns:pidf"/>"#.into(),
            PidfError::MissingEntity,
        ),
        (
            "empty entity",
            r#"<presence xmlns="urn:ietf:params:xml:ns:pidf" entity=" "/>"#.into(),
            PidfError::MissingEntity,
        ),
        (
            "tuple without id",
            wrap("<tuple><status><basic>open</basic></status></tuple>"),
            PidfError::MissingId("tuple"),
        ),
        (
            "bad priority",
            wrap(r#"<tuple id="t"><contact priority="1.5">sip:x@y</contact></tuple>"#),
            PidfError::InvalidValue("contact"),
        ),
        (
            "mustUnderstand extension",
            wrap(
                r#"<tuple id="t"><status><basic>open</basic><x:geo mustUnderstand="true">1</x:geo></status></tuple>"#,
            ),
            PidfError::MustUnderstand("geo".into()),
        ),
        (
            "mustUnderstand=1 at top",
            wrap(r#"<x:policy mustUnderstand="1"/>"#),
            PidfError::MustUnderstand("policy".into()),
        ),
        (
            "wrong root",
            r#"<presence xmlns="urn:example:other" entity="sip:a@b"/>"#.into(),
            PidfError::NotPidf,
        ),
        (
            "no namespace",
            r#"<presence entity="sip:a@b"/>"#.into(),
            PidfError::NotPidf,
        ),
        (
            "lpidf-like root",
            r#"<presence xmlns="urn:ietf:params:xml:ns:cpim-pidf" entity="sip:a@b"/>"#.into(),
            PidfError::NotPidf,
        ),
    ];
    for (what, body, want) in cases {
        assert_eq!(pidf::parse(body.as_bytes()), Err(want), "{what}: {body}");
    }
}

#[test]
fn person_without_id() {
    let body = wrap(r#"<dm:person xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model"/>"#);
    assert_eq!(
        pidf::parse(body.as_bytes()),
        Err(PidfError::MissingId("person"))
    );
}

#[test]
fn mustunderstand_false_is_skipped() {
    let body = wrap(r#"<x:geo mustUnderstand="false"/><tuple id="t"/>"#);
    assert_eq!(pidf::parse(body.as_bytes()).unwrap().tuples.len(), 1);
}

#[test]
fn malformed_xml_is_an_xml_error() {
    let cases = [
        "",
        "not xml",
        "<presence",
        &wrap("<tuple id=\"t\">"),
        &format!("{HEAD}<tuple id=\"t\"></status></presence>"),
        &format!("{}<extra/>", wrap("")),
        &format!("{}trailing", wrap("")),
        "<!DOCTYPE presence [<!ENTITY a \"b\">]><presence/>",
        &wrap("<note>&undefined;</note>"),
        &wrap("<tuple id=\"t\" id=\"u\"/>"),
        r#"<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:a@b" <"#,
        "\u{feff}\u{0}",
        "<?xml version=\"1.0\"?>",
    ];
    for body in cases {
        match pidf::parse(body.as_bytes()) {
            Err(PidfError::Xml(_)) => {}
            other => panic!("{body:?}: {other:?}"),
        }
    }
}

#[test]
fn non_utf8_is_refused() {
    let mut body = wrap("<note>x</note>").into_bytes();
    let at = body.len() - 20;
    body[at] = 0xff;
    assert!(pidf::parse(&body).is_err());
}

#[test]
fn huge_and_deep_inputs_hit_limits() {
    let big = wrap(&"<note>aaaaaaaaaa</note>".repeat(4000));
    assert_eq!(
        pidf::parse(big.as_bytes()),
        Err(PidfError::TooLarge("bytes"))
    );

    let deep = wrap(&format!("{}{}", "<x:a>".repeat(100), "</x:a>".repeat(100)));
    assert_eq!(
        pidf::parse(deep.as_bytes()),
        Err(PidfError::TooLarge("depth"))
    );

    let many = wrap(&"<x:a/>".repeat(5000));
    let limits = Limits {
        max_bytes: 1 << 20,
        ..Limits::default()
    };
    assert_eq!(
        pidf::parse_with(many.as_bytes(), &limits),
        Err(PidfError::TooLarge("elements"))
    );

    // Deep but unclosed garbage also stops at the depth limit, not the stack.
    let unclosed = "<a>".repeat(100_000);
    let limits = Limits {
        max_bytes: 1 << 20,
        ..Limits::default()
    };
    assert!(pidf::parse_with(unclosed.as_bytes(), &limits).is_err());
}

#[test]
fn invalid_summary_table() {
    let cases: Vec<(&str, &[u8], SummaryError)> = vec![
        ("empty", b"", SummaryError::MissingStatus),
        (
            "no status line",
            b"Voice-Message: 1/2\r\n",
            SummaryError::MissingStatus,
        ),
        (
            "status maybe",
            b"Messages-Waiting: maybe\r\n",
            SummaryError::InvalidStatus,
        ),
        (
            "garbage line",
            b"Messages-Waiting: yes\r\nhello world\r\n",
            SummaryError::Malformed(2),
        ),
        (
            "counts letters",
            b"Messages-Waiting: yes\r\nVoice-Message: a/b\r\n",
            SummaryError::InvalidCounts(2),
        ),
        (
            "counts negative",
            b"Messages-Waiting: yes\r\nVoice-Message: -1/0\r\n",
            SummaryError::InvalidCounts(2),
        ),
        (
            "counts overflow",
            b"Messages-Waiting: yes\r\nVoice-Message: 99999999999/0\r\n",
            SummaryError::InvalidCounts(2),
        ),
        (
            "urgent unclosed",
            b"Messages-Waiting: yes\r\nVoice-Message: 1/0 (1/0\r\n",
            SummaryError::InvalidCounts(2),
        ),
        ("binary", b"\xff\xfe", SummaryError::NotText),
        (
            "header block garbage",
            b"Messages-Waiting: no\r\n\r\nTo x\r\n",
            SummaryError::Malformed(3),
        ),
    ];
    for (what, body, want) in cases {
        assert_eq!(summary::parse(body), Err(want), "{what}");
    }
    let big = format!("Messages-Waiting: yes\r\n{}", "X-A: b\r\n".repeat(20_000));
    assert_eq!(summary::parse(big.as_bytes()), Err(SummaryError::TooLarge));
}
