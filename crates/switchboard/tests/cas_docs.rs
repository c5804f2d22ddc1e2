//! The published CAS contract cannot drift from the code: `docs/cas-catalogue.md` is the
//! rendering of the server's catalogue, the catalogue is self-consistent, and
//! `docs/openapi.json` documents exactly the routes of `crates/cas-server/src/http.rs`, each
//! of which the running server answers.
//!
//! After changing a topic's spec, regenerate the catalogue with
//! `UPDATE_DOCS=1 cargo test -p switchboard --test cas_docs`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;

use cas_proto::ErrorCode;
use cas_proto::envelope::HEADERS;
use common::Server;
use common::cas::http;
use serde_json::Value;

const REGENERATE: &str = "UPDATE_DOCS=1 cargo test -p switchboard --test cas_docs";
const METHODS: [&str; 7] = ["get", "post", "put", "delete", "patch", "head", "options"];

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn rendered_catalogue() -> String {
    let specs: Vec<cas_proto::TopicSpec> = switchboard::servers::topic_specs()
        .into_iter()
        .copied()
        .collect();
    cas_proto::catalogue::render_markdown(&specs)
}

#[test]
fn docs_are_current() {
    let path = repo("docs/cas-catalogue.md");
    let rendered = rendered_catalogue();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &rendered).unwrap();
        eprintln!("rewrote {}", path.display());
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    if current == rendered {
        return;
    }
    let (n, (was, now)) = current
        .lines()
        .chain(std::iter::repeat("<end of file>"))
        .zip(rendered.lines().chain(std::iter::repeat("<end of file>")))
        .enumerate()
        .find(|(_, (a, b))| a != b)
        .unwrap();
    panic!(
        "docs/cas-catalogue.md is not the rendering of the current catalogue.\n\
         First difference at line {}:\n  file:     {was}\n  rendered: {now}\n\
         Regenerate it with:\n  {REGENERATE}",
        n + 1
    );
}

#[test]
fn catalogue_is_consistent() {
    let mut topics = HashSet::new();
    for t in switchboard::servers::topic_specs() {
        assert!(topics.insert(t.topic), "topic {} listed twice", t.topic);
        assert!(!t.doc.is_empty(), "topic {} has no doc", t.topic);
        let mut messages = HashSet::new();
        for m in t.messages {
            let name = format!("{}.{}", t.topic, m.message);
            assert!(messages.insert(m.message), "{name} listed twice");
            assert!(
                !m.doc.is_empty() && !m.reply.is_empty(),
                "{name}: doc and reply"
            );
            if let Some(a) = m.action {
                assert!(
                    a.starts_with(&format!("{}.", t.topic)) && a.len() > t.topic.len() + 1,
                    "{name}: action {a:?} must be `{}.<action>`",
                    t.topic
                );
            }
            let mut fields = HashSet::new();
            for f in m.fields {
                assert!(fields.insert(f.name), "{name}: field {} twice", f.name);
                assert!(
                    !HEADERS.contains(&f.name) && f.name != "response",
                    "{name}: field {} is a standard header",
                    f.name
                );
            }
        }
        for a in t.actions {
            assert!(
                a.starts_with(&format!("{}.", t.topic)),
                "{}: action {a}",
                t.topic
            );
        }
    }
    for builtin in ["session", "sub", "admin", "bulk"] {
        assert!(
            topics.contains(builtin),
            "{builtin} missing from the catalogue"
        );
    }
}

/// `(path, method)` of every `.route("PATH", get(..).post(..))` in the CAS router's source.
fn router_routes() -> BTreeSet<(String, String)> {
    let src = std::fs::read_to_string(repo("crates/cas-server/src/http.rs")).unwrap();
    let mut routes = BTreeSet::new();
    for chunk in src.split(".route(\"").skip(1) {
        let (path, rest) = chunk.split_once('"').unwrap();
        let call = rest.split(")\n").next().unwrap();
        let before = routes.len();
        for m in METHODS {
            if call.contains(&format!(" {m}(")) || call.contains(&format!(".{m}(")) {
                routes.insert((path.to_owned(), m.to_owned()));
            }
        }
        assert!(
            routes.len() > before,
            "no method found for route {path}: {call}"
        );
    }
    assert!(
        routes.len() >= 5,
        "router source not understood: {routes:?}"
    );
    routes
}

fn openapi() -> Value {
    let text = std::fs::read_to_string(repo("docs/openapi.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn documented_routes(doc: &Value) -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in METHODS {
            if item.get(m).is_some() {
                routes.insert((path.clone(), m.to_owned()));
            }
        }
    }
    routes
}

#[test]
fn openapi_documents_exactly_the_routes_served() {
    let doc = openapi();
    assert_eq!(
        doc["openapi"].as_str().map(|v| v.starts_with("3.")),
        Some(true)
    );
    let served = router_routes();
    let documented = documented_routes(&doc);
    assert_eq!(
        served, documented,
        "routes in crates/cas-server/src/http.rs vs docs/openapi.json"
    );
    // Every error code a reply can carry is documented on POST /cas.
    let responses = doc["paths"]["/cas"]["post"]["responses"]
        .as_object()
        .unwrap();
    for code in (100..600).filter_map(ErrorCode::from_code) {
        let n = code.code().to_string();
        assert!(
            responses.contains_key(&n),
            "POST /cas does not document {n} ({code:?})"
        );
    }

    let server = Server::default_start();
    let r = http(server.http, "GET", "/cas/openapi.json", &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), doc, "the server serves docs/openapi.json");
    let fallback = |status: u16, body: &[u8]| {
        status == 404 && String::from_utf8_lossy(body).contains("no such route")
    };
    let r = http(server.http, "GET", "/cas/nowhere", &[], b"");
    assert!(fallback(r.status, &r.body), "the fallback is recognisable");
    for (path, method) in &documented {
        let r = http(server.http, &method.to_uppercase(), path, &[], b"");
        assert!(
            !fallback(r.status, &r.body) && r.status != 405,
            "{method} {path} is documented but answers {} {}",
            r.status,
            r.text()
        );
        assert!(r.status < 500, "{method} {path}: {}", r.status);
    }
}

#[test]
fn the_guide_names_every_topic_and_error_code() {
    let guide = std::fs::read_to_string(repo("docs/cas-guide.md")).unwrap();
    for code in (100..600).filter_map(ErrorCode::from_code) {
        let row = format!("| {} | `{}` |", code.code(), code.name());
        assert!(
            guide.contains(&row),
            "docs/cas-guide.md lacks the error row {row:?}"
        );
    }
    for t in ["session", "sub", "bulk", "admin", "permissions"] {
        assert!(
            guide.contains(&format!("`{t}`")),
            "guide does not mention `{t}`"
        );
    }
    assert!(guide.contains("examples/plugins/weather.py"));
}
