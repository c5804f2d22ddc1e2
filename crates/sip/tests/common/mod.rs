//! Shared by the property and differential tests: a model of a structurally valid SIP
//! message, a proptest strategy for it, and two printers: `render` (every liberty RFC 3261
//! allows: folding, compact names, odd LWS, several values per row) and `build` (the crate's
//! own `Builder`).

#![allow(dead_code)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod check;
pub mod corpus;
pub mod model;

#[allow(unused_imports)]
pub use check::assert_matches;
#[allow(unused_imports)]
pub use model::{Liberties, Model, build, model, render, render_with};
