//! `reconcile`: reads back the customers the journal says runs created (or found as
//! duplicates) and reports whether Cartevo holds what the partner sent.
//!
//! Owns: choosing the files (refusing one whose content changed since it was run), finding
//! the customer id of 409 duplicates through the customer list (`resolve`), comparing each
//! customer with its CSV row (`compare`), and reconcile.csv / reconcile-summary.json
//! (`output`). Does not own pacing, backoff or the HTTP client: it borrows the executor's
//! `Pacer` and `Backoff` and the `api::Client`, with the same flags as `run`.
//!
//! The rows stream: a blocking thread walks the journal's rows and the CSV in step and sends
//! one job per customer to check through a bounded channel; `buffered(concurrency)` keeps at
//! most `concurrency` customers being read, and gives their results back in row order, so
//! reconcile.csv is written in row order as results arrive. Memory does not grow with the
//! file.

pub mod compare;
pub mod output;
mod resolve;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use chrono::Utc;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::api::{ApiError, Client, Page};
use crate::executor::{Attempted, Attempts, Policy, Stats, Stop, StopReason};
use crate::exit::Exit;
use crate::input::{CsvInput, Field, Reading, RowView};
use crate::journal::{FileEntry, Journal, JournalRead, JournalStatus, RowState};
use crate::output::Event;
use crate::report::{Figures, SummaryCommand, SummaryInput};
use crate::status::Status;
use crate::validate::DateFormat;
use compare::Expected;
use output::{CardTally, Checked, ReconcileReport, Summary, TransactionTally, Verdict};

/// Transactions asked for per page (the reference page says "max ~100").
const TRANSACTIONS_PAGE: u64 = 100;

/// Checked settings of `reconcile`.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Files to reconcile; empty: every file the journal knows, at its recorded path.
    pub files: Vec<PathBuf>,
    pub journal: PathBuf,
    /// `None`: `reports/reconcile-<UTC timestamp>/`.
    pub report_dir: Option<PathBuf>,
    pub reading: Reading,
    /// How the files write dates of birth (the profile's `date_format`); `None`: any
    /// reading of the written date matches.
    pub date_format: Option<DateFormat>,
    pub cards: bool,
    pub transactions: bool,
    pub resolve_duplicates: bool,
    /// Pacing, requests in flight and retries: as `run`'s.
    pub send: Policy,
    /// `--progress-interval`: a progress line this often when stderr is not a terminal.
    pub progress_interval: Option<std::time::Duration>,
}

/// A file to reconcile: what the journal knows of it and where its content is now.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub entry: FileEntry,
    pub path: PathBuf,
}

/// Runs `reconcile`: `Done` when every customer matches, `Act` when any is mismatched,
/// inactive or missing.
pub async fn reconcile(settings: &Settings, client: Client, stop: Stop) -> Result<Exit> {
    // Every file is read whole to check its SHA-256 (off the async threads), and refused
    // before a request leaves.
    let targets = {
        let (journal, files) = (settings.journal.clone(), settings.files.clone());
        let reading = settings.reading.clone();
        tokio::task::spawn_blocking(move || {
            targets(&JournalRead::open(&journal)?, &files, &reading)
        })
        .await
        .map_err(|e| anyhow!("the file check panicked: {e}"))??
    };
    if targets.is_empty() {
        Event::info(format!(
            "journal {}: no files to reconcile yet",
            settings.journal.display()
        ))
        .emit();
        return Ok(Exit::Done);
    }
    let stats = Arc::new(Stats::default());
    let mut send = settings.send.clone();
    if let Some(auto) = &mut send.auto_rate {
        // Warm, as `run` is: the limit learned against this API by runs and reconciles.
        auto.learned = JournalRead::open(&settings.journal)?.learned_rate(client.base_url())?;
    }
    let ctx = Ctx {
        client,
        attempts: send.attempts(&stop, &stats),
        cards: settings.cards,
        transactions: settings.transactions,
    };
    let base = settings
        .report_dir
        .clone()
        .unwrap_or_else(|| default_dir(Utc::now()));
    let paths: Vec<&Path> = targets.iter().map(|t| t.path.as_path()).collect();
    let dirs = crate::report::per_file_dirs(&base, &paths);
    crate::report::refuse_overwriting_inputs(
        &paths,
        &dirs,
        &["reconcile.csv", "reconcile-summary.json"],
    )?;

    let resolved = if settings.resolve_duplicates {
        // It records customer ids: a writer, under the run lock.
        let mut journal = Journal::open(&settings.journal)?;
        match resolve::resolve(&mut journal, &targets, &ctx, &settings.reading).await {
            Ok(n) => {
                Event::info(format!(
                    "duplicates: {n} resolved to their Cartevo customer id"
                ))
                .field("duplicates_resolved", n)
                .emit();
                Some(n)
            }
            Err(e) => return Ok(fail(&ctx, e)),
        }
    } else {
        None
    };

    let mut exit = Exit::Done;
    for (target, dir) in targets.iter().zip(&dirs) {
        if stop.is_stopped() {
            break;
        }
        let outcome = match reconcile_file(settings, &ctx, target, dir, resolved).await {
            Ok(outcome) => outcome,
            Err(e) => fail(&ctx, e),
        };
        exit = exit.max(outcome);
    }
    keep_learned_rate(settings, &ctx, &stats).await;
    // A stop between files leaves the later ones unread: say so in the exit code.
    Ok(exit.max(stopped(&stop)))
}

/// Keeps the limit `--rate auto` learned for the next run or reconcile. Reconcile only reads
/// the journal otherwise, and may run beside a `run` that holds it: then the limit is not
/// kept (said at debug level), and nothing else changes.
async fn keep_learned_rate(settings: &Settings, ctx: &Ctx, stats: &Stats) {
    let Some(learned) = stats.learned() else {
        return;
    };
    let (journal, base_url) = (settings.journal.clone(), ctx.client.base_url().to_string());
    // SQLite may wait on a busy journal: off the async thread.
    let kept = tokio::task::spawn_blocking(move || {
        Journal::open(&journal).and_then(|mut journal| journal.set_learned_rate(&base_url, learned))
    })
    .await
    .map_err(|e| anyhow!("{e}"))
    .and_then(|kept| kept);
    if let Err(e) = kept {
        tracing::debug!("the learned rate limit was not kept: {e:#}");
    }
}

/// What a stop means for the exit code (`Done` when nothing stopped): an API that stayed
/// unreachable leaves the rest to read on another run.
fn stopped(stop: &Stop) -> Exit {
    stop.reason().map_or(Exit::Done, |r| r.exit())
}

/// Prints an error and gives its outcome: interrupted when the operator stopped us, to be
/// run again when the API was unreachable, else fatal.
fn fail(ctx: &Ctx, e: anyhow::Error) -> Exit {
    match ctx.attempts.stop.reason() {
        Some(StopReason::Signal(signal)) => {
            Event::warn(format!("reconcile {}: {e:#}", signal.describe())).emit();
            Exit::Stopped(signal)
        }
        Some(StopReason::Unreachable(why)) => {
            Event::error(format!(
                "reconcile stopped, {why}; run it again once the API answers"
            ))
            .emit();
            Exit::Resume
        }
        _ => {
            crate::output::error(&e);
            Exit::Fatal
        }
    }
}

/// `reports/reconcile-<UTC timestamp>/`.
pub fn default_dir(now: chrono::DateTime<Utc>) -> PathBuf {
    crate::report::stamped("reconcile", now)
}

/// The files to reconcile, each checked to hold exactly what was run.
fn targets(journal: &JournalRead, files: &[PathBuf], reading: &Reading) -> Result<Vec<Target>> {
    if files.is_empty() {
        let mut out = Vec::new();
        for entry in journal.files()? {
            let path = PathBuf::from(&entry.path);
            let (sha, _) = crate::input::scan(&path, reading).with_context(|| {
                format!(
                    "could not read '{}', which the journal recorded (give the file's new path \
                     as an argument)",
                    entry.path
                )
            })?;
            if sha != entry.sha256 {
                bail!(
                    "'{}' has changed since it was run (SHA-256 now {sha}, when run {}): \
                     reconcile compares with the rows as they were sent, so it needs the file \
                     exactly as it was run",
                    entry.path,
                    entry.sha256
                );
            }
            out.push(Target { entry, path });
        }
        return Ok(out);
    }
    files
        .iter()
        .map(|path| {
            let (sha, _) = crate::input::scan(path, reading)?;
            let entry = journal.find_file(&sha)?.ok_or_else(|| {
                anyhow!(
                    "the journal knows no run of '{}' as it is now (SHA-256 {sha}): it has \
                     changed since it was run, or was never run; reconcile needs the file \
                     exactly as it was run",
                    path.display()
                )
            })?;
            Ok(Target {
                entry,
                path: path.clone(),
            })
        })
        .collect()
}

/// What every request needs: the client and the command's attempt loop.
pub(crate) struct Ctx {
    client: Client,
    /// One pacer for every request of the command (the rate is the API's, not a file's);
    /// Ctrl-C, or a fatal answer, stops every request waiting for its turn.
    attempts: Attempts,
    cards: bool,
    transactions: bool,
}

impl Ctx {
    /// One read through the attempt loop that `run`'s creates go through.
    async fn call<T, F, Fut>(&self, what: &str, op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        match self.attempts.call(op).await {
            Attempted::Done { value, .. } => Ok(value),
            Attempted::Stopped { last: None, .. } => bail!("{what}: stopped before it was sent"),
            Attempted::Stopped { last: Some(e), .. } => {
                bail!("{what}: {e} (stopped while waiting to retry)")
            }
            Attempted::Failed {
                error: error @ (ApiError::Retryable { .. } | ApiError::Unreachable { .. }),
                attempts,
                ..
            } => bail!("{what}: {error} (gave up after {attempts} attempts)"),
            Attempted::Failed { error, .. } => bail!("{what}: {error}"),
        }
    }
}

/// One customer to read back, with the row's values to compare (held only while in flight).
struct Job {
    row: u64,
    reference: String,
    customer_id: String,
    expected: Expected,
}

/// The rows that name a Cartevo customer: created, or a duplicate / already enrolled whose
/// customer id is known.
fn customer_of(state: &RowState) -> Option<&str> {
    let id = state
        .customer_id
        .as_deref()
        .filter(|id| !id.trim().is_empty())?;
    match state.status {
        JournalStatus::Row(Status::Created | Status::Duplicate | Status::AlreadyEnrolled) => {
            Some(id)
        }
        _ => None,
    }
}

async fn reconcile_file(
    settings: &Settings,
    ctx: &Ctx,
    target: &Target,
    dir: &Path,
    resolved: Option<u64>,
) -> Result<Exit> {
    let started = Utc::now();
    // The figures are the command's; this file's share is what they grew by meanwhile.
    let before = ctx.attempts.stats.snapshot();
    let mut report = ReconcileReport::create(dir)?;
    let concurrency = settings.send.concurrency.max(1);
    let (jobs_tx, mut jobs_rx) = mpsc::channel::<Job>(concurrency * 2 + 16);

    // The journal connection and the CSV reader live on this thread; nobody else touches
    // them. It stops when the receiver goes away (an error or a stop on the async side).
    let producer = {
        let journal_path = settings.journal.clone();
        let target = target.clone();
        let (reading, date_format) = (settings.reading.clone(), settings.date_format);
        tokio::task::spawn_blocking(move || {
            produce(&journal_path, &target, &reading, date_format, jobs_tx)
        })
    };

    let progress = progress(&target.path);
    let jobs = futures_util::stream::poll_fn(|cx| jobs_rx.poll_recv(cx));
    let mut results = jobs.map(|job| check(ctx, job)).buffered(concurrency);
    let mut failure = None;
    // Off a terminal, a progress line every --progress-interval, between two results or
    // while none comes.
    let mut beat = settings
        .progress_interval
        .filter(|_| progress.is_hidden())
        .map(|every| {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            (ticks, crate::progress::Meter::new(crate::progress::now()))
        });
    loop {
        let next = match &mut beat {
            Some((ticks, meter)) => tokio::select! {
                next = results.next() => next,
                _ = ticks.tick() => {
                    log_progress(&target.path, report.totals(), meter);
                    continue;
                }
            },
            None => results.next().await,
        };
        let Some(result) = next else { break };
        match result.and_then(|checked| report.row(&checked)) {
            Ok(()) => progress.inc(1),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    drop(results);
    progress.finish_and_clear();
    let produced = producer
        .await
        .map_err(|e| anyhow!("the journal reader panicked: {e}"))?;
    // A producer failure is the cause when the stream merely ran dry.
    let failure = failure.or(produced.err());

    let totals = report.totals().clone();
    let stop = ctx.attempts.stop.reason();
    let exit = match (&failure, stopped(&ctx.attempts.stop)) {
        (None, _) => totals.exit(),
        (Some(_), Exit::Done) => Exit::Fatal,
        (Some(_), by_stop) => by_stop,
    };
    let ended = Utc::now();
    let summary = Summary {
        command: SummaryCommand::Reconcile,
        input: SummaryInput::new(
            &target.path.display().to_string(),
            &target.entry.sha256,
            target.entry.rows,
        ),
        checked: totals.checked(),
        counts: Summary::counts(&totals),
        cards: settings.cards.then(|| Summary::cards(&totals.cards)),
        transactions: settings
            .transactions
            .then(|| Summary::transactions(&totals.transactions)),
        duplicates_resolved: resolved,
        figures: Figures::new(started, ended, ctx.attempts.stats.snapshot() - before),
        stopped: failure.as_ref().map(|e| match &stop {
            Some(StopReason::Unreachable(why)) => why.clone(),
            _ => format!("{e:#}"),
        }),
        exit_code: exit.code(),
    };
    let dir = report.dir().to_path_buf();
    report.finish(&summary)?;
    announce(target, &totals, &summary, settings, &dir);
    match failure {
        Some(e) => Err(e),
        None => Ok(exit),
    }
}

/// Walks the journal's rows beside the CSV, sending a job for every row that names a
/// customer. Checks at the end that the file still is what was run.
fn produce(
    journal: &Path,
    target: &Target,
    reading: &Reading,
    date_format: Option<DateFormat>,
    jobs: mpsc::Sender<Job>,
) -> Result<()> {
    let journal = JournalRead::open(journal)?;
    let mut input = CsvInput::open(&target.path, reading)?;
    let columns = input.columns.clone();
    journal.beside(&target.entry, &mut input, |row, record, state| {
        let Some(customer_id) = state.as_ref().and_then(customer_of) else {
            return Ok(());
        };
        let view = RowView::new(&columns, record);
        let job = Job {
            row,
            reference: view.get(Field::Reference).into_owned(),
            customer_id: customer_id.to_owned(),
            expected: Expected::from_row(&view, date_format),
        };
        jobs.blocking_send(job)
            .map_err(|_| anyhow!("reconcile stopped"))
    })?;
    if input.sha256()? != target.entry.sha256 {
        bail!(
            "'{}' changed while it was being reconciled",
            target.path.display()
        );
    }
    Ok(())
}

/// Reads one customer back (and its cards and transactions when asked) and compares.
async fn check(ctx: &Ctx, job: Job) -> Result<Checked> {
    let id = job.customer_id.as_str();
    let row = job.row;
    let customer = ctx
        .call(&format!("row {row}: GET /customers/{id}"), || {
            ctx.client.get_customer(id)
        })
        .await?;
    let mut checked = Checked {
        row,
        reference: job.reference,
        customer_id: job.customer_id.clone(),
        verdict: Verdict::Missing,
        mismatches: Vec::new(),
        is_active: None,
        cards: None,
        transactions: None,
    };
    let Some(customer) = customer else {
        return Ok(checked);
    };
    checked.mismatches = compare::mismatches(&job.expected, &customer);
    checked.is_active = customer.is_active;
    checked.verdict = if !checked.mismatches.is_empty() {
        Verdict::Mismatch
    } else if customer.is_active == Some(false) {
        Verdict::Inactive
    } else {
        Verdict::Match
    };
    if ctx.cards {
        // The customer exists, so a 404 here means it has no cards.
        let cards = ctx
            .call(&format!("row {row}: GET /customers/{id}/cards"), || {
                ctx.client.customer_cards(id)
            })
            .await?;
        checked.cards = Some(CardTally::of(&cards.unwrap_or_default()));
    }
    if ctx.transactions {
        let mut tally = TransactionTally::default();
        let mut page = 1;
        loop {
            let what = format!("row {row}: GET /customers/{id}/transactions page {page}");
            let p = ctx
                .call(&what, || async move {
                    match ctx
                        .client
                        .customer_transactions(id, page, TRANSACTIONS_PAGE)
                        .await
                    {
                        // The customer was just read: like the cards endpoint, a 404 here
                        // means nothing to list, not a missing customer, and one odd
                        // customer must not stop the whole reconcile.
                        Err(ApiError::Rejected { status: 404, .. }) => Ok(Page {
                            items: Vec::new(),
                            page,
                            limit: TRANSACTIONS_PAGE,
                            total: 0,
                            total_pages: 0,
                        }),
                        other => other,
                    }
                })
                .await?;
            for t in &p.items {
                tally.add(t);
            }
            if p.items.is_empty() || page >= p.total_pages {
                break;
            }
            page += 1;
        }
        checked.transactions = Some(tally);
    }
    Ok(checked)
}

/// Customers checked so far; indicatif hides it when stderr is not a terminal.
fn progress(file: &Path) -> indicatif::ProgressBar {
    let bar = crate::progress::bar(
        None,
        "{elapsed_precise} {pos} customers read back  {per_sec}  {msg}",
    );
    bar.set_message(file.display().to_string());
    bar
}

/// The heartbeat line of `reconcile`: customers read back so far, per verdict, and the rate.
/// (How many customers a file has to read back is known only once its journal rows are
/// walked, so there is no total or ETA.)
fn log_progress(file: &Path, totals: &output::Totals, meter: &mut crate::progress::Meter) {
    let done = totals.checked();
    let rate = meter.rate(crate::progress::now(), done);
    let counts: Vec<String> = Verdict::ALL
        .iter()
        .filter(|v| totals.get(**v) > 0)
        .map(|v| format!("{v} {}", indicatif::HumanCount(totals.get(*v))))
        .collect();
    tracing::info!(
        file = %file.display(),
        done,
        matched = totals.get(Verdict::Match),
        mismatched = totals.get(Verdict::Mismatch),
        inactive = totals.get(Verdict::Inactive),
        missing = totals.get(Verdict::Missing),
        rate = rate.map(|r| (r * 10.0).round() / 10.0),
        "reconcile progress: {} customers read back  {}  {}",
        indicatif::HumanCount(done),
        crate::progress::rate_text(rate),
        counts.join("  "),
    );
}

/// The file's summary on stderr (in JSON one "file reconciled" object with
/// reconcile-summary.json's figures), and its report folder on stdout.
fn announce(
    target: &Target,
    totals: &output::Totals,
    summary: &Summary,
    settings: &Settings,
    dir: &Path,
) {
    Event::info("file reconciled")
        .field("file", target.path.display().to_string())
        .summary(summary)
        .field("report", dir.display().to_string())
        .text(summary_text(target, totals, settings, dir))
        .emit();
    crate::output::report_folder(dir);
}

fn summary_text(
    target: &Target,
    totals: &output::Totals,
    settings: &Settings,
    dir: &Path,
) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let parts: Vec<String> = Verdict::ALL
        .iter()
        .map(|v| format!("{v} {}", totals.get(*v)))
        .collect();
    let _ = writeln!(
        out,
        "{}: {} customers read back: {}",
        target.path.display(),
        totals.checked(),
        parts.join(", ")
    );
    if settings.cards {
        let balance = totals.cards.balance_text();
        let _ = writeln!(
            out,
            "  cards {}{}",
            totals.cards.count,
            if balance.is_empty() {
                String::new()
            } else {
                format!(", balance {}", balance.replace(';', ", "))
            }
        );
    }
    if settings.transactions {
        let _ = writeln!(out, "  transactions {}", totals.transactions.count);
    }
    let _ = writeln!(out, "report: {}", dir.display());
    out
}
