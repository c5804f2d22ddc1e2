//! The in-process event bus: reactions across services and faces go through it (GUIDE.md
//! rule 3). A cluster implementation (NATS) can sit behind the same API later.

use cas_proto::Object;
use store::CallRecord;
use tokio::sync::broadcast;

/// Who a CAS notice is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// The sessions of these users (`user@domain`) that subscribed to the topic.
    Users(Vec<String>),
    /// Every session subscribed to the topic.
    All,
}

/// Everything that crosses service boundaries.
#[derive(Debug, Clone)]
pub enum BusEvent {
    /// An event for CAS sessions subscribed to `topic` (and `key`, when the subscription
    /// names one).
    Notice {
        topic: String,
        key: Option<String>,
        audience: Audience,
        event: Object,
        /// Deliver even to sessions that did not subscribe (e.g. an incoming IM).
        always: bool,
    },
    /// An administrator changed the grants of a role: affected sessions must hear of it.
    PermissionsChanged { role: String },
    /// A user's role changed.
    UserRoleChanged { user: String },
    /// A call ended and was recorded.
    CallEnded(CallRecord),
    /// A CAS session of `user` (`user@domain`) started (e.g. to deliver what was stored while
    /// the user was offline).
    SessionStarted { user: String },
    /// A CAS session of `user` ended (logout, idle expiry, WebSocket closed); `session` is
    /// the id providers saw as `Caller::session`.
    SessionEnded { user: String, session: u64 },
    /// A user's registered devices changed (count of live bindings).
    Registration { aor: String, contacts: usize },
    /// Send a SIP MESSAGE (RFC 3428) to every registered device of `to`.
    SipMessageOut {
        from: String,
        to: String,
        content_type: String,
        body: String,
    },
    /// The presence of `aor` (`user@domain`) changed; `version` grows with every change, so
    /// a notifier that already sent it can skip it (`services::presence`).
    PresenceChanged { aor: String, version: u64 },
    /// Whether `watcher` may see `presentity` changed (approved, denied, blocked, rules
    /// edited): SIP subscriptions re-ask `Presence::authorize`.
    PresenceAuthChanged { presentity: String, watcher: String },
    /// The combined message-waiting view of `aor` (`user@domain`) changed
    /// (`services::mwi`): SIP notifiers re-read `Mwi::summary`.
    MwiChanged { aor: String },
    /// A voicemail box changed (message stored, heard, saved or deleted): its counts after
    /// the change (`services::voicemail`; MWI follows them).
    VoicemailChanged { aor: String, new: u32, old: u32 },
    /// CAS `vm.play_on_phone`: the SIP face calls `aor`'s device (`device` = a contact URI,
    /// or every device when `None`) and plays `file`; it answers with `VmPlaybackStarted`
    /// or `VmPlaybackFailed` carrying the same `request_id`.
    VmPlayOnPhone {
        request_id: u64,
        aor: String,
        device: Option<String>,
        file: std::path::PathBuf,
        message: i64,
    },
    /// The phone answered and playback of `request_id` started.
    VmPlaybackStarted { request_id: u64 },
    /// `request_id` could not be played (no device, not answered, busy …).
    VmPlaybackFailed { request_id: u64, reason: String },
    /// A SIP MESSAGE from a device reached the server for a local user.
    SipMessageIn {
        from: String,
        to: String,
        content_type: String,
        body: String,
    },
    /// A listener lost events (`Lagged`) and needs the CAS sessions again: the CAS hub
    /// answers with `SessionsSnapshot`.
    SessionsQuery,
    /// The CAS hub's live sessions, `user@domain` → session ids (answer to `SessionsQuery`).
    SessionsSnapshot { sessions: Vec<(String, Vec<u64>)> },
}

/// A cloneable handle to the bus.
#[derive(Debug, Clone)]
pub struct Bus {
    tx: broadcast::Sender<BusEvent>,
}

impl Default for Bus {
    /// Room for bursts (10,000 clients logging in at once): a slow reader that falls behind
    /// by more than this loses events, which the readers log as `lagged`.
    fn default() -> Self {
        Bus::new(1 << 17)
    }
}

impl Bus {
    pub fn new(capacity: usize) -> Bus {
        let (tx, _) = broadcast::channel(capacity);
        Bus { tx }
    }

    /// Publishes; an event nobody listens to is simply dropped.
    pub fn publish(&self, ev: BusEvent) {
        let _ = self.tx.send(ev);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<BusEvent> {
        self.tx.subscribe()
    }

    /// For a listener that lagged (lost events may have included session starts and ends):
    /// asks the CAS hub for its sessions now, and once more a second later. The answer
    /// (`SessionsSnapshot`) comes in bus order, so events after it apply on top of it; the
    /// second answer mends a session that started or ended between the hub's snapshot and
    /// its own bus event (or a query the hub's listener lost). Call it once the listener has
    /// caught up (`Receiver::is_empty`), or the answer may be lost the same way.
    pub fn resync_sessions(&self) {
        self.publish(BusEvent::SessionsQuery);
        let bus = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            bus.publish(BusEvent::SessionsQuery);
        });
    }
}
