//! Topics served by the face itself: `session`, `sub`, `admin` (all restricted), and the
//! catalogue entries of the `permissions` and `bulk` pseudo-topics.

pub mod admin;
pub mod session;
pub mod sub;
