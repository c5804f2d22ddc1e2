//! The SIP face's only calls into the presence and message-waiting services: authorization,
//! rendering of NOTIFY bodies, device sets, call activity and publications. Everything SIP
//! (subscriptions, NOTIFY transactions, PUBLISH parsing) stays in `subscribe.rs`,
//! `notify.rs` and `publish.rs`; everything about what a person's presence *is* stays in
//! `services::presence` and `services::mwi`.

use bytes::Bytes;

use crate::core::Core;
use crate::devices::Classes;

/// Whether a watcher may see a presentity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authz {
    Allow,
    Pending,
    Deny,
}

/// How the state of several devices and classes is combined for one watcher
/// (`Event: presence;rollup=…`, documented in docs/operator-guide.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Rollup {
    #[default]
    Compound,
    MostAvailable,
    SemiAvailable,
}

impl Rollup {
    pub fn parse(token: &str) -> Option<Rollup> {
        let t = token.trim().trim_matches('"');
        if t.eq_ignore_ascii_case("most-available") {
            Some(Rollup::MostAvailable)
        } else if t.eq_ignore_ascii_case("semi-available") {
            Some(Rollup::SemiAvailable)
        } else if t.eq_ignore_ascii_case("compound") {
            Some(Rollup::Compound)
        } else {
            None
        }
    }
}

/// What a call does to its parties' telephony presence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    Ringing,
    OnCall,
    OnHold,
}

fn presence(core: &Core) -> &services::presence::Presence {
    &core.deps.presence
}

pub fn authorize(core: &Core, watcher: &str, presentity: &str) -> Authz {
    match presence(core).authorize(watcher, presentity) {
        services::presence::Authz::Allow => Authz::Allow,
        services::presence::Authz::Pending => Authz::Pending,
        services::presence::Authz::Deny => Authz::Deny,
    }
}

/// Re-checks a live subscription's authorization (not remembered again).
pub fn may_see(core: &Core, watcher: &str, presentity: &str) -> Authz {
    match presence(core).may_see(watcher, presentity) {
        services::presence::Authz::Allow => Authz::Allow,
        services::presence::Authz::Pending => Authz::Pending,
        services::presence::Authz::Deny => Authz::Deny,
    }
}

/// A subscription that asked [`authorize`] ended.
pub fn forget_asker(core: &Core, watcher: &str, presentity: &str) {
    presence(core).forget_asker(watcher, presentity);
}

/// `[presence] max_subscriptions_per_watcher`.
pub fn max_subscriptions_per_watcher(core: &Core) -> usize {
    presence(core).config().max_subscriptions_per_watcher
}

pub fn add_pending(core: &Core, watcher: &str, presentity: &str) {
    presence(core).add_pending(watcher, presentity);
}

/// The current presence document of `presentity` as `rollup` shows it: (version, PIDF).
pub fn render(core: &Core, presentity: &str, rollup: Rollup) -> Option<(u64, Bytes)> {
    let r = match rollup {
        Rollup::Compound => services::presence::Rollup::Compound,
        Rollup::MostAvailable => services::presence::Rollup::MostAvailable,
        Rollup::SemiAvailable => services::presence::Rollup::SemiAvailable,
    };
    presence(core).render(presentity, r)
}

/// The aggregated message summary of `aor` (RFC 3842 body).
pub fn summary(core: &Core, aor: &str) -> Option<Bytes> {
    Some(Bytes::from(core.deps.mwi.summary(aor).to_text()))
}

pub fn devices(core: &Core, aor: &str, devices: Vec<(String, Classes)>) {
    let devices = devices
        .into_iter()
        .map(|(key, c)| services::presence::DeviceInfo {
            key,
            classes: services::presence::Classes {
                voice: c.contains(Classes::VOICE),
                video: c.contains(Classes::VIDEO),
                im: c.contains(Classes::IM),
            },
        })
        .collect();
    presence(core).devices(aor, devices);
}

pub fn call_activity(core: &Core, aor: &str, call_key: &str, activity: Option<Activity>) {
    let a = activity.map(|a| match a {
        Activity::Ringing => services::presence::CallActivity::Ringing,
        Activity::OnCall => services::presence::CallActivity::OnCall,
        Activity::OnHold => services::presence::CallActivity::OnHold,
    });
    presence(core).call_activity(aor, call_key, a);
}

/// Why the presence service refused a publication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishFail {
    UnknownEtag,
    IntervalTooBrief(u32),
    MissingBody,
}

/// Applies a PUBLISH (RFC 3903) from the device `device`: returns the new entity tag and
/// the granted expiry.
pub fn publish(
    core: &Core,
    presentity: &str,
    device: &str,
    etag: Option<String>,
    expires: u32,
    doc: Option<sip_events::pidf::Document>,
) -> Result<(String, u32), PublishFail> {
    use services::presence::{PublishError, PublishReq};
    let req = PublishReq { etag, expires, doc };
    match presence(core).publish(presentity, device, req, std::time::Instant::now()) {
        Ok(p) => Ok((p.etag, p.expires)),
        Err(PublishError::UnknownEtag) => Err(PublishFail::UnknownEtag),
        Err(PublishError::IntervalTooBrief { min }) => Err(PublishFail::IntervalTooBrief(min)),
        Err(PublishError::MissingBody) => Err(PublishFail::MissingBody),
    }
}

/// Both parties of a call (caller and callee AORs) get the same telephony activity; `None`
/// when the call ended.
pub fn call_activity_both(
    core: &Core,
    caller: &str,
    callee: &str,
    call_key: &str,
    activity: Option<Activity>,
) {
    call_activity(core, callee, call_key, activity);
    if caller != callee {
        call_activity(core, caller, call_key, activity);
    }
}

/// Whether a re-INVITE's SDP puts the call on hold (RFC 3264 §8.4: `sendonly` or
/// `inactive`, or the RFC 2543 `c=… 0.0.0.0`).
pub fn sdp_holds(sdp: &[u8]) -> bool {
    String::from_utf8_lossy(sdp).lines().any(|l| {
        let l = l.trim();
        l == "a=sendonly" || l == "a=inactive" || l == "c=IN IP4 0.0.0.0"
    })
}
