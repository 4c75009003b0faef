//! Checked, typed settings per command, built from the command line (ripgrep's `HiArgs`,
//! hyperfine's `Options`). Every flag is checked here, with a message naming it; nothing past
//! this module sees a clap type. The settings of a stage (`reconcile::Settings`,
//! `sandbox::SandboxConfig`, `executor::Policy`, `api::ApiConfig`) are that stage's own
//! types, built here.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Result, bail};
use chrono::{NaiveDate, Utc};

use crate::api::{ApiConfig, Credentials};
use crate::cli::{
    ApiArgs, Auto, CheckArgs, CommonArgs, ProgressArgs, ReadArgs, ReconcileArgs, ReportArgs,
    RunArgs, SandboxArgs, SendArgs, ValidateArgs,
};
use crate::executor::{AutoRate, Backoff, Policy, Rate};
use crate::input::{Profile, Reading};
use crate::sandbox::SandboxConfig;
use crate::validate::Rules;

/// The `--profile`, read and checked; without one, a profile that sets nothing.
fn profile(args: &ReadArgs) -> Result<Profile> {
    Ok(match &args.profile {
        Some(path) => Profile::load(path)?,
        None => Profile::default(),
    })
}

/// How the files are read: `--delimiter`, `--encoding` and `--sheet`, each winning over the
/// profile's setting, and the profile's `[columns]` and `[values.<field>]`.
fn reading(args: ReadArgs, profile: &Profile) -> Reading {
    let base = profile.reading();
    Reading {
        delimiter: args.delimiter.unwrap_or(base.delimiter),
        encoding: args.encoding.or(base.encoding),
        sheet: args.sheet.or(base.sheet),
        ..base
    }
}

/// How the partner files of `validate` and `run` are read and checked.
#[derive(Debug, Clone)]
pub struct InputSettings {
    /// `None`: `reports/<file stem>-<UTC timestamp>/` per file.
    pub report_dir: Option<PathBuf>,
    /// The day of the 18+ check; `None`: the day each file starts, UTC.
    pub as_of: Option<NaiveDate>,
    /// `None`: each file's own folder. A profile's is already joined to the profile's folder.
    pub documents_dir: Option<PathBuf>,
    pub strict: bool,
    pub reading: Reading,
    pub date_format: Option<crate::validate::DateFormat>,
    /// `--keep-phone-format`: phone numbers sent as written.
    pub keep_phone_format: bool,
}

impl InputSettings {
    /// Fails when the `--profile` cannot be read or is not right.
    pub fn new(args: CommonArgs) -> Result<InputSettings> {
        let profile = profile(&args.read)?;
        Ok(InputSettings {
            report_dir: args.report_dir,
            as_of: args.as_of,
            documents_dir: args.documents_dir.or_else(|| profile.documents_dir.clone()),
            strict: args.strict,
            date_format: args.date_format.or(profile.date_format),
            reading: reading(args.read, &profile),
            keep_phone_format: args.keep_phone_format,
        })
    }

    /// The validation rules for one file: its documents come from `--documents-dir`, or
    /// from the file's own folder.
    pub fn rules(&self, file: &Path) -> Rules {
        let documents_dir = self
            .documents_dir
            .clone()
            .unwrap_or_else(|| match file.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            });
        Rules {
            as_of: self.as_of.unwrap_or_else(|| Utc::now().date_naive()),
            documents_dir,
            strict: self.strict,
            date_format: self.date_format,
            keep_phone_format: self.keep_phone_format,
        }
    }
}

/// `validate FILE...`.
#[derive(Debug, Clone)]
pub struct ValidateSettings {
    pub files: Vec<PathBuf>,
    pub input: InputSettings,
}

impl ValidateSettings {
    pub fn new(args: ValidateArgs) -> Result<ValidateSettings> {
        Ok(ValidateSettings {
            files: args.files,
            input: InputSettings::new(args.common)?,
        })
    }
}

/// `run FILE...`.
#[derive(Debug, Clone)]
pub struct RunSettings {
    pub files: Vec<PathBuf>,
    pub input: InputSettings,
    pub journal: PathBuf,
    pub api: ApiConfig,
    pub send: Policy,
    pub watch: Watch,
}

/// How `run` says where it is: the heartbeat's interval and the metrics file.
#[derive(Debug, Clone)]
pub struct Watch {
    /// `--progress-interval`; `None`: no heartbeat.
    pub progress_interval: Option<Duration>,
    pub metrics_file: Option<PathBuf>,
}

impl Default for Watch {
    /// The defaults of the flags: a heartbeat a minute, no metrics file.
    fn default() -> Watch {
        Watch {
            progress_interval: Some(Duration::from_secs(60)),
            metrics_file: None,
        }
    }
}

/// `--progress-interval`, checked: a number of seconds, 0 for none, at most a day.
pub fn progress_interval(args: &ProgressArgs) -> Result<Option<Duration>> {
    let secs = args.progress_interval;
    // A line (and a metrics file written) more often than ten times a second is noise.
    if !(secs == 0.0 || (0.1..=86_400.0).contains(&secs)) {
        bail!(
            "--progress-interval must be 0 (no progress lines) or a number of seconds from 0.1 \
             to 86400"
        );
    }
    Ok((secs > 0.0).then(|| Duration::from_secs_f64(secs)))
}

impl RunSettings {
    /// Fails on a bad flag, or when there are no credentials, before anything starts.
    pub fn new(args: RunArgs) -> Result<RunSettings> {
        let mut api = api(&args.api, &args.send)?;
        api.provider_enroll = !args.no_provider_enroll;
        Ok(RunSettings {
            api,
            send: policy(&args.send)?,
            files: args.files,
            input: InputSettings::new(args.common)?,
            journal: args.journal.journal,
            watch: Watch {
                progress_interval: progress_interval(&args.progress)?,
                metrics_file: args.metrics_file,
            },
        })
    }
}

/// `report FILE`.
#[derive(Debug, Clone)]
pub struct ReportSettings {
    pub file: PathBuf,
    pub journal: PathBuf,
    pub report_dir: Option<PathBuf>,
    pub reading: Reading,
}

impl ReportSettings {
    pub fn new(args: ReportArgs) -> Result<ReportSettings> {
        let profile = profile(&args.read)?;
        Ok(ReportSettings {
            file: args.file,
            journal: args.journal.journal,
            report_dir: args.report_dir,
            reading: reading(args.read, &profile),
        })
    }
}

/// `reconcile [FILE...]`: the stage's settings and the client's.
#[derive(Debug, Clone)]
pub struct ReconcileSettings {
    pub reconcile: crate::reconcile::Settings,
    pub api: ApiConfig,
}

impl ReconcileSettings {
    pub fn new(args: ReconcileArgs) -> Result<ReconcileSettings> {
        let profile = profile(&args.read)?;
        Ok(ReconcileSettings {
            api: api(&args.api, &args.send)?,
            reconcile: crate::reconcile::Settings {
                send: policy(&args.send)?,
                files: args.files,
                journal: args.journal.journal,
                report_dir: args.report_dir,
                date_format: profile.date_format,
                reading: reading(args.read, &profile),
                cards: args.cards,
                transactions: args.transactions,
                resolve_duplicates: args.resolve_duplicates,
                progress_interval: progress_interval(&args.progress)?,
            },
        })
    }
}

/// `sandbox`: where to listen, and the double's knobs.
#[derive(Debug, Clone)]
pub struct SandboxSettings {
    pub port: u16,
    pub sandbox: SandboxConfig,
}

impl SandboxSettings {
    pub fn new(args: SandboxArgs) -> SandboxSettings {
        SandboxSettings {
            port: args.port,
            sandbox: SandboxConfig {
                token: args.token,
                client_id: args.client_id,
                client_key: args.client_key,
                latency: Duration::from_millis(args.latency.0),
                jitter: Duration::from_millis(args.latency.1),
                fail_rate: args.fail_rate,
                rate_limit: args
                    .rate_limit_schedule
                    .or(args.rate_limit.map(crate::sandbox::Schedule::fixed)),
                max_in_flight: args.max_in_flight,
                token_ttl: Duration::from_secs(args.token_ttl),
                max_customers: args.max_customers,
                state: args.state,
                seed_cards: args.seed_cards,
            },
        }
    }
}

/// Checked pacing, concurrency and retries: the same for `run` and `reconcile`.
pub fn policy(send: &SendArgs) -> Result<Policy> {
    if !(send.max_rate >= Rate::SLOWEST && send.max_rate.is_finite()) {
        bail!("--max-rate must be a number of requests per second, at least one a day");
    }
    let (rate, auto_rate) = match send.rate {
        Auto::Auto => (
            Rate::PerSecond(AutoRate::FIRST.min(send.max_rate)),
            Some(AutoRate {
                learned: None,
                max: send.max_rate,
            }),
        ),
        Auto::Fixed(rate) => (fixed_rate(rate)?, None),
    };
    let (concurrency, auto_concurrency) = match send.concurrency {
        Auto::Auto => (send.max_concurrency, true),
        Auto::Fixed(n) => (n, false),
    };
    if let Auto::Fixed(r) = send.rate
        && r > 1000.0
        && f64::from(concurrency) < r / 1000.0
    {
        // A worker waits at least the timer's millisecond between its turns.
        tracing::warn!(
            "--rate {r} cannot be reached with --concurrency {concurrency}: each request in \
             flight takes at most about 1,000 turns a second; use --concurrency {} or more",
            (r / 1000.0).ceil()
        );
    }
    Ok(Policy {
        rate,
        auto_rate,
        concurrency: concurrency as usize,
        auto_concurrency,
        max_attempts: send.max_attempts,
        backoff: Backoff {
            base: Duration::from_millis(send.backoff_ms),
            cap: Duration::from_secs(30),
        },
        grace: timeout(send)?.clamp(Duration::from_secs(1), Duration::from_secs(30)),
    })
}

/// A fixed `--rate`: 0 for no limit, or at least one request a day.
fn fixed_rate(rate: f64) -> Result<Rate> {
    if !(rate >= 0.0 && rate.is_finite()) {
        bail!("--rate must be a number of requests per second, 0 for no limit, or 'auto'");
    }
    if rate == 0.0 {
        Ok(Rate::Unlimited)
    } else if rate < Rate::SLOWEST {
        bail!(
            "--rate {rate} is below one request a day ({:.8}/s): use 0 for no limit, or a rate \
             of at least one a day",
            Rate::SLOWEST
        );
    } else {
        Ok(Rate::PerSecond(rate))
    }
}

/// The longest `--timeout` taken: a request that may take longer than an hour is a typo (or
/// `1e30`, which no `Duration` holds), and a row would hold its place in flight that long.
const MAX_TIMEOUT_SECS: f64 = 3600.0;

/// `--timeout`, checked: a positive number of seconds, at most an hour.
fn timeout(send: &SendArgs) -> Result<Duration> {
    checked_timeout(send.timeout)
}

/// A `--timeout` in seconds, checked.
fn checked_timeout(secs: f64) -> Result<Duration> {
    if !(secs > 0.0 && secs.is_finite()) {
        bail!("--timeout must be a positive number of seconds");
    }
    if secs > MAX_TIMEOUT_SECS {
        bail!(
            "--timeout is more than an hour, the longest a request may take: give a number of \
             seconds up to {MAX_TIMEOUT_SECS}"
        );
    }
    Ok(Duration::from_secs_f64(secs))
}

/// The client's settings: the base URL, the credentials the environment or `--token-file`
/// give, and the `--ca-cert` files. Fails when there are no credentials, before anything
/// starts; the client reads the `--ca-cert` files when it is built (`api::tls`), before it
/// sends anything.
pub fn api(api: &ApiArgs, send: &SendArgs) -> Result<ApiConfig> {
    let timeout = timeout(send)?;
    Ok(ApiConfig {
        base_url: api.base_url.clone(),
        credentials: credentials(api)?,
        timeout,
        // Documents files are uploaded by `run` only, which sets it from its own flag.
        provider_enroll: true,
        ca_certs: api.ca_cert.clone(),
    })
}

/// `check`'s settings: the API flags and a timeout for each step. The credentials are
/// looked up by the check itself, as one of its steps.
#[derive(Debug, Clone)]
pub struct CheckSettings {
    pub api: ApiArgs,
    pub timeout: Duration,
}

impl CheckSettings {
    pub fn new(args: CheckArgs) -> Result<CheckSettings> {
        Ok(CheckSettings {
            timeout: checked_timeout(args.timeout)?,
            api: args.api,
        })
    }
}

/// The credentials the environment or `--token-file` give; fails when there are none.
pub fn credentials(api: &ApiArgs) -> Result<Credentials> {
    Ok(if let Some(path) = &api.token_file {
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
    })
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(rate: f64) -> SendArgs {
        SendArgs {
            rate: Auto::Fixed(rate),
            concurrency: Auto::Fixed(4),
            max_rate: 100.0,
            max_concurrency: 64,
            max_attempts: 5,
            timeout: 30.0,
            backoff_ms: 500,
        }
    }

    #[test]
    fn a_flag_wins_over_the_profile_and_the_profile_over_the_default() {
        let profile = Profile::parse(
            "delimiter = \";\"\nsheet = \"Clients\"\nencoding = \"latin1\"\n\
             [columns]\nemail = \"Courriel\"\n",
            Path::new("acme.toml"),
        )
        .unwrap();
        let args = |delimiter, sheet: Option<&str>| ReadArgs {
            profile: None,
            delimiter,
            encoding: None,
            sheet: sheet.map(str::to_string),
        };
        let from_profile = reading(args(None, None), &profile);
        assert_eq!(from_profile.delimiter, b';');
        assert_eq!(from_profile.sheet.as_deref(), Some("Clients"));
        assert_eq!(from_profile.encoding, Some(encoding_rs::WINDOWS_1252));
        assert!(from_profile.mapping.is_some());
        let flags = reading(args(Some(b'\t'), Some("Feuil1")), &profile);
        assert_eq!(flags.delimiter, b'\t');
        assert_eq!(flags.sheet.as_deref(), Some("Feuil1"));
        assert!(flags.mapping.is_some(), "no flag replaces the columns");
        let neither = reading(args(None, None), &Profile::default());
        assert_eq!(neither.delimiter, b',');
        assert!(neither.mapping.is_none());
    }

    #[test]
    fn a_rate_is_zero_or_at_least_one_a_day() {
        assert_eq!(policy(&send(0.0)).unwrap().rate, Rate::Unlimited);
        for ok in [Rate::SLOWEST, 0.5, 5.0, 1e6] {
            assert_eq!(policy(&send(ok)).unwrap().rate, Rate::PerSecond(ok));
        }
        for bad in [-1.0, 1e-9, f64::NAN, f64::INFINITY] {
            let err = policy(&send(bad)).expect_err("refused");
            assert!(err.to_string().contains("--rate"), "{err}");
        }
    }

    #[test]
    fn auto_starts_at_five_under_its_caps() {
        let args = SendArgs {
            rate: Auto::Auto,
            concurrency: Auto::Auto,
            max_rate: 40.0,
            max_concurrency: 12,
            ..send(5.0)
        };
        let p = policy(&args).unwrap();
        assert_eq!(p.rate, Rate::PerSecond(5.0));
        assert_eq!(
            p.auto_rate,
            Some(AutoRate {
                learned: None,
                max: 40.0
            })
        );
        assert_eq!((p.concurrency, p.auto_concurrency), (12, true));
        // The claim is sized for the most the rate may reach.
        assert_eq!(p.claim_batch(), 20);
        let low = policy(&SendArgs {
            max_rate: 2.0,
            ..args.clone()
        })
        .unwrap();
        assert_eq!(low.rate, Rate::PerSecond(2.0));
        for bad in [0.0, -1.0, f64::NAN] {
            let err = policy(&SendArgs {
                max_rate: bad,
                ..args.clone()
            })
            .unwrap_err();
            assert!(err.to_string().contains("--max-rate"), "{err}");
        }
    }

    #[test]
    fn a_timeout_is_positive_and_at_most_an_hour() {
        let with = |timeout| SendArgs {
            timeout,
            ..send(5.0)
        };
        let api_args = ApiArgs {
            base_url: "http://127.0.0.1:1/api/v1".into(),
            token_file: Some("token".into()),
            ca_cert: Vec::new(),
        };
        for ok in [0.001, 30.0, 3600.0] {
            assert_eq!(
                api(&api_args, &with(ok)).unwrap().timeout,
                Duration::from_secs_f64(ok)
            );
            assert!(policy(&with(ok)).is_ok());
        }
        // 1e30 seconds is more than a `Duration` holds: it must be refused, not panic.
        for bad in [0.0, -1.0, 3600.5, 1e30, f64::NAN, f64::INFINITY] {
            for err in [
                api(&api_args, &with(bad)).expect_err("refused"),
                policy(&with(bad)).expect_err("refused"),
            ] {
                assert!(err.to_string().contains("--timeout"), "{bad}: {err}");
            }
        }
        let err = api(&api_args, &with(1e30)).unwrap_err().to_string();
        assert!(err.contains("more than an hour"), "{err}");
    }

    #[test]
    fn claims_and_shards_follow_the_rate() {
        let at = |rate| policy(&send(rate)).unwrap();
        assert_eq!(at(0.0).claim_batch(), 256);
        assert_eq!(at(5.0).claim_batch(), 3);
        assert_eq!(at(5.0).shards(), 1);
        // Never more sender threads than requests in flight.
        let mut one = at(0.0);
        one.concurrency = 1;
        assert_eq!(one.shards(), 1);
    }
}
