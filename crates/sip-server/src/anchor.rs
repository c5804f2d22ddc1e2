//! Media anchoring (`[media] anchor = "always"`): the B2BUA rewrites every SDP body that
//! crosses from one leg to the other so that each phone sends its RTP to the media engine,
//! which relays it to the other phone and drops anything from a source other than the
//! negotiated peer.
//!
//! Every description is followed, whichever way it goes: the caller's offer in the INVITE
//! (the callee's devices all get the same rewritten offer), the callee's answer in a 18x or
//! 2xx, a late offer (INVITE without SDP: the callee offers in its 2xx and the caller answers
//! in the ACK, RFC 3261 §13.2.1), and re-INVITE/UPDATE offers and answers from either side
//! (RFC 3264 §8: a phone that moves its media or holds is followed). Codecs are not touched,
//! so whatever the phones agree on (Opus included) passes through.
//!
//! With `[media] inactivity_timeout`, a relay on which neither phone sent RTP for that long
//! hangs the call up (BYE both legs), as when a phone vanished without a BYE.
//!
//! Does not: anchor anything but the first audio stream (others are disabled in the
//! rewritten descriptions), or anchor calls the engine cannot take (no ports: 503).

use std::collections::HashMap;

use media_server::{Leg, MediaServer, RelayEvent, RelayId};
use tracing::{debug, info, warn};

use crate::b2bua::Side;
use crate::core::Core;

/// Anchored calls by B2BUA call id: the relay and the offer sent to the callee's devices.
#[derive(Default)]
pub struct Anchors {
    calls: HashMap<u64, (RelayId, Option<String>)>,
    by_relay: HashMap<RelayId, u64>,
    /// The relay-event watcher runs (started with the first anchored call).
    watching: bool,
}

impl Anchors {
    /// The description from `from`'s phone of call `id`, rewritten for the other leg;
    /// `None` when the call is not anchored or the body is no usable SDP (then it passes
    /// unchanged).
    pub fn rewrite(
        &self,
        media: Option<&MediaServer>,
        id: u64,
        from: Side,
        content_type: &str,
        body: &[u8],
    ) -> Option<String> {
        let (relay, _) = self.calls.get(&id)?;
        if body.is_empty() || !is_sdp(content_type) {
            return None;
        }
        let leg = match from {
            Side::A => Leg::A,
            Side::B(_) => Leg::B,
        };
        match media?.anchor_sdp(*relay, leg, body) {
            Ok(sdp) => Some(sdp),
            Err(e) => {
                warn!(error = %e, "a description could not be anchored");
                None
            }
        }
    }
}

fn is_sdp(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/sdp"))
}

impl Core {
    /// Anchors call `id` when configured to; `offer` may be empty (late offer). `Err`
    /// carries the status to fail the call with (no ports: 503; unusable SDP: 488).
    pub fn anchor_call(&mut self, id: u64, offer: &[u8]) -> Result<(), u16> {
        let Some(media) = self.deps.media.clone() else {
            return Ok(());
        };
        if !media.anchor_always() {
            return Ok(());
        }
        self.watch_relays(&media);
        let anchored = if offer.is_empty() {
            media.anchor_late().map(|r| (r, None))
        } else {
            media.anchor(offer).map(|(r, sdp)| (r, Some(sdp)))
        };
        match anchored {
            Ok((relay, offer_b)) => {
                debug!(call = id, late = offer_b.is_none(), "media anchored");
                self.anchors.calls.insert(id, (relay, offer_b));
                self.anchors.by_relay.insert(relay, id);
                Ok(())
            }
            Err(e) => {
                warn!(error = %e, "cannot anchor the call's media");
                Err(e.sip_status().0)
            }
        }
    }

    /// Forwards the engine's relay events to the core (once).
    fn watch_relays(&mut self, media: &MediaServer) {
        if std::mem::replace(&mut self.anchors.watching, true) {
            return;
        }
        let mut events = media.relay_events();
        let notes = self.media_calls.notes();
        media.runtime().spawn(async move {
            while let Some(RelayEvent::Inactive { id }) = events.recv().await {
                if notes.send(crate::ivr::Note::RelayInactive(id)).is_err() {
                    break;
                }
            }
        });
    }

    /// The offer the callee's devices get, when the call is anchored with an offer.
    pub fn anchored_offer(&self, id: u64) -> Option<String> {
        self.anchors.calls.get(&id).and_then(|(_, sdp)| sdp.clone())
    }

    /// Rewrites a callee's SDP (answer, or offer of a late-offer call) for the caller;
    /// `None` when not anchored (or the body is unusable, which leaves it as it was).
    pub fn anchored_answer(&self, id: u64, answer: &[u8]) -> Option<String> {
        self.anchors.rewrite(
            self.deps.media.as_ref(),
            id,
            Side::B(0),
            "application/sdp",
            answer,
        )
    }

    /// A relay saw no media for the inactivity timeout: hang the call up.
    pub fn relay_inactive(&mut self, relay: RelayId) {
        let Some(id) = self.anchors.by_relay.get(&relay).copied() else {
            return;
        };
        info!(call = id, "no media on an anchored call, hanging up");
        self.hang_up_both(id);
        self.close_anchor(id);
    }

    /// Closes the relay of a finished call.
    pub fn close_anchor(&mut self, id: u64) {
        if let Some((relay, _)) = self.anchors.calls.remove(&id) {
            self.anchors.by_relay.remove(&relay);
            if let Some(media) = self.deps.media.as_ref() {
                media.close_anchor(relay);
            }
        }
    }
}
