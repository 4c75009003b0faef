//! The progress bar on stderr, for `run` and `reconcile`. indicatif hides it when stderr is
//! not a terminal; it is redrawn at most four times a second.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::status::Status;

/// A bar of `len` steps (`None`: a counter with no end) drawn with `template`.
pub(crate) fn bar(len: Option<u64>, template: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(len, ProgressDrawTarget::stderr_with_hz(4));
    bar.set_style(
        ProgressStyle::with_template(template)
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar
}

/// `run`'s bar: rows done of the file's rows, with the counts of what was sent.
#[derive(Clone)]
pub(crate) struct RowProgress {
    bar: ProgressBar,
    /// Read once: asking the bar takes its lock, which every sender thread would share.
    hidden: bool,
    counts: Arc<[AtomicU64; 4]>,
    /// Where the rate paced at now is read (it moves with `--rate auto`).
    stats: Option<Arc<crate::executor::Stats>>,
}

impl RowProgress {
    pub(crate) fn new(total: u64) -> RowProgress {
        let bar = bar(
            Some(total),
            "{elapsed_precise} [{bar:30}] {pos}/{len} rows  {per_sec}  ETA {eta}  {msg}",
        );
        RowProgress {
            hidden: bar.is_hidden(),
            bar,
            counts: Arc::new(Default::default()),
            stats: None,
        }
    }

    /// Shows the rate paced at, read from `stats`.
    pub(crate) fn with_rate(mut self, stats: Arc<crate::executor::Stats>) -> RowProgress {
        self.stats = Some(stats);
        self
    }

    /// One row done: `None` for a row an earlier run finished.
    pub(crate) fn done(&self, status: Option<Status>) {
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
            let rate = match self.stats.as_ref().and_then(|s| s.rate()) {
                Some(r) => format!("  rate {r:.1}/s"),
                None => String::new(),
            };
            self.bar.set_message(format!(
                "created {}  duplicate {}  failed {}{rate}",
                c.load(Ordering::Relaxed),
                d.load(Ordering::Relaxed),
                f.load(Ordering::Relaxed)
            ));
        }
        self.bar.inc(1);
    }

    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
