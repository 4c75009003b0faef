//! `demo`: the whole pipeline on a fresh clone, with no account and no network. The example
//! files and their documents are embedded in the binary, written to a work folder, and run
//! through `run` against the sandbox started in-process; the French partner's file is read
//! through its profile, as `--profile` reads it.
//!
//! The work folder is a temporary one, removed at the end whatever happened (an error, Ctrl-C,
//! SIGTERM), unless `--keep` keeps it; or the user's own `--workdir`, never removed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::api::{ApiConfig, Client, Credentials};
use crate::config::InputSettings;
use crate::executor::{Backoff, Policy, Rate, Stop};
use crate::exit::Exit;
use crate::input::Profile;
use crate::journal::Journal;
use crate::sandbox::{Sandbox, SandboxConfig};

/// The bundled examples: (path relative to the work folder, content).
const FILES: &[(&str, &[u8])] = &[
    (
        "examples/customers.csv",
        include_bytes!("../../examples/customers.csv"),
    ),
    (
        "examples/customers-files.csv",
        include_bytes!("../../examples/customers-files.csv"),
    ),
    (
        "examples/customers-fr.csv",
        include_bytes!("../../examples/customers-fr.csv"),
    ),
    (
        "examples/profiles/french-partner.toml",
        include_bytes!("../../examples/profiles/french-partner.toml"),
    ),
    (
        "examples/documents/amina-nin-front.jpg",
        include_bytes!("../../examples/documents/amina-nin-front.jpg"),
    ),
    (
        "examples/documents/amina-nin-back.jpg",
        include_bytes!("../../examples/documents/amina-nin-back.jpg"),
    ),
    (
        "examples/documents/kofi-passport.png",
        include_bytes!("../../examples/documents/kofi-passport.png"),
    ),
    (
        "examples/documents/lucie-license-front.png",
        include_bytes!("../../examples/documents/lucie-license-front.png"),
    ),
    (
        "examples/documents/lucie-license-back.jpg",
        include_bytes!("../../examples/documents/lucie-license-back.jpg"),
    ),
    (
        "examples/documents/moussa-voter-front.jpg",
        include_bytes!("../../examples/documents/moussa-voter-front.jpg"),
    ),
    (
        "examples/documents/grace-nin-back.pdf",
        include_bytes!("../../examples/documents/grace-nin-back.pdf"),
    ),
];

/// `demo [--workdir DIR] [--keep]`.
pub async fn demo(workdir: Option<PathBuf>, keep: bool) -> Result<Exit> {
    if let Some(dir) = workdir {
        crate::output::say!("work folder: {}", dir.display());
        return in_folder(&dir).await;
    }
    let temp = tempfile::Builder::new()
        .prefix("cartevo-enroll-demo-")
        .tempdir()
        .context("could not create a temporary folder")?;
    crate::output::say!("work folder: {} (temporary)", temp.path().display());
    if !keep {
        // Its report folders go with it: none is printed for a script to read.
        crate::output::hide_report_folders();
    }
    let outcome = until_stopped(in_folder(temp.path())).await;
    crate::output::say!();
    if keep {
        let kept = temp.keep();
        crate::output::say!("work folder kept: {}", kept.display());
        return outcome;
    }
    let shown = temp.path().display().to_string();
    match (temp.close(), outcome) {
        (Ok(()), outcome) => {
            crate::output::say!("work folder removed (--keep keeps it)");
            outcome
        }
        (Err(e), Ok(_)) => Err(e).with_context(|| format!("could not remove '{shown}'")),
        // The demo's own error says more than the folder's.
        (Err(e), Err(first)) => {
            crate::output::Event::error(format!("could not remove '{shown}': {e}")).emit();
            Err(first)
        }
    }
}

/// `demo`, or how it was stopped: a signal ends it at once (the demo's journal is thrown away
/// with its folder, so there is nothing to finish), and the folder is still removed.
async fn until_stopped(demo: impl std::future::Future<Output = Result<Exit>>) -> Result<Exit> {
    use crate::exit::Signal;
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        return demo.await;
    };
    let stopped = |signal: Signal| {
        crate::output::say!("\n{}", signal.describe());
        Ok(Exit::Stopped(signal))
    };
    tokio::select! {
        outcome = demo => outcome,
        _ = int.recv() => stopped(Signal::Interrupt),
        _ = term.recv() => stopped(Signal::Terminate),
        _ = hup.recv() => stopped(Signal::HangUp),
    }
}

/// The demo in `workdir`.
async fn in_folder(workdir: &Path) -> Result<Exit> {
    for (path, bytes) in FILES {
        let target = workdir.join(path);
        if let Some(parent) = target.parent() {
            crate::files::create_dir_all(parent)
                .with_context(|| format!("could not create '{}'", parent.display()))?;
        }
        crate::files::write_whole(&target, bytes)?;
    }

    let sandbox = Sandbox::new(SandboxConfig {
        seed_cards: true,
        latency: Duration::from_millis(20),
        jitter: Duration::from_millis(30),
        ..SandboxConfig::default()
    })?
    .start()
    .await?;
    crate::output::say!("sandbox: {}", sandbox.url());

    let client = Client::new(ApiConfig {
        base_url: sandbox.url().to_string(),
        credentials: Credentials::Client {
            id: "sandbox".into(),
            key: "sandbox".into(),
        },
        timeout: Duration::from_secs(10),
        provider_enroll: true,
        ca_certs: Vec::new(),
    })?;
    let input = InputSettings {
        report_dir: None,
        as_of: None,
        documents_dir: None,
        strict: false,
        reading: crate::input::Reading::default(),
        date_format: None,
        keep_phone_format: false,
    };
    // A partner's own headers, words and dates, read through its profile with no flag given.
    let profile_path = "examples/profiles/french-partner.toml";
    let profile = Profile::load(&workdir.join(profile_path))?;
    let french = InputSettings {
        documents_dir: profile.documents_dir.clone(),
        date_format: profile.date_format,
        reading: profile.reading(),
        ..input.clone()
    };
    let send = Policy {
        rate: Rate::PerSecond(20.0),
        auto_rate: None,
        concurrency: 4,
        auto_concurrency: false,
        max_attempts: 5,
        backoff: Backoff {
            base: Duration::from_millis(200),
            cap: Duration::from_secs(30),
        },
        grace: Duration::from_secs(10),
    };
    let mut journal = Journal::open(&workdir.join("cartevo-enroll.db"))?;
    let stop = Stop::new();
    let mut exit = Exit::Done;
    // The first customer each of these files created, read back at the end: the French
    // file's shows its words and dates sent as ours
    // (Passeport as PASSPORT, Sénégal as Senegal, 02/11/1985 as 1985-11-02).
    let mut read_back = Vec::new();
    for (name, input) in [
        ("customers", &input),
        ("customers-files", &input),
        ("customers-fr", &french),
    ] {
        let file = workdir.join(format!("examples/{name}.csv"));
        let dir = workdir.join("reports").join(name);
        crate::output::say!();
        if input.reading.mapping.is_some() {
            crate::output::say!("examples/{name}.csv with --profile {profile_path}:");
        }
        let outcome = super::run::run_file(input, &send, &file, &dir, &client, &mut journal, &stop)
            .await
            .unwrap_or_else(|e| {
                crate::output::error(&e);
                Exit::Fatal
            });
        exit = exit.max(outcome);
        show_results(&dir)?;
        if name != "customers-files"
            && let Some(id) = first_created_id(&dir.join("results.csv"))?
        {
            read_back.push(id);
        }
    }

    for id in read_back {
        crate::output::say!();
        crate::output::say!("GET /customers/{id}:");
        match client.get_customer(&id).await {
            Ok(Some(c)) => crate::output::say!(
                "  {} {}, {}, {}, born {}, is_active {}, created_at {}",
                c.first_name.unwrap_or_default(),
                c.last_name.unwrap_or_default(),
                c.country.unwrap_or_default(),
                c.id_document_type.unwrap_or_default(),
                c.date_of_birth
                    .as_deref()
                    .map(|d| d.get(..10).unwrap_or(d))
                    .unwrap_or_default(),
                c.is_active.map(|a| a.to_string()).unwrap_or_default(),
                c.created_at.unwrap_or_default()
            ),
            Ok(None) => crate::output::say!("  not found"),
            Err(e) => crate::output::say!("  {e}"),
        }
    }
    sandbox.stop().await?;
    crate::output::say!();
    crate::output::say!(
        "exit code {} (2: some rows invalid or rejected, as the examples intend)",
        exit.code()
    );
    Ok(exit)
}

fn show_results(dir: &Path) -> Result<()> {
    let text = std::fs::read_to_string(dir.join("results.csv"))
        .with_context(|| format!("could not read '{}'", dir.join("results.csv").display()))?;
    for line in text.lines().take(8) {
        crate::output::say!("  {line}");
    }
    Ok(())
}

fn first_created_id(results: &Path) -> Result<Option<String>> {
    let mut reader = csv::Reader::from_path(results)?;
    for record in reader.records() {
        let record = record?;
        if record.get(2) == Some("created") {
            return Ok(record.get(3).map(str::to_string));
        }
    }
    Ok(None)
}
