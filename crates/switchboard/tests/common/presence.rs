//! SIP presence helpers shared by the presence tests: SUBSCRIBE/NOTIFY/PUBLISH from a test
//! `Ua`, PIDF bodies, and reading what a watcher received.

use sip::{HeaderName, Message};

use super::calls::is_request;
use super::{DOMAIN, Request, Ua, WAIT};

/// A SUBSCRIBE from `ua` for `user`'s presence (no Accept, like real phones).
pub fn subscribe_req(ua: &mut Ua, user: &str, event: &str, expires: u32) -> Request {
    let uri = format!("sip:{user}@{DOMAIN}");
    let contact = format!("<{}>", ua.contact_uri());
    ua.request("SUBSCRIBE", &uri, &format!("<{uri}>"))
        .header("Contact", &contact)
        .header("Event", event)
        .header("Expires", &expires.to_string())
}

/// The next NOTIFY, answered with `code`.
pub fn notify(ua: &mut Ua, code: u16) -> Message {
    let n = ua
        .recv_where(WAIT, |m| is_request(m, "NOTIFY"))
        .expect("a NOTIFY should arrive");
    let reason = if code == 200 { "OK" } else { "Failure" };
    ua.reply(&n, code, reason, "unused", &[], None);
    n
}

pub fn sub_state(n: &Message) -> String {
    n.header_named("Subscription-State")
        .unwrap_or_default()
        .to_owned()
}

pub fn body(n: &Message) -> String {
    String::from_utf8_lossy(n.body()).into_owned()
}

/// The `<tuple id="…">` element of a PIDF body.
pub fn tuple(doc: &str, id: &str) -> String {
    let start = doc
        .find(&format!("<tuple id=\"{id}\""))
        .unwrap_or_else(|| panic!("no tuple {id} in {doc}"));
    let end = doc[start..].find("</tuple>").unwrap() + start;
    doc[start..end].to_owned()
}

/// A subscription as the watcher sees it: where in-dialog requests go.
pub struct SubDialog {
    pub to: String,
    pub target: String,
}

/// Subscribes (with digest) and returns the 2xx and the first NOTIFY (answered 200).
pub fn subscribe(
    ua: &mut Ua,
    user: &str,
    event: &str,
    expires: u32,
) -> (Message, Message, SubDialog) {
    ua.new_call();
    let req = subscribe_req(ua, user, event, expires);
    let resp = ua.authenticated(&req, None);
    assert!(
        matches!(resp.status(), Some(200 | 202)),
        "SUBSCRIBE answered {:?}",
        resp.status()
    );
    let n = notify(ua, 200);
    let target = match resp.contacts().first() {
        Some(sip::ContactValue::Addr(a)) => a.uri.raw().to_owned(),
        other => panic!("2xx to SUBSCRIBE without Contact: {other:?}"),
    };
    let d = SubDialog {
        to: resp.header(HeaderName::To).unwrap().to_owned(),
        target,
    };
    (resp, n, d)
}

pub fn resubscribe(ua: &mut Ua, d: &SubDialog, event: &str, expires: u32) -> Message {
    let contact = format!("<{}>", ua.contact_uri());
    let r = ua
        .request("SUBSCRIBE", &d.target, &d.to)
        .header("Contact", &contact)
        .header("Event", event)
        .header("Expires", &expires.to_string());
    ua.transact(&r)
}

/// A PUBLISH of `doc` (None: refresh/remove) from `ua` for its own AOR.
pub fn publish(ua: &mut Ua, doc: Option<&str>, etag: Option<&str>, expires: u32) -> Message {
    ua.new_call();
    let aor = ua.aor();
    let mut r = ua
        .request("PUBLISH", &aor, &format!("<{aor}>"))
        .header("Event", "presence")
        .header("Expires", &expires.to_string());
    if let Some(e) = etag {
        r = r.header("SIP-If-Match", e);
    }
    if let Some(d) = doc {
        r.content_type = Some("application/pidf+xml".into());
        r.body = d.as_bytes().to_vec();
    }
    ua.authenticated(&r, None)
}

pub fn pidf(user: &str, basic: &str, activity: Option<&str>) -> String {
    let act = activity
        .map(|a| {
            format!(
                "<dm:person id=\"p4159\"><rpid:activities><rpid:{a}/></rpid:activities></dm:person>"
            )
        })
        .unwrap_or_default();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" xmlns:dm=\"urn:ietf:params:xml:ns:pidf:data-model\" xmlns:rpid=\"urn:ietf:params:xml:ns:pidf:rpid\" entity=\"sip:{user}@{DOMAIN}\">{act}<tuple id=\"t4109\"><status><basic>{basic}</basic></status><contact>sip:{user}@{DOMAIN}</contact></tuple></presence>"
    )
}

pub fn etag_of(resp: &Message) -> String {
    resp.header_named("SIP-ETag")
        .expect("200 to PUBLISH without SIP-ETag")
        .to_owned()
}

pub fn register(ua: &mut Ua, params: &str) {
    let c = format!("<{}>{params}", ua.contact_uri());
    assert_eq!(ua.register(&[&c], Some(600)).status(), Some(200));
}

/// The final status of `req`, answering a digest challenge if one comes (malformed requests
/// may be refused before authentication).
pub fn status_maybe_challenged(ua: &mut Ua, req: &Request) -> u16 {
    let first = ua.transact(req);
    let code = first.status().unwrap();
    if code != 407 {
        return code;
    }
    let r = ua.authorize(req, &super::challenges(&first), code, None);
    ua.send(&r);
    ua.final_response(&r, WAIT).unwrap().status().unwrap()
}
