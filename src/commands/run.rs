//! `run FILE...`: for each file, the scan, the planner thread, the executor and the journal
//! writer wired together, then the customer index merge beside the report.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use chrono::Utc;

use crate::api::Client;
use crate::config::{InputSettings, RunSettings, Watch};
use crate::executor::{self, Policy, Stats, Stop, StopReason};
use crate::exit::Exit;
use crate::input::CsvInput;
use crate::journal::writer::{self, Command as JournalCommand};
use crate::journal::{Journal, JournalRead, RunEnd};
use crate::metrics::Metrics;
use crate::output::Event;
use crate::plan::{AmbiguousDates, Decision, Job, Known, Planner};
use crate::progress::{AbortOnDrop, RowProgress};
use crate::report::{Figures, Rates, ReportDirs, Summary, SummaryCommand, SummaryInput};
use crate::validate::Validator;

pub async fn run(mut settings: RunSettings) -> Result<Exit> {
    let _stdin = super::spool_streams(&mut settings.files)?;
    if let Some(given) = &settings.input.report_dir {
        let dirs = crate::report::per_file_dirs(given, &settings.files);
        crate::report::refuse_overwriting_inputs(
            &settings.files,
            &dirs,
            &crate::report::REPORT_FILES,
        )?;
    }
    let stop = Stop::new();
    super::watch_signals(stop.clone());
    let client = Client::new(settings.api.clone())?;
    let mut journal = Journal::open(&settings.journal)?;
    // Started once the journal is ours: a run refused for another one's journal leaves that
    // run's metrics alone.
    let metrics = match &settings.watch.metrics_file {
        Some(path) => Some(Metrics::start(path)?),
        None => None,
    };
    let watching = Watching {
        progress_interval: settings.watch.progress_interval,
        metrics: metrics.clone(),
    };
    let mut exit = Exit::Done;
    let mut dirs = ReportDirs::new(settings.input.report_dir.as_deref(), &settings.files);
    for file in &settings.files {
        if stop.is_stopped() {
            break;
        }
        let dir = dirs.next(file);
        let mut send = settings.send.clone();
        if let Some(auto) = &mut send.auto_rate {
            // Warm: each file starts from the limit learned so far, by earlier files too.
            auto.learned = journal.learned_rate(client.base_url())?;
        }
        let outcome = run_file_watched(
            &settings.input,
            &send,
            file,
            &dir,
            &client,
            &mut journal,
            &stop,
            &watching,
        )
        .await
        .unwrap_or_else(|e| {
            crate::output::error(&e);
            Exit::Fatal
        });
        exit = exit.max(outcome);
    }
    if let Some(metrics) = &metrics
        && let Err(e) = metrics.finish(exit)
    {
        // The run's outcome stands: its journal and report are written.
        tracing::error!("{e:#}");
    }
    Ok(exit)
}

/// How a file's run says where it is, beyond the bar.
pub struct Watching {
    /// The heartbeat's interval; `None`: none.
    pub progress_interval: Option<std::time::Duration>,
    pub metrics: Option<Metrics>,
}

impl Default for Watching {
    fn default() -> Watching {
        Watching {
            progress_interval: Watch::default().progress_interval,
            metrics: None,
        }
    }
}

/// `run` on one file, against the journal the command holds, with the default heartbeat.
pub async fn run_file(
    input: &InputSettings,
    send: &Policy,
    file: &Path,
    dir: &Path,
    client: &Client,
    journal: &mut Journal,
    stop: &Stop,
) -> Result<Exit> {
    let watching = Watching::default();
    run_file_watched(input, send, file, dir, client, journal, stop, &watching).await
}

/// `run` on one file, with its progress logged and written as `watching` says.
#[allow(clippy::too_many_arguments)]
pub async fn run_file_watched(
    input: &InputSettings,
    send: &Policy,
    file: &Path,
    dir: &Path,
    client: &Client,
    journal: &mut Journal,
    stop: &Stop,
    watching: &Watching,
) -> Result<Exit> {
    let started = Utc::now();
    let reading = input.reading.clone();
    // Every structural problem surfaces here, before anything is sent.
    let (sha, rows) = {
        let (file, reading) = (file.to_path_buf(), reading.clone());
        tokio::task::spawn_blocking(move || crate::input::scan(&file, &reading)).await??
    };
    let path_text = file.display().to_string();
    if rows == 0 {
        tracing::warn!("{path_text}: the file has a header and no rows");
    }
    // Checked before the run is recorded: a bad --documents-dir leaves no run behind.
    let validator = Validator::new(input.rules(file))?;
    let entry = journal.file(&sha, &path_text, rows)?;
    let run_id = journal.start_run(&entry, "run")?;
    let known = Known {
        lookup: if journal.has_customers()? {
            Some(journal.lookup()?)
        } else {
            None
        },
        keyer: journal.keyer()?,
        file_id: entry.id,
        file_paths: journal
            .files()?
            .into_iter()
            .map(|f| (f.id, f.path))
            .collect(),
        prior: journal.statuses(&entry)?,
    };
    journal.shrink()?;
    tracing::info!(file = %path_text, rows, sha256 = %sha, "run started");

    // From here the writer thread, on its own connection, is the only one to write rows.
    // A journal that cannot commit stops the run at once: see `writer`.
    let on_failure = {
        let stop = stop.clone();
        writer::OnFailure::new(
            move |why| stop.trigger(StopReason::Fatal(why)),
            std::io::stderr(),
        )
    };
    let (writer, writer_thread) = writer::spawn(journal.path(), entry.clone(), run_id, on_failure)?;
    let sending_started = std::time::Instant::now();
    let stats = Arc::new(Stats::default());
    let progress = RowProgress::new(rows).with_rate(stats.clone());
    let _heartbeat = heartbeat(&path_text, &progress, &stats, watching);
    // At a terminal, the bar says at once that the run is stopping, not only once the
    // requests in flight are done.
    let _stopping = (!progress.is_hidden()).then(|| {
        let (progress, stop) = (progress.clone(), stop.clone());
        AbortOnDrop(tokio::spawn(async move {
            stop.token().cancelled().await;
            if let Some(reason) = stop.reason() {
                progress.stopping(reason.describe());
            }
        }))
    });
    // Jobs travel in batches of one journal claim each: one hand-over per batch, not per row.
    let claim_batch = send.claim_batch();
    let (jobs_tx, jobs_rx) = tokio::sync::mpsc::channel::<Vec<Job>>(2);

    // The planner reads and decides on a blocking thread; it feeds the executor through a
    // bounded channel, so it never runs more than a few rows ahead of the requests.
    let planner = {
        let writer = writer.clone();
        let stop = stop.clone();
        let file = file.to_path_buf();
        let progress = progress.clone();
        let sha = sha.clone();
        let reading = reading.clone();
        tokio::task::spawn_blocking(move || -> Result<AmbiguousDates> {
            let mut input = CsvInput::open(&file, &reading)?;
            input.warn_unknown();
            let mut planner = Planner::new(validator, Some(known));
            planner.reserve(rows);
            let mut batch = Vec::with_capacity(claim_batch);
            let mut executor_gone = false;
            planner.decide_all(&mut input, |_, row, decision| {
                if stop.is_stopped() {
                    return Ok(false);
                }
                match decision {
                    Decision::Done => progress.done(None),
                    Decision::Local {
                        status,
                        customer_id,
                        message,
                        warnings,
                    } => {
                        writer.blocking_send(JournalCommand::Local {
                            row,
                            status,
                            customer_id,
                            message,
                            warnings,
                        })?;
                        progress.done(Some(status));
                    }
                    Decision::Send(job) => {
                        batch.push(job);
                        if batch.len() == claim_batch {
                            let full =
                                std::mem::replace(&mut batch, Vec::with_capacity(claim_batch));
                            executor_gone = jobs_tx.blocking_send(full).is_err();
                        }
                    }
                }
                Ok(!executor_gone)
            })?;
            let dates = planner.dates();
            if stop.is_stopped() || executor_gone {
                return Ok(dates);
            }
            if !batch.is_empty() && jobs_tx.blocking_send(batch).is_err() {
                return Ok(dates);
            }
            if input.sha256()? != sha {
                bail!("'{}' changed while it was being run", file.display());
            }
            Ok(dates)
        })
    };

    let exec = {
        let progress = progress.clone();
        executor::execute(
            client.clone(),
            send,
            writer.clone(),
            jobs_rx,
            stop,
            &stats,
            move |status| progress.done(Some(status)),
        )
        .await
    };
    let planned = planner.await;
    let flushed = writer.flush().await;
    drop(writer);
    let joined = writer_thread
        .join()
        .map_err(|_| anyhow!("the journal writer panicked"));
    // The bar is finished on every way out, before any message follows it.
    match stop.reason() {
        Some(reason) => progress.finish_stopped(reason.describe()),
        None => progress.finish(),
    }
    joined??;
    exec?;
    flushed?;
    let dates = planned??;

    let sending_seconds = sending_started.elapsed().as_secs_f64();
    tracing::info!(
        requests = stats.snapshot().sent,
        seconds = (Utc::now() - started).num_milliseconds() as f64 / 1000.0,
        sending_seconds,
        rate = stats.rate(),
        "sending finished"
    );
    if let Some(learned) = stats.learned() {
        journal.set_learned_rate(client.base_url(), learned)?;
    }
    // The customer index merge (a write) and the report (reads) are independent: the merge
    // runs on its own thread while the report reads through a read-only connection.
    let reader = JournalRead::open(journal.path())?;
    let stopped = stop.reason();
    let tally = stats.snapshot();
    let (merged, reported) = std::thread::scope(|scope| {
        let merge = std::thread::Builder::new()
            .name("index-merge".into())
            .spawn_scoped(scope, || journal.index_file(&entry));
        let reported = crate::report::from_journal(&reader, &entry, file, &reading, dir, |c| {
            let summary = Summary::new(
                SummaryCommand::Run,
                SummaryInput::new(&path_text, &sha, rows),
                c,
                Figures::new(started, Utc::now(), tally),
            )
            .dates(dates)
            .rates(Rates::new(stats.rate(), tally.sent, sending_seconds));
            match &stopped {
                Some(reason) => summary.stopped(reason.exit(), reason.describe().to_owned()),
                None => summary,
            }
        });
        let merged = match merge {
            Ok(thread) => thread
                .join()
                .unwrap_or_else(|_| Err(anyhow!("the customer index merge panicked"))),
            Err(e) => Err(e.into()),
        };
        (merged, reported)
    });
    merged?;
    let (counts, summary) = reported.with_context(|| {
        format!(
            "the report of '{path_text}' was not written (the journal holds every outcome: \
             `cartevo-enroll report` writes it again)"
        )
    })?;
    journal.finish_run(
        run_id,
        &RunEnd {
            started_at: summary.figures.started_at.clone(),
            ended_at: summary.figures.ended_at.clone(),
            exit_code: summary.exit_code,
            requests_sent: tally.sent,
            retries: tally.retries,
            http_429_seen: tally.http_429,
        },
    )?;
    tracing::info!(
        seconds = (Utc::now() - started).num_milliseconds() as f64 / 1000.0,
        "report written"
    );
    if let Some(metrics) = &watching.metrics {
        metrics.file_done(&counts, rows, tally);
    }
    crate::report::announce(file, &counts, &summary, dir);
    match &stopped {
        Some(StopReason::Fatal(m)) => Event::error(format!("run stopped, {m}")).emit(),
        Some(StopReason::Unreachable(m)) => Event::error(format!(
            "run stopped, {m}; run again to resume once it answers"
        ))
        .emit(),
        _ => {}
    }
    Ok(summary.exit())
}

/// The heartbeat of one file: off a terminal, a progress line every interval; with a
/// metrics file, that file written as often (at a terminal too). `None` when neither.
fn heartbeat(
    file: &str,
    progress: &RowProgress,
    stats: &Arc<Stats>,
    watching: &Watching,
) -> Option<AbortOnDrop> {
    let every = watching.progress_interval?;
    let log = progress.is_hidden();
    if !log && watching.metrics.is_none() {
        return None;
    }
    let metrics = watching.metrics.clone();
    let stats = Arc::clone(stats);
    let logged = log.then(|| file.to_owned());
    let beat = crate::progress::heartbeat(logged, progress.clone(), every, move |snapshot| {
        if let Some(metrics) = &metrics {
            // The file is synced to the disk: off the async thread.
            let (metrics, snapshot) = (metrics.clone(), snapshot.clone());
            let tally = stats.snapshot();
            tokio::task::spawn_blocking(move || metrics.progress(&snapshot, tally));
        }
    });
    Some(AbortOnDrop(tokio::spawn(beat)))
}
