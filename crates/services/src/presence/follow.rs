//! The presence service's listeners: CAS sessions (IM availability, mobile), the call
//! handling mode (`config` `mode_changed` notices), registration counts (only until the SIP
//! face reports devices itself) and the publication expiry sweep.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::broadcast;
use tracing::warn;

use super::Presence;
use super::model::{Classes, DeviceInfo, ModeEffect};
use super::table::key;
use crate::bus::{Audience, BusEvent};
use crate::callmode::Mode;

pub(super) fn spawn(p: Presence, mut rx: broadcast::Receiver<BusEvent>) {
    let sweeper = p.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            sweeper.expire(Instant::now());
        }
    });
    tokio::spawn(async move {
        // Set by a lag, acted on once caught up: a query published while the channel is
        // still full would push out the next event and lag us again, forever.
        let mut resync_due = false;
        loop {
            match rx.recv().await {
                Ok(ev) => on_bus(&p, ev),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    warn!(
                        lost = n,
                        "presence lagged behind the bus, resyncing CAS sessions"
                    );
                    resync_due = true;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
            if resync_due && rx.is_empty() {
                resync_due = false;
                p.inner.bus.resync_sessions();
            }
        }
    });
}

fn on_bus(p: &Presence, ev: BusEvent) {
    match ev {
        BusEvent::SessionStarted { user } => p.session(&user, None, true),
        BusEvent::SessionEnded { user, session } => p.session(&user, Some(session), false),
        BusEvent::SessionsSnapshot { sessions } => p.sessions_snapshot(sessions),
        BusEvent::Registration { aor, contacts }
            if !p.inner.direct_devices.load(Ordering::Relaxed) =>
        {
            let devices = (0..contacts)
                .map(|i| DeviceInfo {
                    key: format!("registration-{i}"),
                    classes: Classes::PHONE,
                })
                .collect();
            p.set_devices(&aor, devices);
        }
        BusEvent::Notice {
            topic,
            audience: Audience::Users(users),
            event,
            ..
        } if topic == "config"
            && event.get("message").and_then(|m| m.as_str()) == Some("mode_changed") =>
        {
            let mode = event
                .get("mode")
                .and_then(|m| m.as_str())
                .and_then(|m| Mode::parse(m).ok());
            if let (Some(mode), Some(user)) = (mode, users.first()) {
                let aor = key(user);
                p.change(|t, _| {
                    (
                        (),
                        t.set_mode(&aor, ModeEffect::of(mode)).into_iter().collect(),
                    )
                });
            }
        }
        _ => {}
    }
}

impl Presence {
    /// A CAS session of `user` started or ended.
    fn session(&self, user: &str, session: Option<u64>, started: bool) {
        let aor = key(user);
        self.change(|t, _| {
            let person = t.person(&aor);
            if started {
                person.sessions += 1;
            } else {
                person.sessions = person.sessions.saturating_sub(1);
                if let Some(s) = session {
                    person.mobile.remove(&s);
                }
                if person.sessions == 0 {
                    person.mobile.clear();
                    t.unwatch_all(&aor);
                }
            }
            ((), t.refresh(&aor).into_iter().collect())
        });
    }
}

impl Presence {
    /// The CAS hub's sessions (`user@domain` → ids) replace what the bus events built: counts,
    /// mobile sessions, and CAS following of users without a session.
    pub(crate) fn sessions_snapshot(&self, sessions: Vec<(String, Vec<u64>)>) {
        let truth: HashMap<String, HashSet<u64>> = sessions
            .into_iter()
            .map(|(u, ids)| (key(&u), ids.into_iter().collect()))
            .collect();
        self.change(|t, _| {
            let mut touched = Vec::new();
            for (aor, p) in &mut t.people {
                let ids = truth.get(aor);
                let n = ids.map_or(0, HashSet::len);
                let before = (p.sessions, p.mobile.len());
                p.sessions = n;
                p.mobile.retain(|s| ids.is_some_and(|i| i.contains(s)));
                if before != (p.sessions, p.mobile.len()) {
                    touched.push(aor.clone());
                }
            }
            for (aor, ids) in &truth {
                if !t.people.contains_key(aor) {
                    t.person(aor).sessions = ids.len();
                    touched.push(aor.clone());
                }
            }
            let gone: Vec<String> = t
                .watching
                .keys()
                .filter(|w| !truth.contains_key(*w))
                .cloned()
                .collect();
            for w in gone {
                t.unwatch_all(&w);
            }
            let changes = touched.iter().filter_map(|a| t.refresh(a)).collect();
            ((), changes)
        });
    }
}
