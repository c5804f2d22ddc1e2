//! The domain logic behind every face: who is who (user directory cache), digest
//! authentication with replay protection and brute-force bans, the registrar's location
//! service, and call routing decisions.
//!
//! Services decide; faces (`sip-server`, later the CAS API) execute. Nothing here touches a
//! socket. Time and the store's records are passed in, so each service is tested alone.

pub mod auth;
pub mod bans;
pub mod bus;
pub mod callmode;
pub mod dir;
pub mod directory;
pub mod history;
pub mod im;
pub mod mwi;
pub mod perms;
pub mod presence;
pub mod provider;
pub mod registrar;
pub mod routing;
pub mod voicemail;
