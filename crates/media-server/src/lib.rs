//! The media engine's I/O: RTP sockets from a port pool, one task per IVR endpoint driving a
//! `media::Session` with real time, one task per anchored call driving a `media::Relay`,
//! prompt and recording files.
//!
//! [`MediaServer`] is a cheap `Clone` handle. Every method returns at once: opening binds the
//! sockets synchronously (one system call each) and builds the SDP, then the endpoint runs in
//! its own task on the runtime the server was started on; later commands go over a channel.
//! Results (playback finished, a digit, a recording closed and fsynced) come back as
//! [`MediaEvent`]s on a channel per endpoint ([`Opened::events`]), read by whoever drives
//! that call (the SIP face's IVR task), so the SIP thread never blocks on media work.
//!
//! Does not: decide anything about calls (the SIP face and the voicemail state machines do),
//! transcode in the relay, or encrypt (no SRTP yet).

mod endpoint;
mod negotiate;
mod pool;
mod prompts;
mod relay;
pub mod wav;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

pub use pool::PortPool;
pub use prompts::Prompts;

/// Settings of the engine (`[media]` in the configuration file).
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// Address RTP sockets bind to and SDP advertises.
    pub rtp_ip: IpAddr,
    pub port_min: u16,
    pub port_max: u16,
    /// Operator prompts replacing built-in ones of the same name.
    pub prompts_dir: Option<PathBuf>,
    /// Relay every call's media (B2BUA anchoring), not only calls a service needs.
    pub anchor_always: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("no free RTP port")]
    NoPorts,
    #[error("unusable SDP: {0}")]
    Sdp(String),
    #[error("no codec in common with the offer")]
    NoCodec,
    #[error("no such endpoint")]
    NoEndpoint,
    #[error("bad WAV data: {0}")]
    Wav(String),
    #[error("{0}: {1}")]
    File(PathBuf, String),
    #[error("the media runtime is gone")]
    Stopped,
}

impl MediaError {
    /// The SIP status a caller should get when media could not be set up (the one place
    /// this crate's errors become SIP).
    pub fn sip_status(&self) -> (u16, &'static str) {
        match self {
            MediaError::NoPorts | MediaError::Stopped => (503, "Service Unavailable"),
            MediaError::Sdp(_) | MediaError::NoCodec => (488, "Not Acceptable Here"),
            _ => (500, "Server Internal Error"),
        }
    }
}

/// One IVR endpoint (a call leg the engine terminates).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EndpointId(pub u64);

/// One anchored call (two relayed legs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RelayId(pub u64);

/// Something to play.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clip {
    /// A prompt by name (built-in or operator).
    Prompt(String),
    /// A WAV file (a message, a greeting).
    File(PathBuf),
    /// Silence of this many milliseconds.
    Silence(u32),
}

/// A freshly opened endpoint.
#[derive(Debug)]
pub struct Opened {
    pub id: EndpointId,
    /// Our SDP (the answer, or our offer).
    pub sdp: String,
    /// Everything this endpoint reports; closed after the endpoint is.
    pub events: mpsc::UnboundedReceiver<MediaEvent>,
}

/// What the engine reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    /// The last clip of a `play` finished (not sent when stopped or replaced).
    PlayDone { ep: EndpointId },
    /// An RFC 4733 digit (`0-9*#A-D`), once per key press.
    Digit { ep: EndpointId, digit: char },
    /// A recording was closed, its header written and the file fsynced (or it failed).
    Recorded {
        ep: EndpointId,
        path: PathBuf,
        duration_ms: u64,
        ok: bool,
    },
    /// No RTP from the peer for the media timeout: the call is probably gone.
    MediaTimeout { ep: EndpointId },
}

enum EndpointCmd {
    RemoteAnswer(negotiate::Negotiated),
    Play(Vec<Clip>),
    StopPlay,
    Record { path: PathBuf, max: Duration },
    StopRecord,
    Close,
}

enum RelayCmd {
    Answer(negotiate::Peer),
    Close,
}

struct Shared {
    pool: PortPool,
    rt: tokio::runtime::Handle,
    endpoints: Mutex<HashMap<EndpointId, mpsc::UnboundedSender<EndpointCmd>>>,
    /// Each relay's caller-side address (for the answer) and command channel.
    relays: Mutex<HashMap<RelayId, (std::net::SocketAddr, mpsc::UnboundedSender<RelayCmd>)>>,
    prompts: Arc<Prompts>,
    next_id: AtomicU64,
    anchor_always: bool,
}

/// The handle; see the crate doc.
#[derive(Clone)]
pub struct MediaServer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for MediaServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaServer")
            .field("rtp_ip", &self.shared.pool.ip())
            .field("ports_in_use", &self.shared.pool.in_use())
            .finish()
    }
}

impl MediaServer {
    /// Starts the engine on the current tokio runtime (endpoint tasks run there).
    pub fn start(cfg: &MediaConfig) -> Result<MediaServer, MediaError> {
        let rt = tokio::runtime::Handle::try_current().map_err(|_| MediaError::Stopped)?;
        let prompts = Prompts::load(cfg.prompts_dir.as_deref());
        tracing::info!(prompts = prompts.names().count(), ip = %cfg.rtp_ip, "media engine ready");
        Ok(MediaServer {
            shared: Arc::new(Shared {
                pool: PortPool::new(cfg.rtp_ip, cfg.port_min, cfg.port_max),
                rt,
                endpoints: Mutex::new(HashMap::new()),
                relays: Mutex::new(HashMap::new()),
                prompts: Arc::new(prompts),
                next_id: AtomicU64::new(1),
                anchor_always: cfg.anchor_always,
            }),
        })
    }

    /// The runtime endpoint tasks run on (for tasks that drive calls through the engine).
    pub fn runtime(&self) -> &tokio::runtime::Handle {
        &self.shared.rt
    }

    /// Whether every call's media is to be relayed (`anchor = "always"`).
    pub fn anchor_always(&self) -> bool {
        self.shared.anchor_always
    }

    /// Whether a prompt of that name exists.
    pub fn has_prompt(&self, name: &str) -> bool {
        self.shared.prompts.get(name).is_some()
    }

    /// RTP port pairs in use.
    pub fn ports_in_use(&self) -> usize {
        self.shared.pool.in_use()
    }

    fn next_id(&self) -> u64 {
        self.shared.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Opens an endpoint answering a remote SDP offer (RFC 3264 §6); returns our answer.
    pub fn answer(&self, offer: &[u8]) -> Result<Opened, MediaError> {
        let lease = self.shared.pool.allocate()?;
        let session_id = u64::from(rand::random::<u32>());
        let (neg, sdp) = negotiate::answer(offer, lease.local(), session_id)?;
        let id = EndpointId(self.next_id());
        let events = self.spawn_endpoint(id, lease, Some(neg));
        Ok(Opened { id, sdp, events })
    }

    /// Opens an endpoint with an offer of ours (late-offer INVITE, calls we originate); the
    /// peer's answer goes to [`MediaServer::remote_answer`].
    pub fn offer(&self) -> Result<Opened, MediaError> {
        let lease = self.shared.pool.allocate()?;
        let session_id = u64::from(rand::random::<u32>());
        let sdp = negotiate::offer(lease.local(), session_id);
        let id = EndpointId(self.next_id());
        let events = self.spawn_endpoint(id, lease, None);
        Ok(Opened { id, sdp, events })
    }

    /// The peer's answer to our offer.
    pub fn remote_answer(&self, ep: EndpointId, answer: &[u8]) -> Result<(), MediaError> {
        let neg = negotiate::from_answer(answer)?;
        self.endpoint_cmd(ep, EndpointCmd::RemoteAnswer(neg))
    }

    /// Plays the clips in order (replacing what plays); `PlayDone` follows the last one.
    pub fn play(&self, ep: EndpointId, clips: Vec<Clip>) -> Result<(), MediaError> {
        self.endpoint_cmd(ep, EndpointCmd::Play(clips))
    }

    pub fn stop_play(&self, ep: EndpointId) -> Result<(), MediaError> {
        self.endpoint_cmd(ep, EndpointCmd::StopPlay)
    }

    /// Records what the peer says to `path` (a WAV, 8 kHz mono) for at most `max`;
    /// `Recorded` follows once the file is complete and fsynced.
    pub fn record(&self, ep: EndpointId, path: PathBuf, max: Duration) -> Result<(), MediaError> {
        self.endpoint_cmd(ep, EndpointCmd::Record { path, max })
    }

    pub fn stop_record(&self, ep: EndpointId) -> Result<(), MediaError> {
        self.endpoint_cmd(ep, EndpointCmd::StopRecord)
    }

    /// Closes the endpoint: a recording in progress is finished (and reported), the ports
    /// return to the pool.
    pub fn close(&self, ep: EndpointId) {
        let _ = self.endpoint_cmd(ep, EndpointCmd::Close);
        if let Ok(mut map) = self.shared.endpoints.lock() {
            map.remove(&ep);
        }
    }

    /// Anchors a call: takes the caller's offer, returns the offer to send to the callee
    /// (same codecs, our address). Media is relayed unchanged between the two negotiated
    /// peers; anything from another source is dropped.
    pub fn anchor(&self, offer: &[u8]) -> Result<(RelayId, String), MediaError> {
        let a = self.shared.pool.allocate()?;
        let b = self.shared.pool.allocate()?;
        let (peer_a, offer_b) = negotiate::rewrite(offer, b.local())?;
        let id = RelayId(self.next_id());
        let (tx, rx) = mpsc::unbounded_channel();
        if let Ok(mut map) = self.shared.relays.lock() {
            map.insert(id, (a.local(), tx));
        }
        let shared = self.shared.clone();
        self.shared.rt.spawn(async move {
            relay::run(a, b, peer_a, rx).await;
            if let Ok(mut map) = shared.relays.lock() {
                map.remove(&id);
            }
        });
        Ok((id, offer_b))
    }

    /// The callee's answer: returns the answer to send to the caller (our address).
    pub fn anchor_answer(&self, id: RelayId, answer: &[u8]) -> Result<String, MediaError> {
        let local_a = self.relay_local_a(id)?;
        let (peer_b, answer_a) = negotiate::rewrite(answer, local_a)?;
        self.relay_cmd(id, RelayCmd::Answer(peer_b))?;
        Ok(answer_a)
    }

    pub fn close_anchor(&self, id: RelayId) {
        let _ = self.relay_cmd(id, RelayCmd::Close);
        if let Ok(mut map) = self.shared.relays.lock() {
            map.remove(&id);
        }
    }

    fn relay_local_a(&self, id: RelayId) -> Result<std::net::SocketAddr, MediaError> {
        let map = self.shared.relays.lock().map_err(|_| MediaError::Stopped)?;
        map.get(&id).map(|(a, _)| *a).ok_or(MediaError::NoEndpoint)
    }

    fn spawn_endpoint(
        &self,
        id: EndpointId,
        lease: pool::Lease,
        neg: Option<negotiate::Negotiated>,
    ) -> mpsc::UnboundedReceiver<MediaEvent> {
        let (tx, rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        if let Ok(mut map) = self.shared.endpoints.lock() {
            map.insert(id, tx);
        }
        let shared = self.shared.clone();
        let ctx = endpoint::Ctx {
            id,
            events: ev_tx,
            prompts: self.shared.prompts.clone(),
        };
        self.shared.rt.spawn(async move {
            endpoint::run(ctx, lease, neg, rx).await;
            if let Ok(mut map) = shared.endpoints.lock() {
                map.remove(&id);
            }
        });
        ev_rx
    }

    fn endpoint_cmd(&self, ep: EndpointId, cmd: EndpointCmd) -> Result<(), MediaError> {
        let map = self
            .shared
            .endpoints
            .lock()
            .map_err(|_| MediaError::Stopped)?;
        let tx = map.get(&ep).ok_or(MediaError::NoEndpoint)?;
        tx.send(cmd).map_err(|_| MediaError::NoEndpoint)
    }

    fn relay_cmd(&self, id: RelayId, cmd: RelayCmd) -> Result<(), MediaError> {
        let map = self.shared.relays.lock().map_err(|_| MediaError::Stopped)?;
        let (_, tx) = map.get(&id).ok_or(MediaError::NoEndpoint)?;
        tx.send(cmd).map_err(|_| MediaError::NoEndpoint)
    }
}
