//! One file per command: each takes its checked settings from `config`, drives the stages
//! below, and returns how it ended as an [`Exit`](crate::exit::Exit).

pub mod demo;
pub mod reconcile;
pub mod report;
pub mod run;
pub mod sandbox;
pub mod status;
pub mod validate;

use crate::executor::{Stop, StopReason};

/// First Ctrl-C: stop starting requests and finish cleanly. Second: leave at once; the
/// journal is consistent at every commit.
fn watch_ctrl_c(stop: Stop) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        eprintln!("\ninterrupted: finishing requests in flight (Ctrl-C again to quit at once)");
        stop.trigger(StopReason::Interrupted);
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(crate::exit::Exit::Interrupted.code());
        }
    });
}

/// Writes `text` on stdout. A reader that went away (`status | head -1`) is not an error:
/// what it did not read, it did not want.
fn print_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
