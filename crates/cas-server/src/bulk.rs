//! Bulk requests (DESIGN.md §3): several messages in one, answered all at once (`bulk`), one
//! message per reply as each completes (`serial`), or synchronous replies now and the
//! asynchronous ones as events (`mixed`). One failing element never hides the others.

use std::sync::Arc;

use cas_proto::catalogue::{FieldKind as K, opt, req};
use cas_proto::{BulkMode, CasError, ErrorCode, MessageSpec, Object, Reply, Request, TopicSpec};
use serde_json::{Value, json};
use services::provider::Outcome;

use crate::dispatch::{Cas, Later, release};
use crate::hub::SessionInfo;

/// Bulk requests are bounded so one message cannot occupy the server.
const MAX_BULK: usize = 100;

pub static BULK_SPEC: TopicSpec = TopicSpec {
    topic: "bulk",
    doc: "Several requests in one message. `mode`: `bulk` returns every reply in `replies`; \
          `serial` replies `pending: true` and sends each reply as its own message as it \
          completes; `mixed` returns the synchronous replies now and the asynchronous ones \
          later as events. One failing request never hides the others' results.",
    restricted: true,
    messages: &[MessageSpec {
        message: "bulk",
        action: None,
        fields: &[
            opt("mode", K::Str, "`bulk` (default), `serial` or `mixed`"),
            req("requests", K::List, "the messages, at most 100"),
        ],
        doc: "Runs the requests in order.",
        reply: "`replies` (bulk, mixed) or `pending: true` and `count` (serial)",
        is_async: false,
    }],
    events: &[],
    actions: &[],
};

impl Cas {
    pub(crate) async fn bulk(
        self: &Arc<Self>,
        s: &SessionInfo,
        req: &Request,
        later: &mut Later,
    ) -> Object {
        let parsed = BULK_SPEC
            .messages
            .first()
            .map_or(Ok(()), |m| m.validate(req))
            .and_then(|_| req.bulk());
        let (mode, items) = match parsed {
            Ok(x) => x,
            Err(e) => return Reply::error(Some(req), &e),
        };
        if items.len() > MAX_BULK {
            let e = CasError::new(
                ErrorCode::TooLarge,
                format!("at most {MAX_BULK} requests in one bulk"),
            );
            return Reply::error(Some(req), &e);
        }
        let mut body = Object::new();
        match mode {
            BulkMode::Bulk | BulkMode::Mixed => {
                let wait = mode == BulkMode::Bulk;
                let mut replies = Vec::with_capacity(items.len());
                for raw in items {
                    replies.push(Value::Object(self.element(s, raw, wait, later).await));
                }
                body.insert("replies".into(), Value::Array(replies));
            }
            BulkMode::Serial => {
                body.insert("pending".into(), json!(true));
                body.insert("count".into(), json!(items.len()));
                let cas = self.clone();
                let s = s.clone();
                later.push(Box::pin(async move {
                    for raw in items {
                        let mut inner = Later::new();
                        let r = cas.element(&s, raw, true, &mut inner).await;
                        cas.hub.deliver(s.id, r);
                        release(inner);
                    }
                }));
            }
        }
        Reply::ok(req, body)
    }

    /// One bulk element. `wait` resolves asynchronous requests in place; otherwise they reply
    /// `pending` and complete as events.
    async fn element(
        self: &Arc<Self>,
        s: &SessionInfo,
        raw: Value,
        wait: bool,
        later: &mut Later,
    ) -> Object {
        let r = match Request::from_value(raw.clone()) {
            Ok(r) => r,
            Err(e) => return Reply::error_for_raw(&raw, &e),
        };
        if r.topic == "session" && r.message != "info" {
            let e =
                CasError::bad_request("session.login and session.logout cannot be bulk elements");
            return Reply::error(Some(&r), &e);
        }
        if !wait {
            return self.run_one(s, &r, later).await;
        }
        match self.try_one(s, &r).await {
            Ok(Outcome::Done(b)) => Reply::ok(&r, b),
            Ok(Outcome::Pending(fut)) => match fut.await {
                Ok(b) => Reply::ok(&r, b),
                Err(e) => Reply::error(Some(&r), &e),
            },
            Err(e) => Reply::error(Some(&r), &e),
        }
    }
}
