//! The changes of the voicemail service, each following the crash protocol of the module
//! doc: deposit (begin, finish), store uploaded or copied audio (send, forward, reply),
//! mark, save, subject, delete, greeting. Each change ends by announcing the mailbox's new
//! counts (`VoicemailChanged`) and a `vm` notice for the owner.

use std::path::{Path, PathBuf};

use cas_proto::Object;
use serde_json::json;
use store::NewVm;
use tracing::{debug, warn};

use super::files::{self, Layout};
use super::{Folder, Message, MessageId, Recording, Result, VmError, Voicemail, now_ms, wav};
use crate::bus::{Audience, BusEvent};

/// Where stored audio comes from.
pub(super) enum Audio<'a> {
    /// Bytes uploaded by a client (a WAV file).
    Bytes(&'a [u8]),
    /// An existing message file (forward).
    Copy(PathBuf),
}

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(
    what: &'static str,
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await?
        .map_err(|source| VmError::Io { what, source })
}

/// The header of a WAV file on disk.
pub(super) async fn wav_info(path: PathBuf) -> Result<wav::WavInfo> {
    let (head, len) = blocking("read", move || {
        use std::io::Read as _;
        let mut f = std::fs::File::open(&path)?;
        let len = f.metadata()?.len();
        let mut head = vec![0u8; 4096];
        let n = f.read(&mut head)?;
        head.truncate(n);
        Ok((head, len))
    })
    .await?;
    Ok(wav::parse(&head, len)?)
}

impl Voicemail {
    /// Starts a deposit for `to` (`user@domain`): a pending row and the `tmp/<id>.part`
    /// path the recording is written to.
    pub async fn begin_deposit(&self, to: &str, caller: &str, called: &str) -> Result<Recording> {
        if !self.inner.cfg.enabled {
            return Err(VmError::Disabled);
        }
        self.begin(to, caller, called, "", "call").await
    }

    async fn begin(
        &self,
        to: &str,
        caller: &str,
        called: &str,
        subject: &str,
        origin: &str,
    ) -> Result<Recording> {
        let layout = self.inner.layout.clone();
        let owner = to.to_owned();
        blocking("create mailbox", move || {
            files::ensure_dirs(&layout, &owner)
        })
        .await?;
        let id = self
            .inner
            .store
            .vm_insert_pending(&NewVm {
                mailbox: to,
                caller,
                called,
                received_at: now_ms(),
                subject,
                origin,
            })
            .await?;
        Ok(Recording {
            id: MessageId(id),
            mailbox: to.to_owned(),
            path: self.inner.layout.part(to, id),
        })
    }

    /// Ends a deposit: with `keep`, the recording becomes a message if it is long enough
    /// (`Some(id)`); otherwise (or when too short) it is dropped (`None`).
    pub async fn finish_deposit(&self, rec: Recording, keep: bool) -> Result<Option<MessageId>> {
        if !keep {
            self.abandon(&rec).await?;
            return Ok(None);
        }
        let info = match wav_info(rec.path.clone()).await {
            Ok(i) => i,
            Err(e) => {
                warn!(id = rec.id.0, error = %e, "recording unreadable; dropped");
                self.abandon(&rec).await?;
                return Ok(None);
            }
        };
        let ms = info.duration_ms();
        if u128::from(ms) < self.inner.cfg.min_message.as_millis() {
            self.abandon(&rec).await?;
            return Ok(None);
        }
        self.commit(&rec, ms).await?;
        Ok(Some(rec.id))
    }

    /// Removes a pending row and its part file.
    async fn abandon(&self, rec: &Recording) -> Result<()> {
        let part = rec.path.clone();
        blocking("remove", move || files::remove_synced(&part)).await?;
        self.inner.store.vm_delete_row(rec.id.0).await?;
        Ok(())
    }

    /// The commit point: publish the part file under its final name, then mark the row
    /// ready, then tell MWI and the owner.
    async fn commit(&self, rec: &Recording, duration_ms: u64) -> Result<()> {
        let _order = self.inner.changes.lock().await;
        let final_path = self.inner.layout.message(&rec.mailbox, rec.id.0);
        let part = rec.path.clone();
        blocking("publish", move || files::publish(&part, &final_path)).await?;
        let ms = i64::try_from(duration_ms).unwrap_or(i64::MAX);
        self.inner.store.vm_set_ready(rec.id.0, ms).await?;
        debug!(id = rec.id.0, duration_ms, "voicemail stored");
        let msg = self.message(&rec.mailbox, rec.id).await?;
        self.announce(&rec.mailbox, "message_added", Some(&msg), rec.id)
            .await
    }

    /// Stores audio as a new message of `to`, through the same pending → file → ready steps.
    pub(super) async fn store_audio(
        &self,
        to: &str,
        caller: &str,
        called: &str,
        subject: &str,
        origin: &str,
        audio: Audio<'_>,
    ) -> Result<MessageId> {
        let limits = (
            self.inner.cfg.min_message.as_millis(),
            self.inner.cfg.max_message.as_millis(),
        );
        let ms = match &audio {
            Audio::Bytes(b) => wav::parse(b, b.len() as u64)?.duration_ms(),
            Audio::Copy(p) => wav_info(p.clone()).await?.duration_ms(),
        };
        if matches!(audio, Audio::Bytes(_))
            && (u128::from(ms) < limits.0 || u128::from(ms) > limits.1)
        {
            let clamp = |v: u128| u64::try_from(v).unwrap_or(u64::MAX);
            return Err(VmError::BadLength(ms, clamp(limits.0), clamp(limits.1)));
        }
        let rec = self.begin(to, caller, called, subject, origin).await?;
        let part = rec.path.clone();
        let written = match audio {
            Audio::Bytes(b) => {
                let b = b.to_vec();
                blocking("write", move || files::write_synced(&part, &b)).await
            }
            Audio::Copy(from) => blocking("copy", move || files::copy_synced(&from, &part)).await,
        };
        if let Err(e) = written {
            let _ = self.abandon(&rec).await;
            return Err(e);
        }
        self.commit(&rec, ms).await?;
        Ok(rec.id)
    }

    /// Sets heard/unheard.
    pub async fn mark(&self, aor: &str, id: MessageId, heard: bool) -> Result<Message> {
        self.update(aor, id, heard, None).await
    }

    /// Moves a message to the saved folder (and marks it heard).
    pub async fn save(&self, aor: &str, id: MessageId) -> Result<Message> {
        self.update(aor, id, true, Some(Folder::Saved)).await
    }

    pub(super) async fn update(
        &self,
        aor: &str,
        id: MessageId,
        heard: bool,
        folder: Option<Folder>,
    ) -> Result<Message> {
        let _order = self.inner.changes.lock().await;
        let folder = folder.map(Folder::as_str);
        if !self
            .inner
            .store
            .vm_update_flags(aor, id.0, heard, folder)
            .await?
        {
            return Err(VmError::NoSuchMessage(id.0));
        }
        let msg = self.message(aor, id).await?;
        self.announce(aor, "message_changed", Some(&msg), id)
            .await?;
        Ok(msg)
    }

    /// Replaces the subject (at most 200 characters).
    pub async fn set_subject(&self, aor: &str, id: MessageId, subject: &str) -> Result<Message> {
        if subject.chars().count() > 200 {
            return Err(VmError::Invalid(
                "a subject is at most 200 characters".into(),
            ));
        }
        let _order = self.inner.changes.lock().await;
        if !self.inner.store.vm_set_subject(aor, id.0, subject).await? {
            return Err(VmError::NoSuchMessage(id.0));
        }
        let msg = self.message(aor, id).await?;
        self.notice(aor, "message_changed", Some(&msg), id);
        Ok(msg)
    }

    /// Deletes: row `deleting` → file removed → row deleted.
    pub async fn delete(&self, aor: &str, id: MessageId) -> Result<()> {
        let _order = self.inner.changes.lock().await;
        if !self.inner.store.vm_mark_deleting(aor, id.0).await? {
            return Err(VmError::NoSuchMessage(id.0));
        }
        let path = self.inner.layout.message(aor, id.0);
        blocking("remove", move || files::remove_synced(&path)).await?;
        self.inner.store.vm_delete_row(id.0).await?;
        self.announce(aor, "message_deleted", None, id).await
    }

    /// Copies a message of `aor` into the mailbox `to` (`user@domain`).
    pub async fn forward(&self, aor: &str, id: MessageId, to: &str) -> Result<MessageId> {
        let m = self.message(aor, id).await?;
        let subject = if m.subject.is_empty() {
            format!("Forwarded by {aor}")
        } else {
            m.subject.clone()
        };
        self.store_audio(
            to,
            &m.caller,
            &m.called,
            &subject,
            "forward",
            Audio::Copy(m.path),
        )
        .await
    }

    /// A greeting recorded by the IVR at `part` becomes the mailbox's greeting.
    pub async fn finish_greeting(&self, aor: &str, keep: bool) -> Result<()> {
        let part = self.inner.layout.greeting_part(aor);
        if !keep {
            return blocking("remove", move || files::remove_synced(&part)).await;
        }
        wav_info(part.clone()).await?;
        let to = self.inner.layout.greeting(aor);
        blocking("publish", move || files::publish(&part, &to)).await?;
        self.notice(aor, "greeting_changed", None, MessageId(0));
        Ok(())
    }

    /// Sets (WAV bytes) or removes (`None`) the greeting of `aor`.
    pub async fn set_greeting(&self, aor: &str, audio: Option<&[u8]>) -> Result<()> {
        let layout: Layout = self.inner.layout.clone();
        let to = layout.greeting(aor);
        match audio {
            None => blocking("remove", move || files::remove_synced(&to)).await?,
            Some(b) => {
                let ms = wav::parse(b, b.len() as u64)?.duration_ms();
                let max = self.inner.cfg.max_greeting.as_millis();
                if u128::from(ms) > max {
                    let max = u64::try_from(max).unwrap_or(u64::MAX);
                    return Err(VmError::BadLength(ms, 0, max));
                }
                let part = layout.greeting_part(aor);
                let (owner, b) = (aor.to_owned(), b.to_vec());
                blocking("write greeting", move || {
                    files::ensure_dirs(&layout, &owner)?;
                    files::write_synced(&part, &b)?;
                    files::publish(&part, &to)
                })
                .await?;
            }
        }
        self.notice(aor, "greeting_changed", None, MessageId(0));
        Ok(())
    }

    /// The path a greeting is recorded to by the IVR.
    pub fn greeting_part(&self, aor: &str) -> PathBuf {
        self.inner.layout.greeting_part(aor)
    }

    /// Counts changed: MWI hears the new counts, the owner's sessions the event.
    async fn announce(
        &self,
        aor: &str,
        event: &str,
        msg: Option<&Message>,
        id: MessageId,
    ) -> Result<()> {
        let (new, old) = self.counts(aor).await?;
        self.inner.bus.publish(BusEvent::VoicemailChanged {
            aor: aor.to_owned(),
            new,
            old,
        });
        self.notice(aor, event, msg, id);
        Ok(())
    }

    fn notice(&self, aor: &str, event: &str, msg: Option<&Message>, id: MessageId) {
        let mut o = Object::new();
        o.insert("message".into(), json!(event));
        match msg {
            Some(m) => {
                o.insert("item".into(), super::cas::message_json(m, None));
            }
            None if id.0 != 0 => {
                o.insert("id".into(), json!(id.0));
            }
            None => {}
        }
        self.inner.bus.publish(BusEvent::Notice {
            topic: "vm".into(),
            key: None,
            audience: Audience::Users(vec![aor.to_owned()]),
            event: o,
            always: false,
        });
    }
}

/// True if `path` is inside `root` (download paths are built, never taken from clients;
/// this is a second line of defence).
pub(super) fn inside(root: &Path, path: &Path) -> bool {
    path.starts_with(root)
}
