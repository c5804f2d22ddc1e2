//! The `config` provider against an in-memory store, with roles built by hand.

use std::sync::Arc;

use cas_proto::{ErrorCode, Request};
use serde_json::{Value, json};

use super::*;
use crate::perms::PermSet;
use crate::routing::{CallPolicy, Forwarding};

async fn setup() -> (CallHandling, CallModes, Bus) {
    let s = Store::open_memory().await.unwrap();
    s.add_domain("example.test").await.unwrap();
    for u in ["bob", "carol"] {
        s.add_user("example.test", u, "pw").await.unwrap();
    }
    let modes = CallModes::load(&s).await.unwrap();
    let bus = Bus::default();
    (CallHandling::new(s, bus.clone(), modes.clone()), modes, bus)
}

fn bob(grants: &[&str]) -> Caller {
    Caller {
        user: "bob".into(),
        domain: "example.test".into(),
        perms: Arc::new(PermSet::new("user", grants.iter().map(|g| (*g).to_owned()))),
        session: 1,
    }
}

async fn call(
    p: &CallHandling,
    c: &Caller,
    message: &str,
    fields: Value,
) -> Result<Value, CasError> {
    let mut v = fields;
    v["topic"] = json!("config");
    v["message"] = json!(message);
    let req = Request::from_value(v).unwrap();
    SPEC.message(message).unwrap().validate(&req)?;
    match p.handle(c, &req).await? {
        Outcome::Done(o) => Ok(Value::Object(o)),
        Outcome::Pending(_) => panic!("config never defers"),
    }
}

#[tokio::test]
async fn modes_route_calls_and_notify() {
    let (p, modes, bus) = setup().await;
    let mut rx = bus.subscribe();
    let c = bob(&["config.*"]);

    let got = call(&p, &c, "get", json!({})).await.unwrap();
    assert_eq!(got["mode"], "available");
    assert_eq!(got["forwarding"], json!({"action": "ring_devices"}));
    assert_eq!(got["permissions"]["forward"], true);

    let r = call(
        &p,
        &c,
        "configure",
        json!({"mode": "meeting", "action": "forward", "target": "carol"}),
    )
    .await
    .unwrap();
    assert_eq!(r["forwarding"]["resolved"], "carol@example.test");
    assert_eq!(r["current"], false);
    assert_eq!(
        modes.forwarding("bob@example.test"),
        Forwarding::RingDevices
    );

    let r = call(&p, &c, "set", json!({"mode": "meeting"}))
        .await
        .unwrap();
    assert_eq!(r["forwarding"]["target"], "carol");
    assert_eq!(
        modes.forwarding("bob@example.test"),
        Forwarding::ForwardTo("carol@example.test".into())
    );

    // Both changes were announced to bob's sessions.
    let mut seen = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        if let BusEvent::Notice {
            topic,
            audience,
            event,
            ..
        } = ev
        {
            assert_eq!(topic, "config");
            assert_eq!(audience, Audience::Users(vec!["bob@example.test".into()]));
            seen.push(event["message"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(seen, ["forwarding_changed", "mode_changed"]);

    // A number that is no local user is kept as typed.
    call(
        &p,
        &c,
        "configure",
        json!({"mode": "meeting", "action": "forward", "target": "5551234"}),
    )
    .await
    .unwrap();
    assert_eq!(
        modes.forwarding("bob@example.test"),
        Forwarding::ForwardTo("5551234".into())
    );

    // Defaults of the other modes, and the custom label survives a switch.
    call(&p, &c, "set", json!({"mode": "custom", "label": "Gym"}))
        .await
        .unwrap();
    call(&p, &c, "set", json!({"mode": "out_of_office"}))
        .await
        .unwrap();
    assert_eq!(modes.forwarding("bob@example.test"), Forwarding::Voicemail);
    let all = call(&p, &c, "modes", json!({})).await.unwrap();
    let list = all["modes"].as_array().unwrap();
    assert_eq!(list.len(), 5);
    let custom = list.iter().find(|m| m["mode"] == "custom").unwrap();
    assert_eq!(custom["label"], "Gym");
    assert_eq!(custom["current"], false);

    // A restart loads the same choices.
    let reloaded = CallModes::load(&p.store).await.unwrap();
    assert_eq!(
        reloaded.user("bob@example.test"),
        modes.user("bob@example.test")
    );
}

#[tokio::test]
async fn menu_and_checks_follow_permissions() {
    let (p, _, _) = setup().await;
    let all = bob(&["config.*"]);
    let menu = call(&p, &all, "menu", json!({})).await.unwrap();
    assert_eq!(
        menu["actions"],
        json!(["ring_devices", "forward", "voicemail"])
    );
    assert_eq!(menu["modes"].as_array().unwrap().len(), 5);

    let no_forward = bob(&["config.read", "config.write", "config.voicemail"]);
    let menu = call(&p, &no_forward, "menu", json!({})).await.unwrap();
    assert_eq!(menu["actions"], json!(["ring_devices", "voicemail"]));
    assert_eq!(menu["permissions"]["forward"], false);
    let e = call(
        &p,
        &no_forward,
        "configure",
        json!({"mode": "meeting", "action": "forward", "target": "carol"}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::NotPermitted);
    assert!(e.message.contains("config.forward"), "{e}");

    let read_only = bob(&["config.read"]);
    let menu = call(&p, &read_only, "menu", json!({})).await.unwrap();
    assert_eq!(menu["actions"], json!([]));
    assert_eq!(menu["modes"], json!([]));

    for (fields, needle) in [
        (
            json!({"mode": "asleep", "action": "voicemail"}),
            "unknown mode",
        ),
        (
            json!({"mode": "meeting", "action": "teleport"}),
            "unknown action",
        ),
        (json!({"mode": "meeting", "action": "forward"}), "target"),
        (
            json!({"mode": "meeting", "action": "voicemail", "target": "carol"}),
            "target",
        ),
        (
            json!({"mode": "meeting", "action": "forward", "target": "a b"}),
            "target",
        ),
    ] {
        let e = call(&p, &all, "configure", fields).await.unwrap_err();
        assert_eq!(e.code, ErrorCode::BadRequest);
        assert!(e.message.contains(needle), "{e}");
    }
    let e = call(&p, &all, "set", json!({"mode": "meeting", "label": "x"}))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::BadRequest);
}
