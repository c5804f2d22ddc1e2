//! The Client Application Server face (DESIGN.md §3): one HTTP/JSON+XML API, WebSocket and
//! long-poll event delivery, sessions, bulk and asynchronous requests, subscriptions,
//! permissions checked on every request, and out-of-process plug-ins that own topics.
//!
//! Routes: `POST /cas`, `GET /cas/events?timeout=S`, `GET /cas/ws`, `GET /cas/plugin`,
//! `GET /cas/openapi.json`. Services plug in as [`services::provider::Provider`]s; the face
//! holds no business logic.

mod builtin;
mod bulk;
mod dispatch;
mod download;
mod http;
mod hub;
mod plugin;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use cas_proto::TopicSpec;
use services::bus::Bus;
use services::perms::Permissions;
use services::provider::Provider;
use store::Store;
use tokio::sync::oneshot;

pub use dispatch::Cas;
pub use hub::Hub;

#[derive(Debug, Clone)]
pub struct CasConfig {
    pub listen: SocketAddr,
    pub domain: String,
    pub session_idle: Duration,
    pub plugin_timeout: Duration,
    pub max_body: usize,
}

pub struct Running {
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Running {
    pub fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The built-in topics' catalogue plus the given ones (for docs and validation).
pub fn catalogue(services: &[&'static TopicSpec]) -> Vec<&'static TopicSpec> {
    let mut v: Vec<&'static TopicSpec> = vec![
        &builtin::session::SPEC,
        &builtin::sub::SPEC,
        &builtin::admin::SPEC,
    ];
    v.extend_from_slice(services);
    v.push(&bulk::BULK_SPEC);
    v
}

/// Starts the HTTP listener with the given providers (beyond the built-in ones).
pub async fn start(
    cfg: CasConfig,
    store: Store,
    bus: Bus,
    perms: Permissions,
    providers: Vec<Arc<dyn Provider>>,
) -> std::io::Result<Running> {
    let mut map: HashMap<&'static str, Arc<dyn Provider>> = HashMap::new();
    let hub = Hub::with_bus(cfg.session_idle, bus.clone());
    let admin: Arc<dyn Provider> = Arc::new(builtin::admin::Admin {
        store: store.clone(),
        hub: hub.clone(),
        perms: perms.clone(),
        default_domain: cfg.domain.clone(),
    });
    for p in providers.into_iter().chain([admin]) {
        map.insert(p.spec().topic, p);
    }
    let cas = Arc::new(Cas::new(cfg.clone(), store, bus.clone(), perms, hub, map));
    cas.spawn_background(bus);
    let listener = tokio::net::TcpListener::bind(cfg.listen).await?;
    let addr = listener.local_addr()?;
    let app = http::router(cas);
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let serve = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async {
            let _ = rx.await;
        });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "CAS HTTP server failed");
        }
    });
    Ok(Running {
        addr,
        shutdown: Some(tx),
    })
}
