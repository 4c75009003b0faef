//! `run` on one file: the scan, the planner thread, the executor and the journal writer
//! wired together, then the customer index merge and the report. Also the report written
//! from the journal, which `report FILE` shares.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::{Result, anyhow, bail};
use chrono::Utc;

use crate::api::Client;
use crate::app::{INTERRUPTED, print_counts, rules, warn_unknown};
use crate::config::RunSettings;
use crate::executor::{self, Pacer, Stats, Stop, StopReason};
use crate::input::{CsvInput, Field, RowView};
use crate::journal::writer::{self, Command as JournalCommand};
use crate::journal::{FileEntry, Journal};
use crate::plan::{Decision, Job, Known, Planner};
use crate::report::{Report, ReportRow, Summary, SummaryInput};
use crate::status::{Counts, Status};
use crate::validate::Validator;

/// `run` on one file. Always gives the journal back, even on error, so the next file can use
/// it.
pub async fn run_file(
    settings: &RunSettings,
    file: &Path,
    dir: &Path,
    client: Client,
    journal: Journal,
    stop: Stop,
) -> (i32, Result<Journal>) {
    let mut slot = Some(journal);
    match run_file_inner(settings, file, dir, client, &mut slot, stop).await {
        Ok(code) => (code, slot.ok_or_else(|| anyhow!("journal lost"))),
        Err(e) => {
            eprintln!("error: {e:#}");
            (1, slot.ok_or_else(|| anyhow!("the journal writer failed")))
        }
    }
}

async fn run_file_inner(
    settings: &RunSettings,
    file: &Path,
    dir: &Path,
    client: Client,
    slot: &mut Option<Journal>,
    stop: Stop,
) -> Result<i32> {
    let started = Utc::now();
    let delimiter = settings.common.delimiter;
    // Every structural problem surfaces here, before anything is sent.
    let (sha, rows) = {
        let file = file.to_path_buf();
        tokio::task::spawn_blocking(move || crate::input::scan(&file, delimiter)).await??
    };
    let path_text = file.display().to_string();
    // Checked before the run is recorded: a bad --documents-dir leaves no run behind.
    let validator = Validator::new(rules(&settings.common, file))?;
    let journal = slot.as_mut().expect("journal present");
    let entry = journal.file(&sha, &path_text, rows)?;
    let run_id = journal.start_run(&entry, "run")?;
    let known = Known {
        lookup: if journal.has_customers()? {
            Some(journal.lookup()?)
        } else {
            None
        },
        keyer: journal.keyer(),
        file_id: entry.id,
        file_paths: journal
            .files()?
            .into_iter()
            .map(|f| (f.id, f.path))
            .collect(),
        prior: journal.statuses(&entry)?,
    };
    tracing::info!(file = %path_text, rows, sha256 = %sha, "run started");

    // From here the writer thread owns the journal; it comes back into `slot` when the
    // thread ends, whatever happened.
    let journal = slot.take().expect("journal present");
    let (writer, writer_thread) = writer::spawn(journal, entry.clone(), run_id);
    let sending_started = std::time::Instant::now();
    let progress = Progress::new(rows);
    let stats = Arc::new(Stats::default());
    // Jobs travel in batches of one journal claim each: one hand-over per batch, not per row.
    let claim_batch = settings.send.claim_batch();
    let (jobs_tx, jobs_rx) = tokio::sync::mpsc::channel::<Vec<Job>>(2);

    // The planner reads and decides on a blocking thread; it feeds the executor through a
    // bounded channel, so it never runs more than a few rows ahead of the requests.
    let planner = {
        let writer = writer.clone();
        let stop = stop.clone();
        let file = file.to_path_buf();
        let progress = progress.clone();
        let sha = sha.clone();
        tokio::task::spawn_blocking(move || -> Result<()> {
            let mut input = CsvInput::open(&file, delimiter)?;
            warn_unknown(&input);
            let columns = input.columns.clone();
            let mut planner = Planner::new(validator, Some(known));
            planner.reserve(rows);
            let mut batch = Vec::with_capacity(claim_batch);
            while let Some((row, record)) = input.next_record()? {
                if stop.is_stopped() {
                    return Ok(());
                }
                match planner.decide(row, &RowView::new(&columns, record))? {
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
                            if jobs_tx.blocking_send(full).is_err() {
                                return Ok(()); // the executor stopped
                            }
                        }
                    }
                }
            }
            if !batch.is_empty() && jobs_tx.blocking_send(batch).is_err() {
                return Ok(());
            }
            if input.sha256() != sha {
                bail!("'{}' changed while it was being run", file.display());
            }
            Ok(())
        })
    };

    let exec = {
        let progress = progress.clone();
        executor::execute(
            client,
            Pacer::new(settings.send.rate),
            writer.clone(),
            jobs_rx,
            stop.clone(),
            stats.clone(),
            executor::Settings {
                concurrency: settings.send.concurrency,
                shards: settings.send.shards(),
                max_attempts: settings.send.max_attempts,
                backoff: settings.send.backoff,
                grace: settings.send.grace,
            },
            move |status| progress.done(Some(status)),
        )
        .await
    };
    let planned = planner.await;
    let flushed = writer.flush().await;
    drop(writer);
    let journal = writer_thread
        .join()
        .map_err(|_| anyhow!("the journal writer panicked"))??;
    *slot = Some(journal);
    progress.finish();
    exec?;
    flushed?;
    planned??;

    tracing::info!(
        requests = stats.sent.load(Ordering::Relaxed),
        seconds = (Utc::now() - started).num_milliseconds() as f64 / 1000.0,
        sending_seconds = sending_started.elapsed().as_secs_f64(),
        "sending finished"
    );
    // The customer index merge (a write) and the report (reads) are independent: the merge
    // runs on its own thread while the report reads through a second connection.
    let journal = slot.take().expect("journal present");
    let reader = journal.scan_reader();
    let indexer = {
        let entry = entry.clone();
        std::thread::Builder::new()
            .name("index-merge".into())
            .spawn(move || {
                let mut journal = journal;
                let merged = journal.index_file(&entry);
                (journal, merged)
            })?
    };
    let stopped = stop.reason();
    let sent = stats.sent.load(Ordering::Relaxed);
    let retries = stats.retries.load(Ordering::Relaxed);
    let throttled = stats.http_429.load(Ordering::Relaxed);
    let reported = reader.and_then(|reader| {
        journal_report(&reader, &entry, file, delimiter, dir, |counts| {
            let mut s = Summary::new("run", SummaryInput::new(&path_text, &sha, rows), counts)
                .timed(started, Utc::now());
            s.requests_sent = sent;
            s.retries = retries;
            s.http_429_seen = throttled;
            match &stopped {
                Some(StopReason::Interrupted) => {
                    s.exit_code = INTERRUPTED;
                    s.stopped = Some("interrupted".to_string());
                }
                Some(StopReason::Fatal(m)) => {
                    s.exit_code = 1;
                    s.stopped = Some(m.clone());
                }
                None => {}
            }
            s
        })
    });
    let (journal, merged) = indexer
        .join()
        .map_err(|_| anyhow!("the customer index merge panicked"))?;
    let journal = slot.insert(journal);
    merged?;
    let (counts, summary) = reported?;
    let exit = summary.exit_code;
    journal.finish_run(
        run_id,
        &crate::journal::RunEnd {
            started_at: summary.started_at,
            ended_at: summary.ended_at,
            exit_code: exit,
            requests_sent: sent,
            retries,
            http_429_seen: throttled,
        },
    )?;
    tracing::info!(
        seconds = (Utc::now() - started).num_milliseconds() as f64 / 1000.0,
        "report written"
    );
    print_counts(file, &counts, dir);
    if let Some(StopReason::Fatal(m)) = &stopped {
        eprintln!("error: run stopped, {m}");
    }
    Ok(exit)
}

/// Writes a file's report from the journal: the CSV is read again for references and the
/// original fields of rejects, and merged in row order with the journal's rows. A row the
/// journal does not have is `pending`. Gives the counts and the summary written.
pub fn journal_report(
    journal: &Journal,
    entry: &FileEntry,
    file: &Path,
    delimiter: u8,
    dir: &Path,
    summary: impl FnOnce(Counts) -> Summary,
) -> Result<(Counts, Summary)> {
    let mut input = CsvInput::open(file, delimiter)?;
    let mut report = Report::create(dir, &input.headers)?;
    let columns = input.columns.clone();
    let pending = |report: &mut Report, row: u64, record: &csv::StringRecord| {
        report.row(&ReportRow {
            row,
            reference: &RowView::new(&columns, record).get(Field::Reference),
            status: Status::Pending,
            customer_id: None,
            http_status: None,
            attempts: 0,
            message: "",
            warnings: "",
            record,
        })
    };
    journal.for_each_row(entry, |state| {
        loop {
            let Some((row, record)) = input.next_record()? else {
                bail!(
                    "the journal has row {} but the file ends before it",
                    state.row
                );
            };
            if row < state.row {
                pending(&mut report, row, record)?;
                continue;
            }
            let reported = state.status.reported();
            let message = if matches!(state.status, crate::journal::JournalStatus::InFlight)
                && state.message.is_empty()
            {
                "claimed for sending, no answer recorded (the run was stopped): it may or may not \
                 have been sent; run again to resume"
            } else {
                &state.message
            };
            report.row(&ReportRow {
                row,
                reference: &RowView::new(&columns, record).get(Field::Reference),
                status: reported,
                customer_id: state.customer_id.as_deref(),
                http_status: state.http_status,
                attempts: state.attempts,
                message,
                warnings: &state.warnings,
                record,
            })?;
            return Ok(());
        }
    })?;
    while let Some((row, record)) = input.next_record()? {
        pending(&mut report, row, record)?;
    }
    let counts = *report.counts();
    let summary = summary(counts);
    report.finish(&summary)?;
    Ok((counts, summary))
}

/// The progress line on stderr; indicatif hides it when stderr is not a terminal.
#[derive(Clone)]
struct Progress {
    bar: indicatif::ProgressBar,
    /// Read once: asking the bar takes its lock, which every sender thread would share.
    hidden: bool,
    counts: Arc<[std::sync::atomic::AtomicU64; 4]>,
}

impl Progress {
    fn new(total: u64) -> Progress {
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(total),
            indicatif::ProgressDrawTarget::stderr_with_hz(4),
        );
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} rows  {per_sec}  ETA {eta}  {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        Progress {
            hidden: bar.is_hidden(),
            bar,
            counts: Arc::new(Default::default()),
        }
    }

    fn done(&self, status: Option<Status>) {
        if self.hidden {
            return;
        }
        let i = match status {
            Some(Status::Created) => 0,
            Some(Status::Duplicate) => 1,
            Some(Status::Failed) => 2,
            _ => 3,
        };
        let n = self.counts[i].fetch_add(1, Ordering::Relaxed);
        // Re-render the counts now and then, not for every row of a fast run.
        if i < 3 && (n < 64 || n.is_multiple_of(64)) {
            let [c, d, f, _] = &*self.counts;
            self.bar.set_message(format!(
                "created {}  duplicate {}  failed {}",
                c.load(Ordering::Relaxed),
                d.load(Ordering::Relaxed),
                f.load(Ordering::Relaxed)
            ));
        }
        self.bar.inc(1);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
