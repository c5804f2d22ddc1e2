//! The message catalogue: per topic, its messages with their fields, the permission action
//! each needs, and the events it emits. The server validates requests against it and the
//! published catalogue (`docs/cas-catalogue.md`) is generated from it, so the two cannot
//! drift apart.

use std::fmt::Write as _;

use serde_json::Value;

use crate::envelope::Request;
use crate::error::CasError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Str,
    Int,
    Bool,
    StrList,
    Object,
    List,
    Any,
}

impl FieldKind {
    fn accepts(self, v: &Value) -> bool {
        match self {
            FieldKind::Str => v.is_string(),
            FieldKind::Int => v.is_i64() || v.is_u64(),
            FieldKind::Bool => v.is_boolean(),
            FieldKind::StrList => {
                v.is_string() || v.as_array().is_some_and(|a| a.iter().all(Value::is_string))
            }
            FieldKind::Object => v.is_object(),
            FieldKind::List => v.is_array(),
            FieldKind::Any => true,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FieldKind::Str => "string",
            FieldKind::Int => "integer",
            FieldKind::Bool => "boolean",
            FieldKind::StrList => "list of strings",
            FieldKind::Object => "object",
            FieldKind::List => "list",
            FieldKind::Any => "any",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub kind: FieldKind,
    pub required: bool,
    pub doc: &'static str,
}

/// Shorthands for catalogue tables.
pub const fn req(name: &'static str, kind: FieldKind, doc: &'static str) -> Field {
    Field {
        name,
        kind,
        required: true,
        doc,
    }
}

pub const fn opt(name: &'static str, kind: FieldKind, doc: &'static str) -> Field {
    Field {
        name,
        kind,
        required: false,
        doc,
    }
}

#[derive(Debug, Clone, Copy)]
pub struct MessageSpec {
    pub message: &'static str,
    /// The permission action checked before the request runs (`topic.action`); `None` for
    /// messages every logged-in user may send.
    pub action: Option<&'static str>,
    pub fields: &'static [Field],
    pub doc: &'static str,
    /// What the reply carries.
    pub reply: &'static str,
    /// Replies `pending: true` and completes with an event.
    pub is_async: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct TopicSpec {
    pub topic: &'static str,
    pub doc: &'static str,
    /// Only built-in providers may serve it; plug-ins cannot register it.
    pub restricted: bool,
    pub messages: &'static [MessageSpec],
    /// (event message, what it carries)
    pub events: &'static [(&'static str, &'static str)],
    /// Actions that can be granted on this topic (beyond those of its messages), e.g.
    /// per-object permissions such as `history.delete`.
    pub actions: &'static [&'static str],
}

impl TopicSpec {
    pub fn message(&self, name: &str) -> Option<&MessageSpec> {
        self.messages.iter().find(|m| m.message == name)
    }
}

impl MessageSpec {
    /// Checks required fields, types, and that no unknown field was sent.
    pub fn validate(&self, req: &Request) -> Result<(), CasError> {
        for f in self.fields {
            match req.fields.get(f.name) {
                None | Some(Value::Null) if f.required => {
                    return Err(CasError::bad_request(format!("missing field '{}'", f.name)));
                }
                Some(v) if !v.is_null() && !f.kind.accepts(v) => {
                    return Err(CasError::bad_request(format!(
                        "field '{}' must be a {}",
                        f.name,
                        f.kind.name()
                    )));
                }
                _ => {}
            }
        }
        if let Some(unknown) = req
            .fields
            .keys()
            .find(|k| !self.fields.iter().any(|f| f.name == k.as_str()))
        {
            return Err(CasError::bad_request(format!(
                "unknown field '{unknown}' for {}.{}",
                req.topic, req.message
            )));
        }
        Ok(())
    }
}

/// Renders the catalogue as Markdown (the content of `docs/cas-catalogue.md`).
pub fn render_markdown(topics: &[TopicSpec]) -> String {
    let mut out = String::from(
        "# CAS message catalogue\n\nGenerated from the server's catalogue by `cargo test` \
         (`docs_are_current`); do not edit by hand. Every message also takes the standard \
         headers `topic`, `message`, `timestamp`, `sequence_id`, `request_id` and `subscribe`; \
         every reply carries `response` (0 or an error code), `error {code, name, message}` on \
         failure, and `permissions` where it returns objects.\n",
    );
    for t in topics {
        let _ = write!(
            out,
            "\n## `{}`{}\n\n{}\n",
            t.topic,
            if t.restricted { " (restricted)" } else { "" },
            t.doc
        );
        for m in t.messages {
            let _ = write!(
                out,
                "\n### `{}.{}`{}\n\n{}\n\n- permission: {}\n- reply: {}\n",
                t.topic,
                m.message,
                if m.is_async { " (async)" } else { "" },
                m.doc,
                m.action
                    .map_or("any logged-in user".to_owned(), |a| format!("`{a}`")),
                m.reply
            );
            if !m.fields.is_empty() {
                out.push_str(
                    "\n| field | type | required | meaning |\n| --- | --- | --- | --- |\n",
                );
                for f in m.fields {
                    let _ = writeln!(
                        out,
                        "| `{}` | {} | {} | {} |",
                        f.name,
                        f.kind.name(),
                        if f.required { "yes" } else { "no" },
                        f.doc
                    );
                }
            }
        }
        if !t.events.is_empty() {
            let _ = write!(out, "\nEvents of `{}`:\n\n", t.topic);
            for (e, doc) in t.events {
                let _ = writeln!(out, "- `{e}`: {doc}");
            }
        }
        if !t.actions.is_empty() {
            let list: Vec<String> = t.actions.iter().map(|a| format!("`{a}`")).collect();
            let _ = write!(out, "\nGrantable actions: {}\n", list.join(", "));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SPEC: MessageSpec = MessageSpec {
        message: "lookup",
        action: Some("dir.read"),
        fields: &[
            req("tokens", FieldKind::StrList, "search"),
            opt("max", FieldKind::Int, "limit"),
        ],
        doc: "",
        reply: "",
        is_async: false,
    };

    #[test]
    fn validation_names_the_field() {
        let ok =
            Request::from_value(json!({"topic":"dir","message":"lookup","tokens":["a"],"max":3}))
                .unwrap();
        assert!(SPEC.validate(&ok).is_ok());
        for (v, needle) in [
            (
                json!({"topic":"dir","message":"lookup"}),
                "missing field 'tokens'",
            ),
            (
                json!({"topic":"dir","message":"lookup","tokens":["a"],"max":"3"}),
                "'max' must be a integer",
            ),
            (
                json!({"topic":"dir","message":"lookup","tokens":["a"],"x":1}),
                "unknown field 'x'",
            ),
        ] {
            let r = Request::from_value(v).unwrap();
            let e = SPEC.validate(&r).unwrap_err();
            assert!(e.message.contains(needle), "{e}");
        }
    }
}
