//! What `run` says of its progress off a terminal: heartbeat lines in the JSON log, and the
//! `--metrics-file` written as it goes and at the end.

use std::process::{Command, Output};

use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::util::{AS_OF, URL_HEADER, Work, csv_text, url_row};

const BIN: &str = env!("CARGO_BIN_EXE_cartevo-enroll");

fn answering(status: u16) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(serde_json::json!({
        "success": status < 300, "statusCode": status,
        "message": if status < 300 { "Customer enrolled successfully" } else { "boom" },
        "data": if status < 300 { serde_json::json!({"id": "c-1"}) } else { Value::Null }
    }))
}

async fn answering_with(status: u16) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/customers/enroll"))
        .respond_with(answering(status))
        .mount(&server)
        .await;
    server
}

/// `run FILE` with stderr a pipe (not a terminal), JSON logs and a metrics file.
fn run(work: &Work, server: &MockServer, file: &str, extra: &[&str]) -> Output {
    Command::new(BIN)
        .current_dir(work.dir.path())
        .env_remove("RUST_LOG")
        .env_remove("CARTEVO_CLIENT_ID")
        .env("CARTEVO_API_TOKEN", "test-token")
        .args(["run", file, "--as-of", AS_OF])
        .arg("--base-url")
        .arg(format!("{}/api/v1", server.uri()))
        .args(["--journal", "journal.db", "--log-format", "json"])
        .args(["--metrics-file", "node/cartevo.prom", "--backoff-ms", "1"])
        .args(extra)
        .output()
        .unwrap()
}

/// `name{status="..."} value` or `name value` from the metrics file.
fn metric(work: &Work, name: &str) -> Option<f64> {
    let text = std::fs::read_to_string(work.path("node/cartevo.prom")).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn off_a_terminal_progress_lines_carry_the_figures_and_metrics_follow_the_run() {
    let work = Work::new();
    std::fs::create_dir(work.path("node")).unwrap();
    let rows: Vec<_> = (1..=12).map(url_row).collect();
    work.write("a.csv", &csv_text(URL_HEADER, &rows));
    let server = answering_with(201).await;
    // 12 requests at 10 a second take over a second: several lines at 0.2 s.
    let out = run(
        &work,
        &server,
        "a.csv",
        &["--rate", "10", "--progress-interval", "0.2"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let lines: Vec<Value> = stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| {
            v["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("progress: "))
        })
        .collect();
    assert!(lines.len() >= 2, "{stderr}");
    let mut last_done = 0;
    for line in &lines {
        let f = &line["fields"];
        assert_eq!(f["total"], 12, "{line}");
        assert_eq!(f["file"], "a.csv");
        let done = f["done"].as_u64().unwrap();
        assert!(done >= last_done && done <= 12, "{line}");
        assert_eq!(f["created"].as_u64().unwrap(), done, "{line}");
        assert_eq!(f["failed"], 0);
        assert_eq!(f["done_earlier"], 0);
        last_done = done;
    }
    // Once a row is done, the rate is of rows this run handled: never above the pacing
    // by more than its first burst.
    assert!(lines.iter().any(|l| l["fields"]["rate"].as_f64().is_some()));
    assert_eq!(
        metric(&work, "cartevo_enroll_rows{status=\"created\"}"),
        Some(12.0)
    );
    assert_eq!(metric(&work, "cartevo_enroll_requests"), Some(12.0));
    assert_eq!(metric(&work, "cartevo_enroll_exit_code"), Some(0.0));
    assert_eq!(metric(&work, "cartevo_enroll_running"), Some(0.0));
    let success = metric(&work, "cartevo_enroll_last_success_timestamp_seconds").unwrap();

    // A run that leaves rows to resume keeps the last success time and says exit 3.
    work.write("b.csv", &csv_text(URL_HEADER, &[url_row(20)]));
    let failing = answering_with(500).await;
    let out = run(
        &work,
        &failing,
        "b.csv",
        &["--rate", "0", "--max-attempts", "2"],
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        metric(&work, "cartevo_enroll_rows{status=\"failed\"}"),
        Some(1.0)
    );
    assert_eq!(metric(&work, "cartevo_enroll_requests"), Some(2.0));
    assert_eq!(metric(&work, "cartevo_enroll_retries"), Some(1.0));
    assert_eq!(metric(&work, "cartevo_enroll_exit_code"), Some(3.0));
    assert_eq!(
        metric(&work, "cartevo_enroll_last_success_timestamp_seconds"),
        Some(success)
    );
    // Written whole each time: nothing but the file in the collector's folder.
    assert_eq!(std::fs::read_dir(work.path("node")).unwrap().count(), 1);
}

#[test]
fn a_progress_interval_is_a_number_of_seconds() {
    let work = Work::new();
    work.write("a.csv", &csv_text(URL_HEADER, &[url_row(1)]));
    for bad in ["-1", "nan", "1e9"] {
        let flag = format!("--progress-interval={bad}");
        let out = Command::new(BIN)
            .current_dir(work.dir.path())
            .env("CARTEVO_API_TOKEN", "test-token")
            .args(["run", "a.csv", &flag])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{bad}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("--progress-interval"),
            "{bad}"
        );
    }
}
