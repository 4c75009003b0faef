//! Benchmarks of `run` against an instant local server (a canned 201 for every request).
//!
//! ```sh
//! cargo build --release && cargo run --release --example bench_run -- throughput 200000
//! cargo run --release --example bench_run -- pacing 500 50
//! cargo run --release --example bench_run -- memory 1000000
//! BENCH_URL=http://127.0.0.1:18600/api/v1 cargo run --release --example bench_run -- throughput
//! cargo run --release --example bench_run -- limits
//! cargo run --release --example bench_run -- uploads 200   # nginx: examples/bench/nginx.conf
//! ```
//!
//! `throughput` runs the release binary with `--rate 0 --concurrency 8`, journal included,
//! then points `wrk` (if installed) at the same server with the same concurrency for
//! comparison. `pacing` checks that N rows at `--rate R` take N/R seconds and that no second
//! of the server's clock sees more than R requests. `memory` measures peak RSS on a large file,
//! then runs the finished file again and checks it sends nothing. `limits` runs
//! `--rate auto --concurrency auto` against the sandbox (`cartevo-enroll sandbox`, started for
//! each case) with a limit the tool is not told: a fixed 60/s, a second file on the same
//! journal, a limit moving 80 → 30 → 80 every 15 s, answers of 200 ms at `--rate 50`, and a
//! server that allows 6 requests in flight at 100 ms; it prints each figure as a ratio.
//! `uploads` sends rows with two 4 MiB documents each to nginx, then has curl post the same
//! files at the same concurrency.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::response::IntoResponse;

const HEADER: &str = "reference,first_name,last_name,email,country,street,city,state,postal_code,\
country_iso_code,country_phone_code,phone_number,identification_number,id_document_type,\
date_of_birth,id_document_front_url,id_document_back_url";
const BODY: &str = r#"{"success":true,"statusCode":201,"message":"Customer enrolled successfully","data":{"id":"8d4f2a1b-5c3e-4d7f-9a6b-2e1c8f9d0a3b","is_active":true}}"#;

#[derive(Default)]
struct Seen {
    total: AtomicU64,
    /// Requests per wall-clock second (unix seconds).
    per_second: Mutex<BTreeMap<u64, u64>>,
    /// Arrival of the first and the last request.
    span: Mutex<Option<(Instant, Instant)>>,
}

/// Starts the canned server on its own runtime thread; returns its base URL.
fn start_server(seen: Arc<Seen>) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = Router::new().fallback(move || {
                let seen = seen.clone();
                async move {
                    seen.total.fetch_add(1, Ordering::Relaxed);
                    let sec = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .unwrap()
                        .as_secs();
                    *seen.per_second.lock().unwrap().entry(sec).or_default() += 1;
                    let now = Instant::now();
                    let mut span = seen.span.lock().unwrap();
                    *span = Some(span.map_or((now, now), |(first, _)| (first, now)));
                    (
                        axum::http::StatusCode::CREATED,
                        [("content-type", "application/json")],
                        BODY,
                    )
                        .into_response()
                }
            });
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    format!("http://{}/api/v1", rx.recv().unwrap())
}

fn write_csv(dir: &Path, rows: usize) -> PathBuf {
    write_csv_from(dir, 1, rows)
}

/// `rows` rows numbered from `first` (files with different people for one journal).
fn write_csv_from(dir: &Path, first: usize, rows: usize) -> PathBuf {
    use std::io::Write;
    let path = dir.join(format!("bench-{first}-{rows}.csv"));
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    writeln!(out, "{HEADER}").unwrap();
    for i in first..first + rows {
        writeln!(
            out,
            "B-{i},Amina,Okafor,person{i}@example.com,Nigeria,14 Awolowo Road,Lagos,Lagos State,\
             101233,NG,+234,8031234567,NG{i:010},NIN,1991-04-12,https://cdn.example.com/{i}/f.jpg,\
             https://cdn.example.com/{i}/b.jpg"
        )
        .unwrap();
    }
    path
}

fn binary() -> PathBuf {
    // BENCH_BIN: a release binary driven by a debug build of this program (whose
    // dev-dependencies are already built).
    if let Some(bin) = std::env::var_os("BENCH_BIN") {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().unwrap();
    // target/release/examples/bench_run -> target/release/cartevo-enroll
    let bin = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("cartevo-enroll");
    assert!(
        bin.exists(),
        "build the binary first: cargo build --release"
    );
    bin
}

/// Runs the binary under /usr/bin/time; returns (elapsed, peak RSS in MB, exit code).
fn run(dir: &Path, url: &str, file: &Path, extra: &[&str]) -> (Duration, f64, i32) {
    let (elapsed, rss, code, _) = run_logged(dir, url, file, extra);
    (elapsed, rss, code)
}

/// `run`, also giving the seconds the sending phase took (from the run's log: planning,
/// requests and journal, without the file scan before it and the report after it).
fn run_logged(
    dir: &Path,
    url: &str,
    file: &Path,
    extra: &[&str],
) -> (Duration, f64, i32, Option<f64>) {
    let started = Instant::now();
    let out = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%M")
        .arg(binary())
        .current_dir(dir)
        .env("CARTEVO_API_TOKEN", "bench")
        .args(["run", file.to_str().unwrap(), "--base-url", url])
        .args([
            "--journal",
            "bench.db",
            "--report-dir",
            "report",
            "--log-format",
            "text",
        ])
        .args(extra)
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let rss_kb: f64 = stderr
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0.0);
    let sending = stderr
        .lines()
        .find(|l| l.contains("sending finished"))
        .and_then(|l| l.split("sending_seconds=").nth(1))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok());
    (
        elapsed,
        rss_kb / 1024.0,
        out.status.code().unwrap_or(-1),
        sending,
    )
}

fn throughput(rows: usize) {
    let seen = Arc::new(Seen::default());
    // BENCH_URL points at another instant server (examples/bench/nginx.conf, as the issue's
    // reference figures used); by default a canned axum server runs in this process.
    let url = std::env::var("BENCH_URL").unwrap_or_else(|_| start_server(seen.clone()));
    let dir = tempfile::tempdir().unwrap();
    let file = write_csv(dir.path(), rows);
    let (elapsed, rss, code, sending) = run_logged(
        dir.path(),
        &url,
        &file,
        &["--rate", "0", "--concurrency", "8"],
    );
    let sent = match seen.total.load(Ordering::Relaxed) {
        0 => rows as u64, // an external server: every row was sent (exit 0 checked below)
        n => n,
    };
    let ours = sent as f64 / elapsed.as_secs_f64();
    println!(
        "run:  {rows} rows, {sent} requests in {:.2} s = {ours:.0} rows/s end to end \
         (scan, validation, journal and report included), peak RSS {rss:.1} MB, exit {code}",
        elapsed.as_secs_f64()
    );
    let sustained = sending.map(|s| sent as f64 / s);
    if let (Some(s), Some(rate)) = (sending, sustained) {
        println!(
            "      sending phase: {s:.2} s = {rate:.0} rows/s sustained (planning, requests and \
             journal; without the file scan before it and the report after it)"
        );
    }
    if Command::new("wrk").arg("--version").output().is_ok() {
        let out = Command::new("wrk")
            .args(["-t2", "-c8", "-d10s", &format!("{url}/customers/enroll")])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let rps: f64 = text
            .lines()
            .find(|l| l.starts_with("Requests/sec:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        println!("wrk:  {rps:.0} requests/s at concurrency 8 against the same server");
        if rps > 0.0 {
            print!(
                "ratio: run reaches {:.0}% of wrk end to end",
                100.0 * ours / rps
            );
            match sustained {
                Some(rate) => println!(", {:.0}% while sending", 100.0 * rate / rps),
                None => println!(),
            }
        }
    } else {
        println!("wrk not installed: apt-get install wrk to compare");
    }
}

fn pacing(rows: usize, rate: f64) {
    let seen = Arc::new(Seen::default());
    let url = start_server(seen.clone());
    let dir = tempfile::tempdir().unwrap();
    let file = write_csv(dir.path(), rows);
    // Time the sending only: from the first request to the last, as the server saw them.
    let (elapsed, _, code) = run(
        dir.path(),
        &url,
        &file,
        &["--rate", &rate.to_string(), "--concurrency", "8"],
    );
    let per_second = seen.per_second.lock().unwrap();
    let max = per_second.values().copied().max().unwrap_or(0);
    let (first, last) = seen.span.lock().unwrap().expect("requests arrived");
    // N requests evenly spaced 1/R apart: N intervals of 1/R from the first request to the
    // slot after the last.
    let sending = (last - first).as_secs_f64() + 1.0 / rate;
    let expected = rows as f64 / rate;
    println!(
        "pacing: {rows} rows at --rate {rate}: sending took {sending:.3} s (N/R = {expected:.3} s, \
         {:+.2}%), {:.2} s wall with start-up and report; busiest server second saw {max} \
         requests, exit {code}",
        100.0 * (sending - expected) / expected,
        elapsed.as_secs_f64()
    );
    let full: Vec<u64> = per_second.values().copied().collect();
    println!("        requests per server second: {full:?}");
}

fn memory(rows: usize) {
    let seen = Arc::new(Seen::default());
    let url = start_server(seen.clone());
    let dir = tempfile::tempdir().unwrap();
    let file = write_csv(dir.path(), rows);
    let (elapsed, rss, code) = run(
        dir.path(),
        &url,
        &file,
        &["--rate", "0", "--concurrency", "8"],
    );
    println!(
        "memory: first run of {rows} rows: {:.1} s, peak RSS {rss:.1} MB, exit {code}",
        elapsed.as_secs_f64()
    );
    let before = seen.total.load(Ordering::Relaxed);
    let (elapsed, rss, code) = run(
        dir.path(),
        &url,
        &file,
        &["--rate", "0", "--concurrency", "8"],
    );
    let sent = seen.total.load(Ordering::Relaxed) - before;
    println!(
        "memory: second run of the finished file: {:.1} s, {sent} requests sent, peak RSS \
         {rss:.1} MB, exit {code}",
        elapsed.as_secs_f64()
    );
}

/// A sandbox process (`cartevo-enroll sandbox --port 0` with `knobs`): its base URL, and
/// the process, stopped when dropped.
struct Sandbox {
    url: String,
    child: std::process::Child,
    started: Instant,
}

impl Sandbox {
    fn start(knobs: &[&str]) -> Sandbox {
        use std::io::BufRead;
        let mut child = Command::new(binary())
            .args(["sandbox", "--port", "0", "--token", "bench"])
            .args(knobs)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        Sandbox {
            url: line.trim().to_string(),
            child,
            started,
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one `run` did, from its summary.json.
struct Ran {
    seconds: f64,
    /// The sending phase, from the run's log.
    sending: Option<f64>,
    created: u64,
    requests: u64,
    http_429: u64,
    rate_final: Option<f64>,
    code: i32,
    /// When the run started, since the sandbox did.
    offset: f64,
}

impl Ran {
    fn per_second(&self) -> f64 {
        self.created as f64 / self.seconds
    }

    /// Created per second of the sending phase (no start-up, scan or report).
    fn sending_rate(&self) -> f64 {
        self.created as f64 / self.sending.unwrap_or(self.seconds)
    }

    fn share_429(&self) -> f64 {
        self.http_429 as f64 / self.requests.max(1) as f64
    }
}

/// `run FILE` against `sandbox` with `flags`, on `dir`'s journal; the figures of its summary.
fn limited_run(dir: &Path, sandbox: &Sandbox, file: &Path, flags: &[&str]) -> Ran {
    let offset = sandbox.started.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(dir.join("report"));
    let started = Instant::now();
    let (_, _, code, sending) = run_logged(dir, &sandbox.url, file, flags);
    let seconds = started.elapsed().as_secs_f64();
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("report").join("summary.json")).unwrap(),
    )
    .unwrap();
    Ran {
        seconds,
        sending,
        created: summary["counts"]["created"].as_u64().unwrap(),
        requests: summary["requests_sent"].as_u64().unwrap(),
        http_429: summary["http_429_seen"].as_u64().unwrap(),
        rate_final: summary["rate_final"].as_f64(),
        code,
        offset,
    }
}

/// Rows created in the first `secs` seconds of the latest run on `dir`'s journal, by the
/// times the journal recorded their outcomes.
fn created_within(dir: &Path, secs: i64) -> u64 {
    let conn = rusqlite::Connection::open_with_flags(
        dir.join("bench.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let (run, started): (i64, String) = conn
        .query_row(
            "SELECT id, started_at FROM runs ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let started = chrono::DateTime::parse_from_rfc3339(&started).unwrap();
    let until = (started + chrono::Duration::seconds(secs))
        .with_timezone(&chrono::Utc)
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    conn.query_row(
        "SELECT COUNT(*) FROM rows WHERE run_id = ?1 AND status = 'created' AND updated_at <= ?2",
        rusqlite::params![run, until],
        |r| r.get::<_, i64>(0),
    )
    .unwrap() as u64
}

const AUTO: [&str; 4] = ["--rate", "auto", "--concurrency", "auto"];

/// The figure of the sending phase alone (no start-up, scan, report), against `of`.
fn while_sending(ran: &Ran, of: f64) {
    println!(
        "    while sending ({:.1} s): {:.1}/s = {:.2} x {of:.1}",
        ran.sending.unwrap_or(f64::NAN),
        ran.sending_rate(),
        ran.sending_rate() / of
    );
}

fn limits() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();

    // A fixed limit of 60/s, 3,600 rows, nothing learned yet.
    let sandbox = Sandbox::start(&["--rate-limit", "60"]);
    let ran = limited_run(dir, &sandbox, &write_csv_from(dir, 1, 3600), &AUTO);
    println!(
        "fixed 60/s, 3,600 rows: {} created in {:.1} s = {:.1}/s = {:.2} x the limit; \
         {} of {} requests answered 429 ({:.1}%); rate_final {:?}; exit {}",
        ran.created,
        ran.seconds,
        ran.per_second(),
        ran.per_second() / 60.0,
        ran.http_429,
        ran.requests,
        100.0 * ran.share_429(),
        ran.rate_final,
        ran.code
    );
    while_sending(&ran, 60.0);

    // A second file on the same journal: it starts from the limit learned.
    let ran = limited_run(dir, &sandbox, &write_csv_from(dir, 10_001, 1200), &AUTO);
    let first_ten = created_within(dir, 10);
    println!(
        "second file, same journal: {first_ten} created in its first 10 s = {:.1}/s = {:.2} x \
         the limit; whole file {:.1}/s, {:.1}% 429s; exit {}",
        first_ten as f64 / 10.0,
        first_ten as f64 / 600.0,
        ran.per_second(),
        100.0 * ran.share_429(),
        ran.code
    );
    drop(sandbox);

    // A limit moving 80 -> 30 -> 80 every 15 s, on a fresh journal.
    let moving = tempfile::tempdir().unwrap();
    let steps: Vec<String> = (0..40)
        .map(|i| format!("{}:{}", 15 * i, if i % 2 == 0 { 80 } else { 30 }))
        .collect();
    let sandbox = Sandbox::start(&["--rate-limit-schedule", &steps.join(",")]);
    let ran = limited_run(
        moving.path(),
        &sandbox,
        &write_csv_from(moving.path(), 1, 6000),
        &AUTO,
    );
    // The limit's mean over the run, by tenths of a second.
    let tenths = (ran.seconds * 10.0) as u64;
    let mean = (0..tenths)
        .map(|t| {
            let at = ran.offset + t as f64 / 10.0;
            if ((at / 15.0) as u64).is_multiple_of(2) {
                80.0
            } else {
                30.0
            }
        })
        .sum::<f64>()
        / tenths as f64;
    println!(
        "limit 80 -> 30 -> 80 every 15 s, 6,000 rows: {:.1}/s over {:.1} s = {:.2} x the \
         time-averaged limit ({mean:.1}/s); {:.1}% 429s; exit {}",
        ran.per_second(),
        ran.seconds,
        ran.per_second() / mean,
        100.0 * ran.share_429(),
        ran.code
    );
    while_sending(&ran, mean);
    drop(sandbox);

    // Answers of 200 ms at --rate 50: enough in flight to reach it.
    let slow = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(&["--latency", "200"]);
    let ran = limited_run(
        slow.path(),
        &sandbox,
        &write_csv_from(slow.path(), 1, 1000),
        &["--rate", "50", "--concurrency", "auto"],
    );
    println!(
        "answers of 200 ms, --rate 50 --concurrency auto, 1,000 rows: {:.1}/s = {:.2} x 50; \
         exit {}",
        ran.per_second(),
        ran.per_second() / 50.0,
        ran.code
    );
    while_sending(&ran, 50.0);
    drop(sandbox);

    // 6 requests in flight at most, 100 ms each: 60/s at best.
    let narrow = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(&["--max-in-flight", "6", "--latency", "100"]);
    let ran = limited_run(
        narrow.path(),
        &sandbox,
        &write_csv_from(narrow.path(), 1, 2400),
        &AUTO,
    );
    println!(
        "6 in flight at 100 ms, 2,400 rows: {:.1}/s = {:.2} x 60; {:.1}% 429s; exit {}",
        ran.per_second(),
        ran.per_second() / 60.0,
        100.0 * ran.share_429(),
        ran.code
    );
    while_sending(&ran, 60.0);
}

/// 200 rows × two 4 MiB documents sent by `run --rate 0 --concurrency 8`, then the same files
/// posted by curl, 8 in parallel, to the same URL: an nginx that reads each whole body and
/// answers a canned 201 (examples/bench/nginx.conf; the default BENCH_URL is where that
/// config listens). Both read the files from the page cache (warmed first). Prints wall time,
/// peak RSS, context switches and CPU of each, and the ratio of the two times.
fn uploads(rows: usize) {
    use std::io::Write;
    const DOC_BYTES: usize = 4 * 1024 * 1024;
    let url = std::env::var("BENCH_URL").unwrap_or_else(|_| "http://127.0.0.1:18600/api/v1".into());
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("documents");
    std::fs::create_dir(&docs).unwrap();
    // Distinct files, each a JPEG by its magic bytes, the rest varied bytes.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut doc = vec![0u8; DOC_BYTES];
    let mut pairs = Vec::with_capacity(rows);
    for i in 1..=rows {
        let mut pair = Vec::new();
        for side in ["front", "back"] {
            for word in doc.chunks_exact_mut(8) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                word.copy_from_slice(&state.to_le_bytes());
            }
            doc[..4].copy_from_slice(&[0xFF, 0xD8, 0xFF, 0xE0]);
            let path = docs.join(format!("{i}-{side}.jpg"));
            std::fs::write(&path, &doc).unwrap();
            pair.push(path);
        }
        pairs.push(pair);
    }
    let csv = dir.path().join("uploads.csv");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&csv).unwrap());
    writeln!(out, "{}", HEADER.replace("_url", "")).unwrap();
    for i in 1..=rows {
        writeln!(
            out,
            "U-{i},Amina,Okafor,person{i}@example.com,Nigeria,14 Awolowo Road,Lagos,Lagos State,\
             101233,NG,+234,8031234567,NG{i:010},NIN,1991-04-12,documents/{i}-front.jpg,\
             documents/{i}-back.jpg"
        )
        .unwrap();
    }
    drop(out);
    // Into the page cache, so that neither side waits on the disk.
    for path in pairs.iter().flatten() {
        std::fs::read(path).unwrap();
    }
    let megabytes = (rows * 2 * DOC_BYTES) as f64 / 1e6;

    let timed = |cmd: &mut Command| -> (f64, String) {
        let started = Instant::now();
        let out = cmd.output().unwrap();
        let elapsed = started.elapsed().as_secs_f64();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stderr}");
        let stats = stderr.lines().last().unwrap_or_default().to_owned();
        (elapsed, stats)
    };
    // Peak RSS (KB), voluntary and involuntary context switches, system and user seconds.
    let describe = |stats: &str| {
        let f: Vec<&str> = stats.split_whitespace().collect();
        let kb: f64 = f.first().and_then(|v| v.parse().ok()).unwrap_or(0.0);
        format!(
            "peak RSS {:.1} MB, {} + {} context switches (voluntary + involuntary), {} s system, \
             {} s user",
            kb / 1024.0,
            f.get(1).unwrap_or(&"?"),
            f.get(2).unwrap_or(&"?"),
            f.get(3).unwrap_or(&"?"),
            f.get(4).unwrap_or(&"?"),
        )
    };
    const STATS: &str = "%M %w %c %S %U";

    let (ours, stats) = timed(
        Command::new("/usr/bin/time")
            .args(["-f", STATS])
            .arg(binary())
            .current_dir(dir.path())
            .env("CARTEVO_API_TOKEN", "bench")
            .args(["run", "uploads.csv", "--base-url", &url])
            .args(["--journal", "bench.db", "--report-dir", "report"])
            .args(["--rate", "0", "--concurrency", "8", "--quiet"]),
    );
    println!(
        "run:  {rows} rows, {megabytes:.0} MB of documents in {ours:.2} s ({:.0} MB/s), {}",
        megabytes / ours,
        describe(&stats)
    );

    // curl, one process a row, 8 at a time; `Expect:` off so that curl sends the body at
    // once (it would wait for nginx's 100 Continue first), as `run` does.
    let list = dir.path().join("curl-args");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&list).unwrap());
    for pair in &pairs {
        writeln!(
            out,
            "-F id_document_front=@{} -F id_document_back=@{}",
            pair[0].display(),
            pair[1].display()
        )
        .unwrap();
    }
    drop(out);
    let (theirs, stats) = timed(
        Command::new("/usr/bin/time")
            .args(["-f", STATS, "xargs", "-a"])
            .arg(&list)
            .args([
                "-P",
                "8",
                "-n",
                "4",
                "curl",
                "-sS",
                "--fail",
                "-o",
                "/dev/null",
            ])
            .args(["-H", "Expect:", "-H", "Authorization: Bearer bench"])
            .arg(format!("{url}/customers?enroll=true")),
    );
    println!(
        "curl: {rows} requests, the same files, 8 in parallel, in {theirs:.2} s ({:.0} MB/s), {}",
        megabytes / theirs,
        describe(&stats)
    );
    println!("ratio: run takes {:.2}× curl's time", ours / theirs);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n = |i: usize, d: usize| args.get(i).and_then(|v| v.parse().ok()).unwrap_or(d);
    match args.first().map(String::as_str).unwrap_or("throughput") {
        "throughput" => throughput(n(1, 200_000)),
        "pacing" => pacing(
            n(1, 500),
            args.get(2).and_then(|v| v.parse().ok()).unwrap_or(50.0),
        ),
        "memory" => memory(n(1, 1_000_000)),
        "limits" => limits(),
        "uploads" => uploads(n(1, 200)),
        other => {
            eprintln!("unknown benchmark '{other}': throughput, pacing, memory, limits or uploads")
        }
    }
}
