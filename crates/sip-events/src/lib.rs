//! SIP event-package bodies and notifier bookkeeping (PURE): PIDF presence documents
//! (RFC 3863, RFC 4480 RPID, RFC 4479 data model), message-summary (RFC 3842), RFC 6665
//! subscription state and RFC 3903 publication state. No I/O, no clock, no randomness:
//! time (`Instant`) and randomness (etag seeds) are inputs.
//!
//! It does not send or receive anything and knows nothing of users, devices or policy: the
//! presence service composes documents, the SIP face drives subscriptions and publications.

pub mod pidf;
pub mod publication;
pub mod subscription;
pub mod summary;
