//! Service-level tests of presence against an in-memory store and a real bus.
