//! The `dir` topic over the wire, against the real binary: the system directory by token
//! with max and sort, personal contacts (private to their owner: 404 for anyone else),
//! distribution lists, speed dials, vCard and CSV import and upload, presence from SIP
//! registrations with live `presence_changed` events, and per-object permissions that
//! follow an administrator's grants.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::cas::ok;
use std::time::{Duration, Instant};

use common::cas::{CasClient, ws_connect, ws_recv_where, ws_send};
use common::{Server, Ua};
use serde_json::{Value, json};

fn names(r: &Value) -> Vec<String> {
    r["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

/// Long-polls until an event satisfies `pred` (bounded).
fn wait_event(c: &CasClient, pred: impl Fn(&Value) -> bool) -> Value {
    c.event_where(Duration::from_secs(6), "such", pred)
}

#[test]
fn system_directory_by_token_with_max_and_sort() {
    let srv = Server::default_start();
    let mut alice = CasClient::login(&srv, "alice");
    for u in ["vincent", "vanessa", "valerie"] {
        ok(alice.call(
            "admin",
            "user_add",
            json!({"user": u, "password": "pw-123456"}),
        ));
    }
    let mut bob = CasClient::login(&srv, "bob");
    let r = ok(bob.call("dir", "lookup_contacts", json!({"tokens": ["V"], "max": 2})));
    assert_eq!(r["total"], 3, "{r}");
    assert_eq!(names(&r), ["valerie", "vanessa"]);
    let first = &r["contacts"][0];
    assert_eq!(first["kind"], "system");
    assert_eq!(first["user"], "valerie@example.test");
    assert_eq!(first["sip"], "sip:valerie@example.test");
    assert_eq!(
        first["permissions"],
        json!({"edit": false, "delete": false, "call": true})
    );
    // All tokens must match; only the fields asked for come back.
    let r = ok(bob.call(
        "dir",
        "lookup_contacts",
        json!({"tokens": ["va", "van"], "fields": ["name"]}),
    ));
    assert_eq!(names(&r), ["vanessa"]);
    assert!(r["contacts"][0].get("sip").is_none(), "{r}");

    // Personal contacts mix in and sort by last name or company.
    for (name, last, company) in [
        ("Vera Zorn", "Zorn", "Acme"),
        ("Vic Adler", "Adler", "Zeta"),
    ] {
        ok(bob.call(
            "dir",
            "contact_add",
            json!({"name": name, "last": last, "company": company}),
        ));
    }
    let r = ok(bob.call(
        "dir",
        "lookup_contacts",
        json!({"tokens": ["v"], "scope": "personal", "sort": "last"}),
    ));
    assert_eq!(names(&r), ["Vic Adler", "Vera Zorn"]);
    let r = ok(bob.call(
        "dir",
        "lookup_contacts",
        json!({"tokens": ["v"], "sort": "company"}),
    ));
    assert_eq!(r["total"], 5);
    assert_eq!(names(&r)[..2], ["Vera Zorn", "Vic Adler"]);
    assert_eq!(r["contacts"][0]["kind"], "personal");
    // Alice sees none of Bob's contacts.
    let r = ok(alice.call("dir", "lookup_contacts", json!({"tokens": ["v"]})));
    assert_eq!(names(&r), ["valerie", "vanessa", "vincent"]);

    let r = bob.call("dir", "lookup_contacts", json!({"sort": "age"}));
    assert_eq!(r["response"], 400, "{r}");
    let r = bob.call("dir", "lookup_contacts", json!({"colour": "red"}));
    assert_eq!(r["response"], 400, "{r}");
}

#[test]
fn personal_contacts_are_private_to_their_owner() {
    let srv = Server::default_start();
    let mut bob = CasClient::login(&srv, "bob");
    let mut bob2 = CasClient::login(&srv, "bob");
    ok(bob2.call("sub", "subscribe", json!({"to": "dir"})));
    let r = ok(bob.call(
        "dir",
        "contact_add",
        json!({"name": "Vincent van Gogh", "first": "Vincent", "phones": ["+31 20 570 5200"],
               "emails": ["vincent@example.nl"], "sip": "vincent@example.nl"}),
    ));
    let c = &r["contact"];
    let id = c["id"].as_i64().unwrap();
    assert_eq!(c["kind"], "personal");
    assert_eq!(c["sip"], "sip:vincent@example.nl");
    assert_eq!(
        c["permissions"],
        json!({"edit": true, "delete": true, "call": true})
    );
    // Bob's other client hears of it.
    let e = wait_event(&bob2, |e| e["message"] == "contact_changed");
    assert_eq!(
        (e["change"].clone(), e["id"].clone()),
        (json!("added"), json!(id))
    );

    let r = ok(bob.call(
        "dir",
        "contact_update",
        json!({"id": id, "company": "Art Co", "emails": null}),
    ));
    assert_eq!(r["contact"]["company"], "Art Co");
    assert!(r["contact"].get("emails").is_none(), "{r}");
    let r = ok(bob.call("dir", "contact_get", json!({"id": id})));
    assert_eq!(r["contact"]["phones"], json!(["+31 20 570 5200"]));
    let r = ok(bob.call("dir", "lookup_contacts", json!({"tokens": ["570"]})));
    assert_eq!(r["contacts"][0]["id"], id);

    // Carol cannot tell Bob's contact from one that does not exist.
    let mut carol = CasClient::login(&srv, "carol");
    for (m, fields) in [
        ("contact_get", json!({"id": id})),
        ("contact_update", json!({"id": id, "name": "mine"})),
        ("contact_delete", json!({"id": id})),
    ] {
        let r = carol.call("dir", m, fields);
        assert_eq!(r["response"], 404, "{m}: {r}");
    }
    let r = ok(carol.call("dir", "lookup_contacts", json!({"tokens": ["vincent"]})));
    assert_eq!(r["total"], 0);

    // Bad input names the problem.
    let r = bob.call("dir", "contact_add", json!({"first": "x"}));
    assert_eq!(r["response"], 400, "{r}");
    let r = bob.call(
        "dir",
        "contact_add",
        json!({"name": "x", "phones": ["call me maybe"]}),
    );
    assert!(
        r["error"]["message"].as_str().unwrap().contains("phone"),
        "{r}"
    );

    ok(bob.call("dir", "contact_delete", json!({"id": id})));
    let r = bob.call("dir", "contact_get", json!({"id": id}));
    assert_eq!(r["response"], 404, "{r}");
}

#[test]
fn distribution_lists_and_speed_dials() {
    let srv = Server::default_start();
    let mut bob = CasClient::login(&srv, "bob");
    let zed = ok(bob.call("dir", "contact_add", json!({"name": "Zed"})))["contact"]["id"].clone();
    let list = ok(bob.call("dir", "list_create", json!({"name": "team"})))["list"].clone();
    assert_eq!(list["permissions"], json!({"edit": true, "delete": true}));
    let id = list["id"].clone();
    let r = bob.call("dir", "list_create", json!({"name": "team"}));
    assert_eq!(r["response"], 409, "{r}");
    ok(bob.call("dir", "list_add", json!({"id": id, "member": zed})));
    ok(bob.call("dir", "list_add", json!({"id": id, "member": "carol"})));
    let r = bob.call("dir", "list_add", json!({"id": id, "member": "nobody"}));
    assert_eq!(r["response"], 404, "{r}");
    let lists = ok(bob.call("dir", "lists", json!({})))["lists"].clone();
    assert_eq!(lists[0]["name"], "team");
    assert_eq!(
        lists[0]["members"],
        json!([
            {"kind": "personal", "id": zed, "name": "Zed"},
            {"kind": "system", "user": "carol@example.test", "name": "carol"}
        ])
    );
    // Not Carol's list to change; deleting the contact takes it off the list.
    let mut carol = CasClient::login(&srv, "carol");
    let r = carol.call("dir", "list_add", json!({"id": id, "member": "carol"}));
    assert_eq!(r["response"], 404, "{r}");
    assert_eq!(
        ok(carol.call("dir", "lists", json!({})))["lists"],
        json!([])
    );
    ok(bob.call("dir", "contact_delete", json!({"id": zed})));
    let r = ok(bob.call("dir", "list_remove", json!({"id": id, "member": "carol"})));
    assert_eq!(r["list"]["members"], json!([]));
    ok(bob.call("dir", "list_delete", json!({"id": id})));
    assert_eq!(ok(bob.call("dir", "lists", json!({})))["lists"], json!([]));

    ok(bob.call(
        "dir",
        "speed_dial_set",
        json!({"key": "2", "target": "carol"}),
    ));
    ok(bob.call(
        "dir",
        "speed_dial_set",
        json!({"key": 1, "target": "+1 555 0100"}),
    ));
    ok(bob.call(
        "dir",
        "speed_dial_set",
        json!({"key": "2", "target": "alice"}),
    ));
    let dials = ok(bob.call("dir", "speed_dials", json!({})))["speed_dials"].clone();
    assert_eq!(dials[0]["key"], "1");
    assert_eq!(dials[1]["target"], "alice");
    assert_eq!(dials.as_array().unwrap().len(), 2);
    let r = bob.call(
        "dir",
        "speed_dial_set",
        json!({"key": "100", "target": "x"}),
    );
    assert_eq!(r["response"], 400, "{r}");
    ok(bob.call("dir", "speed_dial_delete", json!({"key": 1})));
    let r = bob.call("dir", "speed_dial_delete", json!({"key": 1}));
    assert_eq!(r["response"], 404, "{r}");
    assert_eq!(
        ok(carol.call("dir", "speed_dials", json!({})))["speed_dials"],
        json!([])
    );
}

const VCARDS: &str = "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Vincent van Gogh\r\n\
    N:van Gogh;Vincent;;;\r\nTEL;TYPE=work:+31 20 570 5200\r\nEMAIL:vincent@example.nl\r\n\
    ORG:Art Co\r\nNOTE:Painter of sunflowers\\, irises and a long note that is\r\n  folded\r\n\
    IMPP:sip:vincent@example.nl\r\nEND:VCARD\r\n\
    BEGIN:VCARD\r\nVERSION:3.0\r\nTEL:not a number\r\nFN:Broken\r\nEND:VCARD\r\n\
    BEGIN:VCARD\r\nVERSION:3.0\r\nN:Bell;Vanessa\r\nX-SIP:vanessa@example.test\r\nEND:VCARD\r\n";

#[test]
fn vcard_and_csv_import_and_upload() {
    let srv = Server::default_start();
    let mut bob = CasClient::login(&srv, "bob");
    let r = ok(bob.call("dir", "import", json!({"format": "vcard", "data": VCARDS})));
    assert_eq!(r["imported"], 2, "{r}");
    assert_eq!(r["errors"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(r["errors"][0]["line"], 12, "{r}");
    assert!(
        r["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("phone")
    );
    let r = ok(bob.call(
        "dir",
        "lookup_contacts",
        json!({"tokens": ["sunflowers"], "fields": ["notes"]}),
    ));
    assert_eq!(names(&r), ["Vincent van Gogh"]);
    assert!(
        r["contacts"][0]["notes"]
            .as_str()
            .unwrap()
            .ends_with("is folded")
    );
    let r = ok(bob.call("dir", "lookup_contacts", json!({"tokens": ["bell"]})));
    assert_eq!(r["contacts"][0]["name"], "Vanessa Bell");
    assert_eq!(r["contacts"][0]["sip"], "sip:vanessa@example.test");

    let csv = "Name,Phone,E-mail,Company\n\"Adler, Vic\",100;101,vic@example.com,Zeta\n\
               \"Broken\"x,1\nDora,200\n";
    let r = ok(bob.call("dir", "import", json!({"format": "csv", "data": csv})));
    assert_eq!(r["imported"], 2, "{r}");
    assert_eq!(
        r["errors"],
        json!([{"line": 3, "message": r["errors"][0]["message"]}])
    );
    let r = ok(bob.call("dir", "lookup_contacts", json!({"tokens": ["adler"]})));
    assert_eq!(r["contacts"][0]["phones"], json!(["100", "101"]));

    // Upload: the format comes from the extension.
    let r = ok(bob.call(
        "dir",
        "upload",
        json!({"filename": "team.CSV", "content": "first,last\nEve,Ode\n"}),
    ));
    assert_eq!(
        (r["format"].clone(), r["imported"].clone()),
        (json!("csv"), json!(1))
    );
    let r = ok(bob.call(
        "dir",
        "upload",
        json!({"filename": "one.vcf", "content": "BEGIN:VCARD\nFN:Fay\nEND:VCARD\n"}),
    ));
    assert_eq!(r["imported"], 1, "{r}");
    let r = bob.call(
        "dir",
        "upload",
        json!({"filename": "contacts.xlsx", "content": "x"}),
    );
    assert_eq!(r["response"], 400, "{r}");
    assert!(
        r["error"]["message"].as_str().unwrap().contains(".vcf"),
        "{r}"
    );
    let r = ok(bob.call("dir", "lookup_contacts", json!({"scope": "personal"})));
    assert_eq!(r["total"], 6, "{r}");

    // Too many records at once.
    let big = format!("name\n{}", "x\n".repeat(5001));
    let r = bob.call("dir", "import", json!({"format": "csv", "data": big}));
    assert_eq!(r["response"], 413, "{r}");
}

/// Looks `bob` up with presence until his state is `state` (registration events are
/// followed asynchronously).
fn bob_presence(alice: &mut CasClient, state: &str, subscribe: bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let r = ok(alice.call(
            "dir",
            "lookup_contacts",
            json!({"tokens": ["bob"], "presence": true, "subscribe": subscribe}),
        ));
        if r["contacts"][0]["presence"]["state"] == state || Instant::now() > deadline {
            return r;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn presence_follows_registrations_live() {
    let srv = Server::default_start();
    let mut alice = CasClient::login(&srv, "alice");
    let r = bob_presence(&mut alice, "offline", false);
    assert_eq!(r["contacts"][0]["presence"]["state"], "offline", "{r}");
    assert_eq!(r["contacts"][0]["presence"]["classes"]["voice"], "offline");

    let mut ua = Ua::new(&srv, "bob");
    let contact = format!("<{}>", ua.contact_uri());
    assert_eq!(ua.register(&[&contact], Some(600)).status(), Some(200));
    // Presence is the presence service's compound view: a registered phone makes voice
    // (and so the person) `available`.
    let r = bob_presence(&mut alice, "available", true);
    assert_eq!(r["contacts"][0]["user"], "bob@example.test");
    assert_eq!(
        r["contacts"][0]["presence"]["classes"]["voice"], "available",
        "{r}"
    );

    // A WebSocket client subscribes the same way and hears the same change.
    let mut ws = ws_connect(&srv, "/cas/ws");
    let pw = srv.password("carol");
    ws_send(
        &mut ws,
        &json!({"topic": "session", "message": "login", "user": "carol", "password": pw}),
    );
    ws_recv_where(&mut ws, |m| m["message"] == "login").unwrap();
    ws_send(
        &mut ws,
        &json!({"topic": "dir", "message": "lookup_contacts", "tokens": ["bob"],
                "presence": true, "subscribe": true, "request_id": 7}),
    );
    let reply = ws_recv_where(&mut ws, |m| m["request_id"] == 7).unwrap();
    assert_eq!(
        reply["contacts"][0]["presence"]["state"], "available",
        "{reply}"
    );

    // Bob unregisters: both subscribers hear it. (The notice of his registration may still
    // arrive first when it raced with the lookup that subscribed; it is skipped.)
    assert_eq!(ua.register(&[&contact], Some(0)).status(), Some(200));
    let offline =
        |e: &Value| e["message"] == "presence_changed" && e["presence"]["state"] == "offline";
    let e = wait_event(&alice, offline);
    assert_eq!(e["topic"], "dir");
    assert_eq!(e["user"], "bob@example.test");
    assert_eq!(e["presence"]["classes"]["voice"], "offline");
    let e = ws_recv_where(&mut ws, offline).unwrap();
    assert_eq!(e["presence"]["state"], "offline");
    let r = bob_presence(&mut alice, "offline", false);
    assert_eq!(r["contacts"][0]["presence"]["state"], "offline");
}

#[test]
fn write_permission_follows_the_administrator() {
    let srv = Server::default_start();
    let mut bob = CasClient::login(&srv, "bob");
    let id = ok(bob.call("dir", "contact_add", json!({"name": "Ann"})))["contact"]["id"].clone();
    let mut alice = CasClient::login(&srv, "alice");
    ok(alice.call(
        "admin",
        "revoke",
        json!({"role": "user", "action": "dir.*"}),
    ));
    ok(alice.call(
        "admin",
        "grant",
        json!({"role": "user", "action": "dir.read"}),
    ));

    let r = bob.call("dir", "contact_add", json!({"name": "Bea"}));
    assert_eq!(r["response"], 403, "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("dir.write"),
        "{r}"
    );
    for (m, fields) in [
        ("contact_delete", json!({"id": id})),
        ("list_create", json!({"name": "x"})),
        ("import", json!({"format": "csv", "data": "name\nx\n"})),
    ] {
        assert_eq!(bob.call("dir", m, fields)["response"], 403, "{m}");
    }
    let r = ok(bob.call("dir", "lookup_contacts", json!({"tokens": ["ann"]})));
    assert_eq!(
        r["contacts"][0]["permissions"],
        json!({"edit": false, "delete": false, "call": true})
    );
    let r = ok(bob.call("dir", "contact_get", json!({"id": id})));
    assert_eq!(r["contact"]["permissions"]["edit"], false);

    // Granted back: the next request is judged by the new rule.
    ok(alice.call(
        "admin",
        "grant",
        json!({"role": "user", "action": "dir.write"}),
    ));
    let r = ok(bob.call("dir", "lookup_contacts", json!({"tokens": ["ann"]})));
    assert_eq!(r["contacts"][0]["permissions"]["edit"], true);
    ok(bob.call("dir", "contact_add", json!({"name": "Bea"})));
}
