//! SIP event-package bodies and notifier bookkeeping (PURE): PIDF presence documents
//! (RFC 3863, RFC 4480 RPID, RFC 4479 data model), message-summary (RFC 3842), RFC 6665
//! subscription state and RFC 3903 publication state. No I/O, no clock, no randomness.
