//! One call record as one party sees it: direction, the other party, the party's device, the
//! times, the party's note and what the party may do with it. Pure.

use cas_proto::{CasError, Object};
use serde_json::json;
use store::CallRecord;

use crate::perms::PermSet;

/// The longest note accepted, in characters.
pub const MAX_NOTE: usize = 1000;

/// How a call looks from one side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The party called.
    Placed,
    /// The party was called and the call was answered.
    Received,
    /// The party was called and nobody answered (busy, cancelled, timed out, declined).
    Missed,
}

impl Direction {
    pub fn of(rec: &CallRecord, party: &str) -> Direction {
        if rec.caller == party {
            Direction::Placed
        } else if rec.answered_at.is_some() {
            Direction::Received
        } else {
            Direction::Missed
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Placed => "placed",
            Direction::Received => "received",
            Direction::Missed => "missed",
        }
    }
}

/// Checks a `list` filter; the store takes it as written.
pub fn check_filter(filter: &str) -> Result<&str, CasError> {
    match filter {
        "all" | "placed" | "received" | "missed" => Ok(filter),
        other => Err(CasError::bad_request(format!(
            "unknown filter '{other}': all, placed, received or missed"
        ))),
    }
}

/// The party's permissions on their entries.
pub fn permissions(perms: &PermSet) -> serde_json::Value {
    json!({
        "delete": perms.allows("history.delete"),
        "annotate": perms.allows("history.annotate"),
    })
}

/// The entry as `party` (`sip:user@domain`) sees it.
pub fn entry_json(rec: &CallRecord, party: &str, note: Option<&str>, perms: &PermSet) -> Object {
    let direction = Direction::of(rec, party);
    let (peer, device) = match direction {
        Direction::Placed => (&rec.callee, &rec.caller_device),
        Direction::Received | Direction::Missed => (&rec.caller, &rec.callee_device),
    };
    let duration_s = rec
        .answered_at
        .map_or(0, |a| rec.ended_at.saturating_sub(a).max(0) / 1000);
    let mut o = Object::new();
    o.insert("id".into(), json!(rec.id));
    o.insert("direction".into(), json!(direction.as_str()));
    o.insert("peer".into(), json!(peer));
    if let Some(d) = device {
        o.insert("device".into(), json!(d));
    }
    o.insert("started_at".into(), json!(rec.started_at));
    if let Some(a) = rec.answered_at {
        o.insert("answered_at".into(), json!(a));
    }
    o.insert("ended_at".into(), json!(rec.ended_at));
    o.insert("duration_s".into(), json!(duration_s));
    o.insert("disposition".into(), json!(rec.disposition));
    o.insert("status".into(), json!(rec.status));
    if let Some(n) = note {
        o.insert("note".into(), json!(n));
    }
    o.insert("permissions".into(), permissions(perms));
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(answered: bool) -> CallRecord {
        CallRecord {
            id: "c1".into(),
            call_id: "x".into(),
            caller: "sip:alice@example.test".into(),
            callee: "sip:bob@example.test".into(),
            caller_device: Some("sip:alice@10.0.0.1:5060".into()),
            callee_device: answered.then(|| "sip:bob@10.0.0.2:5060".into()),
            started_at: 10_000,
            answered_at: answered.then_some(12_000),
            ended_at: 74_500,
            disposition: if answered { "answered" } else { "cancelled" }.into(),
            status: if answered { 200 } else { 487 },
        }
    }

    #[test]
    fn each_side_sees_its_own_entry() {
        let perms = PermSet::new("user", ["history.*".to_owned()]);
        let r = rec(true);
        let a = entry_json(&r, "sip:alice@example.test", None, &perms);
        assert_eq!(a["direction"], "placed");
        assert_eq!(a["peer"], "sip:bob@example.test");
        assert_eq!(a["device"], "sip:alice@10.0.0.1:5060");
        assert_eq!(a["duration_s"], 62);
        assert_eq!(a["permissions"], json!({"delete": true, "annotate": true}));
        let b = entry_json(&r, "sip:bob@example.test", Some("hi"), &perms);
        assert_eq!(b["direction"], "received");
        assert_eq!(b["peer"], "sip:alice@example.test");
        assert_eq!(b["device"], "sip:bob@10.0.0.2:5060");
        assert_eq!(b["note"], "hi");

        let m = entry_json(
            &rec(false),
            "sip:bob@example.test",
            None,
            &PermSet::new("user", ["history.read".to_owned()]),
        );
        assert_eq!(m["direction"], "missed");
        assert_eq!(m["duration_s"], 0);
        assert!(m.get("device").is_none() && m.get("answered_at").is_none());
        assert_eq!(
            m["permissions"],
            json!({"delete": false, "annotate": false})
        );
        assert!(check_filter("missed").is_ok());
        assert!(check_filter("lost").is_err());
    }
}
