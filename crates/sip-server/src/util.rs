//! Small helpers: wall-clock time and random identifiers (tags, branches, Call-IDs).

use rand::Rng;
use rand::distributions::Alphanumeric;

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

pub fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

pub fn random_token(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// A branch with the RFC 3261 magic cookie (§8.1.1.7).
pub fn new_branch() -> String {
    format!("z9hG4bK{}", random_token(16))
}
