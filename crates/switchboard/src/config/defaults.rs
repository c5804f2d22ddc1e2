//! Default values, the same as written in `examples/switchboard.toml` (a test keeps the two
//! in step).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use ::sip::digest::Algorithm;

use super::{
    AnchorMode, AuthConfig, CallsConfig, HttpConfig, ListenEntry, MediaConfig, MwiConfig,
    RegistrarConfig, ServerConfig, SipConfig, TransportKind,
};

/// The registered SIP port (RFC 3261 §19.1.2).
const SIP_PORT: u16 = 5060;

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            data_dir: "./data".into(),
            domain: "localhost".into(),
            log: "info".into(),
            redact_personal_data: false,
        }
    }
}

impl Default for SipConfig {
    fn default() -> Self {
        let any = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), SIP_PORT);
        SipConfig {
            listen: vec![
                ListenEntry {
                    transport: Some(TransportKind::Udp),
                    addr: any,
                },
                ListenEntry {
                    transport: Some(TransportKind::Tcp),
                    addr: any,
                },
            ],
            // The largest UDP payload; a TCP message above it is as suspicious.
            max_message_size: 65_535,
            tcp_idle_timeout: 300,
        }
    }
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        RegistrarConfig {
            min_expires: 60,
            default_expires: 3600,
            max_expires: 7200,
            max_contacts_per_aor: 10,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            algorithms: vec![Algorithm::Md5],
            required: true,
            nonce_lifetime: 300,
            ban_after_failures: 10,
            ban_window: 60,
            ban_duration: 600,
            trusted: Vec::new(),
        }
    }
}

impl Default for CallsConfig {
    fn default() -> Self {
        CallsConfig {
            ring_timeout: 60,
            max_call_duration: 14_400,
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080),
            session_idle_timeout: 300,
            plugin_timeout_ms: 5000,
            max_body: 1 << 20,
        }
    }
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            rtp_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port_min: 20_000,
            port_max: 20_999,
            anchor: AnchorMode::WhenNeeded,
            prompts_dir: PathBuf::new(),
            inactivity_timeout: 60,
            prefer_opus: false,
        }
    }
}

impl Default for MwiConfig {
    fn default() -> Self {
        MwiConfig {
            message_text: true,
            unsolicited_notify: false,
            from_user: "voicemail".into(),
        }
    }
}
