//! The catalogue of the `vm` topic.

use cas_proto::catalogue::{FieldKind as K, opt, req};
use cas_proto::{MessageSpec, TopicSpec};

const ID: cas_proto::catalogue::Field = req("id", K::Int, "message id");
const AUDIO: &str = "the audio: a base64-encoded WAV file (mono, 8–48 kHz, 16-bit PCM or G.711)";

pub static SPEC: TopicSpec = TopicSpec {
    topic: "vm",
    doc: "The user's voicemail. A message: `id`, `caller` (ANI), `called` (DNIS), \
          `received_at` (Unix ms), `duration_ms`, `subject`, `heard`, `folder` (`new` or \
          `saved`), `origin` (`call`, `forward`, `reply`, `send`), `permissions` {`play`, \
          `download`, `forward`, `reply`, `edit_subject`, `delete`}. `reply` is true only \
          when the caller is a local user. Subscribe (e.g. `list` with `subscribe: true`) \
          for `message_added`, `message_changed`, `message_deleted` and `greeting_changed`.",
    restricted: true,
    messages: &[
        MessageSpec {
            message: "list",
            action: Some("vm.read"),
            fields: &[opt("folder", K::Str, "`new`, `saved` or `all` (default)")],
            doc: "The user's messages, oldest first.",
            reply: "`messages`, `counts` {`new` (unheard), `old` (heard)}, `greeting` (a \
                    personal greeting is set), `pin_set`, `number` (what to dial)",
            is_async: false,
        },
        MessageSpec {
            message: "play_on_phone",
            action: Some("vm.play"),
            fields: &[
                ID,
                opt(
                    "device",
                    K::Str,
                    "contact URI of the device to call (default: every registered device)",
                ),
            ],
            doc: "The server calls the user's phone and plays the message. Completes when \
                  playback starts (the message is then heard), or with an error when the \
                  phone does not answer.",
            reply: "completion: `id`, `started: true`",
            is_async: true,
        },
        MessageSpec {
            message: "download",
            action: Some("vm.download"),
            fields: &[ID],
            doc: "A URL to fetch the message as `audio/wav` with GET, valid for 5 minutes \
                  while this session lasts.",
            reply: "`url` (path on this server), `expires_in` (s), `content_type`",
            is_async: false,
        },
        MessageSpec {
            message: "forward",
            action: Some("vm.forward"),
            fields: &[
                ID,
                req("to", K::Str, "the local user whose mailbox receives a copy"),
            ],
            doc: "Copies a message into another local user's mailbox.",
            reply: "`id` (the copy's id in the other mailbox), `to`",
            is_async: false,
        },
        MessageSpec {
            message: "reply",
            action: Some("vm.reply"),
            fields: &[
                ID,
                req("audio", K::Str, AUDIO),
                opt("subject", K::Str, "default `Re: ` + the message's subject"),
            ],
            doc: "Leaves a recorded reply in the mailbox of the message's caller, who must be \
                  a local user.",
            reply: "`id` (the reply's id in the caller's mailbox), `to`",
            is_async: false,
        },
        MessageSpec {
            message: "send",
            action: Some("vm.send"),
            fields: &[
                req("to", K::Str, "the local user"),
                req("audio", K::Str, AUDIO),
                opt("subject", K::Str, "subject"),
            ],
            doc: "Leaves a recorded message in a local user's mailbox.",
            reply: "`id`, `to`",
            is_async: false,
        },
        MessageSpec {
            message: "edit_subject",
            action: Some("vm.edit"),
            fields: &[
                ID,
                req("subject", K::Str, "up to 200 characters; empty clears it"),
            ],
            doc: "Replaces a message's subject.",
            reply: "`item` (the message)",
            is_async: false,
        },
        MessageSpec {
            message: "mark",
            action: Some("vm.edit"),
            fields: &[
                ID,
                opt("heard", K::Bool, "heard (true) or unheard (false)"),
                opt(
                    "folder",
                    K::Str,
                    "`new` or `saved` (saving also marks heard)",
                ),
            ],
            doc: "Marks a message heard or unheard, or moves it between folders.",
            reply: "`item` (the message)",
            is_async: false,
        },
        MessageSpec {
            message: "delete",
            action: Some("vm.delete"),
            fields: &[ID],
            doc: "Deletes a message and its audio.",
            reply: "`id`, `deleted: true`",
            is_async: false,
        },
        MessageSpec {
            message: "set_pin",
            action: Some("vm.settings"),
            fields: &[req("pin", K::Str, "4 to 12 digits")],
            doc: "Sets the PIN asked when the user dials the voicemail number.",
            reply: "`pin_set: true`",
            is_async: false,
        },
        MessageSpec {
            message: "greeting",
            action: Some("vm.settings"),
            fields: &[opt(
                "audio",
                K::Str,
                "the new greeting; absent or empty removes it",
            )],
            doc: "Sets or removes the personal greeting callers hear.",
            reply: "`greeting` (a personal greeting is now set)",
            is_async: false,
        },
        MessageSpec {
            message: "check",
            action: Some("vm.check"),
            fields: &[],
            doc: "Compares the message files with the database (granted to administrators \
                  only by default).",
            reply: "`ok`, `messages`, `files`, `missing_files`, `orphan_files`, `part_files`, \
                    `pending_rows`, `deleting_rows`, `bad_files`, `counts` [{`mailbox`, \
                    `new`, `old`}]",
            is_async: false,
        },
    ],
    events: &[
        ("message_added", "`item`: a new message"),
        (
            "message_changed",
            "`item`: heard, folder or subject changed",
        ),
        ("message_deleted", "`id`"),
        (
            "greeting_changed",
            "the personal greeting was set or removed",
        ),
    ],
    actions: &[
        "vm.read",
        "vm.play",
        "vm.download",
        "vm.forward",
        "vm.reply",
        "vm.send",
        "vm.edit",
        "vm.delete",
        "vm.settings",
        "vm.check",
    ],
};
