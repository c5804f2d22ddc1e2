//! The vocabulary of call handling: the five modes, the three forwarding choices, one user's
//! settings, and how they are written in CAS replies. Pure: no store, no locks.

use std::collections::HashMap;

use cas_proto::{CasError, Object};
use serde_json::{Value, json};

use crate::routing::Forwarding;

/// The longest custom label and forwarding target accepted.
const MAX_LABEL: usize = 64;
const MAX_TARGET: usize = 256;

/// A call handling mode (DESIGN.md §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    Available,
    Meeting,
    OutOfOffice,
    ExtendedAbsence,
    Custom,
}

impl Mode {
    pub const ALL: [Mode; 5] = [
        Mode::Available,
        Mode::Meeting,
        Mode::OutOfOffice,
        Mode::ExtendedAbsence,
        Mode::Custom,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Available => "available",
            Mode::Meeting => "meeting",
            Mode::OutOfOffice => "out_of_office",
            Mode::ExtendedAbsence => "extended_absence",
            Mode::Custom => "custom",
        }
    }

    pub fn parse(s: &str) -> Result<Mode, CasError> {
        Mode::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                CasError::bad_request(format!(
                    "unknown mode '{s}': available, meeting, out_of_office, extended_absence \
                     or custom"
                ))
            })
    }

    /// What a mode does until the user chooses otherwise: someone who is away does not want
    /// their phones ringing.
    pub fn default_forward(self) -> Forward {
        match self {
            Mode::Available | Mode::Custom => Forward::RingDevices,
            Mode::Meeting | Mode::OutOfOffice | Mode::ExtendedAbsence => Forward::Voicemail,
        }
    }
}

/// What a new call does while a mode is current.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forward {
    RingDevices,
    /// `target` as the user typed it; `resolved` is the local user (`user@domain`) it names,
    /// if any.
    Forward {
        target: String,
        resolved: Option<String>,
    },
    Voicemail,
}

/// The forwarding actions, in menu order.
pub const ACTIONS: [&str; 3] = ["ring_devices", "forward", "voicemail"];

impl Forward {
    pub fn action(&self) -> &'static str {
        match self {
            Forward::RingDevices => "ring_devices",
            Forward::Forward { .. } => "forward",
            Forward::Voicemail => "voicemail",
        }
    }

    pub fn target(&self) -> Option<&str> {
        match self {
            Forward::Forward { target, .. } => Some(target),
            _ => None,
        }
    }

    /// The decision the SIP face executes. An unresolved target is passed as typed; the SIP
    /// face answers 480 for targets it cannot reach.
    pub fn routing(&self) -> Forwarding {
        match self {
            Forward::RingDevices => Forwarding::RingDevices,
            Forward::Forward { target, resolved } => {
                Forwarding::ForwardTo(resolved.clone().unwrap_or_else(|| target.clone()))
            }
            Forward::Voicemail => Forwarding::Voicemail,
        }
    }

    pub fn to_json(&self) -> Value {
        match self {
            Forward::Forward { target, resolved } => {
                let mut o = json!({"action": "forward", "target": target});
                if let (Some(r), Some(map)) = (resolved, o.as_object_mut()) {
                    map.insert("resolved".into(), json!(r));
                }
                o
            }
            other => json!({"action": other.action()}),
        }
    }
}

/// Checks a custom label: short, printable.
pub fn check_label(label: &str) -> Result<(), CasError> {
    let trimmed = label.trim();
    if trimmed.is_empty() || label.chars().count() > MAX_LABEL {
        return Err(CasError::bad_request(format!(
            "label must be 1 to {MAX_LABEL} characters"
        )));
    }
    if label.chars().any(char::is_control) {
        return Err(CasError::bad_request(
            "label must not contain control characters",
        ));
    }
    Ok(())
}

/// Checks a forwarding target: a user name, a number or a SIP URI, one token.
pub fn check_target(target: &str) -> Result<(), CasError> {
    if target.is_empty() || target.len() > MAX_TARGET {
        return Err(CasError::bad_request(format!(
            "target must be 1 to {MAX_TARGET} bytes"
        )));
    }
    if target
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"'))
    {
        return Err(CasError::bad_request(
            "target must be a user name, a number or a SIP URI without spaces or brackets",
        ));
    }
    Ok(())
}

/// One user's call handling: the current mode and the choices made per mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserModes {
    pub mode: Mode,
    pub custom_label: Option<String>,
    /// Only modes whose forwarding the user changed; the others use the default.
    pub forwards: HashMap<Mode, Forward>,
}

impl Default for UserModes {
    fn default() -> Self {
        UserModes {
            mode: Mode::Available,
            custom_label: None,
            forwards: HashMap::new(),
        }
    }
}

impl UserModes {
    pub fn forward(&self, mode: Mode) -> Forward {
        self.forwards
            .get(&mode)
            .cloned()
            .unwrap_or_else(|| mode.default_forward())
    }

    /// The label shown for a mode: the user's name for `custom`, none for the others.
    pub fn label(&self, mode: Mode) -> Option<&str> {
        match mode {
            Mode::Custom => Some(self.custom_label.as_deref().unwrap_or("Custom")),
            _ => None,
        }
    }

    /// `{mode, label?, forwarding}` of one mode.
    pub fn mode_json(&self, mode: Mode) -> Object {
        let mut o = Object::new();
        o.insert("mode".into(), json!(mode.as_str()));
        if let Some(l) = self.label(mode) {
            o.insert("label".into(), json!(l));
        }
        o.insert("forwarding".into(), self.forward(mode).to_json());
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_names() {
        for m in Mode::ALL {
            assert_eq!(Mode::parse(m.as_str()).unwrap(), m);
        }
        assert!(Mode::parse("asleep").is_err());
        let u = UserModes::default();
        assert_eq!(u.forward(Mode::Available), Forward::RingDevices);
        assert_eq!(u.forward(Mode::Meeting), Forward::Voicemail);
        assert_eq!(u.forward(Mode::Custom).routing(), Forwarding::RingDevices);
        assert_eq!(u.mode_json(Mode::Custom)["label"], "Custom");
        assert!(u.mode_json(Mode::Meeting).get("label").is_none());
    }

    #[test]
    fn forward_targets() {
        let f = Forward::Forward {
            target: "carol".into(),
            resolved: Some("carol@example.test".into()),
        };
        assert_eq!(
            f.routing(),
            Forwarding::ForwardTo("carol@example.test".into())
        );
        assert_eq!(f.to_json()["resolved"], "carol@example.test");
        let f = Forward::Forward {
            target: "5551234".into(),
            resolved: None,
        };
        assert_eq!(f.routing(), Forwarding::ForwardTo("5551234".into()));
        assert!(f.to_json().get("resolved").is_none());
        for ok in ["carol", "sip:carol@example.test", "+15551234", "1234"] {
            assert!(check_target(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "<sip:x@y>", &"x".repeat(300)] {
            assert!(check_target(bad).is_err(), "{bad}");
        }
        assert!(check_label("Gym").is_ok());
        assert!(check_label("  ").is_err());
        assert!(check_label("a\nb").is_err());
    }
}
