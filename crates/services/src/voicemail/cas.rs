//! The CAS `vm` topic: list, play on phone (async, through the SIP face over the bus),
//! download (a short-lived token for `GET /cas/file/vm/{token}`), forward, reply, send,
//! edit subject, mark, delete, PIN and greeting; `check` for administrators.
//!
//! Audio arrives base64-encoded in the request (the CAS body limit bounds it).

mod spec;

use std::time::{Duration, Instant};

use base64::Engine as _;
use cas_proto::{CasError, ErrorCode, Object, Request, TopicSpec};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

pub use spec::SPEC;

use super::ops::Audio;
use super::{Folder, Message, MessageId, VmError, Voicemail};
use crate::bus::BusEvent;
use crate::provider::{BoxFuture, Caller, FileGrant, Outcome, Provider};

/// How long a download URL stays valid.
const DOWNLOAD_TTL: Duration = Duration::from_secs(300);
/// Outstanding download tokens kept at most (oldest dropped first beyond it).
const MAX_GRANTS: usize = 10_000;

/// A download token's target.
#[derive(Debug, Clone)]
pub(super) struct Grant {
    file: FileGrant,
    expires: Instant,
}

/// Per-message permissions as the caller's role allows them.
#[derive(Debug, Clone, Copy)]
pub struct Perms {
    play: bool,
    download: bool,
    forward: bool,
    reply: bool,
    edit: bool,
    delete: bool,
}

impl Perms {
    fn of(caller: &Caller) -> Perms {
        let p = &caller.perms;
        Perms {
            play: p.allows("vm.play"),
            download: p.allows("vm.download"),
            forward: p.allows("vm.forward"),
            reply: p.allows("vm.reply"),
            edit: p.allows("vm.edit"),
            delete: p.allows("vm.delete"),
        }
    }
}

/// A message as JSON; `perms` (with whether its caller is local) adds `permissions`.
pub fn message_json(m: &Message, perms: Option<(Perms, bool)>) -> Value {
    let mut o = json!({
        "id": m.id.0,
        "caller": m.caller,
        "called": m.called,
        "received_at": m.received_at,
        "duration_ms": m.duration_ms,
        "subject": m.subject,
        "heard": m.heard,
        "folder": m.folder.as_str(),
        "origin": m.origin,
    });
    if let (Some((p, local)), Some(map)) = (perms, o.as_object_mut()) {
        map.insert(
            "permissions".into(),
            json!({
                "play": p.play,
                "download": p.download,
                "forward": p.forward,
                "reply": p.reply && local,
                "edit_subject": p.edit,
                "delete": p.delete,
            }),
        );
    }
    o
}

fn id(req: &Request) -> Result<MessageId, CasError> {
    let id = req
        .opt_u64("id")?
        .ok_or_else(|| CasError::bad_request("missing field 'id'"))?;
    i64::try_from(id)
        .map(MessageId)
        .map_err(|_| CasError::not_found(format!("no such message {id}")))
}

fn audio(b64: &str) -> Result<Vec<u8>, CasError> {
    base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|_| CasError::bad_request("audio is not valid base64"))
}

fn body(pairs: Value) -> Object {
    match pairs {
        Value::Object(o) => o,
        _ => Object::new(),
    }
}

impl Voicemail {
    /// The local `user@domain` a caller string (ANI) names, if any.
    async fn local_caller(&self, caller: &str, domain: &str) -> Option<String> {
        self.mailbox_for(caller, domain).await.ok()
    }

    async fn cas_list(&self, caller: &Caller, req: &Request) -> Result<Object, CasError> {
        let me = caller.aor();
        let folder = match req.opt_str("folder")?.unwrap_or("all") {
            "all" => None,
            f => Some(
                Folder::parse(f)
                    .ok_or_else(|| CasError::bad_request("folder is new, saved or all"))?,
            ),
        };
        let list = self.list(&me, folder).await?;
        let perms = Perms::of(caller);
        let mut local = std::collections::HashMap::new();
        let mut out = Vec::with_capacity(list.len());
        for m in &list {
            let is_local = match local.get(&m.caller) {
                Some(l) => *l,
                None => {
                    let l = self.local_caller(&m.caller, &caller.domain).await.is_some();
                    local.insert(m.caller.clone(), l);
                    l
                }
            };
            out.push(message_json(m, Some((perms, is_local))));
        }
        let (new, old) = self.counts(&me).await?;
        let greeting = tokio::fs::try_exists(self.layout().greeting(&me))
            .await
            .unwrap_or(false);
        let pin_set = self
            .inner
            .store
            .vm_pin_hash(&me)
            .await
            .map_err(crate::provider::store_error)?
            .is_some();
        Ok(body(json!({
            "messages": out,
            "counts": {"new": new, "old": old},
            "greeting": greeting,
            "pin_set": pin_set,
            "number": self.number(),
        })))
    }

    fn cas_download(&self, caller: &Caller, m: &Message) -> Object {
        let mut token = [0u8; 18];
        rand::Rng::fill(&mut rand::thread_rng(), &mut token);
        let token = sip::digest::hex(&token);
        let grant = Grant {
            file: FileGrant {
                session: caller.session,
                user: caller.aor(),
                path: m.path.clone(),
                content_type: "audio/wav",
                name: format!("voicemail-{}.wav", m.id.0),
            },
            expires: Instant::now() + DOWNLOAD_TTL,
        };
        if let Ok(mut g) = self.inner.downloads.lock() {
            let now = Instant::now();
            g.retain(|_, v| v.expires > now);
            if g.len() >= MAX_GRANTS {
                let oldest = g
                    .iter()
                    .min_by_key(|(_, v)| v.expires)
                    .map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    g.remove(&k);
                }
            }
            g.insert(token.clone(), grant);
        }
        body(json!({
            "url": format!("/cas/file/vm/{token}"),
            "expires_in": DOWNLOAD_TTL.as_secs(),
            "content_type": "audio/wav",
        }))
    }

    /// Asks the SIP face to play `m` on the caller's phone; completes when playback starts.
    fn play_on_phone(&self, caller: &Caller, m: Message, device: Option<String>) -> Outcome {
        let vm = self.clone();
        let aor = caller.aor();
        let request_id = self
            .inner
            .next_request
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Outcome::Pending(Box::pin(async move {
            let mut rx = vm.inner.bus.subscribe();
            vm.inner.bus.publish(BusEvent::VmPlayOnPhone {
                request_id,
                aor: aor.clone(),
                device,
                file: m.path.clone(),
                message: m.id.0,
            });
            let wait = async {
                loop {
                    match rx.recv().await {
                        Ok(BusEvent::VmPlaybackStarted { request_id: r }) if r == request_id => {
                            return Ok(());
                        }
                        Ok(BusEvent::VmPlaybackFailed {
                            request_id: r,
                            reason,
                        }) if r == request_id => {
                            return Err(CasError::new(ErrorCode::Unavailable, reason));
                        }
                        Ok(_) | Err(RecvError::Lagged(_)) => {}
                        Err(RecvError::Closed) => {
                            return Err(CasError::new(ErrorCode::Unavailable, "stopping"));
                        }
                    }
                }
            };
            match tokio::time::timeout(vm.config().play_timeout, wait).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    return Err(CasError::new(
                        ErrorCode::Timeout,
                        "the phone did not answer",
                    ));
                }
            }
            if !m.heard {
                vm.mark(&aor, m.id, true).await?;
            }
            Ok(body(json!({"id": m.id.0, "started": true})))
        }))
    }

    async fn cas_mark(&self, me: &str, req: &Request) -> Result<Message, CasError> {
        let id = id(req)?;
        let heard = req.opt_bool("heard")?;
        let folder = match req.opt_str("folder")? {
            Some(f) => Some(
                Folder::parse(f).ok_or_else(|| CasError::bad_request("folder is new or saved"))?,
            ),
            None => None,
        };
        let mut m = self.message(me, id).await?;
        match (heard, folder) {
            (None, None) => return Err(CasError::bad_request("give heard or folder")),
            (_, Some(Folder::Saved)) => {
                m = self.save(me, id).await?;
                if heard == Some(false) {
                    m = self.mark(me, id, false).await?;
                }
            }
            (_, Some(Folder::New)) => {
                m = self
                    .update_folder_new(me, id, heard.unwrap_or(m.heard))
                    .await?;
            }
            (Some(h), None) => m = self.mark(me, id, h).await?,
        }
        Ok(m)
    }

    async fn update_folder_new(
        &self,
        me: &str,
        id: MessageId,
        heard: bool,
    ) -> Result<Message, VmError> {
        self.update(me, id, heard, Some(Folder::New)).await
    }

    async fn cas_check(&self) -> Result<Object, CasError> {
        let report = self.integrity_check().await?;
        let counts: Vec<Value> = self
            .all_counts()
            .await?
            .into_iter()
            .map(|(mailbox, new, old)| json!({"mailbox": mailbox, "new": new, "old": old}))
            .collect();
        let mut o = body(report.to_json());
        o.insert("counts".into(), Value::Array(counts));
        Ok(o)
    }

    async fn handle_cas(&self, caller: &Caller, req: &Request) -> Result<Outcome, CasError> {
        if !self.config().enabled {
            return Err(VmError::Disabled.into());
        }
        let me = caller.aor();
        let done = |o: Object| Ok(Outcome::Done(o));
        match req.message.as_str() {
            "list" => done(self.cas_list(caller, req).await?),
            "play_on_phone" => {
                let m = self.message(&me, id(req)?).await?;
                let device = req.opt_str("device")?.map(str::to_owned);
                Ok(self.play_on_phone(caller, m, device))
            }
            "download" => {
                let m = self.message(&me, id(req)?).await?;
                done(self.cas_download(caller, &m))
            }
            "forward" => {
                let to = self.mailbox_for(req.str("to")?, &caller.domain).await?;
                let new = self.forward(&me, id(req)?, &to).await?;
                done(body(json!({"id": new.0, "to": to})))
            }
            "reply" => {
                let m = self.message(&me, id(req)?).await?;
                let Some(to) = self.local_caller(&m.caller, &caller.domain).await else {
                    return Err(CasError::bad_request(
                        "the caller is not a local user; a reply cannot be delivered",
                    ));
                };
                let subject = match req.opt_str("subject")? {
                    Some(s) => s.to_owned(),
                    None => format!("Re: {}", m.subject).trim_end().to_owned(),
                };
                let wav = audio(req.str("audio")?)?;
                let new = self
                    .store_audio(&to, &me, &to, &subject, "reply", Audio::Bytes(&wav))
                    .await?;
                done(body(json!({"id": new.0, "to": to})))
            }
            "send" => {
                let to = self.mailbox_for(req.str("to")?, &caller.domain).await?;
                let subject = req.opt_str("subject")?.unwrap_or("");
                let wav = audio(req.str("audio")?)?;
                let new = self
                    .store_audio(&to, &me, &to, subject, "send", Audio::Bytes(&wav))
                    .await?;
                done(body(json!({"id": new.0, "to": to})))
            }
            "edit_subject" => {
                let m = self.set_subject(&me, id(req)?, req.str("subject")?).await?;
                done(body(json!({"item": message_json(&m, None)})))
            }
            "mark" => {
                let m = self.cas_mark(&me, req).await?;
                done(body(json!({"item": message_json(&m, None)})))
            }
            "delete" => {
                let id = id(req)?;
                self.delete(&me, id).await?;
                done(body(json!({"id": id.0, "deleted": true})))
            }
            "set_pin" => {
                self.set_pin(&me, req.str("pin")?).await?;
                done(body(json!({"pin_set": true})))
            }
            "greeting" => {
                let wav = match req.opt_str("audio")? {
                    Some(a) if !a.trim().is_empty() => Some(audio(a)?),
                    _ => None,
                };
                self.set_greeting(&me, wav.as_deref()).await?;
                done(body(json!({"greeting": wav.is_some()})))
            }
            "check" => done(self.cas_check().await?),
            other => Err(CasError::not_found(format!("unknown message vm.{other}"))),
        }
    }
}

impl Provider for Voicemail {
    fn spec(&self) -> &'static TopicSpec {
        &SPEC
    }

    fn handle<'a>(
        &'a self,
        caller: &'a Caller,
        req: &'a Request,
    ) -> BoxFuture<'a, Result<Outcome, CasError>> {
        Box::pin(self.handle_cas(caller, req))
    }

    fn file(&self, token: &str) -> Option<FileGrant> {
        let g = self.inner.downloads.lock().ok()?;
        let grant = g.get(token)?;
        (grant.expires > Instant::now()
            && super::ops::inside(self.layout().root(), &grant.file.path))
        .then(|| grant.file.clone())
    }
}
