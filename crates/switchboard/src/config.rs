//! The one configuration file (TOML). Every key has a default, so no file at all is a valid
//! configuration; `examples/switchboard.toml` lists them all.
//!
//! Loading reports every problem at once: the text is parsed to a `toml::Table`, walked against
//! the schema in `schema.rs` (unknown keys, wrong types, unparsable values), the offending keys
//! are dropped, the rest is deserialized, and the typed result is checked for values that are
//! well-formed but unusable (`validate`).

mod defaults;
mod listen;
mod presence;
mod schema;
mod voicemail;

use std::collections::HashSet;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use ::sip::digest::Algorithm;
use serde::{Deserialize, Deserializer};

pub use listen::{ListenEntry, ListenParseError, ListenSpec, TransportKind};
pub use presence::{PresenceSection, SameDomainDefault};
pub use voicemail::VoicemailSection;

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub sip: SipConfig,
    pub registrar: RegistrarConfig,
    pub auth: AuthConfig,
    pub calls: CallsConfig,
    pub http: HttpConfig,
    pub presence: PresenceSection,
    pub media: MediaConfig,
    pub mwi: MwiConfig,
    pub voicemail: VoicemailSection,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Database and other runtime state; relative paths are relative to the working directory.
    pub data_dir: PathBuf,
    /// SIP domain and digest realm.
    pub domain: String,
    /// `tracing` filter directives; `RUST_LOG` wins when set.
    pub log: String,
    /// Redact URIs, numbers and IPs in logs.
    pub redact_personal_data: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipConfig {
    pub listen: Vec<ListenEntry>,
    /// Bytes; larger messages are rejected.
    pub max_message_size: usize,
    /// Seconds.
    pub tcp_idle_timeout: u32,
}

/// Registration intervals in seconds (RFC 3261 §10.3).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrarConfig {
    pub min_expires: u32,
    pub default_expires: u32,
    pub max_expires: u32,
    pub max_contacts_per_aor: u32,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Digest authentication of state-creating requests; `false` only for closed networks
    /// and benchmarks.
    pub required: bool,
    /// Offered in this order (RFC 8760 §2.4).
    #[serde(deserialize_with = "algorithms")]
    pub algorithms: Vec<Algorithm>,
    /// Seconds; a nonce older than this gets `stale=true`.
    pub nonce_lifetime: u32,
    /// Failed attempts from one source IP within `ban_window` seconds that trigger a ban.
    pub ban_after_failures: u32,
    pub ban_window: u32,
    /// Seconds the banned source is ignored.
    pub ban_duration: u32,
    /// Never banned.
    pub trusted: Vec<IpAddr>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallsConfig {
    /// Seconds before an unanswered fork gives up with 480.
    pub ring_timeout: u32,
    /// Seconds.
    pub max_call_duration: u32,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// CAS API address.
    pub listen: SocketAddr,
    /// Seconds without a request or poll after which a CAS session ends.
    pub session_idle_timeout: u32,
    /// Milliseconds a plug-in has to answer a request.
    pub plugin_timeout_ms: u32,
    /// Largest accepted request body in bytes.
    pub max_body: u32,
}

/// The media engine: RTP ports, media anchoring and the voicemail prompts.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// Address RTP sockets bind to and SDP advertises.
    pub rtp_ip: IpAddr,
    /// RTP port range (even ports; RTCP uses the next odd one).
    pub port_min: u16,
    pub port_max: u16,
    /// `"always"`: calls are relayed through the engine; `"when-needed"`: direct media.
    pub anchor: AnchorMode,
    /// Directory of operator prompts (`<name>.wav`) replacing the built-in ones; empty = none.
    pub prompts_dir: PathBuf,
    /// Seconds without RTP after which a voicemail or anchored call is hung up; 0 = never.
    pub inactivity_timeout: u32,
    /// IVR legs speak Opus whenever offered (default: only when it is the only common codec).
    pub prefer_opus: bool,
}

/// When the B2BUA relays media through the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnchorMode {
    Always,
    WhenNeeded,
}

/// Message-waiting delivery to SIP devices (the CAS `mwi` events always go out).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MwiConfig {
    /// Send a short text (SIP MESSAGE) to the user's registered devices on each change.
    pub message_text: bool,
    /// Send unsolicited `message-summary` NOTIFYs to registered devices on each change.
    pub unsolicited_notify: bool,
    /// User part of the From of those requests (`<from_user>@<domain>`).
    pub from_user: String,
}

/// One thing wrong with a configuration, located by its dotted key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// e.g. `registrar.min_expires`; empty for problems with the file as a whole.
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.key, self.message)
        }
    }
}

impl ConfigProblem {
    fn new(key: impl Into<String>, message: impl Into<String>) -> ConfigProblem {
        ConfigProblem {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl Config {
    /// Reads and checks a file, returning every problem found.
    pub fn load(path: &Path) -> Result<Config, Vec<ConfigProblem>> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![ConfigProblem::new(
                "",
                format!("cannot read {}: {e}", path.display()),
            )]
        })?;
        Config::parse(&text)
    }

    /// Checks TOML text, returning every problem found.
    pub fn parse(text: &str) -> Result<Config, Vec<ConfigProblem>> {
        let mut table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| vec![ConfigProblem::new("", e.to_string())])?;
        let mut problems = schema::check(&mut table);
        // The walk dropped every key it complained about, so this only fails if the schema
        // table and the structs disagree; report it rather than lose it.
        let config = match table.try_into::<Config>() {
            Ok(config) => config,
            Err(e) => {
                problems.push(ConfigProblem::new("", e.to_string()));
                Config::default()
            }
        };
        problems.extend(config.validate());
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(problems)
        }
    }

    /// Problems with well-typed values: zero intervals, inverted ranges, duplicates.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        let mut require = |ok: bool, key: &str, message: String| {
            if !ok {
                problems.push(ConfigProblem::new(key, message));
            }
        };
        if let Err(e) = store::validate_domain(&self.server.domain) {
            require(false, "server.domain", e.to_string());
        }
        if let Err(e) = store::validate_user(&self.mwi.from_user) {
            require(false, "mwi.from_user", e.to_string());
        }
        require(
            !self.server.data_dir.as_os_str().is_empty(),
            "server.data_dir",
            "must not be empty".into(),
        );
        require(
            !self.sip.listen.is_empty(),
            "sip.listen",
            "needs at least one address".into(),
        );
        let mut seen = HashSet::new();
        for spec in self.listen_specs_with_duplicates() {
            require(
                seen.insert(spec),
                "sip.listen",
                format!("{spec} is listed twice"),
            );
        }
        require(
            self.sip.max_message_size >= MIN_MESSAGE_SIZE,
            "sip.max_message_size",
            format!("must be at least {MIN_MESSAGE_SIZE} bytes"),
        );
        let positive = [
            ("sip.tcp_idle_timeout", self.sip.tcp_idle_timeout),
            ("registrar.min_expires", self.registrar.min_expires),
            ("registrar.default_expires", self.registrar.default_expires),
            ("registrar.max_expires", self.registrar.max_expires),
            (
                "registrar.max_contacts_per_aor",
                self.registrar.max_contacts_per_aor,
            ),
            ("auth.nonce_lifetime", self.auth.nonce_lifetime),
            ("auth.ban_after_failures", self.auth.ban_after_failures),
            ("auth.ban_window", self.auth.ban_window),
            ("auth.ban_duration", self.auth.ban_duration),
            ("calls.ring_timeout", self.calls.ring_timeout),
            ("calls.max_call_duration", self.calls.max_call_duration),
            ("http.session_idle_timeout", self.http.session_idle_timeout),
            ("http.plugin_timeout_ms", self.http.plugin_timeout_ms),
            ("http.max_body", self.http.max_body),
        ];
        for (key, value) in positive {
            require(value > 0, key, "must be greater than 0".into());
        }
        require(
            self.media.port_min < self.media.port_max
                && self.media.port_max - self.media.port_min >= 3,
            "media.port_min",
            format!(
                "the range {}..={} holds no RTP/RTCP port pair",
                self.media.port_min, self.media.port_max
            ),
        );
        let r = &self.registrar;
        require(
            r.min_expires <= r.max_expires,
            "registrar.min_expires",
            format!(
                "{} is greater than max_expires ({})",
                r.min_expires, r.max_expires
            ),
        );
        require(
            (r.min_expires..=r.max_expires).contains(&r.default_expires)
                || r.min_expires > r.max_expires,
            "registrar.default_expires",
            format!("{} is outside min_expires..=max_expires", r.default_expires),
        );
        require(
            !self.auth.algorithms.is_empty(),
            "auth.algorithms",
            "needs at least one algorithm".into(),
        );
        let mut seen = HashSet::new();
        for alg in &self.auth.algorithms {
            require(
                seen.insert(*alg),
                "auth.algorithms",
                format!("{} is listed twice", alg.token()),
            );
        }
        problems.extend(self.voicemail.problems());
        problems.extend(presence::problems(&self.presence));
        problems
    }

    /// The sockets to open, in configuration order, without duplicates.
    pub fn listen_specs(&self) -> Vec<ListenSpec> {
        let mut seen = HashSet::new();
        self.listen_specs_with_duplicates()
            .filter(|spec| seen.insert(*spec))
            .collect()
    }

    fn listen_specs_with_duplicates(&self) -> impl Iterator<Item = ListenSpec> + '_ {
        self.sip.listen.iter().flat_map(|entry| entry.specs())
    }
}

/// Nothing smaller holds a realistic REGISTER or INVITE with SDP.
const MIN_MESSAGE_SIZE: usize = 1024;

fn algorithms<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Algorithm>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|token| {
            Algorithm::from_token(token).ok_or_else(|| {
                serde::de::Error::custom(format!("unknown digest algorithm {token:?}"))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
