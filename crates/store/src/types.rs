//! Plain records passed in and out of the store.

/// Digest HA1 values of one user (RFC 7616 §3.4.2), realm = domain name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub ha1_md5: String,
    pub ha1_sha256: String,
}

/// One registrar binding (RFC 3261 §10.3), persisted so a restart keeps registrations.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    pub aor: String,
    /// The full Contact URI.
    pub contact: String,
    /// Unix seconds.
    pub expires_at: i64,
    pub q: Option<f32>,
    pub call_id: String,
    pub cseq: u32,
    /// `+sip.instance` (RFC 5626 §4.1), if the device sent one.
    pub instance: Option<String>,
    /// `"udp"` or `"tcp"`.
    pub transport: String,
    /// `"ip:port"` the REGISTER came from.
    pub source: String,
    pub user_agent: Option<String>,
    /// The service classes the device declared (`voice`, `video`, `im`, comma-separated), as
    /// the SIP face learned them from its REGISTER; `None` when unknown.
    pub classes: Option<String>,
}

/// One finished call, for call history.
#[derive(Debug, Clone, PartialEq)]
pub struct CallRecord {
    pub id: String,
    pub call_id: String,
    /// AOR or URI.
    pub caller: String,
    pub callee: String,
    pub caller_device: Option<String>,
    pub callee_device: Option<String>,
    /// Unix milliseconds.
    pub started_at: i64,
    pub answered_at: Option<i64>,
    pub ended_at: i64,
    /// `answered`, `missed`, `busy`, `rejected`, `failed` or `cancelled`.
    pub disposition: String,
    /// Final SIP status of the call.
    pub status: u16,
}
