//! The SIP face of Switchboard: UDP and TCP transports with a connection table (RFC 3261
//! §18, RFC 3581), the driver of the `sip-txn` transaction layer, and the glue that turns
//! requests into service calls: registrar (§10), digest authentication (§22) and the B2BUA
//! that forks calls to every registered device (§16.7 semantics on two independent legs).
//!
//! One core task owns all SIP state and never waits on the database: transports parse in
//! their own tasks and hand messages over a channel; the store is read into caches at start
//! and written behind by a persistence task.

mod anchor;
mod b2bua;
mod bridge;
mod core;
mod devices;
mod dialog;
mod errors;
mod glue;
mod ivr;
mod media;
mod mwi;
mod notify;
mod options;
mod persist;
mod play;
mod publish;
mod register;
mod subscribe;
mod transport;
mod util;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use services::auth::AuthConfig;
use services::bans::BanPolicy;
use services::bus::Bus;
use services::registrar::RegistrarConfig;
use services::routing::CallPolicy;
use tokio::sync::{mpsc, oneshot};

pub use transport::{Target, Transport};

/// Everything the SIP face needs from the configuration file.
#[derive(Debug, Clone)]
pub struct SipConfig {
    pub listen: Vec<(Transport, SocketAddr)>,
    pub domain: String,
    pub max_message_size: usize,
    pub tcp_idle_timeout: Duration,
    pub registrar: RegistrarConfig,
    pub auth: AuthConfig,
    /// When false, identities are taken on trust (closed networks, benchmarks).
    pub auth_required: bool,
    pub bans: BanPolicy,
    pub ring_timeout: Duration,
    pub max_call_duration: Duration,
    /// How often the user directory is re-read from the store.
    pub directory_refresh: Duration,
    /// Shortest and longest SUBSCRIBE duration granted (`[presence] subscribe_min_expires`,
    /// `subscribe_max_expires`).
    pub subscribe_expires: (u32, u32),
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot bind {transport:?} {addr}: {source}")]
    Bind {
        transport: Transport,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("store: {0}")]
    Store(#[from] store::StoreError),
    #[error("cannot start the SIP thread: {0}")]
    Runtime(std::io::Error),
}

/// A running SIP server.
pub struct Running {
    /// Every bound listener, with the port the OS chose for port 0.
    pub listeners: Vec<(Transport, SocketAddr)>,
    shutdown: Option<oneshot::Sender<()>>,
    done: Option<oneshot::Receiver<()>>,
}

impl Running {
    /// Stops the server and waits until pending writes reached the store.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(done) = self.done.take() {
            let _ = done.await;
        }
    }
}

/// What the SIP face shares with the rest of the server.
#[derive(Clone)]
pub struct Deps {
    pub store: store::Store,
    pub bus: Bus,
    pub policy: Arc<dyn CallPolicy>,
    /// Message-waiting (RFC 3842): summaries for `message-summary` notifiers, reports from
    /// external voicemail systems.
    pub mwi: services::mwi::Mwi,
    /// Presence (RFC 3856/3903): publications, devices, call activity, authorization and
    /// PIDF documents for `presence` notifiers.
    pub presence: services::presence::Presence,
    /// The media engine (voicemail calls, play-on-phone, anchoring); `None`: no media.
    pub media: Option<media_server::MediaServer>,
    /// Voicemail (deposit on no answer/busy/no device, the mailbox number); `None`: off.
    pub voicemail: Option<services::voicemail::Voicemail>,
}

/// Binds every listener, loads users and bindings, and starts serving.
///
/// The SIP face runs on its own thread with a single-threaded runtime: receiving, the
/// transaction layer and the core share one thread, so a request costs no cross-thread
/// wake-ups (the largest cost measured under load), and the CAS face keeps the other runtime.
pub async fn start(cfg: SipConfig, deps: Deps) -> Result<Running, ServerError> {
    let (ready_tx, ready_rx) = oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("sip".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(ServerError::Runtime(e)));
                    return;
                }
            };
            rt.block_on(async move {
                match serve(cfg, deps).await {
                    Ok((running, finished)) => {
                        let _ = ready_tx.send(Ok(running));
                        finished.await;
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            });
        });
    if let Err(e) = spawned {
        return Err(ServerError::Runtime(e));
    }
    match ready_rx.await {
        Ok(result) => result,
        Err(_) => Err(ServerError::Runtime(std::io::Error::other(
            "the SIP thread ended",
        ))),
    }
}

/// Starts everything on the current (SIP) runtime; the future completes when the core stopped.
async fn serve(
    cfg: SipConfig,
    deps: Deps,
) -> Result<(Running, impl std::future::Future<Output = ()>), ServerError> {
    let store = deps.store.clone();
    let (events_tx, events_rx) = mpsc::channel(65_536);
    let bans = services::bans::BanList::default();
    let transports = transport::bind_all(&cfg, events_tx.clone(), bans.clone()).await?;
    let listeners = transports.listeners();
    let (persist, persist_done) = persist::spawn(store.clone(), deps.bus.clone());
    let mut directory = services::directory::Directory::new(&cfg.domain);
    directory.replace(store.domains().await?, store.all_credentials().await?);
    let now = util::unix_now();
    let bindings = store.load_bindings(now).await?;
    persist::spawn_directory_refresh(
        store,
        cfg.domain.clone(),
        cfg.directory_refresh,
        events_tx.clone(),
    );
    let (shutdown_tx, shutdown_rx) = oneshot::channel();
    let (done_tx, done_rx) = oneshot::channel();
    let bus_rx = deps.bus.subscribe();
    let core = core::Core::new(cfg, transports, directory, bindings, bans, persist, deps);
    let finished = async move {
        core.run(events_rx, bus_rx, shutdown_rx).await;
        let _ = persist_done.await;
        let _ = done_tx.send(());
    };
    let running = Running {
        listeners,
        shutdown: Some(shutdown_tx),
        done: Some(done_rx),
    };
    Ok((running, finished))
}
