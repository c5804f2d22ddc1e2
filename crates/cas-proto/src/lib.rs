//! The Client Application Server (CAS) wire protocol: one message shape for every client and
//! every service (DESIGN.md §3).
//!
//! A message is a JSON object (or the equivalent XML document) with standard headers —
//! `topic`, `message`, `timestamp`, `sequence_id`, `request_id` — followed by the message's own
//! fields. Replies add `response` (0 or an error code), `error {code, message}` and
//! `permissions`. This crate holds the types, the JSON/XML codecs with their limits, the error
//! codes, bulk requests, the message catalogue and the plug-in protocol.
//!
//! Pure: no sockets, no clock (timestamps are passed in), no randomness.

pub mod catalogue;
pub mod codec;
pub mod envelope;
pub mod error;
pub mod plugin;
mod xml;

pub use catalogue::{Field, FieldKind, MessageSpec, TopicSpec};
pub use codec::{Format, Limits, decode, encode};
pub use envelope::{BulkMode, Event, Reply, Request};
pub use error::{CasError, ErrorCode};

/// A JSON object: the body of every message.
pub type Object = serde_json::Map<String, serde_json::Value>;
