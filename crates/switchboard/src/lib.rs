//! The `switchboard` program: configuration, the command line, first-start setup and the
//! wiring of the servers.
//!
//! This crate holds no protocol logic; it reads the config file, opens the `store`, and hands
//! both to the servers (`sip.rs`). User and domain administration goes through `store` too.
//! stdout carries only machine-readable lines (demo credentials, listings); logs and errors go
//! to stderr.

mod admin;
pub mod cli;
pub mod config;
mod csv;
mod mwi_cli;
pub mod serve;
pub mod servers;
pub mod sip;
mod voicemail_cli;

pub use config::{Config, ConfigProblem, ListenEntry, ListenSpec, TransportKind};
