//! Prompts: the built-in set (generated once with espeak-ng + sox by `prompts/generate.sh`,
//! embedded at build time) overlaid by an operator directory of `<name>.wav` files.
//!
//! Decoded once at start and shared (`Arc<[i16]>`) by every call that plays them. An
//! operator file that does not decode is reported and the built-in one is kept.

use std::collections::HashMap;
use std::path::Path;

use tracing::warn;

use crate::wav::{self, Samples};

include!(concat!(env!("OUT_DIR"), "/prompts.rs"));

/// Every prompt by name.
#[derive(Debug, Clone, Default)]
pub struct Prompts {
    by_name: HashMap<String, Samples>,
}

impl Prompts {
    /// The built-in prompts, then every `*.wav` of `dir` (when given) on top.
    pub fn load(dir: Option<&Path>) -> Prompts {
        let mut by_name = HashMap::new();
        for (name, bytes) in BUILTIN {
            match wav::decode(bytes) {
                Ok(s) => {
                    by_name.insert((*name).to_owned(), s);
                }
                Err(e) => warn!(prompt = name, error = %e, "built-in prompt does not decode"),
            }
        }
        if let Some(dir) = dir {
            let entries = match std::fs::read_dir(dir) {
                Ok(e) => e,
                Err(e) => {
                    warn!(dir = %dir.display(), error = %e, "cannot read the prompts directory");
                    return Prompts { by_name };
                }
            };
            for path in entries.flatten().map(|e| e.path()) {
                let Some(name) = path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .filter(|_| path.extension().is_some_and(|x| x == "wav"))
                else {
                    continue;
                };
                match wav::read(&path) {
                    Ok(s) => {
                        by_name.insert(name.to_owned(), s);
                    }
                    Err(e) => warn!(file = %path.display(), error = %e, "operator prompt ignored"),
                }
            }
        }
        Prompts { by_name }
    }

    pub fn get(&self, name: &str) -> Option<Samples> {
        self.by_name.get(name).cloned()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }
}
