//! The binary against the sandbox process: a rehearsal with injected failures, latency and a
//! rate limit, and a run killed with SIGKILL several times then resumed.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_cartevo-enroll");
const HEADER: &str = "reference,first_name,last_name,email,country,street,city,state,postal_code,\
country_iso_code,country_phone_code,phone_number,identification_number,id_document_type,\
date_of_birth,id_document_front_url,id_document_back_url";

/// The sandbox in its own process, stopped on drop.
struct SandboxProcess {
    child: Child,
    url: String,
}

impl SandboxProcess {
    fn start(args: &[&str]) -> SandboxProcess {
        let mut child = Command::new(BIN)
            .args(["sandbox", "--port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let url = first.trim().to_string();
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        SandboxProcess { child, url }
    }

    /// How many customers the sandbox holds, through GET /customers (plain HTTP/1.0 over a
    /// socket: the test needs nothing installed).
    fn customers(&self) -> u64 {
        use std::io::{Read, Write};
        let rest = self.url.trim_start_matches("http://");
        let (host, prefix) = rest.split_once('/').unwrap();
        let mut stream = std::net::TcpStream::connect(host).unwrap();
        write!(
            stream,
            "GET /{prefix}/customers?page=1&limit=1 HTTP/1.0\r\nHost: {host}\r\n\
             Authorization: Bearer sandbox\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let body = answer.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        v["meta"]["total"].as_u64().unwrap_or(0)
    }
}

impl Drop for SandboxProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn csv(dir: &Path, rows: usize) -> PathBuf {
    let mut text = format!("{HEADER}\n");
    for i in 1..=rows {
        text.push_str(&format!(
            "E-{i},Amina,Okafor,person{i}@example.com,Nigeria,14 Awolowo Road,Lagos,Lagos State,\
             101233,NG,+234,8031234567,NG{i:09},NIN,1991-04-12,https://cdn.example.com/{i}/f.jpg,\
             https://cdn.example.com/{i}/b.jpg\n"
        ));
    }
    let path = dir.join("nightly.csv");
    std::fs::write(&path, text).unwrap();
    path
}

fn run(dir: &Path, url: &str, file: &Path, report: &str, extra: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .env_remove("CARTEVO_API_TOKEN")
        .env("CARTEVO_CLIENT_ID", "sandbox")
        .env("CARTEVO_CLIENT_KEY", "sandbox")
        .args(["run", file.to_str().unwrap(), "--base-url", url])
        .args(["--report-dir", report, "--journal", "journal.db"])
        .args(["--backoff-ms", "20"])
        .args(extra);
    cmd
}

fn results(dir: &Path, report: &str) -> Vec<csv::StringRecord> {
    let mut r = csv::Reader::from_path(dir.join(report).join("results.csv")).unwrap();
    r.records().map(Result::unwrap).collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Every row once, in order, and each ended created, or duplicate because a lost answer of
/// ours had created it.
fn assert_all_enrolled(rows: &[csv::StringRecord], n: usize) {
    assert_eq!(rows.len(), n);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r[0].parse::<usize>().unwrap(), i + 1);
        match &r[2] {
            "created" => assert!(!r[3].is_empty()),
            "duplicate" => assert!(r[6].contains("may have created"), "{:?}", r),
            other => panic!("row {} ended {other}: {:?}", i + 1, r),
        }
    }
}

#[test]
fn a_rehearsal_with_failures_latency_and_a_rate_limit_loses_nothing() {
    let sandbox = SandboxProcess::start(&[
        "--fail-rate",
        "0.2",
        "--latency",
        "5+10",
        "--rate-limit",
        "40",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let file = csv(dir.path(), 60);
    let out = run(dir.path(), &sandbox.url, &file, "r", &[])
        .args(["--rate", "50", "--concurrency", "4", "--max-attempts", "12"])
        .args(["--timeout", "5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_all_enrolled(&results(dir.path(), "r"), 60);
    assert_eq!(sandbox.customers(), 60);
    let summary: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("r/summary.json")).unwrap()).unwrap();
    assert!(summary["retries"].as_u64().unwrap() > 0, "{summary}");
}

#[cfg(unix)]
#[test]
fn killed_runs_resume_without_creating_anyone_twice() {
    let sandbox = SandboxProcess::start(&["--latency", "10+20", "--fail-rate", "0.1"]);
    let dir = tempfile::tempdir().unwrap();
    let rows = 80;
    let file = csv(dir.path(), rows);
    for (k, at) in [5u64, 25, 50].into_iter().enumerate() {
        let mut child = run(dir.path(), &sandbox.url, &file, &format!("k{k}"), &[])
            .args([
                "--rate",
                "100",
                "--concurrency",
                "4",
                "--max-attempts",
                "10",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while sandbox.customers() < at {
            assert!(
                Instant::now() < deadline,
                "the run never reached {at} customers"
            );
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
    let out = run(dir.path(), &sandbox.url, &file, "final", &[])
        .args(["--rate", "0", "--concurrency", "4", "--max-attempts", "10"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_all_enrolled(&results(dir.path(), "final"), rows);
    assert_eq!(sandbox.customers(), rows as u64);
}
