//! The configuration schema as data, and a walk of a parsed TOML table against it.
//!
//! serde stops at the first error; operators fixing a file want the whole list. So every key
//! is checked here first and any key with a problem is removed, leaving a table that serde can
//! deserialize with defaults for what was removed.

use std::net::{IpAddr, SocketAddr};

use ::sip::digest::Algorithm;
use toml::{Table, Value};

use super::{ConfigProblem, ListenEntry};

/// What a key accepts.
enum Kind {
    Bool,
    Text,
    /// A non-negative integer no larger than this (the range of the Rust field).
    Int(i64),
    /// A string that must parse.
    Parsed(fn(&str) -> Result<(), String>),
    /// An array of strings that must each parse.
    List(fn(&str) -> Result<(), String>),
}

const U32: Kind = Kind::Int(u32::MAX as i64);
const U16: Kind = Kind::Int(u16::MAX as i64);
/// Far above any sane SIP message; keeps the field meaningful on 32-bit targets too.
const MAX_MESSAGE_SIZE: i64 = 16 * 1024 * 1024;

/// Every section and key, in the order of `examples/switchboard.toml`.
const SCHEMA: &[(&str, &[(&str, Kind)])] = &[
    (
        "server",
        &[
            ("data_dir", Kind::Text),
            ("domain", Kind::Text),
            ("log", Kind::Parsed(log_filter)),
            ("redact_personal_data", Kind::Bool),
        ],
    ),
    (
        "sip",
        &[
            ("listen", Kind::List(listen_entry)),
            ("max_message_size", Kind::Int(MAX_MESSAGE_SIZE)),
            ("tcp_idle_timeout", U32),
        ],
    ),
    (
        "registrar",
        &[
            ("min_expires", U32),
            ("default_expires", U32),
            ("max_expires", U32),
            ("max_contacts_per_aor", U32),
        ],
    ),
    (
        "auth",
        &[
            ("required", Kind::Bool),
            ("algorithms", Kind::List(algorithm)),
            ("nonce_lifetime", U32),
            ("ban_after_failures", U32),
            ("ban_window", U32),
            ("ban_duration", U32),
            ("trusted", Kind::List(ip_addr)),
        ],
    ),
    (
        "calls",
        &[("ring_timeout", U32), ("max_call_duration", U32)],
    ),
    (
        "http",
        &[
            ("listen", Kind::Parsed(socket_addr)),
            ("session_idle_timeout", U32),
            ("plugin_timeout_ms", U32),
            ("max_body", U32),
        ],
    ),
    (
        "presence",
        &[
            (
                "same_domain_default",
                Kind::Parsed(super::presence::same_domain_default),
            ),
            ("subscribe_min_expires", U32),
            ("subscribe_max_expires", U32),
            ("max_subscriptions_per_watcher", U32),
            ("max_publications_per_presentity", U32),
        ],
    ),
    (
        "media",
        &[
            ("rtp_ip", Kind::Parsed(ip_addr)),
            ("port_min", U16),
            ("port_max", U16),
            ("anchor", Kind::Parsed(anchor_mode)),
            ("prompts_dir", Kind::Text),
            ("inactivity_timeout", U32),
            ("prefer_opus", Kind::Bool),
        ],
    ),
    (
        "mwi",
        &[
            ("message_text", Kind::Bool),
            ("unsolicited_notify", Kind::Bool),
            ("from_user", Kind::Text),
        ],
    ),
    (
        "voicemail",
        &[
            ("enabled", Kind::Bool),
            ("number", Kind::Text),
            ("dir", Kind::Text),
            ("max_message_seconds", U32),
            ("max_greeting_seconds", U32),
            ("default_pin", Kind::Text),
            ("default_greeting", Kind::Text),
        ],
    ),
];

/// Reports every unknown key and every badly typed or unparsable value, removing each one
/// from `root`.
pub(super) fn check(root: &mut Table) -> Vec<ConfigProblem> {
    let mut problems = Vec::new();
    root.retain(|section, value| {
        let Some((_, fields)) = SCHEMA.iter().find(|(name, _)| *name == section) else {
            let what = if value.is_table() { "section" } else { "key" };
            let known: Vec<&str> = SCHEMA.iter().map(|(name, _)| *name).collect();
            problems.push(ConfigProblem::new(
                section,
                format!("unknown {what} (sections are {})", known.join(", ")),
            ));
            return false;
        };
        let Some(table) = value.as_table_mut() else {
            problems.push(ConfigProblem::new(
                section,
                format!("expected a table, found {}", value.type_str()),
            ));
            return false;
        };
        table.retain(|key, value| {
            let path = format!("{section}.{key}");
            let Some((_, kind)) = fields.iter().find(|(name, _)| *name == key) else {
                let known: Vec<&str> = fields.iter().map(|(name, _)| *name).collect();
                problems.push(ConfigProblem::new(
                    path,
                    format!("unknown key (keys of [{section}] are {})", known.join(", ")),
                ));
                return false;
            };
            let before = problems.len();
            check_value(kind, &path, value, &mut problems);
            problems.len() == before
        });
        true
    });
    problems
}

fn check_value(kind: &Kind, path: &str, value: &Value, problems: &mut Vec<ConfigProblem>) {
    match (kind, value) {
        (Kind::Bool, Value::Boolean(_)) | (Kind::Text, Value::String(_)) => {}
        (Kind::Int(max), Value::Integer(n)) => {
            if *n < 0 {
                problems.push(ConfigProblem::new(path, "must not be negative"));
            } else if n > max {
                problems.push(ConfigProblem::new(path, format!("must be at most {max}")));
            }
        }
        (Kind::Parsed(parse), Value::String(s)) => {
            if let Err(message) = parse(s) {
                problems.push(ConfigProblem::new(path, message));
            }
        }
        (Kind::List(parse), Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let item_path = format!("{path}[{i}]");
                match item {
                    Value::String(s) => {
                        if let Err(message) = parse(s) {
                            problems.push(ConfigProblem::new(item_path, message));
                        }
                    }
                    other => problems.push(ConfigProblem::new(
                        item_path,
                        format!("expected a string, found {}", other.type_str()),
                    )),
                }
            }
        }
        (kind, value) => problems.push(ConfigProblem::new(
            path,
            format!("expected {}, found {}", kind.expected(), value.type_str()),
        )),
    }
}

impl Kind {
    fn expected(&self) -> &'static str {
        match self {
            Kind::Bool => "a boolean",
            Kind::Text | Kind::Parsed(_) => "a string",
            Kind::Int(_) => "an integer",
            Kind::List(_) => "an array of strings",
        }
    }
}

fn log_filter(s: &str) -> Result<(), String> {
    tracing_subscriber::EnvFilter::try_new(s)
        .map(|_| ())
        .map_err(|e| format!("invalid log filter {s:?}: {e}"))
}

fn listen_entry(s: &str) -> Result<(), String> {
    s.parse::<ListenEntry>()
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn algorithm(s: &str) -> Result<(), String> {
    Algorithm::from_token(s)
        .map(|_| ())
        .ok_or_else(|| format!("unknown digest algorithm {s:?} (use \"SHA-256\" or \"MD5\")"))
}

fn ip_addr(s: &str) -> Result<(), String> {
    s.parse::<IpAddr>()
        .map(|_| ())
        .map_err(|_| format!("invalid IP address {s:?}"))
}

fn socket_addr(s: &str) -> Result<(), String> {
    s.parse::<SocketAddr>()
        .map(|_| ())
        .map_err(|_| format!("invalid address {s:?}: expected IP:PORT"))
}

fn anchor_mode(s: &str) -> Result<(), String> {
    match s {
        "always" | "when-needed" => Ok(()),
        _ => Err(format!(
            "unknown anchor mode {s:?} (use \"always\" or \"when-needed\")"
        )),
    }
}
