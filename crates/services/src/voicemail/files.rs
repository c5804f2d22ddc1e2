//! Where voicemail audio lives, and the durable file steps of the crash protocol: fsync a
//! file, rename it into place, fsync the directory. Blocking `std::fs` calls, run by the
//! service through `spawn_blocking`.
//!
//! Layout: `<root>/<domain>/<user>/msg-<id>.wav`, `greeting.wav`, and `tmp/` for audio being
//! written (`<id>.part`, `greeting.part`). User and domain names are escaped so that no
//! name (users may contain `/`) can leave its directory.

use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The greeting's file name inside a mailbox directory.
pub const GREETING: &str = "greeting.wav";
const TMP: &str = "tmp";
const PART: &str = "part";

/// Paths of one voicemail tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    pub fn new(root: PathBuf) -> Layout {
        Layout { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of `user@domain`.
    pub fn mailbox(&self, aor: &str) -> PathBuf {
        let (user, domain) = aor.rsplit_once('@').unwrap_or((aor, ""));
        self.root.join(escape(domain)).join(escape(user))
    }

    pub fn tmp(&self, aor: &str) -> PathBuf {
        self.mailbox(aor).join(TMP)
    }

    pub fn message(&self, aor: &str, id: i64) -> PathBuf {
        self.mailbox(aor).join(message_name(id))
    }

    pub fn part(&self, aor: &str, id: i64) -> PathBuf {
        self.tmp(aor).join(format!("{id}.{PART}"))
    }

    pub fn greeting(&self, aor: &str) -> PathBuf {
        self.mailbox(aor).join(GREETING)
    }

    pub fn greeting_part(&self, aor: &str) -> PathBuf {
        self.tmp(aor).join(format!("greeting.{PART}"))
    }
}

/// `msg-<id>.wav`.
pub fn message_name(id: i64) -> String {
    format!("msg-{id}.wav")
}

/// The id of a `msg-<id>.wav` file name.
pub fn message_id(name: &str) -> Option<i64> {
    name.strip_prefix("msg-")?
        .strip_suffix(".wav")?
        .parse()
        .ok()
}

/// True for `tmp` files of the protocol (`*.part`).
pub fn is_part(name: &str) -> bool {
    Path::new(name).extension().is_some_and(|x| x == PART)
}

/// Letters, digits, `-` and `_` stay; every other byte becomes `%XX` (so `.`, `..` and `/`
/// cannot appear as path components).
fn escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() {
        out.push('%');
    }
    out
}

/// Creates the mailbox and its `tmp` directory.
pub fn ensure_dirs(layout: &Layout, aor: &str) -> std::io::Result<()> {
    fs::create_dir_all(layout.tmp(aor))
}

/// Writes `bytes` to `path` and fsyncs it.
pub fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Copies `from` to `to` and fsyncs the copy.
pub fn copy_synced(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::copy(from, to)?;
    File::open(to)?.sync_all()
}

/// The commit point of a file: fsync it, rename it over `to`, fsync `to`'s directory. After
/// this returns the file survives a crash under its final name.
pub fn publish(part: &Path, to: &Path) -> std::io::Result<()> {
    File::open(part)?.sync_all()?;
    fs::rename(part, to)?;
    sync_dir(to)
}

/// Makes a WAV file whose writer was interrupted whole: cuts it to `data_at + data_len`
/// bytes, writes the RIFF and `data` sizes, and fsyncs it.
pub fn seal_wav(path: &Path, data_at: u64, data_len: u32) -> std::io::Result<()> {
    use std::io::{Seek as _, SeekFrom};
    let riff = u32::try_from(data_at.saturating_sub(8))
        .ok()
        .and_then(|h| h.checked_add(data_len))
        .ok_or_else(|| std::io::Error::other("recording too large"))?;
    let mut f = fs::OpenOptions::new().write(true).open(path)?;
    f.set_len(data_at + u64::from(data_len))?;
    f.seek(SeekFrom::Start(4))?;
    f.write_all(&riff.to_le_bytes())?;
    f.seek(SeekFrom::Start(data_at.saturating_sub(4)))?;
    f.write_all(&data_len.to_le_bytes())?;
    f.sync_all()
}

/// Removes `path` (absent is fine) and fsyncs its directory.
pub fn remove_synced(path: &Path) -> std::io::Result<()> {
    match fs::remove_file(path) {
        Ok(()) => sync_dir(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// fsyncs the directory holding `path`, so a rename or unlink in it is durable.
fn sync_dir(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) => File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

/// Every mailbox directory under the root as `(dir, domain dir name, user dir name)`.
pub fn mailbox_dirs(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let domains = match fs::read_dir(root) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for domain in domains {
        let domain = domain?.path();
        if !domain.is_dir() {
            continue;
        }
        for user in fs::read_dir(&domain)? {
            let user = user?.path();
            if user.is_dir() {
                out.push(user);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// File names directly in `dir` (absent directory: none).
pub fn file_names(dir: &Path) -> std::io::Result<Vec<String>> {
    let entries = match fs::read_dir(dir) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for e in entries {
        let e = e?;
        if e.file_type()?.is_file()
            && let Some(name) = e.file_name().to_str()
        {
            out.push(name.to_owned());
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_stay_inside_the_root() {
        let l = Layout::new(PathBuf::from("/vm"));
        assert_eq!(
            l.message("bob@example.com", 7),
            PathBuf::from("/vm/example%2Ecom/bob/msg-7.wav")
        );
        assert_eq!(l.mailbox("../x@.."), PathBuf::from("/vm/%2E%2E/%2E%2E%2Fx"));
        assert_eq!(l.part("a@b", 3), PathBuf::from("/vm/b/a/tmp/3.part"));
        assert_eq!(message_id("msg-42.wav"), Some(42));
        assert_eq!(message_id("msg-x.wav"), None);
        assert_eq!(message_id("greeting.wav"), None);
        assert!(is_part("3.part"));
        assert!(!is_part("msg-3.wav"));
    }
}
