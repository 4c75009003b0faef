//! One file per command: each takes its checked settings from `config`, drives the stages
//! below, and returns how it ended as an [`Exit`](crate::exit::Exit).

pub mod check;
pub mod demo;
pub mod manual;
pub mod reconcile;
pub mod report;
pub mod run;
pub mod sandbox;
pub mod status;
pub mod validate;

use std::io::Write;

use crate::executor::{Stop, StopReason};
use crate::exit::{Exit, Signal};

/// The first SIGINT (Ctrl-C), SIGTERM (systemd, `kill`, `timeout`) or SIGHUP (a closed SSH
/// session): stop starting requests, finish those in flight, journal them, write the report,
/// and exit 130, 143 or 129. A second signal leaves at once: the journal is consistent at
/// every commit.
fn watch_signals(stop: Stop) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::warn!("could not watch for signals: they will end the run at once");
        return;
    };
    tokio::spawn(async move {
        let mut next = async || {
            tokio::select! {
                _ = int.recv() => Signal::Interrupt,
                _ = term.recv() => Signal::Terminate,
                _ = hup.recv() => Signal::HangUp,
            }
        };
        let first = next().await;
        say_signal(
            first,
            "finishing requests in flight (signal again to quit at once)",
        );
        stop.trigger(StopReason::Signal(first));
        let second = next().await;
        crate::files::remove_scratch();
        std::process::exit(Exit::Stopped(second).code());
    });
}

/// "<signal>: <what>" on stderr. The terminal may be gone (SIGHUP): `emit` ignores a failed
/// write, which must not end the stop. In text, a new line first: the terminal shows ^C where
/// we are.
fn say_signal(signal: Signal, what: &str) {
    let message = format!("{}: {what}", signal.describe());
    crate::output::Event::warn(message.clone())
        .field("signal", signal.describe())
        .text(format!("\n{message}\n"))
        .emit();
}

/// For the commands that read and write without a journal (`validate`, `report`): the first
/// SIGINT, SIGTERM or SIGHUP ends the command at once, exit 130, 143 or 129, leaving no
/// temporary file (a report half-written, spooled standard input) and no report file changed.
/// Their work runs on the runtime's one thread, so the signals are watched on a thread of
/// their own.
fn exit_on_signals() {
    // The command starts once the signals are watched: none arrives in between unseen.
    let (watched, started) = std::sync::mpsc::sync_channel(1);
    let watching =
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || -> std::io::Result<()> {
                use tokio::signal::unix::{SignalKind, signal};
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_io()
                    .build()?;
                let (mut int, mut term, mut hup) = runtime.block_on(async {
                    std::io::Result::Ok((
                        signal(SignalKind::interrupt())?,
                        signal(SignalKind::terminate())?,
                        signal(SignalKind::hangup())?,
                    ))
                })?;
                let _ = watched.send(());
                let signal = runtime.block_on(async {
                    tokio::select! {
                        _ = int.recv() => Signal::Interrupt,
                        _ = term.recv() => Signal::Terminate,
                        _ = hup.recv() => Signal::HangUp,
                    }
                });
                crate::files::remove_scratch();
                say_signal(signal, "stopped (a report not finished is not written)");
                std::process::exit(Exit::Stopped(signal).code());
            });
    // A thread that could not start, or failed to watch (its sender dropped), says so here.
    if watching.is_err() || started.recv().is_err() {
        tracing::warn!("could not watch for signals: they will end the command at once");
    }
}

/// Writes `text` on stdout. A reader that went away (`status | head -1`) is not an error:
/// what it did not read, it did not want.
fn print_stdout(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// `-` among the files (standard input), and any file that can be read only once (a pipe,
/// `/dev/stdin`, a shell's `<(...)`): each spooled to a private temporary file (0600, removed
/// when the command ends) so that it can be hashed, read again and resumed like any file.
/// The returned files must live as long as the command.
fn spool_streams(files: &mut [std::path::PathBuf]) -> anyhow::Result<Vec<Spooled>> {
    use anyhow::Context;
    let dashes = files.iter().filter(|f| f.as_os_str() == "-").count();
    anyhow::ensure!(
        dashes <= 1,
        "'-' (standard input) is given {dashes} times: it can be read once"
    );
    let mut spooled = Vec::new();
    for file in files.iter_mut() {
        let stdin = file.as_os_str() == "-";
        // A missing file, a folder or a regular file is left to the reader's messages.
        let once = stdin || std::fs::metadata(&*file).is_ok_and(|m| !m.is_file() && !m.is_dir());
        if !once {
            continue;
        }
        let shown = if stdin {
            "standard input".to_string()
        } else {
            format!("'{}'", file.display())
        };
        let mut copy = tempfile::Builder::new()
            .prefix("stdin-")
            .suffix(".csv")
            .tempfile()
            .with_context(|| format!("could not create a temporary file for {shown}"))?;
        let scratch = crate::files::Scratch::new(copy.path());
        let copied = if stdin {
            std::io::copy(&mut std::io::stdin().lock(), &mut copy)
        } else {
            std::fs::File::open(&*file).and_then(|mut f| std::io::copy(&mut f, &mut copy))
        };
        copied.with_context(|| format!("could not read {shown}"))?;
        *file = copy.path().to_path_buf();
        spooled.push(Spooled {
            _copy: copy,
            _scratch: scratch,
        });
    }
    Ok(spooled)
}

/// A stream's copy, removed when dropped (and by [`crate::files::remove_scratch`] on an
/// abrupt exit).
struct Spooled {
    _copy: tempfile::NamedTempFile,
    _scratch: crate::files::Scratch,
}
