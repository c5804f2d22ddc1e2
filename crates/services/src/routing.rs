//! Call routing decisions: where a request to a local user goes (RFC 3261 §16.5 target set,
//! parallel forking §16.7), and how the final answer is chosen when no branch answers.

use store::Binding;

/// What the B2BUA should do with an INVITE.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// Ring all these devices in parallel; the first 2xx wins.
    Fork(Vec<Binding>),
    /// The user exists but no device is registered (480).
    Offline,
    /// No such user here (404).
    NotFound,
}

/// Decides the route for a callee given whether they exist and their live bindings.
pub fn route_call(user_exists: bool, bindings: Vec<Binding>) -> Route {
    match (user_exists, bindings.is_empty()) {
        (false, _) => Route::NotFound,
        (true, true) => Route::Offline,
        (true, false) => Route::Fork(bindings),
    }
}

/// Picks the response to send upstream once every branch failed (§16.7 step 6, simplified
/// for a B2BUA): a 6xx wins; a busy (486/600) is preferred over other 4xx since it tells the
/// caller the most; a timeout or transport failure on all branches means 480.
pub fn best_failure(statuses: &[u16]) -> u16 {
    if let Some(s) = statuses.iter().find(|s| (600..700).contains(*s)) {
        return *s;
    }
    if statuses.contains(&486) {
        return 486;
    }
    let meaningful: Vec<u16> = statuses
        .iter()
        .copied()
        .filter(|s| !matches!(s, 408 | 480 | 487 | 503))
        .collect();
    match meaningful.iter().min() {
        Some(s) if (400..500).contains(s) || (300..400).contains(s) => *s,
        Some(_) => 480,
        None => 480,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_choice() {
        assert_eq!(best_failure(&[408, 486]), 486);
        assert_eq!(best_failure(&[603, 486]), 603);
        assert_eq!(best_failure(&[408, 408]), 480);
        assert_eq!(best_failure(&[404, 480]), 404);
        assert_eq!(best_failure(&[500]), 480);
        assert_eq!(best_failure(&[]), 480);
        assert_eq!(route_call(false, vec![]), Route::NotFound);
        assert_eq!(route_call(true, vec![]), Route::Offline);
    }
}

/// What the callee's call-handling mode (CAS `config` topic) says to do with a new call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forwarding {
    /// Ring the callee's devices (the default).
    RingDevices,
    /// Forward: a local user (`user@domain`) or a SIP URI.
    ForwardTo(String),
    /// Straight to voicemail.
    Voicemail,
}

/// Consulted by the SIP face for every call to a local user; implemented by the call
/// handling service with an in-memory view, so it never waits.
pub trait CallPolicy: Send + Sync {
    fn forwarding(&self, callee_aor: &str) -> Forwarding;
}

/// The policy when no call handling service is configured.
#[derive(Debug, Clone, Copy, Default)]
pub struct RingAlways;

impl CallPolicy for RingAlways {
    fn forwarding(&self, _callee_aor: &str) -> Forwarding {
        Forwarding::RingDevices
    }
}
