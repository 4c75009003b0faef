//! The command line. Doc comments here are the `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::logging::LogFormat;

mod help;

/// Enroll customers and their KYC identity documents into the Cartevo API in bulk, from
/// partner CSV files, with a journal that makes every run resumable.
#[derive(Debug, Parser)]
#[command(name = "cartevo-enroll", version, about, after_long_help = help::top())]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Log format on stderr: text, or json (every line one JSON object, for a log system).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, help_heading = help::GLOBAL)]
    pub log_format: LogFormat,

    /// Defaults for any long flag, by its name, from this TOML file [default:
    /// cartevo-enroll.toml in the current folder, when there is one]. The command line and
    /// the environment win over it; it never holds secrets.
    #[arg(
        long,
        global = true,
        env = "CARTEVO_CONFIG",
        value_name = "FILE",
        help_heading = help::GLOBAL
    )]
    pub config: Option<PathBuf>,

    /// More log detail (-v debug, -vv trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, help_heading = help::GLOBAL)]
    pub verbose: u8,

    /// Only errors on stderr: no logs, summaries or progress. Report folders are still
    /// printed on stdout.
    #[arg(short, long, global = true, conflicts_with = "verbose", help_heading = help::GLOBAL)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read and validate files; send nothing; write the report.
    #[command(after_long_help = help::validate())]
    Validate(ValidateArgs),
    /// Validate, enroll every valid row, journal each outcome and write the report. Running it
    /// again on the same file resumes.
    #[command(after_long_help = help::run())]
    Run(RunArgs),
    /// What the journal knows: files, runs, counts per status.
    #[command(after_long_help = help::status())]
    Status {
        #[command(flatten)]
        journal: JournalArgs,
        /// Print it as one JSON document (schemas/status.schema.json).
        #[arg(long)]
        json: bool,
    },
    /// Write a file's report again from the journal.
    #[command(after_long_help = help::report())]
    Report(ReportArgs),
    /// Read back the customers that runs created and report mismatches.
    #[command(after_long_help = help::reconcile())]
    Reconcile(ReconcileArgs),
    /// Try the base URL, TLS, the credentials and one read before a run; create nothing.
    ///
    /// Each step is reported as ok or failed with the reason, in order: the base URL (the host
    /// resolves and accepts a TCP connection), TLS (the handshake, and the server's
    /// certificate trusted), the credentials (a token obtained and accepted by the API) and
    /// one read (GET /customers?limit=1). The first failure stops the check; the steps after
    /// it are skipped.
    #[command(after_long_help = help::check())]
    Check(CheckArgs),
    /// Serve a local Cartevo API double on 127.0.0.1 for rehearsals.
    #[command(after_long_help = help::sandbox())]
    Sandbox(SandboxArgs),
    /// Start the sandbox in-process and run the bundled example files through it.
    ///
    /// The example files are written to a temporary work folder, removed at the end unless
    /// --keep is given; --workdir uses a folder of your own instead, which is never removed.
    #[command(after_long_help = help::demo())]
    Demo(DemoArgs),
    /// Print a shell completion script on stdout.
    #[command(after_long_help = help::completions())]
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) on stdout.
    #[command(after_long_help = help::man())]
    Man,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the journal and reports in this folder (yours: never removed) instead of a
    /// temporary one.
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
    /// Keep the temporary work folder at the end and say where it is.
    #[arg(long, conflicts_with = "workdir")]
    pub keep: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    /// Timeout of each step in seconds (at most 3600).
    #[arg(long, default_value_t = 30.0)]
    pub timeout: f64,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Partner CSV files (also .gz and .xlsx; - reads standard input).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Partner CSV files (also .gz and .xlsx; - reads standard input).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub journal: JournalArgs,
    #[command(flatten)]
    pub api: ApiArgs,
    /// Upload documents without enrolling the customer with the card issuer (?enroll=true
    /// is otherwise sent with document files).
    #[arg(long)]
    pub no_provider_enroll: bool,
    #[command(flatten)]
    pub send: SendArgs,
    #[command(flatten)]
    pub progress: ProgressArgs,
    /// Write the run's figures to this file in Prometheus text format, for node_exporter's
    /// textfile collector: rows per status, requests, retries, 429s, elapsed seconds, exit
    /// code and the time of the last run that ended with exit 0. Written whole (a temporary
    /// file, then a rename) when the run starts, with every progress line and at the end.
    #[arg(long, value_name = "PATH")]
    pub metrics_file: Option<PathBuf>,
}

/// How `run` and `reconcile` say where they are.
#[derive(Debug, Clone, Args)]
pub struct ProgressArgs {
    /// When stderr is not a terminal (cron, systemd, a pipe), log a progress line every this
    /// many seconds: rows done of total, counts per status, rate and ETA. 0: never. At a
    /// terminal a progress bar shows the same.
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0)]
    pub progress_interval: f64,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The partner file a run read (the journal knows it by its content).
    pub file: PathBuf,
    #[command(flatten)]
    pub journal: JournalArgs,
    /// Report folder [default: reports/<file stem>-<UTC timestamp>/].
    #[arg(long)]
    pub report_dir: Option<PathBuf>,
    #[command(flatten)]
    pub read: ReadArgs,
}

#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// Files to reconcile [default: every file the journal knows].
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub journal: JournalArgs,
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(flatten)]
    pub send: SendArgs,
    #[command(flatten)]
    pub progress: ProgressArgs,
    /// Also read each customer's cards (count, statuses, balance per currency).
    #[arg(long)]
    pub cards: bool,
    /// Also read every page of each customer's transactions.
    #[arg(long)]
    pub transactions: bool,
    /// Find the customer id of 409 duplicates through the customer list.
    #[arg(long)]
    pub resolve_duplicates: bool,
    /// Report folder [default: reports/reconcile-<UTC timestamp>/].
    #[arg(long)]
    pub report_dir: Option<PathBuf>,
    #[command(flatten)]
    pub read: ReadArgs,
}

/// Flags of `validate` and `run`.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Report folder [default: reports/<file stem>-<UTC timestamp>/].
    #[arg(long)]
    pub report_dir: Option<PathBuf>,
    /// The date the 18+ check uses, YYYY-MM-DD [default: today, UTC].
    #[arg(long, value_parser = parse_date)]
    pub as_of: Option<chrono::NaiveDate>,
    /// Base folder for relative document paths [default: the profile's documents_dir, else
    /// the CSV's own folder].
    #[arg(long)]
    pub documents_dir: Option<PathBuf>,
    /// Warnings count as invalid.
    #[arg(long)]
    pub strict: bool,
    #[command(flatten)]
    pub read: ReadArgs,
    /// How the file writes dates of birth: YYYY, MM and DD with one separator, like
    /// DD/MM/YYYY, MM/DD/YYYY, DD.MM.YYYY or YYYY/MM/DD [default: the profile's
    /// date_format, else YYYY-MM-DD].
    #[arg(long, value_parser = crate::validate::DateFormat::parse)]
    pub date_format: Option<crate::validate::DateFormat>,
    /// Send phone numbers as written. Without it, a number is sent as its national
    /// significant number: spaces, dashes, dots and brackets removed, and a leading +<code>
    /// or 00<code> equal to the row's country_phone_code and the country's trunk prefix (the
    /// 0 of 0801...) dropped, with a warning saying what was removed.
    #[arg(long)]
    pub keep_phone_format: bool,
}

/// How a partner file is read: the flags every command that reads one takes.
#[derive(Debug, Clone, Args)]
pub struct ReadArgs {
    /// A partner's reading settings, in TOML: delimiter, encoding, date_format, sheet,
    /// documents_dir (a relative one is taken from the profile's own folder), [columns] (our
    /// field = the partner's header, or a list of headers) and [values.<field>] (our word =
    /// the partner's words). A flag given on the command line wins over the profile.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// Field delimiter: one character, or "tab" [default: the profile's, else ","].
    #[arg(long, value_parser = parse_delimiter)]
    pub delimiter: Option<u8>,
    /// The file's text encoding, any WHATWG label: windows-1252, iso-8859-1, utf-16le,
    /// shift_jis... [default: UTF-8; UTF-16 with a byte-order mark is recognised].
    #[arg(long, value_name = "LABEL", value_parser = parse_encoding)]
    pub encoding: Option<&'static encoding_rs::Encoding>,
    /// The worksheet of an .xlsx workbook to read [default: the first].
    #[arg(long, value_name = "NAME")]
    pub sheet: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct JournalArgs {
    /// The SQLite journal. Its key is kept in <journal>.key beside it, or given by
    /// CARTEVO_JOURNAL_KEY (64 hex digits).
    #[arg(long, env = "CARTEVO_JOURNAL", default_value = "cartevo-enroll.db")]
    pub journal: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct ApiArgs {
    /// Cartevo API base URL. Plain http:// only for loopback hosts.
    #[arg(
        long,
        env = "CARTEVO_BASE_URL",
        default_value = "https://api.cartevo.co/api/v1"
    )]
    pub base_url: String,
    /// Read the bearer token from this file (re-read when the API says 401).
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// Also trust the certificate authorities in this PEM file (a company CA, or the CA of a
    /// TLS-inspecting proxy). May be given more than once; a file may hold several
    /// certificates. The operating system's store (or SSL_CERT_FILE / SSL_CERT_DIR) is
    /// trusted as well.
    #[arg(long, value_name = "PEM")]
    pub ca_cert: Vec<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct SendArgs {
    /// Requests per second (0: no limit), or `auto`: found while running (starting from the
    /// rate the journal learned against this base URL, or 5), at most --max-rate.
    #[arg(long, default_value = "5", value_parser = parse_rate)]
    pub rate: Auto<f64>,
    /// Requests in flight at most (1-1024), or `auto`: as many as the rate needs at the
    /// measured answer time, at most --max-concurrency.
    #[arg(long, default_value = "4", value_parser = parse_concurrency)]
    pub concurrency: Auto<u32>,
    /// With --rate auto: the rate it never exceeds, in requests per second.
    #[arg(long, default_value_t = 100.0)]
    pub max_rate: f64,
    /// With --concurrency auto: requests in flight at most (1-1024).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub max_concurrency: u32,
    /// Attempts per row per run at most.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub max_attempts: u32,
    /// Per-request timeout in seconds (at most 3600).
    #[arg(long, default_value_t = 30.0)]
    pub timeout: f64,
    /// First retry backoff in milliseconds (doubles per attempt, full jitter, capped at 30 s).
    #[arg(long, default_value_t = 500, hide = true)]
    pub backoff_ms: u64,
}

#[derive(Debug, Clone, Args)]
pub struct SandboxArgs {
    /// Port on 127.0.0.1 (0 picks a free one; the URL is printed on stdout's first line).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Bearer token the sandbox accepts.
    #[arg(long, default_value = "sandbox")]
    pub token: String,
    /// Client id the sandbox's POST /auth/token accepts.
    #[arg(long, default_value = "sandbox")]
    pub client_id: String,
    /// Client key the sandbox's POST /auth/token accepts.
    #[arg(long, default_value = "sandbox")]
    pub client_key: String,
    /// Latency of every answer in milliseconds, with optional jitter: "50" or "50+20".
    #[arg(long, default_value = "0", value_parser = parse_latency)]
    pub latency: (u64, u64),
    /// Fraction (0–1) of create requests that fail with a 5xx or a dropped connection,
    /// some after the customer was stored.
    #[arg(long, default_value_t = 0.0)]
    pub fail_rate: f64,
    /// Requests per second the sandbox accepts before answering 429 with Retry-After.
    #[arg(long)]
    pub rate_limit: Option<u32>,
    /// A rate limit that changes over time: "SECONDS:LIMIT,..." from the sandbox's start,
    /// e.g. "0:80,20:30,40:80" (instead of --rate-limit).
    #[arg(long, value_parser = crate::sandbox::Schedule::parse, conflicts_with = "rate_limit")]
    pub rate_limit_schedule: Option<crate::sandbox::Schedule>,
    /// Requests handled at once at most; beyond it 429 with Retry-After.
    #[arg(long)]
    pub max_in_flight: Option<u32>,
    /// Lifetime of tokens issued by /auth/token, in seconds.
    #[arg(long, default_value_t = 3600)]
    pub token_ttl: u64,
    /// Answer 403 past this many customers, as preproduction does past 3.
    #[arg(long)]
    pub max_customers: Option<usize>,
    /// Keep customers in this SQLite file, so a rehearsal survives a restart.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Give every new customer a card with a few transactions (to rehearse reconcile).
    #[arg(long)]
    pub seed_cards: bool,
}

/// A setting given as a value or as `auto` (found while running).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Auto<T> {
    Auto,
    Fixed(T),
}

fn parse_rate(s: &str) -> Result<Auto<f64>, String> {
    if s.eq_ignore_ascii_case("auto") {
        return Ok(Auto::Auto);
    }
    s.parse()
        .map(Auto::Fixed)
        .map_err(|_| format!("'{s}' is not a number of requests per second or 'auto'"))
}

fn parse_concurrency(s: &str) -> Result<Auto<u32>, String> {
    if s.eq_ignore_ascii_case("auto") {
        return Ok(Auto::Auto);
    }
    match s.parse::<u32>() {
        Ok(n) if (1..=1024).contains(&n) => Ok(Auto::Fixed(n)),
        _ => Err(format!("'{s}' is not a number from 1 to 1024 or 'auto'")),
    }
}

/// Exactly YYYY-MM-DD, as date_of_birth must be (chrono alone also takes 2026-2-8).
fn parse_date(s: &str) -> Result<chrono::NaiveDate, String> {
    // The same reading as a date of birth: exactly YYYY-MM-DD, a real calendar date.
    crate::validate::parse_date(s).ok_or_else(|| format!("'{s}' is not a date in YYYY-MM-DD form"))
}

/// `--delimiter`, and a profile's `delimiter`.
pub(crate) fn parse_delimiter(s: &str) -> Result<u8, String> {
    match s {
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        "\"" | "\n" | "\r" => Err(format!(
            "{s:?} cannot be the delimiter: it is part of CSV quoting or line endings"
        )),
        _ if s.len() == 1 && s.is_ascii() => Ok(s.as_bytes()[0]),
        _ => Err(format!(
            "'{s}' is not a one-character ASCII delimiter (or \"tab\")"
        )),
    }
}

/// `--encoding`, and a profile's `encoding`.
pub(crate) fn parse_encoding(s: &str) -> Result<&'static encoding_rs::Encoding, String> {
    encoding_rs::Encoding::for_label(s.trim().as_bytes()).ok_or_else(|| {
        format!("'{s}' is not an encoding label (try windows-1252, iso-8859-1, utf-16le)")
    })
}

fn parse_latency(s: &str) -> Result<(u64, u64), String> {
    let bad = || format!("'{s}' is not a latency in milliseconds like \"50\" or \"50+20\"");
    let (fixed, jitter) = s.split_once('+').unwrap_or((s, "0"));
    Ok((
        fixed.trim().parse().map_err(|_| bad())?,
        jitter.trim().parse().map_err(|_| bad())?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_exactly_yyyy_mm_dd() {
        assert!(parse_date("2026-02-28").is_ok());
        for bad in [
            "2026-2-28",
            "2026-02-30",
            "26-02-28",
            "2026/02/28",
            "2026-02-28 ",
        ] {
            assert!(parse_date(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn quoting_and_line_ending_characters_cannot_delimit() {
        assert_eq!(parse_delimiter(";"), Ok(b';'));
        assert_eq!(parse_delimiter("tab"), Ok(b'\t'));
        for bad in ["\"", "\n", "\r", ";;", "é"] {
            assert!(parse_delimiter(bad).is_err(), "{bad:?}");
        }
    }
}
