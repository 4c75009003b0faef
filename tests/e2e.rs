//! The binary against the sandbox process: a rehearsal with injected failures, latency and a
//! rate limit, and a run killed with SIGKILL several times then resumed.

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
        let (child, url) = crate::util::spawn_sandbox(args, Stdio::null());
        SandboxProcess { child, url }
    }

    /// How many customers the sandbox holds, through GET /customers.
    fn customers(&self) -> u64 {
        let v = self.get("customers?page=1&limit=1");
        v["meta"]["total"].as_u64().unwrap_or(0)
    }

    /// The first 100 customers the sandbox holds, as GET /customers gives them.
    fn customer_list(&self) -> Vec<Value> {
        let v = self.get("customers?page=1&limit=100");
        v["data"].as_array().cloned().unwrap_or_default()
    }

    /// The JSON body of GET `route` (plain HTTP/1.0 over a socket: the test needs nothing
    /// installed); `Null` when it is not JSON.
    fn get(&self, route: &str) -> Value {
        use std::io::{Read, Write};
        let rest = self.url.trim_start_matches("http://");
        let (host, prefix) = rest.split_once('/').unwrap();
        let mut stream = std::net::TcpStream::connect(host).unwrap();
        write!(
            stream,
            "GET /{prefix}/{route} HTTP/1.0\r\nHost: {host}\r\n\
             Authorization: Bearer sandbox\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let body = answer.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        serde_json::from_str(body).unwrap_or(Value::Null)
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

/// Rows of Nigerian customers with the phone numbers given, written as partners write them.
fn phone_csv(dir: &Path, name: &str, tag: &str, phones: &[&str]) -> PathBuf {
    let mut text = format!("{HEADER}\n");
    for (i, phone) in phones.iter().enumerate() {
        text.push_str(&format!(
            "P-{i},Amina,Okafor,{tag}{i}@example.com,Nigeria,14 Awolowo Road,Lagos,Lagos State,\
             101233,NG,+234,\"{phone}\",{tag}{i:09},NIN,1991-04-12,\
             https://cdn.example.com/{i}/f.jpg,https://cdn.example.com/{i}/b.jpg\n"
        ));
    }
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The phone number the sandbox holds for each email.
fn phones_by_email(sandbox: &SandboxProcess) -> std::collections::BTreeMap<String, String> {
    sandbox
        .customer_list()
        .iter()
        .map(|c| {
            (
                c["email"].as_str().unwrap().to_owned(),
                c["phone_number"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn the_sandbox_receives_national_numbers_unless_the_format_is_kept() {
    let sandbox = SandboxProcess::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let written = [
        "0801-234-5678",
        "+234 802 345 6789",
        "00234 (0)803 456 7890",
        "804 567 8901",
        "8055678901",
        // Another country's number: not the row's to change, sent as written.
        "+44 7911 123456",
    ];
    let file = phone_csv(dir.path(), "partner.csv", "n", &written);
    let out = run(dir.path(), &sandbox.url, &file, "r", &["--rate", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let phones = phones_by_email(&sandbox);
    let expected = [
        "8012345678",
        "8023456789",
        "8034567890",
        "8045678901",
        "8055678901",
        "+44 7911 123456",
    ];
    for (i, national) in expected.iter().enumerate() {
        assert_eq!(phones[&format!("n{i}@example.com")], *national, "row {i}");
    }
    // results.csv says what was removed, never the number.
    let rows = results(dir.path(), "r");
    let warnings: Vec<&str> = rows.iter().map(|r| &r[7]).collect();
    assert!(
        warnings[0].contains(
            "phone_number: normalised to the national number (formatting and trunk prefix 0 \
             removed)"
        ),
        "{warnings:?}"
    );
    assert!(
        warnings[2].contains(
            "phone_number: normalised to the national number (formatting, country code +234 \
             and trunk prefix 0 removed)"
        ),
        "{warnings:?}"
    );
    assert!(!warnings[4].contains("phone_number"), "{warnings:?}");
    assert!(
        warnings[5].contains("seems to include a country code"),
        "{warnings:?}"
    );
    for (w, number) in warnings.iter().zip(expected) {
        assert!(!w.contains(number), "{w}");
    }

    // --keep-phone-format: as written, today's warnings.
    let file = phone_csv(dir.path(), "kept.csv", "k", &written[..3]);
    let out = run(dir.path(), &sandbox.url, &file, "k", &["--rate", "0"])
        .arg("--keep-phone-format")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let phones = phones_by_email(&sandbox);
    for (i, as_written) in written[..3].iter().enumerate() {
        assert_eq!(phones[&format!("k{i}@example.com")], *as_written, "row {i}");
    }
    let rows = results(dir.path(), "k");
    assert!(rows.iter().all(|r| !r[7].contains("normalised")));
}
