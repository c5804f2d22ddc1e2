//! Entry point; everything else is in the library so tests can reach it.

use std::process::ExitCode;

/// The servers allocate many small, short-lived objects per message (parsed headers, JSON
/// trees); mimalloc measured markedly cheaper than the system allocator for that.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    match switchboard::cli::run().await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
