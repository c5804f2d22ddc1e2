//! The media engine's I/O: RTP sockets from a port pool, one task per IVR endpoint driving a
//! `media::Session` with real time, anchored calls' `media::Relay`s driven by a few dedicated
//! relay threads (`plane`: level-triggered epoll, one receive and one send per datagram),
//! prompt and recording files.
//!
//! [`MediaServer`] is a cheap `Clone` handle. Every method returns at once: opening binds the
//! sockets synchronously (one system call each) and builds the SDP, then the endpoint runs in
//! its own task on the runtime the server was started on (a relay: on a relay thread, started
//! with the first anchored call); later commands go over a channel.
//! Results (playback finished, a digit, a recording closed and fsynced) come back as
//! [`MediaEvent`]s on a channel per endpoint ([`Opened::events`]), read by whoever drives
//! that call (the SIP face's IVR task), so the SIP thread never blocks on media work.
//!
//! Media inactivity: with [`MediaServer::set_inactivity_timeout`], an IVR endpoint that
//! receives no RTP from its peer for that long reports [`MediaEvent::MediaTimeout`], and a
//! relay on which neither phone sent anything for that long reports
//! [`RelayEvent::Inactive`] on [`MediaServer::relay_events`]; whoever drives the call hangs
//! it up. A relay counts from the moment both phones are known. Neither counts while the
//! media is on hold (a description with `sendonly`, `recvonly`, `inactive` or `0.0.0.0`
//! from either phone, RFC 3264 §8.4): held phones usually send nothing.
//!
//! Codecs: IVR endpoints speak G.711, and Opus with the cargo feature `opus` (off by default:
//! it links the system's libopus through `OpusCodecs`; which codec is chosen: see
//! `negotiate`). Without it an Opus-only offer to an IVR leg gets 488 and `prefer_opus` has
//! no effect ([`OPUS`] says which build this is). Relays pass any codec through untouched,
//! with or without the feature.
//!
//! Does not: decide anything about calls (the SIP face and the voicemail state machines do),
//! transcode in the relay, or encrypt (no SRTP yet).

mod endpoint;
mod negotiate;
#[cfg(feature = "opus")]
mod opus_codec;
mod plane;
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

/// The libopus binding, for tests that play a softphone's Opus side (feature `opus`).
#[cfg(feature = "opus")]
pub use ::opus;
pub use media::Leg;
#[cfg(feature = "opus")]
pub use opus_codec::OpusCodecs;
pub use pool::PortPool;
pub use prompts::Prompts;

/// Whether this build speaks Opus on IVR legs (cargo feature `opus`).
pub const OPUS: bool = cfg!(feature = "opus");

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
    /// IVR legs speak Opus whenever the peer offers it (default: G.711 when offered, Opus
    /// only when it is the only common codec). No effect without the feature `opus`.
    pub prefer_opus: bool,
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

/// What relays report (see [`MediaServer::relay_events`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayEvent {
    /// Neither phone sent a packet for the inactivity timeout: the call is probably gone.
    Inactive { id: RelayId },
}

enum EndpointCmd {
    RemoteAnswer(negotiate::Negotiated),
    /// The peer moved its media (re-INVITE).
    Peer(negotiate::Peer),
    Play(Vec<Clip>),
    StopPlay,
    Record {
        path: PathBuf,
        max: Duration,
    },
    StopRecord,
    Close,
}

/// A relay's sockets facing each leg, and the relay thread that serves it.
struct RelayEntry {
    local_a: std::net::SocketAddr,
    local_b: std::net::SocketAddr,
    worker: plane::Worker,
}

struct Shared {
    pool: PortPool,
    rt: tokio::runtime::Handle,
    endpoints: Mutex<HashMap<EndpointId, mpsc::UnboundedSender<EndpointCmd>>>,
    relays: Mutex<HashMap<RelayId, RelayEntry>>,
    /// The relay threads, started with the first anchored call.
    plane: Mutex<Option<plane::Plane>>,
    /// Our offers (endpoints opened with [`MediaServer::offer`]) until answered.
    offers: Mutex<HashMap<EndpointId, sdp::Session>>,
    relay_events: Mutex<Option<mpsc::UnboundedSender<RelayEvent>>>,
    /// Milliseconds without RTP before a timeout is reported; 0 = never.
    inactivity_ms: AtomicU64,
    prompts: Arc<Prompts>,
    next_id: AtomicU64,
    anchor_always: bool,
    prefer_opus: bool,
}

impl Shared {
    fn inactivity(&self) -> Option<Duration> {
        match self.inactivity_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    fn relay_event(&self, ev: RelayEvent) {
        if let Ok(tx) = self.relay_events.lock()
            && let Some(tx) = tx.as_ref()
        {
            let _ = tx.send(ev);
        }
    }
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
        if cfg.prefer_opus && !OPUS {
            tracing::warn!("prefer_opus has no effect: built without the opus feature");
        }
        Ok(MediaServer {
            shared: Arc::new(Shared {
                pool: PortPool::new(cfg.rtp_ip, cfg.port_min, cfg.port_max),
                rt,
                endpoints: Mutex::new(HashMap::new()),
                relays: Mutex::new(HashMap::new()),
                plane: Mutex::new(None),
                offers: Mutex::new(HashMap::new()),
                relay_events: Mutex::new(None),
                inactivity_ms: AtomicU64::new(0),
                prompts: Arc::new(prompts),
                next_id: AtomicU64::new(1),
                anchor_always: cfg.anchor_always,
                prefer_opus: cfg.prefer_opus,
            }),
        })
    }

    /// The runtime endpoint tasks run on (for tasks that drive calls through the engine).
    pub fn runtime(&self) -> &tokio::runtime::Handle {
        &self.shared.rt
    }

    /// Reports media inactivity after `timeout` without RTP (`None`: never, the default);
    /// applies to endpoints and relays opened afterwards.
    pub fn set_inactivity_timeout(&self, timeout: Option<Duration>) {
        let ms = timeout.map_or(0, |t| {
            u64::try_from(t.as_millis()).unwrap_or(u64::MAX).max(1)
        });
        self.shared.inactivity_ms.store(ms, Ordering::Relaxed);
    }

    /// The channel relays report on (one reader: a new call replaces the previous one).
    pub fn relay_events(&self) -> mpsc::UnboundedReceiver<RelayEvent> {
        let (tx, rx) = mpsc::unbounded_channel();
        if let Ok(mut slot) = self.shared.relay_events.lock() {
            *slot = Some(tx);
        }
        rx
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
        let prefer_opus = self.shared.prefer_opus;
        let (neg, sdp) = negotiate::answer(offer, lease.local(), session_id, prefer_opus)?;
        let id = EndpointId(self.next_id());
        let events = self.spawn_endpoint(id, lease, Some(neg));
        Ok(Opened { id, sdp, events })
    }

    /// Opens an endpoint with an offer of ours (late-offer INVITE, calls we originate); the
    /// peer's answer goes to [`MediaServer::remote_answer`].
    pub fn offer(&self) -> Result<Opened, MediaError> {
        let lease = self.shared.pool.allocate()?;
        let session_id = u64::from(rand::random::<u32>());
        let ours = negotiate::offer(lease.local(), session_id, self.shared.prefer_opus);
        let sdp = ours.to_string();
        let id = EndpointId(self.next_id());
        if let Ok(mut map) = self.shared.offers.lock() {
            map.insert(id, ours);
        }
        let events = self.spawn_endpoint(id, lease, None);
        Ok(Opened { id, sdp, events })
    }

    /// The peer's answer to our offer (once; later descriptions go to
    /// [`MediaServer::remote_update`]).
    pub fn remote_answer(&self, ep: EndpointId, answer: &[u8]) -> Result<(), MediaError> {
        let ours = self
            .shared
            .offers
            .lock()
            .map_err(|_| MediaError::Stopped)?
            .remove(&ep)
            .ok_or(MediaError::NoEndpoint)?;
        let neg = negotiate::from_answer(&ours, answer)?;
        self.endpoint_cmd(ep, EndpointCmd::RemoteAnswer(neg))
    }

    /// A new description from the peer of an answered endpoint (re-INVITE): media now goes
    /// where it says (`0.0.0.0`: nowhere, on hold). Codecs stay as first agreed.
    pub fn remote_update(&self, ep: EndpointId, sdp: &[u8]) -> Result<(), MediaError> {
        let peer = negotiate::peer_of(sdp)?;
        self.endpoint_cmd(ep, EndpointCmd::Peer(peer))
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
        if let Ok(mut map) = self.shared.offers.lock() {
            map.remove(&ep);
        }
    }

    /// Anchors a call: takes the caller's offer, returns the offer to send to the callee
    /// (same codecs, our address). Media is relayed unchanged between the two negotiated
    /// peers; anything from another source is dropped.
    pub fn anchor(&self, offer: &[u8]) -> Result<(RelayId, String), MediaError> {
        let id = self.anchor_late()?;
        match self.anchor_sdp(id, Leg::A, offer) {
            Ok(sdp) => Ok((id, sdp)),
            Err(e) => {
                self.close_anchor(id);
                Err(e)
            }
        }
    }

    /// Opens a relay before either phone described its media (an INVITE without SDP: the
    /// callee offers in its 2xx, the caller answers in the ACK, RFC 3261 §13.2.1). Both
    /// peers come from [`MediaServer::anchor_sdp`].
    pub fn anchor_late(&self) -> Result<RelayId, MediaError> {
        let worker = self.relay_worker()?;
        let a = self.shared.pool.allocate()?;
        let b = self.shared.pool.allocate()?;
        let id = RelayId(self.next_id());
        let (local_a, local_b) = (a.local(), b.local());
        // Weak: the relay thread must not keep the engine alive.
        let reporter = Arc::downgrade(&self.shared);
        let watch = relay::Watch {
            inactivity: self.shared.inactivity(),
            on_inactive: Box::new(move || {
                if let Some(shared) = reporter.upgrade() {
                    shared.relay_event(RelayEvent::Inactive { id });
                }
            }),
        };
        worker.send(plane::Cmd::Open {
            id: id.0,
            a,
            b,
            watch,
        })?;
        if let Ok(mut map) = self.shared.relays.lock() {
            map.insert(
                id,
                RelayEntry {
                    local_a,
                    local_b,
                    worker,
                },
            );
        }
        Ok(id)
    }

    /// The relay thread for a new call (the threads start with the first call).
    fn relay_worker(&self) -> Result<plane::Worker, MediaError> {
        let mut plane = self.shared.plane.lock().map_err(|_| MediaError::Stopped)?;
        if plane.is_none() {
            let threads = std::thread::available_parallelism().map_or(1, usize::from);
            *plane = Some(plane::Plane::start(threads)?);
        }
        plane
            .as_ref()
            .and_then(plane::Plane::worker)
            .ok_or(MediaError::Stopped)
    }

    /// A description (offer or answer, first or re-INVITE) from `from`'s phone: the relay now
    /// sends that leg's media where it says; returns the description for the other phone,
    /// pointed at our socket facing it.
    pub fn anchor_sdp(&self, id: RelayId, from: Leg, sdp: &[u8]) -> Result<String, MediaError> {
        let (worker, local) = {
            let map = self.shared.relays.lock().map_err(|_| MediaError::Stopped)?;
            let e = map.get(&id).ok_or(MediaError::NoEndpoint)?;
            let local = match from {
                Leg::A => e.local_b,
                Leg::B => e.local_a,
            };
            (e.worker.clone(), local)
        };
        let (peer, out) = negotiate::rewrite(sdp, local)?;
        worker
            .send(plane::Cmd::Peer {
                id: id.0,
                leg: from,
                peer,
            })
            .map_err(|_| MediaError::NoEndpoint)?;
        Ok(out)
    }

    /// The callee's answer: returns the answer to send to the caller (our address).
    pub fn anchor_answer(&self, id: RelayId, answer: &[u8]) -> Result<String, MediaError> {
        self.anchor_sdp(id, Leg::B, answer)
    }

    pub fn close_anchor(&self, id: RelayId) {
        let entry = self
            .shared
            .relays
            .lock()
            .ok()
            .and_then(|mut map| map.remove(&id));
        if let Some(e) = entry {
            let _ = e.worker.send(plane::Cmd::Close { id: id.0 });
        }
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
            inactivity: self.shared.inactivity(),
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
}
