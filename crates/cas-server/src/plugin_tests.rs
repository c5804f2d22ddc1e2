//! Unit tests of the plug-in host: registration rules, reply mapping, pending answers.

use super::*;
use serde_json::json;

fn host_with(conns: &[(u64, &str)]) -> (PluginHost, Vec<mpsc::UnboundedReceiver<String>>) {
    let host = PluginHost::new(Duration::from_millis(200));
    let mut rxs = Vec::new();
    for (id, name) in conns {
        let (tx, rx) = mpsc::unbounded_channel();
        host.lock().conns.insert(
            *id,
            Conn {
                name: (*name).to_owned(),
                tx,
                pending: HashMap::new(),
            },
        );
        rxs.push(rx);
    }
    (host, rxs)
}

fn topics(m: PluginMessage) -> (Vec<String>, Vec<String>) {
    match m {
        PluginMessage::Registered { topics, refused } => (
            topics,
            refused
                .into_iter()
                .map(|r| format!("{}: {}", r.topic, r.reason))
                .collect(),
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn one_owner_per_topic_and_restricted_names() {
    let (host, _rx) = host_with(&[(1, "weather"), (2, "other")]);
    let builtin = |t: &str| t == "calendar";
    let (ok, refused) = topics(host.register(
        1,
        vec![
            "weather".into(),
            "dir".into(),
            "calendar".into(),
            "bad topic".into(),
        ],
        &builtin,
    ));
    assert_eq!(ok, ["weather"]);
    assert_eq!(
        refused,
        [
            "dir: restricted to built-in providers",
            "calendar: restricted to built-in providers",
            "bad topic: invalid topic name"
        ]
    );
    let (ok, refused) = topics(host.register(2, vec!["weather".into()], &builtin));
    assert!(ok.is_empty());
    assert_eq!(refused, ["weather: already served by weather"]);
    // Registering again is harmless; leaving releases the topic.
    assert_eq!(
        topics(host.register(1, vec!["weather".into()], &builtin)).0,
        ["weather"]
    );
    host.remove(1);
    assert_eq!(host.owner("weather"), None);
    assert_eq!(
        topics(host.register(2, vec!["weather".into()], &builtin)).0,
        ["weather"]
    );
}

#[test]
fn replies_map_to_bodies_or_errors() {
    let body = reply_body(json!({"response":0,"city":"Oslo","request_id":9,"topic":"x"})).unwrap();
    assert_eq!(Value::Object(body), json!({"city":"Oslo"}));
    let e = reply_body(json!({"response":404,"error":{"message":"no such city"}})).unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        (ErrorCode::NotFound, "no such city")
    );
    let e = reply_body(json!({"response":299})).unwrap_err();
    assert_eq!(e.code, ErrorCode::BadRequest);
    assert!(reply_body(json!([1])).is_err());
    assert!(is_pending(&json!({"response":0,"pending":true})));
    assert!(!is_pending(&json!({"response":503,"pending":true})));
    assert!(!is_pending(&json!({"pending":"yes"})));
}

#[test]
fn a_pending_entry_stays_until_the_final_answer() {
    let (host, _rx) = host_with(&[(1, "weather")]);
    let (tx, mut rx) = mpsc::unbounded_channel();
    host.lock()
        .conns
        .get_mut(&1)
        .map(|c| c.pending.insert(7, tx));
    host.complete(1, 7, json!({"response":0,"pending":true}));
    host.complete(2, 7, json!({"response":0,"from":"another plug-in"}));
    host.complete(1, 7, json!({"response":0,"done":true}));
    host.complete(1, 7, json!({"response":0,"late":true}));
    assert_eq!(
        rx.try_recv().ok(),
        Some(json!({"response":0,"pending":true}))
    );
    assert_eq!(rx.try_recv().ok(), Some(json!({"response":0,"done":true})));
    assert!(rx.try_recv().is_err(), "nothing after the final answer");
}
