//! The commands: each turns checked settings into the pipeline's stages and an exit code.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use chrono::Utc;

use crate::api::{ApiConfig, Client, Credentials};
use crate::cli::{ApiArgs, Cli, Command, CommonArgs, SendArgs};
use crate::executor::{self, Backoff, Pacer, Stats, Stop, StopReason};
use crate::input::{CsvInput, Field, RowView};
use crate::journal::writer::{self, Command as JournalCommand};
use crate::journal::{FileEntry, Journal};
use crate::plan::{Decision, Job, Known, Planner};
use crate::report::{Report, ReportRow, Summary, SummaryInput};
use crate::status::{Counts, Status};
use crate::validate::{Rules, Validator};

/// Exit code of an interrupted run.
pub const INTERRUPTED: i32 = 130;

pub fn main(cli: Cli) -> Result<i32> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    runtime.block_on(dispatch(cli))
}

async fn dispatch(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Validate { files, common } => {
            let mut code = 0;
            let mut dirs = ReportDirs::new(&common.report_dir, files.len());
            for file in &files {
                let dir = dirs.next(file);
                let c = match validate_file(&common, file, &dir) {
                    Ok(c) => c,
                    Err(e) => {
                        eprintln!("error: {e:#}");
                        1
                    }
                };
                code = worst(code, c);
            }
            Ok(code)
        }
        Command::Run {
            files,
            common,
            journal,
            api,
            send,
        } => {
            let stop = Stop::new();
            watch_ctrl_c(stop.clone());
            let client = client(&api, &send)?;
            let run = RunSettings::new(common, send)?;
            let mut journal = Journal::open(&journal.journal)?;
            let mut code = 0;
            let mut dirs = ReportDirs::new(&run.common.report_dir, files.len());
            for file in &files {
                if stop.is_stopped() {
                    break;
                }
                let dir = dirs.next(file);
                let (c, j) =
                    run_file(&run, file, &dir, client.clone(), journal, stop.clone()).await;
                journal = j?;
                code = worst(code, c);
            }
            Ok(code)
        }
        Command::Status { journal } => {
            let journal = Journal::open_shared(&journal.journal)?;
            print_status(&journal)?;
            Ok(0)
        }
        Command::Report {
            file,
            journal,
            report_dir: given_dir,
            delimiter,
        } => {
            let journal = Journal::open_shared(&journal.journal)?;
            let (sha, rows) = crate::input::scan(&file, delimiter)?;
            let entry = journal.find_file(&sha)?.ok_or_else(|| {
                anyhow!(
                    "the journal has no run of '{}' (SHA-256 {sha}): run it first",
                    file.display()
                )
            })?;
            let dir = ReportDirs::new(&given_dir, 1).next(&file);
            // The figures are those of the file's runs, as the journal recorded them.
            let totals = journal.run_totals(&entry)?;
            let parse = |t: &str| {
                chrono::DateTime::parse_from_rfc3339(t)
                    .map(|t| t.with_timezone(&Utc))
                    .ok()
            };
            let counts = journal_report(&journal, &entry, &file, delimiter, &dir, |counts| {
                let s = Summary::new(
                    "report",
                    SummaryInput::new(&file.display().to_string(), &sha, rows),
                    counts,
                );
                match &totals {
                    Some(t) => {
                        let started = parse(&t.first_started).unwrap_or_else(Utc::now);
                        let ended = t.last_ended.as_deref().and_then(parse);
                        let mut s = s.timed(started, ended.unwrap_or_else(Utc::now));
                        s.requests_sent = t.requests_sent;
                        s.retries = t.retries;
                        s.http_429_seen = t.http_429_seen;
                        s
                    }
                    None => s,
                }
            })?;
            print_counts(&file, &counts, &dir);
            Ok(counts.exit_code(false))
        }
        Command::Reconcile {
            files,
            journal,
            api,
            send,
            cards,
            transactions,
            resolve_duplicates,
            report_dir,
            delimiter,
        } => {
            let stop = Stop::new();
            watch_ctrl_c(stop.clone());
            let client = client(&api, &send)?;
            // The same checks of --rate and the same backoff as `run`.
            let checked = SendSettings::new(&send)?;
            let settings = crate::reconcile::Settings {
                files,
                journal: journal.journal,
                report_dir,
                delimiter,
                cards,
                transactions,
                resolve_duplicates,
                rate: checked.rate,
                concurrency: checked.concurrency,
                max_attempts: checked.max_attempts,
                backoff: checked.backoff,
            };
            crate::reconcile::reconcile(&settings, client, stop).await
        }
        Command::Sandbox(args) => serve_sandbox(args).await,
        Command::Demo { workdir } => crate::demo::demo(workdir).await,
    }
}

/// The more urgent of two exit codes: fatal, then interrupted, then resume, then act.
pub fn worst(a: i32, b: i32) -> i32 {
    let rank = |c: i32| match c {
        1 => 5,
        INTERRUPTED => 4,
        3 => 3,
        2 => 2,
        0 => 0,
        _ => 1,
    };
    if rank(b) > rank(a) { b } else { a }
}

/// The report folder of each file of one invocation.
struct ReportDirs<'a> {
    given: &'a Option<PathBuf>,
    files: usize,
    /// Subfolders handed out under `given`: two files with the same stem (`a/x.csv`,
    /// `b/x.csv`) get `x` and `x-2`, never one folder that the second overwrites.
    used: std::collections::HashSet<PathBuf>,
}

impl<'a> ReportDirs<'a> {
    fn new(given: &'a Option<PathBuf>, files: usize) -> ReportDirs<'a> {
        ReportDirs {
            given,
            files,
            used: Default::default(),
        }
    }

    fn next(&mut self, file: &Path) -> PathBuf {
        match self.given {
            Some(dir) if self.files > 1 => {
                let stem = file
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let mut sub = dir.join(&stem);
                let mut n = 1;
                while self.used.contains(&sub) {
                    n += 1;
                    sub = dir.join(format!("{stem}-{n}"));
                }
                self.used.insert(sub.clone());
                sub
            }
            Some(dir) => dir.clone(),
            None => {
                // Two runs in the same second must not share (and overwrite) a folder.
                let base = crate::report::default_dir(file, Utc::now());
                let mut dir = base.clone();
                let mut n = 1;
                while dir.exists() || self.used.contains(&dir) {
                    n += 1;
                    dir = PathBuf::from(format!("{}-{n}", base.display()));
                }
                self.used.insert(dir.clone());
                dir
            }
        }
    }
}

fn rules(common: &CommonArgs, file: &Path) -> Rules {
    let documents_dir = common
        .documents_dir
        .clone()
        .unwrap_or_else(|| match file.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        });
    Rules {
        as_of: common.as_of.unwrap_or_else(|| Utc::now().date_naive()),
        documents_dir,
        strict: common.strict,
    }
}

fn warn_unknown(input: &CsvInput) {
    if !input.columns.unknown.is_empty() {
        tracing::warn!(
            "{}: ignoring unknown column{} {} (kept in rejects.csv)",
            input.path(),
            if input.columns.unknown.len() > 1 {
                "s"
            } else {
                ""
            },
            input.columns.unknown.join(", ")
        );
    }
}

/// `validate`: one pass, each row decided and reported as it is read.
pub fn validate_file(common: &CommonArgs, file: &Path, dir: &Path) -> Result<i32> {
    let started = Utc::now();
    let mut input = CsvInput::open(file, common.delimiter)?;
    warn_unknown(&input);
    let validator = Validator::new(rules(common, file))?;
    let mut planner = Planner::new(validator, None);
    let file_len = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    let mut report = Report::create(dir, &input.headers)?;
    let columns = input.columns.clone();
    let mut decide_all = || -> Result<()> {
        loop {
            let bytes_before = input.bytes_read();
            let Some((row, record)) = input.next_record()? else {
                break;
            };
            if row == 1024 {
                // Size the duplicate index once from the rows' average length, so it never
                // grows (and never briefly doubles) on a large file.
                let per_row = bytes_before.max(1) as f64 / (row - 1) as f64;
                planner.reserve((file_len as f64 / per_row * 1.05) as u64);
            }
            let view = RowView::new(&columns, record);
            let reference = view.get(Field::Reference);
            let (status, message, warnings) = match planner.decide(row, &view)? {
                Decision::Local {
                    status,
                    message,
                    warnings,
                    ..
                } => (status, message, warnings),
                Decision::Send(job) => (Status::Valid, String::new(), job.warnings),
                Decision::Done => unreachable!("validate has no journal"),
            };
            report.row(&ReportRow {
                row,
                reference,
                status,
                customer_id: None,
                http_status: None,
                attempts: 0,
                message: &message,
                warnings: &warnings,
                record,
            })?;
        }
        Ok(())
    };
    if let Err(e) = decide_all() {
        // A file that breaks part way has no report: half a results.csv would read as a
        // complete one.
        report.discard();
        return Err(e);
    }
    let rows = input.rows();
    let path = input.path().to_string();
    let sha = input.sha256();
    let counts = *report.counts();
    let summary = Summary::new("validate", SummaryInput::new(&path, &sha, rows), counts)
        .timed(started, Utc::now());
    report.finish(&summary)?;
    print_counts(file, &counts, dir);
    Ok(summary.exit_code)
}

/// Checked settings of `run`.
pub struct RunSettings {
    pub common: CommonArgs,
    pub send: SendSettings,
}

impl RunSettings {
    pub fn new(common: CommonArgs, send: SendArgs) -> Result<RunSettings> {
        Ok(RunSettings {
            common,
            send: SendSettings::new(&send)?,
        })
    }
}

/// Checked pacing, concurrency and retry settings: the same for `run` and `reconcile`.
pub struct SendSettings {
    pub rate: f64,
    pub concurrency: usize,
    pub max_attempts: u32,
    pub backoff: Backoff,
    pub grace: Duration,
}

impl SendSettings {
    pub fn new(send: &SendArgs) -> Result<SendSettings> {
        if !(send.rate >= 0.0 && send.rate.is_finite()) {
            bail!("--rate must be a number of requests per second, 0 for no limit");
        }
        Ok(SendSettings {
            rate: send.rate,
            concurrency: send.concurrency as usize,
            max_attempts: send.max_attempts,
            backoff: Backoff {
                base: Duration::from_millis(send.backoff_ms),
                cap: Duration::from_secs(30),
            },
            grace: Duration::from_secs_f64(send.timeout.clamp(1.0, 30.0)),
        })
    }

    /// Rows claimed per journal commit: about half a second of requests at the rate, at most
    /// `MAX_CLAIM` (also when the rate is unlimited, where that is a few milliseconds' worth).
    pub fn claim_batch(&self) -> usize {
        const MAX_CLAIM: usize = 256;
        if self.rate <= 0.0 {
            MAX_CLAIM
        } else {
            ((self.rate / 2.0).ceil() as usize).clamp(1, MAX_CLAIM)
        }
    }

    /// Threads that send requests: one per core when the rate is unlimited or high, one when
    /// pacing keeps the run slow anyway.
    pub fn shards(&self) -> usize {
        if self.rate > 0.0 && self.rate < 500.0 {
            return 1;
        }
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(4)
    }
}

pub fn client(api: &ApiArgs, send: &SendArgs) -> Result<Client> {
    if !(send.timeout > 0.0 && send.timeout.is_finite()) {
        bail!("--timeout must be a positive number of seconds");
    }
    let credentials = if let Some(path) = &api.token_file {
        crate::api::check_token_file(path).map_err(|e| anyhow!(e))?;
        Credentials::TokenFile(path.clone())
    } else if let Some(token) = non_empty_env("CARTEVO_API_TOKEN") {
        Credentials::Token(token)
    } else if let (Some(id), Some(key)) = (
        non_empty_env("CARTEVO_CLIENT_ID"),
        non_empty_env("CARTEVO_CLIENT_KEY"),
    ) {
        Credentials::Client { id, key }
    } else {
        bail!(
            "no credentials: set CARTEVO_API_TOKEN, or CARTEVO_CLIENT_ID and CARTEVO_CLIENT_KEY, \
             or give --token-file"
        );
    };
    Client::new(ApiConfig {
        base_url: api.base_url.clone(),
        credentials,
        timeout: Duration::from_secs_f64(send.timeout),
        provider_enroll: !api.no_provider_enroll,
    })
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

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
            std::process::exit(INTERRUPTED);
        }
    });
}

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
    let mut exit = 0;
    let mut times = (String::new(), String::new());
    let counts = reader.and_then(|reader| {
        journal_report(&reader, &entry, file, delimiter, dir, |counts| {
            let mut s = Summary::new("run", SummaryInput::new(&path_text, &sha, rows), counts)
                .timed(started, Utc::now());
            times = (s.started_at.clone(), s.ended_at.clone());
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
            exit = s.exit_code;
            s
        })
    });
    let (journal, merged) = indexer
        .join()
        .map_err(|_| anyhow!("the customer index merge panicked"))?;
    let journal = slot.insert(journal);
    merged?;
    let counts = counts?;
    journal.finish_run(
        run_id,
        &crate::journal::RunEnd {
            started_at: times.0,
            ended_at: times.1,
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
        eprintln!("error: run stopped, the API refuses our requests: {m}");
    }
    Ok(exit)
}

/// Writes a file's report from the journal: the CSV is read again for references and the
/// original fields of rejects, and merged in row order with the journal's rows. A row the
/// journal does not have is `pending`.
pub fn journal_report(
    journal: &Journal,
    entry: &FileEntry,
    file: &Path,
    delimiter: u8,
    dir: &Path,
    summary: impl FnOnce(Counts) -> Summary,
) -> Result<Counts> {
    let mut input = CsvInput::open(file, delimiter)?;
    let mut report = Report::create(dir, &input.headers)?;
    let columns = input.columns.clone();
    let pending = |report: &mut Report, row: u64, record: &csv::StringRecord| {
        report.row(&ReportRow {
            row,
            reference: RowView::new(&columns, record).get(Field::Reference),
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
                "sent, but no answer was recorded (the run was stopped); run again to resume"
            } else {
                &state.message
            };
            report.row(&ReportRow {
                row,
                reference: RowView::new(&columns, record).get(Field::Reference),
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
    report.finish(&summary(counts))?;
    Ok(counts)
}

fn print_counts(file: &Path, counts: &Counts, dir: &Path) {
    let parts: Vec<String> = counts
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(s, n)| format!("{s} {n}"))
        .collect();
    eprintln!(
        "{}: {} rows{}{}",
        file.display(),
        counts.total(),
        if parts.is_empty() { "" } else { ": " },
        parts.join(", ")
    );
    eprintln!("report: {}", dir.display());
}

fn print_status(journal: &Journal) -> Result<()> {
    let files = journal.status()?;
    if files.is_empty() {
        println!("journal {}: no files yet", journal.path().display());
        return Ok(());
    }
    println!("journal {}", journal.path().display());
    for f in files {
        println!();
        println!(
            "{}  ({} rows, sha256 {})",
            f.file.path,
            f.file.rows,
            &f.file.sha256[..16]
        );
        match &f.last_run {
            Some((start, end, code)) => println!(
                "  runs: {}, last started {start}, {}",
                f.runs,
                match (end, code) {
                    (Some(end), Some(code)) => format!("ended {end} with exit code {code}"),
                    _ => "did not finish (interrupted or still running)".to_string(),
                }
            ),
            None => println!("  runs: 0"),
        }
        for (status, n) in &f.counts {
            println!("  {status:<18} {n}");
        }
    }
    Ok(())
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

/// `sandbox`: serves until Ctrl-C. The URL is stdout's first line, for scripts.
async fn serve_sandbox(args: crate::cli::SandboxArgs) -> Result<i32> {
    use std::io::Write;
    let sandbox = crate::sandbox::Sandbox::new(crate::sandbox::SandboxConfig {
        token: args.token,
        client_id: args.client_id,
        client_key: args.client_key,
        latency: Duration::from_millis(args.latency.0),
        jitter: Duration::from_millis(args.latency.1),
        fail_rate: args.fail_rate,
        rate_limit: args.rate_limit,
        token_ttl: Duration::from_secs(args.token_ttl),
        max_customers: args.max_customers,
        state: args.state,
        seed_cards: args.seed_cards,
    })?;
    let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, args.port))
        .await
        .with_context(|| format!("could not listen on 127.0.0.1:{}", args.port))?;
    let addr = listener.local_addr()?;
    println!("http://{addr}{}", crate::sandbox::API_PREFIX);
    std::io::stdout().flush()?;
    eprintln!("sandbox listening; Ctrl-C stops it");
    sandbox
        .serve(listener, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_with_the_same_stem_get_their_own_report_folders() {
        let given = Some(PathBuf::from("out"));
        let mut dirs = ReportDirs::new(&given, 3);
        assert_eq!(dirs.next(Path::new("a/x.csv")), PathBuf::from("out/x"));
        assert_eq!(dirs.next(Path::new("b/x.csv")), PathBuf::from("out/x-2"));
        assert_eq!(dirs.next(Path::new("b/y.csv")), PathBuf::from("out/y"));
        // One file: the folder given, as is.
        assert_eq!(
            ReportDirs::new(&given, 1).next(Path::new("a/x.csv")),
            PathBuf::from("out")
        );
    }

    #[test]
    fn default_report_folders_of_one_invocation_never_coincide() {
        let mut dirs = ReportDirs::new(&None, 2);
        let first = dirs.next(Path::new("a/x.csv"));
        let second = dirs.next(Path::new("b/x.csv"));
        assert_ne!(first, second);
        assert!(first.starts_with("reports"), "{first:?}");
    }
}
