//! `sub`: explicit subscriptions to a topic's events (optionally one key, e.g. one user).

use cas_proto::catalogue::{FieldKind as K, opt, req};
use cas_proto::{MessageSpec, TopicSpec};

pub static SPEC: TopicSpec = TopicSpec {
    topic: "sub",
    doc: "Subscriptions. Any request may also carry `\"subscribe\": true` to subscribe to its \
          topic. Subscriptions end on unsubscribe, logout or session expiry.",
    restricted: true,
    messages: &[
        MessageSpec {
            message: "subscribe",
            action: None,
            fields: &[
                req("to", K::Str, "the topic whose events to receive"),
                opt("key", K::Str, "only events about this key (e.g. a user)"),
            ],
            doc: "Subscribes this session.",
            reply: "`subscriptions` (the session's list)",
            is_async: false,
        },
        MessageSpec {
            message: "unsubscribe",
            action: None,
            fields: &[req("to", K::Str, "topic"), opt("key", K::Str, "key")],
            doc: "Ends one subscription (404 if there was none).",
            reply: "`subscriptions`",
            is_async: false,
        },
        MessageSpec {
            message: "list",
            action: None,
            fields: &[],
            doc: "This session's subscriptions.",
            reply: "`subscriptions`: list of `{to, key}`",
            is_async: false,
        },
    ],
    events: &[],
    actions: &[],
};
