//! The `dir` topic's catalogue entry: its messages, fields, events and actions.

use cas_proto::catalogue::{Field, FieldKind as K, opt, req};
use cas_proto::{MessageSpec, TopicSpec};

const READ: Option<&str> = Some("dir.read");
const WRITE: Option<&str> = Some("dir.write");

/// The fields of a personal contact (`name` is required by `contact_add` only).
macro_rules! contact_fields {
    ($($first:expr),*) => {
        &[
            $($first,)*
            opt("first", K::Str, "first (given) name"),
            opt("last", K::Str, "last (family) name"),
            opt("company", K::Str, "company or organisation"),
            opt("phones", K::StrList, "phone numbers (at most 10)"),
            opt("emails", K::StrList, "e-mail addresses (at most 10)"),
            opt("sip", K::Str, "SIP URI (`sip:` is added to a bare `user@host`)"),
            opt("notes", K::Str, "free text, at most 4000 characters"),
        ]
    };
}

const ADD_FIELDS: &[Field] = contact_fields!(req("name", K::Str, "display name"));
const UPDATE_FIELDS: &[Field] = contact_fields!(
    req("id", K::Int, "contact id"),
    opt("name", K::Str, "display name")
);
const ID: &[Field] = &[req("id", K::Int, "id")];
const MEMBER: &[Field] = &[
    req("id", K::Int, "list id"),
    req(
        "member",
        K::Any,
        "a personal contact id (integer) or a system user (`bob` or `bob@domain`)",
    ),
];

const fn msg(
    message: &'static str,
    action: Option<&'static str>,
    fields: &'static [Field],
    doc: &'static str,
    reply: &'static str,
) -> MessageSpec {
    MessageSpec {
        message,
        action,
        fields,
        doc,
        reply,
        is_async: false,
    }
}

pub static SPEC: TopicSpec = TopicSpec {
    topic: "dir",
    doc: "The directory: the system directory (the users of the caller's domain), personal \
          contacts, distribution lists and speed dials, with vCard and CSV import. Personal \
          objects belong to one user; another user's id answers 404. Every returned object \
          carries `permissions` (`edit`, `delete`, `call`). Presence comes from the \
          `presence` service and shows only what the caller may see.",
    restricted: true,
    messages: &[
        msg(
            "lookup_contacts",
            READ,
            &[
                opt(
                    "tokens",
                    K::StrList,
                    "search words; each must be a case-insensitive prefix of a word of a \
                     searched field (none: everything)",
                ),
                opt(
                    "fields",
                    K::StrList,
                    "fields searched and returned: name, first, last, company, phone, email, \
                     sip, notes (default: all but notes searched, all returned)",
                ),
                opt("sort", K::Str, "`name` (default), `last` or `company`"),
                opt("max", K::Int, "page size, default 50, at most 500"),
                opt("scope", K::Str, "`all` (default), `system` or `personal`"),
                opt(
                    "presence",
                    K::Bool,
                    "add `presence` to local users: `{state, classes {voice, video, im}, \
                     mobile, note, activities}` as `presence.get` (compound; `state` is the \
                     most available class), or `{authorized: false}`",
                ),
            ],
            "Searches the system directory and the caller's contacts. With `subscribe: true` \
             the session gets `presence_changed` for the local users returned.",
            "`contacts`: list of `{kind: system|personal, user | id, name, …, presence?, \
             permissions}`; `total` matches before the page cut",
        ),
        msg(
            "contact_add",
            WRITE,
            ADD_FIELDS,
            "Adds a personal contact.",
            "`contact`",
        ),
        msg(
            "contact_get",
            READ,
            ID,
            "One personal contact.",
            "`contact`",
        ),
        msg(
            "contact_update",
            WRITE,
            UPDATE_FIELDS,
            "Changes the fields given; `null` or an empty string clears one.",
            "`contact`",
        ),
        msg(
            "contact_delete",
            WRITE,
            ID,
            "Deletes a personal contact (and removes it from every list).",
            "nothing",
        ),
        msg(
            "lists",
            READ,
            &[],
            "The caller's distribution lists.",
            "`lists`: list of `{id, name, members: [{kind, id | user, name}], permissions}`",
        ),
        msg(
            "list_create",
            WRITE,
            &[req("name", K::Str, "list name, unique per user")],
            "Creates an empty distribution list.",
            "`list`",
        ),
        msg(
            "list_delete",
            WRITE,
            ID,
            "Deletes a distribution list.",
            "nothing",
        ),
        msg(
            "list_add",
            WRITE,
            MEMBER,
            "Adds a member to a list.",
            "`list`",
        ),
        msg(
            "list_remove",
            WRITE,
            MEMBER,
            "Removes a member from a list.",
            "`list`",
        ),
        msg(
            "speed_dials",
            READ,
            &[],
            "The caller's speed dials.",
            "`speed_dials`: list of `{key, target, permissions}`",
        ),
        msg(
            "speed_dial_set",
            WRITE,
            &[
                req("key", K::Any, "`1` to `99` (string or integer)"),
                req("target", K::Str, "number, SIP URI or user to dial"),
            ],
            "Sets or replaces a speed dial.",
            "`speed_dial`",
        ),
        msg(
            "speed_dial_delete",
            WRITE,
            &[req("key", K::Any, "`1` to `99`")],
            "Deletes a speed dial.",
            "nothing",
        ),
        msg(
            "import",
            WRITE,
            &[
                req(
                    "format",
                    K::Str,
                    "`vcard` (3.0/4.0) or `csv` (with a header row)",
                ),
                req("data", K::Str, "the file's text, at most 5000 contacts"),
            ],
            "Imports contacts. Good records are kept, bad ones are reported by line. CSV \
             columns: name, first, last, company, phone, email, sip, notes (several phones or \
             e-mails separated by `;`).",
            "`imported` (count), `errors`: list of `{line, message}`",
        ),
        msg(
            "upload",
            WRITE,
            &[
                req(
                    "filename",
                    K::Str,
                    "`*.vcf`/`*.vcard` or `*.csv`: the format",
                ),
                req("content", K::Str, "the file's text"),
            ],
            "Imports an uploaded file; the format comes from the file name's extension.",
            "as `import`, plus `format`",
        ),
    ],
    events: &[
        (
            "presence_changed",
            "`user`, `presence`: the presence of a user returned by a subscribed lookup \
             changed (only to watchers allowed to see it)",
        ),
        (
            "contact_changed",
            "`change` (added, updated, deleted, imported), `id` or `count`: the caller's \
             contacts changed (e.g. from another client)",
        ),
        (
            "list_changed",
            "`change`, `id`: the caller's distribution lists changed",
        ),
        (
            "speed_dial_changed",
            "`change`, `key`: the caller's speed dials changed",
        ),
    ],
    actions: &["dir.read", "dir.write"],
};
