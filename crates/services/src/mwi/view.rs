//! The combined message-waiting view of one user (pure): every system of their profile
//! side by side with its counts and per-message details, plus the total over the active
//! systems; rendered as an RFC 3842 summary for phones, as JSON for CAS clients and as a
//! short text for SIP MESSAGE.
//!
//! A system whose message-waiting the user deactivated is shown (`active: false`) but not
//! counted in the total, so phones see nothing from it. Not here: storage, delivery.

use serde_json::{Value, json};
use sip_events::summary::{Counts, MsgClass, Summary};
use store::{LOCAL_SYSTEM, MwiCounts, MwiMessage, MwiProfile, MwiState, MwiSystem};

/// One system as a user sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemView {
    pub system: String,
    pub label: String,
    pub kind: String,
    pub mailbox: Option<String>,
    pub active: bool,
    pub counts: MwiCounts,
    pub messages: Vec<MwiMessage>,
    /// Unix milliseconds of the last report (0: never reported).
    pub updated_at: i64,
}

/// The combined view of one user.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct View {
    pub aor: String,
    pub systems: Vec<SystemView>,
    /// Sum over the active systems.
    pub total: MwiCounts,
}

/// Builds the view of `aor`: `local` first, then the profile's systems by name; `states`
/// are the reports stored for `aor` (others are ignored).
pub fn aggregate(
    aor: &str,
    systems: &[MwiSystem],
    profile: &[MwiProfile],
    states: &[MwiState],
) -> View {
    let mut out = View {
        aor: aor.to_owned(),
        ..View::default()
    };
    let local_row = profile.iter().find(|p| p.system == LOCAL_SYSTEM);
    let mut members: Vec<(&MwiSystem, Option<&MwiProfile>)> = Vec::new();
    if let Some(local) = systems.iter().find(|s| s.name == LOCAL_SYSTEM) {
        members.push((local, local_row));
    }
    let mut others: Vec<&MwiProfile> = profile
        .iter()
        .filter(|p| p.aor == aor && p.system != LOCAL_SYSTEM)
        .collect();
    others.sort_by(|a, b| a.system.cmp(&b.system));
    for p in others {
        if let Some(s) = systems.iter().find(|s| s.name == p.system) {
            members.push((s, Some(p)));
        }
    }
    for (sys, row) in members {
        let state = states
            .iter()
            .find(|st| st.aor == aor && st.system == sys.name);
        let active = row.is_none_or(|r| r.active);
        let counts = state.map(|s| s.counts).unwrap_or_default();
        if active {
            out.total = add(out.total, counts);
        }
        out.systems.push(SystemView {
            system: sys.name.clone(),
            label: sys.label.clone(),
            kind: sys.kind.clone(),
            mailbox: row.and_then(|r| r.mailbox.clone()),
            active,
            counts,
            messages: state.map(|s| s.messages.clone()).unwrap_or_default(),
            updated_at: state.map_or(0, |s| s.updated_at),
        });
    }
    out
}

fn add(a: MwiCounts, b: MwiCounts) -> MwiCounts {
    MwiCounts {
        new: a.new.saturating_add(b.new),
        old: a.old.saturating_add(b.old),
        urgent_new: a.urgent_new.saturating_add(b.urgent_new),
        urgent_old: a.urgent_old.saturating_add(b.urgent_old),
    }
}

impl View {
    /// `Messages-Waiting: yes` iff any active system holds a new message.
    pub fn waiting(&self) -> bool {
        self.total.new > 0
    }

    /// The aggregated RFC 3842 summary phones receive (§5.2: one `Voice-Message` line, the
    /// totals of every active system).
    pub fn summary(&self) -> Summary {
        let t = self.total;
        Summary {
            waiting: self.waiting(),
            account: Some(format!("sip:{}", self.aor)),
            classes: vec![(
                MsgClass::Voice,
                Counts {
                    new: t.new,
                    old: t.old,
                    urgent_new: t.urgent_new,
                    urgent_old: t.urgent_old,
                },
            )],
            extra: Vec::new(),
            messages: Vec::new(),
        }
    }

    /// The CAS form: `aor`, `waiting`, `total` and `systems` with their messages.
    pub fn to_json(&self) -> serde_json::Map<String, Value> {
        let mut o = serde_json::Map::new();
        o.insert("aor".into(), json!(self.aor));
        o.insert("waiting".into(), json!(self.waiting()));
        o.insert("total".into(), counts_json(self.total));
        let systems: Vec<Value> = self.systems.iter().map(system_json).collect();
        o.insert("systems".into(), Value::Array(systems));
        o
    }

    /// A short text for phones that take SIP MESSAGE, e.g.
    /// `Voicemail: 2 new (Voicemail 1, PBX 1); last from 1001 to 2000 at 10:42 UTC`.
    pub fn text(&self) -> String {
        let active: Vec<&SystemView> = self.systems.iter().filter(|s| s.active).collect();
        let mut s = format!("Voicemail: {} new", self.total.new);
        if self.total.old > 0 {
            s.push_str(&format!(", {} old", self.total.old));
        }
        let parts: Vec<String> = active
            .iter()
            .filter(|v| v.counts.new > 0 || v.counts.old > 0)
            .map(|v| format!("{} {}", v.label, v.counts.new))
            .collect();
        if !parts.is_empty() {
            s.push_str(&format!(" ({})", parts.join(", ")));
        }
        let last = active
            .iter()
            .flat_map(|v| v.messages.iter())
            .filter(|m| m.new)
            .max_by_key(|m| m.at.unwrap_or(0));
        if let Some(m) = last {
            let mut tail = String::new();
            if let Some(ani) = &m.ani {
                tail.push_str(&format!(" from {ani}"));
            }
            if let Some(dnis) = &m.dnis {
                tail.push_str(&format!(" to {dnis}"));
            }
            if let Some(at) = m.at {
                tail.push_str(&format!(" at {} UTC", clock(at)));
            }
            if !tail.is_empty() {
                s.push_str(&format!("; last{tail}"));
            }
        }
        s
    }
}

fn counts_json(c: MwiCounts) -> Value {
    json!({"new": c.new, "old": c.old, "urgent_new": c.urgent_new, "urgent_old": c.urgent_old})
}

fn system_json(s: &SystemView) -> Value {
    let messages: Vec<Value> = s
        .messages
        .iter()
        .map(|m| {
            json!({
                "id": m.id, "at": m.at, "ani": m.ani, "dnis": m.dnis, "subject": m.subject,
                "urgent": m.urgent, "new": m.new,
            })
        })
        .collect();
    json!({
        "system": s.system,
        "label": s.label,
        "kind": s.kind,
        "mailbox": s.mailbox,
        "active": s.active,
        "new": s.counts.new,
        "old": s.counts.old,
        "urgent_new": s.counts.urgent_new,
        "urgent_old": s.counts.urgent_old,
        "updated_at": s.updated_at,
        "messages": messages,
    })
}

/// `HH:MM` (UTC) of a Unix-millisecond time.
fn clock(ms: i64) -> String {
    let secs_of_day = ms.div_euclid(1000).rem_euclid(86_400);
    format!("{:02}:{:02}", secs_of_day / 3600, (secs_of_day % 3600) / 60)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests;
