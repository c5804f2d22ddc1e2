//! `[voicemail]`: the mailbox number, message limits, where audio lives, the default PIN and
//! greeting. Turned into `services::voicemail::VoicemailConfig` by [`VoicemailSection::service`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::ConfigProblem;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VoicemailSection {
    /// Unanswered calls go to voicemail; the mailbox number answers.
    pub enabled: bool,
    /// What users dial to reach their mailbox.
    pub number: String,
    /// Directory of the mailboxes; relative paths are inside `server.data_dir`.
    pub dir: PathBuf,
    /// Longest message, in seconds.
    pub max_message_seconds: u32,
    /// Longest greeting, in seconds.
    pub max_greeting_seconds: u32,
    /// PIN of mailboxes whose owner never set one; empty: those mailboxes cannot be opened
    /// by phone until a PIN is set (CAS `vm.set_pin`).
    pub default_pin: String,
    /// WAV file played to callers of mailboxes without a personal greeting; empty: the
    /// built-in `vm-unavailable` prompt.
    pub default_greeting: PathBuf,
}

impl Default for VoicemailSection {
    fn default() -> Self {
        VoicemailSection {
            enabled: true,
            number: "*98".into(),
            dir: "voicemail".into(),
            max_message_seconds: 180,
            max_greeting_seconds: 60,
            default_pin: String::new(),
            default_greeting: PathBuf::new(),
        }
    }
}

impl VoicemailSection {
    /// Problems with well-typed values.
    pub fn problems(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        let dialable = |s: &str| {
            !s.is_empty()
                && s.len() <= 32
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || b == b'*' || b == b'#')
        };
        if !dialable(&self.number) {
            p.push(ConfigProblem::new(
                "voicemail.number",
                "must be 1 to 32 of the keys 0-9, * and #",
            ));
        }
        if self.dir.as_os_str().is_empty() {
            p.push(ConfigProblem::new("voicemail.dir", "must not be empty"));
        }
        for (key, v) in [
            ("voicemail.max_message_seconds", self.max_message_seconds),
            ("voicemail.max_greeting_seconds", self.max_greeting_seconds),
        ] {
            if v < 2 {
                p.push(ConfigProblem::new(key, "must be at least 2"));
            }
        }
        if !self.default_pin.is_empty()
            && let Err(why) = services::voicemail::pin::validate(&self.default_pin)
        {
            p.push(ConfigProblem::new("voicemail.default_pin", why));
        }
        p
    }

    /// The service's settings; `data_dir` anchors a relative `dir`.
    pub fn service(&self, data_dir: &Path) -> services::voicemail::VoicemailConfig {
        let mut c = services::voicemail::VoicemailConfig::new(data_dir.join(&self.dir));
        c.enabled = self.enabled;
        c.number = self.number.clone();
        c.max_message = Duration::from_secs(u64::from(self.max_message_seconds));
        c.max_greeting = Duration::from_secs(u64::from(self.max_greeting_seconds));
        c.default_pin = (!self.default_pin.is_empty()).then(|| self.default_pin.clone());
        c.default_greeting = (!self.default_greeting.as_os_str().is_empty())
            .then(|| data_dir.join(&self.default_greeting));
        c
    }
}
