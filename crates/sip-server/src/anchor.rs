//! Media anchoring (`[media] anchor = "always"`): the B2BUA rewrites the SDP on both legs so
//! that each phone sends its RTP to the media engine, which relays it to the other phone and
//! drops anything from a source other than the negotiated peer.
//!
//! The caller's offer becomes the callee's offer with the engine's address (every fork gets
//! the same one); each answer (183 or 200) from a callee is rewritten for the caller and
//! tells the engine where the callee is. The relay is closed with the call.
//!
//! Does not: anchor late-offer calls (INVITE without SDP: media stays direct) or follow a
//! re-INVITE that moves the media (the relay keeps the first negotiated addresses).

use std::collections::HashMap;

use media_server::RelayId;
use tracing::{debug, warn};

use crate::core::Core;

/// Anchored calls by B2BUA call id: the relay and the offer sent to the callee's devices.
#[derive(Default)]
pub struct Anchors {
    calls: HashMap<u64, (RelayId, String)>,
}

impl Core {
    /// Anchors call `id` when configured to and the caller offered SDP. `Err` carries the
    /// status to fail the call with (no ports: 503; unusable SDP: 488).
    pub fn anchor_call(&mut self, id: u64, offer: &[u8]) -> Result<(), u16> {
        let Some(media) = self.deps.media.as_ref() else {
            return Ok(());
        };
        if !media.anchor_always() || offer.is_empty() {
            return Ok(());
        }
        match media.anchor(offer) {
            Ok((relay, offer_b)) => {
                debug!(call = id, "media anchored");
                self.anchors.calls.insert(id, (relay, offer_b));
                Ok(())
            }
            Err(e) => {
                warn!(error = %e, "cannot anchor the call's media");
                Err(e.sip_status().0)
            }
        }
    }

    /// The offer the callee's devices get, when the call is anchored.
    pub fn anchored_offer(&self, id: u64) -> Option<String> {
        self.anchors.calls.get(&id).map(|(_, sdp)| sdp.clone())
    }

    /// Rewrites a callee's SDP answer for the caller; `None` when not anchored (or the
    /// answer is unusable, which leaves it as it was).
    pub fn anchored_answer(&self, id: u64, answer: &[u8]) -> Option<String> {
        let (relay, _) = self.anchors.calls.get(&id)?;
        let media = self.deps.media.as_ref()?;
        match media.anchor_answer(*relay, answer) {
            Ok(sdp) => Some(sdp),
            Err(e) => {
                warn!(error = %e, "callee's answer could not be anchored");
                None
            }
        }
    }

    /// Closes the relay of a finished call.
    pub fn close_anchor(&mut self, id: u64) {
        if let Some((relay, _)) = self.anchors.calls.remove(&id)
            && let Some(media) = self.deps.media.as_ref()
        {
            media.close_anchor(relay);
        }
    }
}
