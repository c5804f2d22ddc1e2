//! Device service classes (voice, video, IM) from the callee capabilities a phone declares
//! in its REGISTER Contact (RFC 3840 §9 feature tags: `audio`, `video`, `text`, `methods`),
//! and the class-aware choice of devices for a forked call.
//!
//! A contact without any media feature tag counts as **voice + IM**: almost every phone
//! registers without tags and places voice calls and MESSAGEs. `video` is only ever learned
//! from a tag. `+sip.instance` and other parameters never affect the classes.
//!
//! The classes live beside the location service (keyed by AOR and contact) and are persisted
//! with each binding (`store::Binding::classes`, written behind like the binding itself): after
//! a restart they are read back ([`DeviceClasses::seed`]) and every AOR's device set is
//! announced to the presence service again, so a video phone still gets the video calls.
//! A binding stored before classes were kept counts as voice + IM until its next REGISTER.
//!
//! The presence service hears the device set of an AOR on every binding change
//! ([`Core::devices_changed`]) under opaque keys (a hash of the instance id or contact), so
//! nothing that identifies a device leaves the SIP face.

use std::collections::HashMap;
use std::hash::{Hash as _, Hasher as _};

use sip::{ContactValue, Message, NameAddr};
use store::Binding;

use crate::core::Core;
use crate::util::unix_now;

/// The service classes a device supports, as a small bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Classes(u8);

impl Classes {
    pub const VOICE: Classes = Classes(1);
    pub const VIDEO: Classes = Classes(2);
    pub const IM: Classes = Classes(4);
    /// What a contact without media feature tags supports.
    pub const DEFAULT: Classes = Classes(1 | 4);

    pub fn contains(self, other: Classes) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn with(self, other: Classes) -> Classes {
        Classes(self.0 | other.0)
    }

    const NAMES: [(Classes, &'static str); 3] = [
        (Classes::VOICE, "voice"),
        (Classes::VIDEO, "video"),
        (Classes::IM, "im"),
    ];

    /// The stored form: class names, comma-separated (`voice,video`).
    pub fn to_store(self) -> String {
        Classes::NAMES
            .iter()
            .filter(|(c, _)| self.contains(*c))
            .map(|(_, n)| *n)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Reads the stored form back; unknown names are ignored.
    pub fn from_store(s: &str) -> Classes {
        s.split(',')
            .filter_map(|n| Classes::NAMES.iter().find(|(_, name)| *name == n.trim()))
            .fold(Classes::default(), |acc, (c, _)| acc.with(*c))
    }
}

/// True when a boolean feature tag is present and not negated (RFC 3840 §9: `;audio` or
/// `;audio="TRUE"` mean true, `;audio="FALSE"` or `;audio="!TRUE"` false).
fn flag(addr: &NameAddr<'_>, name: &str) -> bool {
    match addr.param(name) {
        None => false,
        Some(v) => {
            let v = v.trim_matches('"');
            !(v.eq_ignore_ascii_case("FALSE") || v.starts_with('!'))
        }
    }
}

/// The classes a Contact declares (see the module documentation for the default).
pub fn classes_of(addr: &NameAddr<'_>) -> Classes {
    let media = ["audio", "video", "text", "application", "data", "control"];
    let tagged = media.iter().any(|m| addr.param(m).is_some());
    let methods_im = addr.param("methods").is_some_and(|m| {
        m.trim_matches('"')
            .split(',')
            .any(|x| x.trim().eq_ignore_ascii_case("MESSAGE"))
    });
    if !tagged {
        return if methods_im || addr.param("methods").is_none() {
            Classes::DEFAULT
        } else {
            Classes::VOICE
        };
    }
    let mut c = Classes::default();
    if flag(addr, "audio") {
        c = c.with(Classes::VOICE);
    }
    if flag(addr, "video") {
        c = c.with(Classes::VIDEO);
    }
    if flag(addr, "text") || methods_im {
        c = c.with(Classes::IM);
    }
    c
}

/// An opaque, stable key for a device: its instance id when it has one, else its contact.
pub fn device_key(b: &Binding) -> String {
    let mut h = std::hash::DefaultHasher::new();
    b.aor.hash(&mut h);
    match &b.instance {
        Some(i) => i.hash(&mut h),
        None => b.contact.to_ascii_lowercase().hash(&mut h),
    }
    format!("d{:016x}", h.finish())
}

/// An opaque key for a publisher that has no registration on its flow.
pub fn flow_key(aor: &str, flow: &str) -> String {
    let mut h = std::hash::DefaultHasher::new();
    aor.hash(&mut h);
    flow.hash(&mut h);
    format!("f{:016x}", h.finish())
}

/// Classes per AOR and contact URI, learned from REGISTER.
#[derive(Debug, Default)]
pub struct DeviceClasses {
    by_aor: HashMap<String, HashMap<String, Classes>>,
}

impl DeviceClasses {
    /// Learns the classes of every contact of an accepted REGISTER; true when a known
    /// contact's classes changed.
    pub fn learn(&mut self, aor: &str, req: &Message) -> bool {
        let mut changed = false;
        for c in req.contacts() {
            if let ContactValue::Addr(a) = c {
                let new = classes_of(&a);
                let old = self
                    .by_aor
                    .entry(aor.to_owned())
                    .or_default()
                    .insert(a.uri.raw().to_owned(), new);
                changed |= old.is_some_and(|o| o != new);
            }
        }
        changed
    }

    /// Takes the classes stored with loaded bindings (at start).
    pub fn seed(&mut self, bindings: &[Binding]) {
        for b in bindings {
            if let Some(stored) = &b.classes {
                self.by_aor
                    .entry(b.aor.clone())
                    .or_default()
                    .insert(b.contact.clone(), Classes::from_store(stored));
            }
        }
    }

    /// The bindings with their classes filled in, to be persisted.
    pub fn stamp(&self, bindings: Vec<Binding>) -> Vec<Binding> {
        bindings
            .into_iter()
            .map(|mut b| {
                b.classes = Some(self.of(&b).to_store());
                b
            })
            .collect()
    }

    /// The classes of a binding (the default when never learned, e.g. stored before classes
    /// were kept).
    pub fn of(&self, b: &Binding) -> Classes {
        self.by_aor
            .get(&b.aor)
            .and_then(|m| m.get(&b.contact))
            .copied()
            .unwrap_or(Classes::DEFAULT)
    }

    /// Forgets contacts that are no longer bound.
    pub fn retain(&mut self, aor: &str, bindings: &[Binding]) {
        if bindings.is_empty() {
            self.by_aor.remove(aor);
        } else if let Some(m) = self.by_aor.get_mut(aor) {
            m.retain(|contact, _| bindings.iter().any(|b| &b.contact == contact));
        }
    }
}

/// Whether an SDP offer has an active video stream (`m=video` with a non-zero port).
pub fn offers_video(sdp: &[u8]) -> bool {
    String::from_utf8_lossy(sdp).lines().any(|l| {
        l.strip_prefix("m=video ")
            .and_then(|rest| rest.split([' ', '/']).next())
            .is_some_and(|port| port.trim() != "0")
    })
}

/// The devices a call rings (RFC 3841-like caller preferences reduced to the one question a
/// virtual address needs answered): a video offer forks to the video devices; if none has
/// video, or the offer is voice only, to the voice devices. When no device supports the
/// class at all, every device rings rather than failing the call.
pub fn choose_for_call(
    classes: &DeviceClasses,
    bindings: Vec<Binding>,
    video: bool,
) -> Vec<Binding> {
    let pick = |want: Classes| -> Vec<Binding> {
        bindings
            .iter()
            .filter(|b| classes.of(b).contains(want))
            .cloned()
            .collect()
    };
    if video {
        let v = pick(Classes::VIDEO);
        if !v.is_empty() {
            return v;
        }
    }
    let voice = pick(Classes::VOICE);
    if voice.is_empty() { bindings } else { voice }
}

impl Core {
    /// Tells the presence service which devices an AOR has now (after any binding change).
    pub fn devices_changed(&mut self, aor: &str) {
        let bindings = self.location.lookup(aor, unix_now());
        self.classes.retain(aor, &bindings);
        let devices: Vec<(String, Classes)> = bindings
            .iter()
            .map(|b| (device_key(b), self.classes.of(b)))
            .collect();
        crate::glue::devices(self, aor, devices);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn cls(v: &str) -> Classes {
        classes_of(&NameAddr::parse(v).unwrap())
    }

    #[test]
    fn feature_tags() {
        assert_eq!(cls("<sip:a@h>"), Classes::DEFAULT);
        assert_eq!(
            cls("<sip:a@h>;+sip.instance=\"<urn:uuid:1>\";expires=60"),
            Classes::DEFAULT
        );
        assert_eq!(cls("<sip:a@h>;audio"), Classes::VOICE);
        assert_eq!(
            cls("<sip:a@h>;audio;video"),
            Classes::VOICE.with(Classes::VIDEO)
        );
        assert_eq!(cls("<sip:a@h>;video;audio=\"FALSE\""), Classes::VIDEO);
        assert_eq!(cls("<sip:a@h>;text"), Classes::IM);
        assert_eq!(
            cls("<sip:a@h>;audio;methods=\"INVITE,MESSAGE\""),
            Classes::DEFAULT
        );
        assert_eq!(cls("<sip:a@h>;methods=\"INVITE,BYE\""), Classes::VOICE);
    }

    #[test]
    fn stored_form_round_trips() {
        let all = Classes::VOICE.with(Classes::VIDEO).with(Classes::IM);
        for c in [Classes::DEFAULT, Classes::VIDEO, all, Classes::default()] {
            assert_eq!(Classes::from_store(&c.to_store()), c);
        }
        assert_eq!(all.to_store(), "voice,video,im");
        assert_eq!(Classes::from_store("video, fax,,"), Classes::VIDEO);
    }

    #[test]
    fn video_offers() {
        assert!(offers_video(
            b"v=0\r\nm=audio 4000 RTP/AVP 0\r\nm=video 4002 RTP/AVP 96\r\n"
        ));
        assert!(!offers_video(
            b"v=0\r\nm=audio 4000 RTP/AVP 0\r\nm=video 0 RTP/AVP 96\r\n"
        ));
        assert!(!offers_video(b"v=0\r\nm=audio 4000 RTP/AVP 0\r\n"));
    }
}
