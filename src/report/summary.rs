//! summary.json: the file's identity, counts per status, the commonest problems, dates that
//! read two ways, timing, request figures and the exit code. Its shape is pinned by
//! schemas/summary.schema.json. [`Figures`] and [`stage_json`] serve reconcile-summary.json
//! too.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::executor::Tally;
use crate::exit::Exit;
use crate::files::Ready;
use crate::plan::AmbiguousDates;
use crate::status::{Counts, Status};

use super::CommonProblems;

/// The command a summary is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SummaryCommand {
    Validate,
    Run,
    Report,
    Reconcile,
}

#[derive(Debug, Clone, Serialize)]
pub struct SummaryInput {
    pub path: String,
    pub sha256: String,
    pub rows: u64,
}

impl SummaryInput {
    pub fn new(path: &str, sha256: &str, rows: u64) -> Self {
        SummaryInput {
            path: path.to_string(),
            sha256: sha256.to_string(),
            rows,
        }
    }
}

/// When a command ran and what it sent.
#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    pub started_at: String,
    pub ended_at: String,
    pub elapsed_seconds: f64,
    pub requests_sent: u64,
    pub retries: u64,
    pub http_429_seen: u64,
}

impl Figures {
    pub fn new(started: DateTime<Utc>, ended: DateTime<Utc>, tally: Tally) -> Figures {
        Figures {
            started_at: stamp(started),
            ended_at: stamp(ended),
            elapsed_seconds: (ended - started).num_milliseconds() as f64 / 1000.0,
            requests_sent: tally.sent,
            retries: tally.retries,
            http_429_seen: tally.http_429,
        }
    }

    /// From times as [`stamp`] wrote them (the journal's); one that does not read is now.
    pub fn recorded(started: &str, ended: Option<&str>, tally: Tally) -> Figures {
        let parse = |t: &str| {
            DateTime::parse_from_rfc3339(t)
                .map(|t| t.with_timezone(&Utc))
                .ok()
        };
        let started = parse(started).unwrap_or_else(Utc::now);
        let ended = ended.and_then(parse).unwrap_or_else(Utc::now);
        Figures::new(started, ended, tally)
    }
}

/// How fast a run's requests went.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Rates {
    /// The rate paced at when sending ended (with `--rate auto`, the one reached); `None`
    /// (null) when unlimited.
    pub rate_final: Option<f64>,
    /// Requests sent per second of sending, retries included; `None` (null) when nothing
    /// was sent.
    pub rate_mean: Option<f64>,
}

impl Rates {
    /// `sent` requests in `seconds` of sending, paced at `rate_final` at the end. Rounded to
    /// a hundredth.
    pub fn new(rate_final: Option<f64>, sent: u64, seconds: f64) -> Rates {
        let hundredths = |r: f64| (r * 100.0).round() / 100.0;
        Rates {
            rate_final: rate_final.map(hundredths),
            rate_mean: (sent > 0 && seconds > 0.0).then(|| hundredths(sent as f64 / seconds)),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub command: SummaryCommand,
    pub input: SummaryInput,
    /// Every status of the contract, zeros included, so a script never meets a missing key.
    pub counts: BTreeMap<&'static str, u64>,
    /// The commonest problems of the rows, set by [`super::Report::finish`] from the rows
    /// it wrote.
    pub problems: CommonProblems,
    /// `validate` and `run`: how many of the dates of birth the command read were ambiguous.
    /// `report` has none: the journal keeps no dates.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ambiguous_count"
    )]
    pub ambiguous_dates: Option<AmbiguousDates>,
    #[serde(flatten)]
    pub figures: Figures,
    /// `run`: the pace of the requests.
    #[serde(flatten)]
    pub rates: Option<Rates>,
    pub exit_code: i32,
    /// Why the run stopped early, when it did (credentials refused, interrupted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

impl Summary {
    /// The exit code is what the counts say; [`Summary::stopped`] overrides it.
    pub fn new(
        command: SummaryCommand,
        input: SummaryInput,
        counts: Counts,
        figures: Figures,
    ) -> Summary {
        Summary {
            command,
            input,
            counts: Status::ALL
                .into_iter()
                .map(|s| (s.as_str(), counts.get(s)))
                .collect(),
            problems: CommonProblems::default(),
            ambiguous_dates: None,
            figures,
            rates: None,
            exit_code: counts.exit(command == SummaryCommand::Validate).code(),
            stopped: None,
        }
    }

    /// The dates of birth the command read (`validate`, `run`).
    pub fn dates(mut self, dates: AmbiguousDates) -> Summary {
        self.ambiguous_dates = Some(dates);
        self
    }

    /// How fast the requests went (`run`).
    pub fn rates(mut self, rates: Rates) -> Summary {
        self.rates = Some(rates);
        self
    }

    /// The run stopped early: `exit` says how, `why` says why.
    pub fn stopped(mut self, exit: Exit, why: String) -> Summary {
        self.exit_code = exit.code();
        self.stopped = Some(why);
        self
    }

    pub fn exit(&self) -> Exit {
        Exit::from_code(self.exit_code)
    }
}

/// summary.json gives the count only; the terminal says of how many and read how.
fn ambiguous_count<S: serde::Serializer>(
    dates: &Option<AmbiguousDates>,
    out: S,
) -> Result<S::Ok, S::Error> {
    dates.map(|d| d.ambiguous).serialize(out)
}

pub fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A summary file (pretty JSON and a final line break) written and synced beside its place,
/// for a report that puts all its files in place together (see [`crate::files::Staged`]).
pub fn stage_json(path: &Path, value: &impl Serialize) -> Result<Ready> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    crate::files::stage(path, text.as_bytes())
}
