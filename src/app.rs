//! The commands: each turns checked settings into the pipeline's stages and an exit code.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use chrono::Utc;

use crate::cli::{Cli, Command, CommonArgs};
use crate::config::{RunSettings, SendSettings, client};
use crate::executor::{Stop, StopReason};
use crate::input::{CsvInput, Field, RowView};
use crate::journal::Journal;
use crate::plan::{Decision, Planner};
use crate::report::{Report, ReportRow, Summary, SummaryInput};
use crate::run::{journal_report, run_file};
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
            let mut dirs = ReportDirs::new(&common.report_dir, &files);
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
            let mut dirs = ReportDirs::new(&run.common.report_dir, &files);
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
            let dir = ReportDirs::new(&given_dir, std::slice::from_ref(&file)).next(&file);
            // The figures are those of the file's runs, as the journal recorded them.
            let totals = journal.run_totals(&entry)?;
            let parse = |t: &str| {
                chrono::DateTime::parse_from_rfc3339(t)
                    .map(|t| t.with_timezone(&Utc))
                    .ok()
            };
            let (counts, _) = journal_report(&journal, &entry, &file, delimiter, &dir, |counts| {
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

/// The report folder of each file of one invocation, handed out as the files come.
struct ReportDirs {
    /// Under the folder given with --report-dir: see [`crate::report::per_file_dirs`].
    given: Option<std::vec::IntoIter<PathBuf>>,
    /// Default folders handed out so far: two files with the same stem started in the same
    /// second must not share one.
    used: std::collections::HashSet<PathBuf>,
}

impl ReportDirs {
    fn new(given: &Option<PathBuf>, files: &[PathBuf]) -> ReportDirs {
        ReportDirs {
            given: given
                .as_ref()
                .map(|dir| crate::report::per_file_dirs(dir, files).into_iter()),
            used: Default::default(),
        }
    }

    fn next(&mut self, file: &Path) -> PathBuf {
        if let Some(given) = &mut self.given {
            return given.next().expect("one folder per file");
        }
        // The default folder is stamped when the file starts; a run in the same second (or
        // a file of this invocation with the same stem) gets -2, -3.
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

pub(crate) fn rules(common: &CommonArgs, file: &Path) -> Rules {
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

pub(crate) fn warn_unknown(input: &CsvInput) {
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
                reference: &reference,
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

pub(crate) fn print_counts(file: &Path, counts: &Counts, dir: &Path) {
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
        let files = ["a/x.csv", "b/x.csv", "b/y.csv", "c/x.csv"].map(PathBuf::from);
        let mut dirs = ReportDirs::new(&given, &files);
        let handed: Vec<PathBuf> = files.iter().map(|f| dirs.next(f)).collect();
        assert_eq!(
            handed,
            ["out/x", "out/x-2", "out/y", "out/x-3"].map(PathBuf::from)
        );
        // One file: the folder given, as is.
        let one = [PathBuf::from("a/x.csv")];
        assert_eq!(
            ReportDirs::new(&given, &one).next(&one[0]),
            PathBuf::from("out")
        );
    }

    #[test]
    fn default_report_folders_of_one_invocation_never_coincide() {
        let mut dirs = ReportDirs::new(&None, &[]);
        let first = dirs.next(Path::new("a/x.csv"));
        let second = dirs.next(Path::new("b/x.csv"));
        assert_ne!(first, second);
        assert!(first.starts_with("reports"), "{first:?}");
    }
}
