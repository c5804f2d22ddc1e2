//! Entry point; everything else is in the library so tests can reach it.

use std::process::ExitCode;

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
