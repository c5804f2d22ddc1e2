//! Embeds the shipped prompts (`prompts/*.wav` at the repository root) in the binary, so a
//! fresh `cargo run` has voicemail prompts without knowing where the source tree is.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let dir = manifest.join("../../prompts");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut names: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "wav"))
        .filter_map(|p| {
            let name = p.file_stem()?.to_str()?.to_owned();
            Some((name, p.canonicalize().ok()?))
        })
        .collect();
    names.sort();
    let mut out = String::from(
        "/// Built-in prompts: (name, WAV bytes).\npub static BUILTIN: &[(&str, &[u8])] = &[\n",
    );
    for (name, path) in names {
        println!("cargo:rerun-if-changed={}", path.display());
        let _ = writeln!(
            out,
            "    ({name:?}, include_bytes!({:?})),",
            path.display().to_string()
        );
    }
    out.push_str("];\n");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    if let Err(e) = std::fs::write(out_dir.join("prompts.rs"), out) {
        println!("cargo:warning=cannot write prompts.rs: {e}");
    }
}
