//! `--metrics-file`: the run's figures in the Prometheus text exposition format, for
//! node_exporter's textfile collector, written whole (temporary file beside it, then a
//! rename: the collector never reads half a file) when the run starts, with every heartbeat
//! line, and when it ends.
//!
//! Every value is a gauge of this invocation (a new run starts again from zero), except the
//! time of the last run that ended with exit 0, read back from the file the previous run
//! left, so an alert on its age survives failing runs.
//!
//! Owns the file's format and its state across the files of one invocation; does not own
//! the figures: the progress ([`Snapshot`]), the executor ([`Tally`]) and the report
//! ([`Counts`]) hand them in.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result};

use crate::executor::Tally;
use crate::exit::Exit;
use crate::progress::Snapshot;
use crate::status::{Counts, Status};

#[cfg(test)]
mod tests;

/// Every metric's name starts with it.
const PREFIX: &str = "cartevo_enroll_";
const LAST_SUCCESS: &str = "cartevo_enroll_last_success_timestamp_seconds";

/// Rows per status, indexed by `Status as usize`.
pub(crate) type Rows = [u64; Status::ALL.len()];

fn add(a: Tally, b: Tally) -> Tally {
    Tally {
        sent: a.sent + b.sent,
        retries: a.retries + b.retries,
        http_429: a.http_429 + b.http_429,
    }
}

/// The values one write of the file holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Values {
    /// Rows per status: whole files for the files finished, this run's rows for the file
    /// being run.
    pub rows: Rows,
    /// Rows of the file being run that an earlier run finished (not under a status yet).
    pub done_earlier: u64,
    /// Rows in the files finished and the file being run.
    pub rows_in_files: u64,
    pub tally: Tally,
    pub elapsed_seconds: f64,
    pub running: bool,
    /// `None` while running.
    pub exit_code: Option<i32>,
    /// Unix time of the last run that ended with exit 0, this one or an earlier one.
    pub last_success: Option<i64>,
}

/// The file of one invocation of `run`; clones share it (the heartbeat writes it too).
#[derive(Clone)]
pub(crate) struct Metrics {
    state: Arc<Mutex<State>>,
}

struct State {
    path: PathBuf,
    started: Instant,
    last_success: Option<i64>,
    /// Figures of the files finished.
    rows: Rows,
    rows_in_files: u64,
    tally: Tally,
}

impl Metrics {
    /// Reads the last success time back from the file a previous run left, and writes the
    /// file at once: a path that cannot be written fails before anything is sent.
    pub(crate) fn start(path: &Path) -> Result<Metrics> {
        let last_success = std::fs::read_to_string(path)
            .ok()
            .and_then(|text| last_success(&text));
        let metrics = Metrics {
            state: Arc::new(Mutex::new(State {
                path: path.to_path_buf(),
                started: Instant::now(),
                last_success,
                rows: Rows::default(),
                rows_in_files: 0,
                tally: Tally::default(),
            })),
        };
        let state = metrics.state.lock().expect("metrics lock");
        state
            .write(&state.values(None, Tally::default(), None))
            .context("--metrics-file cannot be written")?;
        drop(state);
        Ok(metrics)
    }

    /// With a heartbeat line: the files finished, plus the file being run as it is now.
    /// A failure is logged, not fatal: the run matters more than its metrics.
    pub(crate) fn progress(&self, now: &Snapshot, tally: Tally) {
        let state = self.state.lock().expect("metrics lock");
        if let Err(e) = state.write(&state.values(Some(now), tally, None)) {
            tracing::warn!("{e:#}");
        }
    }

    /// A file ended: its whole counts (earlier runs' rows too), rows and request figures.
    pub(crate) fn file_done(&self, counts: &Counts, rows: u64, tally: Tally) {
        let mut state = self.state.lock().expect("metrics lock");
        for (status, n) in counts.iter() {
            state.rows[status as usize] += n;
        }
        state.rows_in_files += rows;
        state.tally = add(state.tally, tally);
    }

    /// The invocation ended with `exit`: the last write.
    pub(crate) fn finish(&self, exit: Exit) -> Result<()> {
        let mut state = self.state.lock().expect("metrics lock");
        let code = exit.code();
        if code == 0 {
            state.last_success = Some(chrono::Utc::now().timestamp());
        }
        state.write(&state.values(None, Tally::default(), Some(code)))
    }
}

impl State {
    fn values(&self, now: Option<&Snapshot>, tally: Tally, exit_code: Option<i32>) -> Values {
        let mut rows = self.rows;
        let (mut done_earlier, mut rows_in_files) = (0, self.rows_in_files);
        if let Some(now) = now {
            for (status, n) in now.counts {
                rows[status as usize] += n;
            }
            done_earlier = now.earlier;
            rows_in_files += now.total;
        }
        Values {
            rows,
            done_earlier,
            rows_in_files,
            tally: add(self.tally, tally),
            elapsed_seconds: self.started.elapsed().as_secs_f64(),
            running: exit_code.is_none(),
            exit_code,
            last_success: self.last_success,
        }
    }

    fn write(&self, values: &Values) -> Result<()> {
        crate::files::write_whole_readable(&self.path, render(values).as_bytes())
    }
}

/// The last success time a metrics file holds, if it holds one.
pub(crate) fn last_success(text: &str) -> Option<i64> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix(LAST_SUCCESS)?.strip_prefix(' ')?;
        let value: f64 = value.trim().parse().ok()?;
        (value.is_finite() && value >= 0.0).then_some(value as i64)
    })
}

/// The text exposition format: per metric a `# HELP` line, a `# TYPE` line, then its
/// samples; no timestamps (the textfile collector refuses them); a newline at the end.
pub(crate) fn render(v: &Values) -> String {
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, samples: &[(Option<Status>, String)]| {
        out.push_str(&format!("# HELP {PREFIX}{name} {help}\n"));
        out.push_str(&format!("# TYPE {PREFIX}{name} gauge\n"));
        for (status, value) in samples {
            match status {
                // Status names are [a-z_]: nothing to escape in the label value.
                Some(s) => out.push_str(&format!("{PREFIX}{name}{{status=\"{s}\"}} {value}\n")),
                None => out.push_str(&format!("{PREFIX}{name} {value}\n")),
            }
        }
    };
    let one = |value: String| [(None, value)];
    // Every status a run gives rows: `valid` is `validate`'s only.
    let rows: Vec<_> = Status::ALL
        .iter()
        .filter(|s| **s != Status::Valid)
        .map(|s| (Some(*s), v.rows[*s as usize].to_string()))
        .collect();
    gauge(
        "rows",
        "Rows per status: whole files once finished, this run's rows of the file being run.",
        &rows,
    );
    gauge(
        "rows_done_earlier",
        "Rows of the file being run that an earlier run finished.",
        &one(v.done_earlier.to_string()),
    );
    gauge(
        "rows_in_files",
        "Rows in the files of this run so far.",
        &one(v.rows_in_files.to_string()),
    );
    gauge(
        "requests",
        "Requests sent by this run, retries included.",
        &one(v.tally.sent.to_string()),
    );
    gauge(
        "retries",
        "Requests of this run that were retries.",
        &one(v.tally.retries.to_string()),
    );
    gauge(
        "http_429",
        "Answers 429 Too Many Requests this run received.",
        &one(v.tally.http_429.to_string()),
    );
    gauge(
        "elapsed_seconds",
        "Seconds since this run started.",
        &one(format!("{:.3}", v.elapsed_seconds)),
    );
    gauge(
        "running",
        "1 while the run goes on, 0 once it ended.",
        &one(u8::from(v.running).to_string()),
    );
    if let Some(code) = v.exit_code {
        gauge(
            "exit_code",
            "The exit code the run ended with (0 done, 2 rows to fix, 3 run again, 1 fatal, \
             128+N stopped by signal N).",
            &one(code.to_string()),
        );
    }
    if let Some(t) = v.last_success {
        gauge(
            "last_success_timestamp_seconds",
            "Unix time at which the last run that ended with exit 0 ended.",
            &one(t.to_string()),
        );
    }
    out
}
