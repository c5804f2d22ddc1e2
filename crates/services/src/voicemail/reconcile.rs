//! Start-up repair and the integrity check of the voicemail tree against the database.
//!
//! After a crash at any step of the protocol (module doc of `voicemail`) the state is one of:
//! a `.part` file (recording or copy interrupted), a `pending` row (with or without its
//! part, or with its final file when the crash fell between rename and commit), a
//! `deleting` row (with or without its file). Repair: adopt a pending row whose final file
//! exists and is a valid WAV; adopt a pending deposit (origin `call`) whose part holds at
//! least the minimum message length (hang-up keeps what was said, and so does a crash: the
//! part's sizes are fixed, then it is published like a finished recording); remove other
//! parts and drop other pending rows; finish deletes; drop ready rows whose file vanished
//! and `msg-*.wav` files no ready row names.

use std::collections::HashSet;
use std::path::PathBuf;

use serde_json::{Value, json};
use tracing::{info, warn};

use super::files::{self};
use super::{Result, VmError, Voicemail, wav};

/// What [`Voicemail::integrity_check`] (and a repair) found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Integrity {
    /// Messages (ready rows) and message files.
    pub ready_rows: usize,
    pub files: usize,
    /// Ready rows whose file is missing.
    pub missing_files: usize,
    /// Message files without a ready row.
    pub orphan_files: usize,
    /// `tmp/*.part` files, pending and deleting rows (in-flight work, or crash leftovers).
    pub part_files: usize,
    pub pending_rows: usize,
    pub deleting_rows: usize,
    /// Files whose header is not a valid WAV.
    pub bad_files: usize,
    /// Repairs made (0 for a check).
    pub repaired: usize,
}

impl Integrity {
    /// Consistent: every message has its file and every file its message. In-flight work
    /// (parts, pending and deleting rows) is allowed unless `quiescent`.
    pub fn ok(&self, quiescent: bool) -> bool {
        let settled = self.part_files == 0 && self.pending_rows == 0 && self.deleting_rows == 0;
        self.missing_files == 0
            && self.orphan_files == 0
            && self.bad_files == 0
            && self.ready_rows == self.files
            && (settled || !quiescent)
    }

    pub fn to_json(&self) -> Value {
        json!({
            "ok": self.ok(true),
            "messages": self.ready_rows,
            "files": self.files,
            "missing_files": self.missing_files,
            "orphan_files": self.orphan_files,
            "part_files": self.part_files,
            "pending_rows": self.pending_rows,
            "deleting_rows": self.deleting_rows,
            "bad_files": self.bad_files,
            "repaired": self.repaired,
        })
    }
}

fn valid_wav(path: &std::path::Path) -> bool {
    use std::io::Read as _;
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut head = vec![0u8; 4096];
    let Ok(n) = f.read(&mut head) else {
        return false;
    };
    head.truncate(n);
    wav::parse(&head, len).is_ok()
}

impl Voicemail {
    /// Repairs what a crash left (see the module doc); run at start, before any call.
    pub async fn reconcile(&self) -> Result<Integrity> {
        let _order = self.inner.changes.lock().await;
        self.scan(true).await
    }

    /// Reports the state of the tree without changing it.
    pub async fn integrity_check(&self) -> Result<Integrity> {
        let _order = self.inner.changes.lock().await;
        self.scan(false).await
    }

    async fn scan(&self, repair: bool) -> Result<Integrity> {
        let store = &self.inner.store;
        let layout = self.inner.layout.clone();
        let rows = store.vm_all_rows().await?;
        let mut r = Integrity::default();
        let mut expected: HashSet<PathBuf> = HashSet::new();
        let mut inflight: HashSet<PathBuf> = HashSet::new();
        for row in &rows {
            let path = layout.message(&row.mailbox, row.id);
            let exists = tokio::fs::try_exists(&path).await.unwrap_or(false);
            match row.state.as_str() {
                "ready" if exists => {
                    r.ready_rows += 1;
                    expected.insert(path);
                }
                "ready" => {
                    r.missing_files += 1;
                    if repair {
                        warn!(id = row.id, "voicemail row without file removed");
                        store.vm_delete_row(row.id).await?;
                        r.repaired += 1;
                    }
                }
                "pending" => {
                    r.pending_rows += 1;
                    if exists {
                        // Renamed but not committed: in flight, not an orphan.
                        inflight.insert(path.clone());
                    }
                    if repair {
                        let p = path.clone();
                        let good =
                            exists && tokio::task::spawn_blocking(move || valid_wav(&p)).await?;
                        let part = layout.part(&row.mailbox, row.id);
                        let kept = if good {
                            let info = super::ops::wav_info(path.clone()).await?;
                            Some(info.duration_ms())
                        } else if row.origin == "call" && !exists {
                            self.salvage(part, path.clone()).await?
                        } else {
                            None
                        };
                        if let Some(ms) = kept {
                            let ms = i64::try_from(ms).unwrap_or(i64::MAX);
                            store.vm_set_ready(row.id, ms).await?;
                            expected.insert(path);
                            r.ready_rows += 1;
                        } else {
                            self.remove(path).await?;
                            self.remove(layout.part(&row.mailbox, row.id)).await?;
                            store.vm_delete_row(row.id).await?;
                        }
                        r.repaired += 1;
                    }
                }
                _ => {
                    r.deleting_rows += 1;
                    if repair {
                        self.remove(path).await?;
                        store.vm_delete_row(row.id).await?;
                        r.repaired += 1;
                    }
                }
            }
        }
        let root = layout.root().to_owned();
        let dirs = self.io("scan", move || files::mailbox_dirs(&root)).await?;
        for dir in dirs {
            let (d, t) = (dir.clone(), dir.join("tmp"));
            let names = self.io("scan", move || files::file_names(&d)).await?;
            for name in names.iter().filter(|n| files::message_id(n).is_some()) {
                let path = dir.join(name);
                if expected.contains(&path) {
                    r.files += 1;
                    let p = path.clone();
                    if !tokio::task::spawn_blocking(move || valid_wav(&p)).await? {
                        r.bad_files += 1;
                    }
                    continue;
                }
                if inflight.contains(&path) {
                    continue;
                }
                r.orphan_files += 1;
                if repair {
                    warn!(file = %path.display(), "voicemail file without row removed");
                    self.remove(path).await?;
                    r.repaired += 1;
                }
            }
            let parts = self.io("scan", move || files::file_names(&t)).await?;
            for name in parts.iter().filter(|n| files::is_part(n)) {
                r.part_files += 1;
                if repair {
                    self.remove(dir.join("tmp").join(name)).await?;
                    r.repaired += 1;
                }
            }
        }
        if repair {
            // What is left after a repair is what a check would now find.
            r.missing_files = 0;
            r.orphan_files = 0;
            r.pending_rows = 0;
            r.deleting_rows = 0;
            r.part_files = 0;
        }
        Ok(r)
    }

    /// A recording interrupted by the crash keeps what the caller said, as a hang-up does,
    /// when at least the minimum message length reached the disk: the part's header is
    /// fixed and it is published as `to`. Returns its duration, or `None` (left for
    /// removal) when it is unreadable or too short. Only deposits are salvaged: a cut
    /// upload or copy is not what its sender meant.
    async fn salvage(&self, part: PathBuf, to: PathBuf) -> Result<Option<u64>> {
        let min = self.inner.cfg.min_message.as_millis();
        let id = part.display().to_string();
        self.io("salvage", move || {
            use std::io::Read as _;
            let mut f = match std::fs::File::open(&part) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            };
            let len = f.metadata()?.len();
            let mut head = vec![0u8; 4096];
            let n = f.read(&mut head)?;
            head.truncate(n);
            drop(f);
            let Some((at, info)) = wav::salvage(&head, len) else {
                return Ok(None);
            };
            let ms = info.duration_ms();
            if u128::from(ms) < min {
                return Ok(None);
            }
            files::seal_wav(&part, at, info.data_len)?;
            files::publish(&part, &to)?;
            info!(file = %id, duration_ms = ms, "voicemail interrupted recording kept");
            Ok(Some(ms))
        })
        .await
    }

    async fn remove(&self, path: PathBuf) -> Result<()> {
        self.io("remove", move || files::remove_synced(&path)).await
    }

    async fn io<T: Send + 'static>(
        &self,
        what: &'static str,
        f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
    ) -> Result<T> {
        tokio::task::spawn_blocking(f)
            .await?
            .map_err(|source| VmError::Io { what, source })
    }
}
