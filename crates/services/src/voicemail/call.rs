//! [`IvrCall`]: one IVR machine bound to the voicemail service. It executes the machine's
//! service commands itself (PIN check, lists, storing, deleting …) and hands the media
//! commands to the caller — the SIP face's media glue — with numbers and digit strings
//! already expanded to prompts, so the media side only ever sees `Clip::Prompt` and
//! `Clip::File`.
//!
//! Use: `let mut call = vm.deposit_call(..).await?; run(call.start())`, then for every media
//! event `run(call.input(ev).await)` until `call.is_done()`. Awaiting happens in a task of
//! the SIP face's choosing; nothing here blocks a thread.

use std::path::PathBuf;

use tracing::warn;

use super::ivr::{
    Access, AccessConfig, Clip, Command, Deposit, DepositConfig, Input, Item, Media, Service,
};
use super::{Recording, Voicemail, prompts};

#[derive(Debug)]
enum Machine {
    Deposit(Deposit, Option<Recording>),
    Access(Access, String),
}

/// A voicemail IVR call in progress.
#[derive(Debug)]
pub struct IvrCall {
    vm: Voicemail,
    machine: Machine,
}

impl IvrCall {
    pub(super) fn deposit(vm: Voicemail, rec: Recording, greeting: Option<PathBuf>) -> IvrCall {
        let cfg = DepositConfig {
            greeting,
            record_to: rec.path.clone(),
            max: vm.config().max_message,
            min: vm.config().min_message,
        };
        IvrCall {
            machine: Machine::Deposit(Deposit::new(cfg), Some(rec)),
            vm,
        }
    }

    pub(super) fn access(vm: Voicemail, aor: String) -> IvrCall {
        let mut cfg = AccessConfig::new(vm.greeting_part(&aor), vm.config().max_greeting);
        cfg.min = vm.config().min_message;
        IvrCall {
            machine: Machine::Access(Access::new(cfg), aor),
            vm,
        }
    }

    /// The mailbox this call is about.
    pub fn mailbox(&self) -> &str {
        match &self.machine {
            Machine::Deposit(_, rec) => rec.as_ref().map_or("", |r| r.mailbox.as_str()),
            Machine::Access(_, aor) => aor,
        }
    }

    pub fn is_done(&self) -> bool {
        match &self.machine {
            Machine::Deposit(m, _) => m.is_done(),
            Machine::Access(m, _) => m.is_done(),
        }
    }

    /// The first media commands (greeting or PIN prompt).
    pub async fn start(&mut self) -> Vec<Media> {
        self.drain().await
    }

    /// Feeds one media event; returns what the media engine must do next.
    pub async fn input(&mut self, input: Input) -> Vec<Media> {
        self.feed(input);
        self.drain().await
    }

    fn feed(&mut self, input: Input) {
        match &mut self.machine {
            Machine::Deposit(m, _) => m.handle_input(input),
            Machine::Access(m, _) => m.handle_input(input),
        }
    }

    fn poll(&mut self) -> Option<Command> {
        match &mut self.machine {
            Machine::Deposit(m, _) => m.poll_output(),
            Machine::Access(m, _) => m.poll_output(),
        }
    }

    async fn drain(&mut self) -> Vec<Media> {
        let mut media = Vec::new();
        // Bounded: a machine answers a service result with media or a finite chain.
        for _ in 0..64 {
            let Some(cmd) = self.poll() else {
                return media;
            };
            match cmd {
                Command::Media(m) => media.push(expand(m)),
                Command::Service(s) => {
                    if let Some(result) = self.execute(s).await {
                        self.feed(result);
                    }
                }
            }
        }
        warn!("voicemail IVR produced too many commands");
        media
    }

    /// Runs a service command; returns the input that answers it, if any.
    async fn execute(&mut self, s: Service) -> Option<Input> {
        let vm = self.vm.clone();
        let aor = self.mailbox().to_owned();
        let failed = |e: super::VmError| {
            warn!(error = %e, "voicemail IVR service command failed");
            Input::Failed
        };
        match s {
            Service::VerifyPin(pin) => Some(
                vm.verify_pin(&aor, &pin)
                    .await
                    .map_or_else(failed, Input::PinChecked),
            ),
            Service::Counts => Some(match vm.list(&aor, None).await {
                Ok(list) => {
                    let count = |f: &dyn Fn(&super::Message) -> bool| {
                        u32::try_from(list.iter().filter(|m| f(m)).count()).unwrap_or(u32::MAX)
                    };
                    Input::Counts {
                        new: count(&|m| !m.heard),
                        saved: count(&|m| m.folder == super::Folder::Saved),
                    }
                }
                Err(e) => failed(e),
            }),
            Service::List(folder) => Some(match vm.list(&aor, Some(folder)).await {
                Ok(mut list) => {
                    // Unheard first, each group oldest first.
                    list.sort_by_key(|m| (m.heard, m.id));
                    Input::Listed(
                        list.into_iter()
                            .map(|m| Item {
                                id: m.id,
                                path: m.path,
                                caller: m.caller,
                                heard: m.heard,
                            })
                            .collect(),
                    )
                }
                Err(e) => failed(e),
            }),
            Service::MarkHeard(id) => {
                if let Err(e) = vm.mark(&aor, id, true).await {
                    failed(e);
                }
                None
            }
            Service::Save(id) => {
                if let Err(e) = vm.save(&aor, id).await {
                    failed(e);
                }
                None
            }
            Service::Delete(id) => {
                if let Err(e) = vm.delete(&aor, id).await {
                    failed(e);
                }
                None
            }
            Service::StoreMessage { .. } => {
                let rec = self.recording()?;
                Some(
                    vm.finish_deposit(rec, true)
                        .await
                        .map_or_else(failed, Input::Stored),
                )
            }
            Service::Discard => {
                let rec = self.recording()?;
                if let Err(e) = vm.finish_deposit(rec, false).await {
                    failed(e);
                }
                None
            }
            Service::StoreGreeting { .. } => Some(
                vm.finish_greeting(&aor, true)
                    .await
                    .map_or_else(failed, |()| Input::GreetingStored),
            ),
            Service::DiscardGreeting => {
                if let Err(e) = vm.finish_greeting(&aor, false).await {
                    failed(e);
                }
                None
            }
        }
    }

    /// The deposit's recording, once (it is consumed by storing or discarding).
    fn recording(&mut self) -> Option<Recording> {
        match &mut self.machine {
            Machine::Deposit(_, rec) => rec.take(),
            Machine::Access(..) => None,
        }
    }
}

impl Drop for IvrCall {
    /// A deposit dropped before it stored or discarded (the task was cancelled) leaves a
    /// pending row; it is cleaned up in the background, or by the next start's reconcile.
    fn drop(&mut self) {
        if let Machine::Deposit(_, Some(rec)) = &mut self.machine {
            let rec = rec.clone();
            let vm = self.vm.clone();
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    let _ = vm.finish_deposit(rec, false).await;
                });
            }
        }
    }
}

/// Numbers and digit strings become prompts.
fn expand(m: Media) -> Media {
    match m {
        Media::Play(clips) => Media::Play(
            clips
                .into_iter()
                .flat_map(|c| match c {
                    Clip::Number(n) => prompts::number(n).into_iter().map(Clip::Prompt).collect(),
                    Clip::Digits(s) => prompts::digits(&s).into_iter().map(Clip::Prompt).collect(),
                    other => vec![other],
                })
                .collect(),
        ),
        other => other,
    }
}
