//! The envelope: standard headers, typed field access with errors that name the field, replies,
//! events, and bulk requests (DESIGN.md §3).

use serde_json::{Value, json};

use crate::Object;
use crate::error::CasError;

/// The standard header names; a message's own fields are everything else.
pub const HEADERS: [&str; 6] = [
    "topic",
    "message",
    "timestamp",
    "sequence_id",
    "request_id",
    "subscribe",
];

/// A request from a client (or one element of a bulk request).
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub topic: String,
    pub message: String,
    pub timestamp: Option<i64>,
    pub sequence_id: Option<u64>,
    /// Chosen by the client (number or string), echoed in the reply and async completions.
    pub request_id: Option<Value>,
    /// Also deliver updates of what this request returns.
    pub subscribe: bool,
    pub fields: Object,
}

fn type_error(name: &str, want: &str) -> CasError {
    CasError::bad_request(format!("field '{name}' must be {want}"))
}

impl Request {
    pub fn from_value(v: Value) -> Result<Request, CasError> {
        let Value::Object(mut map) = v else {
            return Err(CasError::bad_request("a message must be an object"));
        };
        let mut take_str = |name: &str| match map.remove(name) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s),
            Some(_) => Err(type_error(name, "a non-empty string")),
            None => Err(CasError::bad_request(format!("missing field '{name}'"))),
        };
        let topic = take_str("topic")?;
        let message = take_str("message")?;
        let timestamp = match map.remove("timestamp") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_i64()
                    .ok_or_else(|| type_error("timestamp", "an integer"))?,
            ),
        };
        let sequence_id = match map.remove("sequence_id") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_u64()
                    .ok_or_else(|| type_error("sequence_id", "a non-negative integer"))?,
            ),
        };
        let request_id = match map.remove("request_id") {
            None | Some(Value::Null) => None,
            Some(v @ (Value::Number(_) | Value::String(_))) => Some(v),
            Some(_) => return Err(type_error("request_id", "a number or a string")),
        };
        let subscribe = match map.remove("subscribe") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => b,
            Some(_) => return Err(type_error("subscribe", "a boolean")),
        };
        Ok(Request {
            topic,
            message,
            timestamp,
            sequence_id,
            request_id,
            subscribe,
            fields: map,
        })
    }

    pub fn is_bulk(&self) -> bool {
        self.topic == "bulk"
    }

    /// A required string field.
    pub fn str(&self, name: &str) -> Result<&str, CasError> {
        self.opt_str(name)?
            .ok_or_else(|| CasError::bad_request(format!("missing field '{name}'")))
    }

    pub fn opt_str(&self, name: &str) -> Result<Option<&str>, CasError> {
        match self.fields.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(type_error(name, "a string")),
        }
    }

    pub fn opt_u64(&self, name: &str) -> Result<Option<u64>, CasError> {
        match self.fields.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| type_error(name, "a non-negative integer")),
        }
    }

    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>, CasError> {
        match self.fields.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(type_error(name, "a boolean")),
        }
    }

    /// A list of strings; a single string is accepted as a one-element list.
    pub fn str_list(&self, name: &str) -> Result<Vec<String>, CasError> {
        match self.fields.get(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(vec![s.clone()]),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| type_error(name, "a list of strings"))
                })
                .collect(),
            Some(_) => Err(type_error(name, "a list of strings")),
        }
    }

    /// The object field `name`, if present.
    pub fn opt_object(&self, name: &str) -> Result<Option<&Object>, CasError> {
        match self.fields.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(o)) => Ok(Some(o)),
            Some(_) => Err(type_error(name, "an object")),
        }
    }

    /// The bulk mode and elements of a `bulk` request.
    pub fn bulk(&self) -> Result<(BulkMode, Vec<Value>), CasError> {
        let mode = match self.opt_str("mode")?.unwrap_or("bulk") {
            "bulk" => BulkMode::Bulk,
            "serial" => BulkMode::Serial,
            "mixed" => BulkMode::Mixed,
            other => {
                return Err(CasError::bad_request(format!(
                    "unknown bulk mode '{other}' (bulk, serial or mixed)"
                )));
            }
        };
        match self.fields.get("requests") {
            Some(Value::Array(items)) if !items.is_empty() => Ok((mode, items.clone())),
            Some(Value::Array(_)) => Err(CasError::bad_request("'requests' is empty")),
            Some(_) => Err(type_error("requests", "a list of messages")),
            None => Err(CasError::bad_request("missing field 'requests'")),
        }
    }
}

/// How the replies of a bulk request come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkMode {
    /// Every reply in one message.
    Bulk,
    /// Each reply as its own message, as it completes.
    Serial,
    /// Synchronous replies now, asynchronous ones later as events.
    Mixed,
}

/// Builds replies. The server stamps `timestamp` and `sequence_id` when it sends them.
pub struct Reply;

impl Reply {
    fn base(topic: &str, message: &str, request_id: Option<&Value>) -> Object {
        let mut o = Object::new();
        o.insert("topic".into(), json!(topic));
        o.insert("message".into(), json!(message));
        if let Some(id) = request_id {
            o.insert("request_id".into(), id.clone());
        }
        o
    }

    /// A successful reply carrying `body`'s fields.
    pub fn ok(req: &Request, body: Object) -> Object {
        let mut o = Reply::base(&req.topic, &req.message, req.request_id.as_ref());
        o.insert("response".into(), json!(0));
        for (k, v) in body {
            if !HEADERS.contains(&k.as_str()) && k != "response" {
                o.insert(k, v);
            }
        }
        o
    }

    /// The immediate reply of an asynchronous request; the completion follows as an event
    /// with the same `request_id`.
    pub fn pending(req: &Request) -> Object {
        let mut o = Reply::base(&req.topic, &req.message, req.request_id.as_ref());
        o.insert("response".into(), json!(0));
        o.insert("pending".into(), json!(true));
        o
    }

    /// An error reply; `req` is `None` when the message could not even be read.
    pub fn error(req: Option<&Request>, err: &CasError) -> Object {
        let mut o = match req {
            Some(r) => Reply::base(&r.topic, &r.message, r.request_id.as_ref()),
            None => Object::new(),
        };
        o.insert("response".into(), json!(err.code.code()));
        o.insert("error".into(), err.to_value());
        o
    }

    /// A reply for a raw bulk element that is not even a valid request: echo what can be.
    pub fn error_for_raw(raw: &Value, err: &CasError) -> Object {
        let mut o = Object::new();
        for h in ["topic", "message", "request_id"] {
            if let Some(v) = raw.get(h) {
                o.insert(h.into(), v.clone());
            }
        }
        o.insert("response".into(), json!(err.code.code()));
        o.insert("error".into(), err.to_value());
        o
    }
}

/// An event pushed to a session (subscription update, async completion, notice).
pub struct Event;

impl Event {
    pub fn build(topic: &str, message: &str, body: Object) -> Object {
        let mut o = Reply::base(topic, message, None);
        for (k, v) in body {
            if k != "topic" && k != "message" {
                o.insert(k, v);
            }
        }
        o
    }

    /// The completion of an asynchronous request: its reply (or error) as an event.
    pub fn completion(req: &Request, result: Result<Object, CasError>) -> Object {
        let mut o = match result {
            Ok(body) => Reply::ok(req, body),
            Err(e) => Reply::error(Some(req), &e),
        };
        o.insert("completion".into(), json!(true));
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_and_fields() {
        let r = Request::from_value(json!({"topic":"dir","message":"lookup_contacts",
            "timestamp":1291231894934i64,"sequence_id":26,"request_id":"r1","tokens":["van"],"max":25,"subscribe":true}))
        .unwrap();
        assert_eq!(r.topic, "dir");
        assert_eq!(r.request_id, Some(json!("r1")));
        assert!(r.subscribe);
        assert_eq!(r.str_list("tokens").unwrap(), ["van"]);
        assert_eq!(r.opt_u64("max").unwrap(), Some(25));
        assert!(r.opt_str("max").is_err());
        assert!(r.str("missing").unwrap_err().message.contains("missing"));
        let reply = Reply::ok(&r, json!({"contacts":[]}).as_object().unwrap().clone());
        assert_eq!(reply["response"], 0);
        assert_eq!(reply["request_id"], "r1");
    }

    #[test]
    fn malformed_envelopes_name_the_problem() {
        for (v, needle) in [
            (json!([]), "object"),
            (json!({"message":"x"}), "'topic'"),
            (json!({"topic":"x","message":5}), "'message'"),
            (
                json!({"topic":"x","message":"y","request_id":[1]}),
                "request_id",
            ),
            (
                json!({"topic":"x","message":"y","subscribe":"yes"}),
                "subscribe",
            ),
        ] {
            let e = Request::from_value(v).unwrap_err();
            assert!(e.message.contains(needle), "{e}");
        }
    }
}
