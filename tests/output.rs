//! What the program writes where: with `--log-format json` every stderr line is a JSON
//! object; stdout holds the report folders and nothing else; `--quiet` leaves only errors;
//! `status --json` against its schema.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

use crate::util::{URL_HEADER, Work, csv_text, schema_problems, url_row};

const BIN: &str = env!("CARGO_BIN_EXE_cartevo-enroll");

fn bin(work: &Work) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(work.dir.path())
        .env_remove("RUST_LOG")
        .env_remove("CARTEVO_API_TOKEN")
        .env("CARTEVO_CLIENT_ID", "sandbox")
        .env("CARTEVO_CLIENT_KEY", "sandbox");
    cmd
}

fn out(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("the binary runs");
    (
        status.code().expect("exited, not killed"),
        String::from_utf8(stdout).unwrap(),
        String::from_utf8(stderr).unwrap(),
    )
}

/// Every line of `stderr` parsed: each one JSON object of the shape tracing-subscriber's
/// JSON lines have, whoever wrote it.
#[track_caller]
fn json_lines(stderr: &str) -> Vec<Value> {
    stderr
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}\n{stderr}"));
            let stamp = v["timestamp"].as_str().unwrap_or_else(|| panic!("{line}"));
            assert!(
                chrono::DateTime::parse_from_rfc3339(stamp).is_ok(),
                "{line}"
            );
            assert!(
                ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].contains(&v["level"].as_str().unwrap()),
                "{line}"
            );
            assert!(v["fields"]["message"].is_string(), "{line}");
            assert!(v["target"].is_string(), "{line}");
            v
        })
        .collect()
}

/// The lines whose message is `message`.
fn with_message<'a>(lines: &'a [Value], message: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|v| v["fields"]["message"] == message)
        .collect()
}

#[test]
fn validate_in_json_writes_only_json_lines_and_its_folders_on_stdout() {
    let work = Work::new();
    let invalid = work.copy_fixture("invalid.csv", "invalid.csv");
    let empty = work.copy_fixture("header_only.csv", "header_only.csv");
    let (code, stdout, stderr) = out(bin(&work)
        .args(["validate", "--log-format", "json", "--report-dir", "r"])
        .arg(&invalid)
        .arg(&empty)
        .args(["--as-of", crate::util::AS_OF]));
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(stdout, "r/invalid\nr/header_only\n");
    let lines = json_lines(&stderr);
    // The header-only file's warning is tracing's own line, in the same stream.
    assert!(
        lines.iter().any(|v| v["level"] == "WARN"
            && v["fields"]["message"]
                .as_str()
                .unwrap()
                .contains("has a header and no rows")),
        "{stderr}"
    );
    let finished = with_message(&lines, "file finished");
    assert_eq!(finished.len(), 2, "{stderr}");
    let first = &finished[0]["fields"];
    assert_eq!(first["file"], invalid.display().to_string());
    assert_eq!(first["report"], "r/invalid");
    assert_eq!(first["exit_code"], 2);
    assert_eq!(first["rows"], 17);
    // The same counts and problems as summary.json.
    let summary: Value = serde_json::from_str(
        &std::fs::read_to_string(work.path("r/invalid/summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(first["counts"], summary["counts"]);
    assert_eq!(first["problems"], summary["problems"]);
    assert!(first["counts"]["invalid"].as_u64().unwrap() > 0);
    assert_eq!(finished[1]["fields"]["exit_code"], 0);
    assert_eq!(finished[1]["fields"]["rows"], 0);
}

#[test]
fn text_mode_keeps_its_lines_and_stdout_has_only_the_folders() {
    let work = Work::new();
    let invalid = work.copy_fixture("invalid.csv", "in valid.csv");
    let (code, stdout, stderr) = out(bin(&work)
        .args(["validate", "--report-dir", "out dir"])
        .arg(&invalid)
        .args(["--as-of", crate::util::AS_OF]));
    assert_eq!(code, 2);
    // A folder with a space is still one whole line a script can read.
    assert_eq!(stdout, "out dir\n");
    assert!(work.path("out dir/summary.json").is_file());
    assert!(
        stderr.contains("in valid.csv: 17 rows: invalid "),
        "{stderr}"
    );
    assert!(stderr.ends_with("report: out dir\n"), "{stderr}");
}

#[test]
fn a_fatal_error_in_json_is_one_error_line_with_its_chain() {
    let work = Work::new();
    let (code, stdout, stderr) =
        out(bin(&work).args(["validate", "missing.csv", "--log-format=json"]));
    assert_eq!(code, 1);
    assert_eq!(stdout, "");
    let lines = json_lines(&stderr);
    assert_eq!(lines.len(), 1, "{stderr}");
    let error = &lines[0];
    assert_eq!(error["level"], "ERROR");
    let chain: Vec<&str> = error["fields"]["chain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(chain.len() >= 2, "{chain:?}");
    assert!(chain[0].contains("missing.csv"), "{chain:?}");
    assert_eq!(error["fields"]["message"], chain.join(": "));

    // A command line that does not parse, when it asks for JSON.
    let (code, _, stderr) = out(bin(&work).args(["--log-format", "json", "run", "--no-such"]));
    assert_eq!(code, 1);
    let lines = json_lines(&stderr);
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0]["fields"]["message"]
            .as_str()
            .unwrap()
            .contains("--no-such"),
        "{stderr}"
    );
}

#[test]
fn quiet_leaves_errors_on_stderr_and_folders_on_stdout() {
    let work = Work::new();
    let invalid = work.copy_fixture("invalid.csv", "invalid.csv");
    let empty = work.copy_fixture("header_only.csv", "header_only.csv");
    let (code, stdout, stderr) = out(bin(&work)
        .args(["validate", "-q", "--report-dir", "r"])
        .arg(&invalid)
        .arg(&empty)
        .env("RUST_LOG", "debug"));
    assert_eq!(code, 2);
    assert_eq!(stdout, "r/invalid\nr/header_only\n");
    assert_eq!(stderr, "", "no summary, no warning, whatever RUST_LOG says");

    let (code, stdout, stderr) = out(bin(&work)
        .args(["--quiet", "validate", "missing.csv"])
        .arg(&invalid));
    assert_eq!(code, 1);
    assert_eq!(
        stdout.lines().count(),
        1,
        "the readable file's folder: {stdout}"
    );
    assert!(
        stderr.starts_with("error: could not read 'missing.csv'"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    let (code, _, stderr) = out(bin(&work).args(["-q", "-v", "status"]));
    assert_eq!(code, 1);
    assert!(stderr.contains("cannot be used with"), "{stderr}");
}

/// The sandbox in its own process, logging JSON; stopped on drop.
struct Sandbox {
    child: Child,
    url: String,
}

impl Sandbox {
    fn start() -> Sandbox {
        let (child, url) = crate::util::spawn_sandbox(&["--log-format", "json"], Stdio::piped());
        Sandbox { child, url }
    }

    /// Stops it and gives what it wrote on stderr.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let mut stderr = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        stderr
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn status_json(work: &Work) -> Value {
    let (code, stdout, stderr) = out(bin(work).args([
        "status",
        "--json",
        "--journal",
        "journal.db",
        "--log-format",
        "json",
    ]));
    assert_eq!(code, 0, "{stderr}");
    json_lines(&stderr);
    let status: Value = serde_json::from_str(&stdout).expect("one JSON document");
    let problems = schema_problems("schemas/status.schema.json", &status);
    assert!(problems.is_empty(), "{problems:?}\n{status:#}");
    status
}

#[test]
fn run_report_reconcile_and_status_against_the_sandbox_in_json() {
    let sandbox = Sandbox::start();
    let work = Work::new();
    let mut rows: Vec<Vec<String>> = (1..=4).map(url_row).collect();
    rows.push(url_row(1)); // the same person again: duplicate_in_file
    let mut bad = url_row(6);
    bad[3] = "not-an-email".into();
    rows.push(bad);
    let file = work.write("batch.csv", &csv_text(URL_HEADER, &rows));
    let common = |cmd: &mut Command| {
        cmd.args(["--journal", "journal.db", "--log-format", "json"]);
    };

    let mut run = bin(&work);
    run.arg("run")
        .arg(&file)
        .args(["--base-url", &sandbox.url, "--rate", "0"])
        .args(["--report-dir", "run-report"]);
    common(&mut run);
    let (code, stdout, stderr) = out(&mut run);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(stdout, "run-report\n");
    let lines = json_lines(&stderr);
    assert!(!with_message(&lines, "run started").is_empty(), "{stderr}");
    let finished = with_message(&lines, "file finished");
    assert_eq!(finished.len(), 1, "{stderr}");
    let fields = &finished[0]["fields"];
    assert_eq!(fields["command"], "run");
    assert_eq!(fields["counts"]["created"], 4);
    assert_eq!(fields["counts"]["duplicate_in_file"], 1);
    assert_eq!(fields["counts"]["invalid"], 1);
    assert_eq!(fields["requests_sent"], 4);
    assert_eq!(fields["report"], "run-report");

    let mut report = bin(&work);
    report
        .arg("report")
        .arg(&file)
        .args(["--report-dir", "again"]);
    common(&mut report);
    let (code, stdout, stderr) = out(&mut report);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(stdout, "again\n");
    let lines = json_lines(&stderr);
    assert_eq!(
        with_message(&lines, "file finished")[0]["fields"]["counts"]["created"],
        4
    );

    let mut reconcile = bin(&work);
    reconcile
        .arg("reconcile")
        .args(["--base-url", &sandbox.url, "--report-dir", "rec"]);
    common(&mut reconcile);
    let (code, stdout, stderr) = out(&mut reconcile);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "rec\n");
    assert!(Path::new(&work.path("rec/reconcile.csv")).is_file());
    let lines = json_lines(&stderr);
    let reconciled = with_message(&lines, "file reconciled");
    assert_eq!(reconciled.len(), 1, "{stderr}");
    assert_eq!(reconciled[0]["fields"]["counts"]["match"], 4);
    assert_eq!(reconciled[0]["fields"]["exit_code"], 0);

    let status = status_json(&work);
    assert_eq!(status["journal"], "journal.db");
    let files = status["files"].as_array().unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0]["rows"], 6);
    assert_eq!(files[0]["counts"]["created"], 4);
    assert_eq!(files[0]["last_run"]["exit_code"], 2);
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(std::fs::read(&file).unwrap()))
    };
    assert_eq!(files[0]["sha256"], sha);

    // --quiet: a run that has nothing left to send says nothing, and still names its folder.
    let mut quiet = bin(&work);
    quiet.args(["run", "-q"]).arg(&file).args([
        "--base-url",
        &sandbox.url,
        "--report-dir",
        "quiet",
    ]);
    common(&mut quiet);
    let (code, stdout, stderr) = out(&mut quiet);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(stdout, "quiet\n");
    assert_eq!(stderr, "");

    let sandbox_log = json_lines(&sandbox.stop());
    assert!(
        sandbox_log
            .iter()
            .any(|v| v["fields"]["message"] == "sandbox listening; Ctrl-C stops it"),
        "{sandbox_log:?}"
    );
}

#[test]
fn a_run_stopped_by_refused_credentials_is_json_to_the_end() {
    let sandbox = Sandbox::start();
    let work = Work::new();
    let file = work.write("one.csv", &csv_text(URL_HEADER, &[url_row(1), url_row(2)]));
    let (code, stdout, stderr) = out(bin(&work)
        .arg("run")
        .arg(&file)
        .args(["--journal", "journal.db", "--base-url", &sandbox.url])
        .args(["--report-dir", "r", "--log-format", "json"])
        .env("CARTEVO_CLIENT_KEY", "wrong"));
    assert_ne!(code, 0, "{stderr}");
    assert_eq!(
        stdout,
        "r
",
        "the stopped run's report is written"
    );
    let lines = json_lines(&stderr);
    let errors: Vec<&Value> = lines.iter().filter(|v| v["level"] == "ERROR").collect();
    assert!(
        errors.iter().any(|v| v["fields"]["message"]
            .as_str()
            .unwrap()
            .starts_with("run stopped")),
        "{stderr}"
    );
    let status = status_json(&work);
    let files = status["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{status:#}");
    assert_eq!(files[0]["last_run"]["exit_code"], code);
}
