use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::ProgressDrawTarget;

use super::*;

fn hidden(total: u64) -> RowProgress {
    RowProgress::with_target(total, ProgressDrawTarget::hidden())
}

#[test]
fn rates_have_one_decimal_at_most_and_big_ones_thousands_separators() {
    assert_eq!(rate_text(Some(4.94)), "4.9/s");
    assert_eq!(rate_text(Some(0.04)), "0.0/s");
    assert_eq!(rate_text(Some(123.44)), "123.4/s");
    assert_eq!(rate_text(Some(2551.3)), "2,551/s");
    assert_eq!(rate_text(Some(1_234_567.8)), "1,234,568/s");
    assert_eq!(rate_text(None), "-/s");
}

#[test]
fn etas_read_as_hours_minutes_seconds() {
    let eta = |s| eta_text(Some(Duration::from_secs(s)));
    assert_eq!(eta(0), "0s");
    assert_eq!(eta(45), "45s");
    assert_eq!(eta(185), "3m 05s");
    assert_eq!(eta(7620), "2h 07m");
    assert_eq!(eta_text(None), "-");
}

#[tokio::test(start_paused = true)]
async fn a_resumed_run_counts_only_its_own_rows_in_the_rate() {
    let progress = hidden(1000);
    // 900 rows an earlier run finished go by at once: they are not 900 rows a second.
    for _ in 0..900 {
        progress.done(None);
    }
    assert_eq!(
        progress.snapshot().rate,
        None,
        "no rate in the first second"
    );
    for _ in 0..10 {
        tokio::time::advance(Duration::from_secs(1)).await;
        for _ in 0..5 {
            progress.done(Some(Status::Created));
        }
        progress.snapshot();
    }
    let now = progress.snapshot();
    assert_eq!(now.done, 950);
    assert_eq!(now.earlier, 900);
    assert_eq!(now.count(Status::Created), 50);
    assert_eq!(now.rate, Some(5.0));
    // 50 rows left at 5 a second.
    assert_eq!(now.eta, Some(Duration::from_secs(10)));
    assert_eq!(now.elapsed, Duration::from_secs(10));
    assert_eq!(now.counts_text(), "created 50  done earlier 900");
}

#[tokio::test(start_paused = true)]
async fn the_rate_follows_the_last_thirty_seconds() {
    let progress = hidden(10_000);
    // A minute at 10 rows a second, then 40 seconds at 2.
    for second in 0..100 {
        tokio::time::advance(Duration::from_secs(1)).await;
        let n = if second < 60 { 10 } else { 2 };
        for _ in 0..n {
            progress.done(Some(Status::Created));
        }
        progress.snapshot();
    }
    let now = progress.snapshot();
    assert_eq!(now.rate, Some(2.0));
    assert_eq!(now.done, 680);
    assert_eq!(now.eta, Some(Duration::from_secs((10_000 - 680) / 2)));
}

#[tokio::test(start_paused = true)]
async fn no_progress_for_a_while_is_a_rate_of_zero_and_no_eta() {
    let progress = hidden(10);
    progress.done(Some(Status::Failed));
    for _ in 0..40 {
        tokio::time::advance(Duration::from_secs(1)).await;
        progress.snapshot();
    }
    let now = progress.snapshot();
    assert_eq!(now.rate, Some(0.0));
    assert_eq!(now.eta, None);
    assert_eq!(now.counts_text(), "failed 1");
}

#[tokio::test(start_paused = true)]
async fn the_heartbeat_hands_over_a_snapshot_every_interval() {
    let progress = hidden(20);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let beat = {
        let seen = Arc::clone(&seen);
        tokio::spawn(heartbeat(
            Some("f.csv".into()),
            progress.clone(),
            Duration::from_secs(1),
            move |s| seen.lock().unwrap().push(s.clone()),
        ))
    };
    let _beat = AbortOnDrop(beat);
    // Rows at 0 s, 1.5 s and 2.5 s; beats at 1 s, 2 s and 3 s.
    for pause in [1500, 1000, 1000] {
        for _ in 0..4 {
            progress.done(Some(Status::Created));
        }
        progress.done(Some(Status::Invalid));
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
    let seen = seen.lock().unwrap().clone();
    let figures: Vec<_> = seen
        .iter()
        .map(|s| (s.elapsed, s.done, s.count(Status::Created), s.rate, s.eta))
        .collect();
    let secs = Duration::from_secs;
    assert_eq!(
        figures,
        [
            (secs(1), 5, 4, Some(5.0), Some(secs(3))),
            (secs(2), 10, 8, Some(5.0), Some(secs(2))),
            (secs(3), 15, 12, Some(5.0), Some(secs(1))),
        ]
    );
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_heartbeat_line_in_json_is_one_object_with_the_figures_as_fields() {
    let progress = hidden(100);
    for _ in 0..30 {
        progress.done(None);
    }
    tokio::time::advance(Duration::from_secs(4)).await;
    for _ in 0..7 {
        progress.done(Some(Status::Created));
    }
    progress.done(Some(Status::Failed));
    let snapshot = progress.snapshot();
    let buffer = Buffer::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer({
            let buffer = buffer.clone();
            move || buffer.clone()
        })
        .finish();
    tracing::subscriber::with_default(subscriber, || snapshot.log("partner.csv"));
    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    let line: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    let fields = &line["fields"];
    assert_eq!(fields["file"], "partner.csv");
    assert_eq!(fields["done"], 38);
    assert_eq!(fields["total"], 100);
    assert_eq!(fields["created"], 7);
    assert_eq!(fields["failed"], 1);
    assert_eq!(fields["done_earlier"], 30);
    // 8 rows of this run in 4 seconds; 62 left.
    assert_eq!(fields["rate"], 2.0);
    assert_eq!(fields["eta_seconds"], 31);
    assert_eq!(
        fields["message"],
        "progress: 38/100 rows (38%)  2.0/s  created 7  failed 1  done earlier 30  ETA 31s"
    );
}

#[test]
fn a_stopped_bar_is_finished_and_says_how_to_go_on() {
    let progress = hidden(10);
    progress.done(Some(Status::Created));
    progress.stopping("interrupted");
    assert!(
        progress
            .bar
            .message()
            .contains("finishing requests in flight")
    );
    progress.finish_stopped("interrupted");
    assert!(progress.bar.is_finished());
    assert_eq!(
        progress.bar.message(),
        "stopped (interrupted): run again to resume"
    );
    let done = hidden(1);
    done.done(Some(Status::Created));
    done.finish();
    assert!(done.bar.is_finished());
}
