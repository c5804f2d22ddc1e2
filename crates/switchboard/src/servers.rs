//! Wiring: the bus, the permission cache, the service providers, the SIP face and the CAS
//! face, built once here (GUIDE.md rule 3). Prints one machine-readable line per bound
//! listener and runs until SIGINT/SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use services::bus::Bus;
use services::perms::Permissions;
use services::provider::Provider;
use services::routing::CallPolicy;

use crate::config::Config;

/// The catalogue of every topic this server serves (rendered to `docs/cas-catalogue.md`).
pub fn topic_specs() -> Vec<&'static cas_proto::TopicSpec> {
    cas_server::catalogue(&[
        &services::dir::SPEC,
        &services::callmode::SPEC,
        &services::history::SPEC,
        &services::im::SPEC,
        // [catalogue: presence]
        &services::presence::SPEC,
        // [catalogue: vm]
        &services::voicemail::SPEC,
        // [catalogue: mwi]
        &services::mwi::cas::SPEC,
    ])
}

pub async fn run(config: &Config, store: store::Store) -> anyhow::Result<()> {
    let bus = Bus::default();
    let perms = Permissions::load(store.clone(), bus.clone()).await?;
    let call_modes = services::callmode::CallModes::load(&store).await?;
    // The SIP face asks the call handling modes where each call goes.
    let policy: Arc<dyn CallPolicy> = Arc::new(call_modes.clone());
    // [wiring: presence service] (before the faces, so no session or registration is missed)
    let presence =
        services::presence::Presence::start(store.clone(), bus.clone(), config.presence.service())
            .await?;
    // [wiring: voicemail provider] (repairs what a crash left before anything reads it)
    let voicemail = services::voicemail::Voicemail::start(
        store.clone(),
        bus.clone(),
        config.voicemail.service(&config.server.data_dir),
    )
    .await?;
    // [wiring: mwi provider]
    let mwi = services::mwi::start(
        store.clone(),
        bus.clone(),
        crate::sip::mwi_config(config),
        Some(Arc::new(voicemail.clone())),
    )
    .await?;
    let providers: Vec<Arc<dyn Provider>> = vec![
        Arc::new(
            services::dir::Directory::new(store.clone(), bus.clone(), presence.clone()).await?,
        ),
        Arc::new(services::callmode::CallHandling::new(
            store.clone(),
            bus.clone(),
            call_modes,
        )),
        Arc::new(services::history::History::start(
            store.clone(),
            bus.clone(),
            perms.clone(),
        )),
        Arc::new(services::im::Im::start(store.clone(), bus.clone()).await?),
        // [wiring: presence provider]
        Arc::new(services::presence::PresenceTopic::new(
            presence.clone(),
            store.clone(),
        )),
        // [wiring: voicemail provider]
        Arc::new(voicemail.clone()),
        // [wiring: mwi provider]
        Arc::new(services::mwi::cas::MwiProvider::new(mwi.clone())),
    ];

    // [wiring: media server]
    let media = media_server::MediaServer::start(&crate::sip::media_config(config))?;
    media.set_inactivity_timeout(crate::sip::media_inactivity(config));
    let sip = sip_server::start(
        crate::sip::sip_config(config),
        sip_server::Deps {
            store: store.clone(),
            bus: bus.clone(),
            policy,
            mwi,
            presence,
            media: Some(media),
            // [wiring: voicemail in the SIP face]
            voicemail: config.voicemail.enabled.then(|| voicemail.clone()),
        },
    )
    .await?;
    let cas = cas_server::start(
        cas_server::CasConfig {
            listen: config.http.listen,
            domain: config.server.domain.clone(),
            session_idle: Duration::from_secs(u64::from(config.http.session_idle_timeout)),
            plugin_timeout: Duration::from_millis(u64::from(config.http.plugin_timeout_ms)),
            max_body: usize::try_from(config.http.max_body).unwrap_or(usize::MAX),
        },
        store,
        bus,
        perms,
        providers,
    )
    .await
    .map_err(|e| anyhow::anyhow!("cannot bind the CAS API on {}: {e}", config.http.listen))?;
    for (t, addr) in &sip.listeners {
        println!("listening sip {} {addr}", t.as_str());
    }
    println!("listening http {}", cas.addr);
    wait_for_signal().await;
    tracing::info!("shutting down");
    cas.shutdown();
    sip.shutdown().await;
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
