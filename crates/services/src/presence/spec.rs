//! The `presence` topic's catalogue entry.

use cas_proto::catalogue::{FieldKind as K, opt, req};
use cas_proto::{MessageSpec, TopicSpec};

const READ: Option<&str> = Some("presence.read");
const WRITE: Option<&str> = Some("presence.write");

pub static SPEC: TopicSpec = TopicSpec {
    topic: "presence",
    doc: "Unified presence: one status per person and service class (`voice`, `video`, `im`), \
          rolled up from every phone, softphone and CAS client, named only by the person's \
          address (`user@domain`): no device, contact, address or count is ever shown. Class \
          states: `offline` (no device for it), `available`, `busy` (on a call, ringing, do \
          not disturb, in a meeting), `away`. `rollup`: `compound` (default: every class plus \
          `mobile`, `note`, `activities`), `most-available` (the best class) or \
          `semi-available` (`semi-available` when available on some but not all reachable \
          classes). A user the caller may not see comes back as `{user, authorized: false}` \
          (plus `pending: true` while the user has not decided). Users are named `bob`, \
          `bob@example.com` or `sip:bob@example.com`. See docs/cas-guide.md, \"Presence\".",
    restricted: true,
    messages: &[
        MessageSpec {
            message: "get",
            action: READ,
            fields: &[
                opt(
                    "users",
                    K::StrList,
                    "whose presence (default: the caller's own); at most 500",
                ),
                opt(
                    "rollup",
                    K::Str,
                    "`compound` (default), `most-available` or `semi-available`",
                ),
            ],
            doc: "The presence of one or many users. Asking for a user whose rules need their \
                  approval lists the caller as a pending watcher.",
            reply: "`presence`: list of `{user, authorized, version, rollup, state, note, \
                    classes {voice, video, im}, mobile, activities}` (the last three in \
                    `compound` only) or `{user, authorized: false, pending?}`",
            is_async: false,
        },
        MessageSpec {
            message: "set",
            action: WRITE,
            fields: &[
                opt(
                    "status",
                    K::Str,
                    "`available`, `away`, `busy`, `dnd` or `auto` (devices and calls decide)",
                ),
                opt(
                    "note",
                    K::Str,
                    "free text shown to watchers (at most 256 characters; empty clears)",
                ),
                opt(
                    "mobile",
                    K::Bool,
                    "this session is a mobile client (until it ends)",
                ),
            ],
            doc: "Sets the caller's own status, note and mobile flag. Status and note are kept \
                  across restarts; `mobile` lasts as long as the session.",
            reply: "`status` (`auto` when none), and the caller's presence as in `get` (compound)",
            is_async: false,
        },
        MessageSpec {
            message: "subscribe",
            action: READ,
            fields: &[
                req("users", K::StrList, "whose presence to follow; at most 500"),
                opt(
                    "rollup",
                    K::Str,
                    "rollup of the events (default `compound`)",
                ),
            ],
            doc: "Follows users: every session of the caller gets a `presence` event when what \
                  it may see of them changes (only users it is authorized to see; a user \
                  approved later starts sending). Lasts until `unsubscribe` or the caller's \
                  last session ends.",
            reply: "as `get`",
            is_async: false,
        },
        MessageSpec {
            message: "unsubscribe",
            action: READ,
            fields: &[opt(
                "users",
                K::StrList,
                "whom to stop following (default: everyone)",
            )],
            doc: "Stops following users.",
            reply: "`watching`: the users still followed",
            is_async: false,
        },
        MessageSpec {
            message: "watchers",
            action: READ,
            fields: &[],
            doc: "Who asked to see the caller's presence or was decided about, and who follows \
                  it over CAS now.",
            reply: "`watchers`: list of `{user, decision: allow|deny|block|pending|default, \
                    authorized, watching}`",
            is_async: false,
        },
        MessageSpec {
            message: "authorize",
            action: WRITE,
            fields: &[
                req("watcher", K::Str, "the watcher"),
                req(
                    "decision",
                    K::Str,
                    "`allow`, `deny`, `block` or `forget` (back to the default rules)",
                ),
            ],
            doc: "Decides about one watcher. SIP subscriptions of that watcher go active or are \
                  terminated at once; CAS watchers start or stop getting events.",
            reply: "`watcher`, `decision`, `authorized`",
            is_async: false,
        },
        MessageSpec {
            message: "rules",
            action: READ,
            fields: &[
                opt(
                    "visible",
                    K::Bool,
                    "false: nobody else sees your presence (you stay in the directory)",
                ),
                opt(
                    "same_domain",
                    K::Str,
                    "unknown watchers of your domain: `allow`, `pending` or `default` (the server's)",
                ),
                opt("allow", K::StrList, "replaces the allow list"),
                opt("deny", K::StrList, "replaces the deny list"),
                opt(
                    "block",
                    K::StrList,
                    "replaces the block list (blocked watchers are never listed as pending)",
                ),
            ],
            doc: "Reads, and with any field given changes (needs `presence.write`), who may \
                  see the caller's presence.",
            reply: "`visible`, `same_domain` (`allow`/`pending`/`default`), \
                    `same_domain_default` (the server's), `allow`, `deny`, `block`, `pending` \
                    (lists of users)",
            is_async: false,
        },
    ],
    events: &[
        (
            "presence",
            "a followed user's presence changed: the same object as in `get` (with the \
             rollup asked for at `subscribe`)",
        ),
        (
            "watcher",
            "someone asks to see your presence and waits for your decision: `watcher`, \
             `decision: pending` (to your sessions subscribed to `presence`)",
        ),
    ],
    actions: &["presence.read", "presence.write"],
};
