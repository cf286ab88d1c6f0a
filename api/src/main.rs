//! The `reemploi` binary.

// The middleware stack of `http::app` is one deeply nested future type; the release build computes
// its layout here (monomorphisation happens in the binary), which needs more than the default 128.
#![recursion_limit = "256"]

use clap::Parser;
use reemploi_api::cli::{Cli, Command};
use reemploi_api::config::Settings;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(err) => {
            eprintln!("reemploi: configuration error: {err}");
            return std::process::ExitCode::from(2);
        }
    };
    let command = cli.command.unwrap_or(Command::Serve);
    // A health check answers with one line (or none), not with log records.
    if !matches!(command, Command::Healthcheck) {
        reemploi_api::app::init_tracing(settings.log_format);
    }
    match reemploi_api::cli::run(settings, command).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "failed");
            eprintln!("reemploi: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
