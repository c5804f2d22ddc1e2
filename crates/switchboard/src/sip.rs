//! The SIP face's settings, from the configuration file.

use std::time::Duration;

use services::auth::AuthConfig;
use services::bans::BanPolicy;
use services::registrar::RegistrarConfig;
use sip_server::{SipConfig, Transport};

use crate::config::{Config, TransportKind};

/// Maps the file's settings to the SIP server's.
pub fn sip_config(config: &Config) -> SipConfig {
    let secs = |s: u32| Duration::from_secs(u64::from(s));
    SipConfig {
        listen: config
            .listen_specs()
            .into_iter()
            .map(|s| {
                let t = match s.transport {
                    TransportKind::Udp => Transport::Udp,
                    TransportKind::Tcp => Transport::Tcp,
                };
                (t, s.addr)
            })
            .collect(),
        domain: config.server.domain.clone(),
        max_message_size: config.sip.max_message_size,
        tcp_idle_timeout: secs(config.sip.tcp_idle_timeout),
        registrar: RegistrarConfig {
            min_expires: config.registrar.min_expires,
            default_expires: config.registrar.default_expires,
            max_expires: config.registrar.max_expires,
            max_contacts_per_aor: usize::try_from(config.registrar.max_contacts_per_aor)
                .unwrap_or(usize::MAX),
        },
        auth_required: config.auth.required,
        auth: AuthConfig {
            algorithms: config.auth.algorithms.clone(),
            nonce_lifetime: secs(config.auth.nonce_lifetime),
        },
        bans: BanPolicy {
            after_failures: config.auth.ban_after_failures,
            window: secs(config.auth.ban_window),
            duration: secs(config.auth.ban_duration),
            trusted: config.auth.trusted.clone(),
        },
        ring_timeout: secs(config.calls.ring_timeout),
        max_call_duration: secs(config.calls.max_call_duration),
        directory_refresh: Duration::from_secs(2),
        subscribe_expires: (
            config.presence.subscribe_min_expires,
            config.presence.subscribe_max_expires,
        ),
    }
}

/// Message-waiting settings (`[mwi]`).
pub fn mwi_config(config: &Config) -> services::mwi::MwiConfig {
    services::mwi::MwiConfig {
        message_text: config.mwi.message_text,
        unsolicited_notify: config.mwi.unsolicited_notify,
        from_user: config.mwi.from_user.clone(),
    }
}

/// The media engine's settings.
/// `[media] inactivity_timeout` (0: never).
pub fn media_inactivity(config: &Config) -> Option<Duration> {
    let t = config.media.inactivity_timeout;
    (t > 0).then(|| Duration::from_secs(u64::from(t)))
}

pub fn media_config(config: &Config) -> media_server::MediaConfig {
    let m = &config.media;
    media_server::MediaConfig {
        rtp_ip: m.rtp_ip,
        port_min: m.port_min,
        port_max: m.port_max,
        prompts_dir: (!m.prompts_dir.as_os_str().is_empty()).then(|| m.prompts_dir.clone()),
        anchor_always: m.anchor == crate::config::AnchorMode::Always,
        prefer_opus: m.prefer_opus,
    }
}
