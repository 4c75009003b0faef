//! Where a run is: the bar on stderr at a terminal, the heartbeat line in the log off one,
//! and the figures both read ([`Snapshot`]).
//!
//! Rows finished by an earlier run count towards "done" but not towards the rate: the rate
//! is of the rows handled by this run, over a recent window, so a resumed run does not start
//! at thousands of rows a second with an ETA of zero. indicatif's own `{per_sec}` and
//! `{eta}` cannot tell the two kinds of rows apart, so the bar draws ours.
//!
//! Per-row cost: [`RowProgress::done`] is one relaxed atomic add, plus indicatif's `inc`
//! when the bar is drawn (itself an atomic add that takes the bar's lock only when a redraw
//! is due). The counts, rate and ETA are formatted only when the bar redraws (at most four
//! times a second) or a heartbeat line is logged.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{HumanCount, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::status::Status;

#[cfg(test)]
mod tests;

/// A bar of `len` steps (`None`: a counter with no end) drawn with `template`.
pub(crate) fn bar(len: Option<u64>, template: &str) -> ProgressBar {
    let target = if crate::output::bars_allowed() {
        ProgressDrawTarget::stderr_with_hz(4)
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(len, target);
    bar.set_style(
        ProgressStyle::with_template(template)
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar
}

/// Now, on tokio's clock when there is one (a test's paused clock), else the system's.
pub(crate) fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// How far back the rate looks: long enough to smooth pacing and retries, short enough to
/// follow a change of speed (a 429 pause, a slower API) within a minute.
const WINDOW: Duration = Duration::from_secs(30);

/// Samples of the rate window are taken at most this often (bounds the window's length).
const SAMPLE_EVERY: Duration = Duration::from_millis(250);

/// The rate of rows handled by this run over the last [`WINDOW`]: samples of (when, rows
/// handled so far), the oldest one at or before the window's start kept as its base.
#[derive(Debug)]
pub(crate) struct Meter {
    samples: VecDeque<(Instant, u64)>,
}

impl Meter {
    pub(crate) fn new(started: Instant) -> Meter {
        Meter {
            samples: VecDeque::from([(started, 0)]),
        }
    }

    /// Rows per second at `now`, with `handled` rows handled by this run so far; `None` in
    /// the first second, before a rate means anything.
    pub(crate) fn rate(&mut self, now: Instant, handled: u64) -> Option<f64> {
        let last = *self.samples.back().expect("never empty");
        if now.saturating_duration_since(last.0) >= SAMPLE_EVERY {
            self.samples.push_back((now, handled));
        }
        let start = now.checked_sub(WINDOW);
        while self.samples.len() > 1 && start.is_some_and(|start| self.samples[1].0 <= start) {
            self.samples.pop_front();
        }
        let (then, base) = self.samples[0];
        let seconds = now.saturating_duration_since(then).as_secs_f64();
        (seconds >= 1.0).then(|| handled.saturating_sub(base) as f64 / seconds)
    }
}

/// Where a file's run is, as the heartbeat logs it and the metrics file writes it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Snapshot {
    /// Rows done, by this run or an earlier one.
    pub done: u64,
    pub total: u64,
    /// Rows this run finished, per status.
    pub counts: [(Status, u64); Status::ALL.len()],
    /// Rows an earlier run had finished (not sent again).
    pub earlier: u64,
    /// Rows per second handled by this run lately; `None` in its first second.
    pub rate: Option<f64>,
    /// At that rate, how long the rows left take; `None` without a rate above zero.
    pub eta: Option<Duration>,
    pub elapsed: Duration,
    /// The rate requests are paced at now (it moves with `--rate auto`); `None` unlimited
    /// or not known.
    pub paced: Option<f64>,
}

impl Snapshot {
    pub(crate) fn count(&self, status: Status) -> u64 {
        self.counts[status as usize].1
    }

    /// "created 1,204  failed 3  done earlier 500": the statuses this run has seen.
    pub(crate) fn counts_text(&self) -> String {
        let mut text = String::new();
        let earlier = ("done earlier", self.earlier);
        let seen = self.counts.iter().map(|(s, n)| (s.as_str(), *n));
        for (name, n) in seen.chain([earlier]).filter(|(_, n)| *n > 0) {
            if !text.is_empty() {
                text.push_str("  ");
            }
            let _ = write!(text, "{name} {}", HumanCount(n));
        }
        text
    }

    /// The heartbeat line, through `tracing` so `--log-format json` makes it one object.
    pub(crate) fn log(&self, file: &str) {
        let n = |s| self.count(s);
        tracing::info!(
            file,
            done = self.done,
            total = self.total,
            created = n(Status::Created),
            duplicate = n(Status::Duplicate),
            duplicate_in_file = n(Status::DuplicateInFile),
            already_enrolled = n(Status::AlreadyEnrolled),
            invalid = n(Status::Invalid),
            rejected = n(Status::Rejected),
            failed = n(Status::Failed),
            pending = n(Status::Pending),
            done_earlier = self.earlier,
            rate = self.rate.map(|r| (r * 10.0).round() / 10.0),
            paced_rate = self.paced.map(|r| (r * 10.0).round() / 10.0),
            eta_seconds = self.eta.map(|d| d.as_secs()),
            elapsed_seconds = self.elapsed.as_secs(),
            "progress: {}/{} rows ({}%)  {}{}  {}  ETA {}",
            HumanCount(self.done),
            HumanCount(self.total),
            (self.done * 100).checked_div(self.total).unwrap_or(100),
            rate_text(self.rate),
            paced_text(self.paced),
            self.counts_text(),
            eta_text(self.eta),
        );
    }
}

/// "4.9/s", "123.4/s", "2,551/s": one decimal at most, thousands separated; "-/s" without
/// a rate yet.
pub(crate) fn rate_text(rate: Option<f64>) -> String {
    match rate {
        None => "-/s".to_owned(),
        Some(r) if r >= 1000.0 => format!("{}/s", HumanCount(r.round() as u64)),
        Some(r) => format!("{r:.1}/s"),
    }
}

/// "45s", "3m 05s", "2h 07m"; "-" when unknown.
pub(crate) fn eta_text(eta: Option<Duration>) -> String {
    let Some(eta) = eta else {
        return "-".to_owned();
    };
    let s = eta.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
    }
}

/// The figures shared by the bar, the senders and the heartbeat.
#[derive(Debug)]
struct Figures {
    total: u64,
    started: Instant,
    counts: [AtomicU64; Status::ALL.len()],
    earlier: AtomicU64,
    /// Taken only to read the rate: by a redraw or a heartbeat, never per row.
    meter: Mutex<Meter>,
    /// Where the rate paced at is read, once sending starts.
    paced: std::sync::OnceLock<Arc<crate::executor::Stats>>,
}

impl Figures {
    fn snapshot(&self, now: Instant) -> Snapshot {
        let counts = Status::ALL.map(|s| (s, self.counts[s as usize].load(Ordering::Relaxed)));
        let earlier = self.earlier.load(Ordering::Relaxed);
        let handled: u64 = counts.iter().map(|(_, n)| n).sum();
        let done = handled + earlier;
        let rate = self.meter.lock().expect("meter lock").rate(now, handled);
        let left = self.total.saturating_sub(done);
        let eta = match rate {
            _ if left == 0 => Some(Duration::ZERO),
            // Whole seconds, rounded up: rows left never read as "ETA 0s".
            Some(r) if r > 0.0 => Duration::try_from_secs_f64((left as f64 / r).ceil()).ok(),
            _ => None,
        };
        Snapshot {
            done,
            total: self.total,
            counts,
            earlier,
            rate,
            eta,
            elapsed: now.saturating_duration_since(self.started),
            paced: self.paced.get().and_then(|s| s.rate()),
        }
    }
}

/// `run`'s progress of one file: rows done of the file's rows, with the counts of what was
/// done. Clones share it.
#[derive(Clone)]
pub(crate) struct RowProgress {
    bar: ProgressBar,
    /// Read once: asking the bar takes its lock, which every sender thread would share.
    hidden: bool,
    figures: Arc<Figures>,
}

impl RowProgress {
    /// Drawn on stderr when it is a terminal, and neither `--log-format json` nor `--quiet`
    /// asks for no bar (then the heartbeat speaks, as off a terminal).
    pub(crate) fn new(total: u64) -> RowProgress {
        let target = match crate::output::bars_allowed() {
            true => ProgressDrawTarget::stderr_with_hz(4),
            false => ProgressDrawTarget::hidden(),
        };
        RowProgress::with_target(total, target)
    }

    pub(crate) fn with_target(total: u64, target: ProgressDrawTarget) -> RowProgress {
        let figures = Arc::new(Figures {
            total,
            started: now(),
            counts: Default::default(),
            earlier: AtomicU64::new(0),
            meter: Mutex::new(Meter::new(now())),
            paced: std::sync::OnceLock::new(),
        });
        let bar = ProgressBar::with_draw_target(Some(total), target);
        bar.set_style(running_style(&figures));
        let hidden = bar.is_hidden();
        if !hidden {
            // Redrawn while no row finishes (a 429 pause, a stop waiting on requests in
            // flight), so the clock and the rate never look frozen.
            bar.enable_steady_tick(Duration::from_millis(500));
        }
        RowProgress {
            bar,
            hidden,
            figures,
        }
    }

    /// Shows the rate requests are paced at, read from `stats` (it moves with `--rate auto`).
    pub(crate) fn with_rate(self, stats: Arc<crate::executor::Stats>) -> RowProgress {
        let _ = self.figures.paced.set(stats);
        self
    }

    /// Whether the bar is drawn (stderr is a terminal): if not, the heartbeat speaks.
    pub(crate) fn is_hidden(&self) -> bool {
        self.hidden
    }

    /// One row done: `None` for a row an earlier run finished.
    pub(crate) fn done(&self, status: Option<Status>) {
        match status {
            Some(s) => &self.figures.counts[s as usize],
            None => &self.figures.earlier,
        }
        .fetch_add(1, Ordering::Relaxed);
        if !self.hidden {
            self.bar.inc(1);
        }
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        self.figures.snapshot(now())
    }

    /// Sending is stopping (a signal, a fatal error): says so while requests in flight
    /// finish.
    pub(crate) fn stopping(&self, why: &str) {
        self.bar
            .set_message(format!("stopping ({why}): finishing requests in flight"));
    }

    /// Clears the bar: the file's summary follows.
    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }

    /// Replaces the bar by a line of its last state, saying the run stopped and how to go
    /// on. (indicatif's `abandon` leaves no line break after the bar: the next log line
    /// would start on it.)
    pub(crate) fn finish_stopped(&self, why: &str) {
        let message = format!("stopped ({why}): run again to resume");
        self.bar.set_message(message.clone());
        self.bar.finish_and_clear();
        if !self.hidden {
            let now = self.snapshot();
            eprintln!(
                "{} {}/{} rows  {}  {message}",
                indicatif::FormattedDuration(now.elapsed),
                HumanCount(now.done),
                HumanCount(now.total),
                now.counts_text(),
            );
        }
    }
}

/// A style key that writes what `f` makes of the figures.
fn key(
    figures: &Arc<Figures>,
    f: fn(&Snapshot) -> String,
) -> impl Fn(&ProgressState, &mut dyn std::fmt::Write) + Send + Sync + Clone + 'static {
    let figures = Arc::clone(figures);
    move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
        let _ = w.write_str(&f(&figures.snapshot(now())));
    }
}

/// " (paced 48.5/s)" after the measured rate, when requests are paced.
fn paced_text(paced: Option<f64>) -> String {
    match paced {
        Some(r) => format!(" (paced {})", rate_text(Some(r))),
        None => String::new(),
    }
}

fn running_style(figures: &Arc<Figures>) -> ProgressStyle {
    ProgressStyle::with_template(
        "{elapsed_precise} [{bar:30}] {human_pos}/{human_len} rows  {rate}  ETA {left}  \
         {counts}  {msg}",
    )
    .expect("valid template")
    .progress_chars("=> ")
    .with_key(
        "rate",
        key(figures, |s| {
            format!("{}{}", rate_text(s.rate), paced_text(s.paced))
        }),
    )
    .with_key("left", key(figures, |s| eta_text(s.eta)))
    .with_key("counts", key(figures, Snapshot::counts_text))
}

/// Aborts its task when dropped: the heartbeat and the stop watcher end with the file.
pub(crate) struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Takes `progress`'s [`Snapshot`] every `every` (the first one `every` after the start),
/// logs it as `file`'s when given one, and hands it to `also` (the metrics file). Runs until
/// dropped or aborted.
pub(crate) async fn heartbeat(
    file: Option<String>,
    progress: RowProgress,
    every: Duration,
    mut also: impl FnMut(&Snapshot),
) {
    let start = tokio::time::Instant::now() + every;
    let mut ticks = tokio::time::interval_at(start, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let snapshot = progress.snapshot();
        if let Some(file) = &file {
            snapshot.log(file);
        }
        also(&snapshot);
    }
}
