//! The config file through the binary: `cartevo-enroll.toml` in the current folder,
//! `--config`, `CARTEVO_CONFIG`, and its place below the command line and the environment.

use std::path::Path;
use std::process::Command;

use crate::util::{Outcome, Work, fixture};

/// `cartevo-enroll ARGS...` in the work folder, with `env` set and no inherited config.
fn run_in(work: &Work, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_cartevo-enroll"))
        .args(args)
        .current_dir(work.dir.path())
        .env_remove("RUST_LOG")
        .env_remove("CARTEVO_CONFIG")
        .env_remove("CARTEVO_JOURNAL")
        .env_remove("CARTEVO_API_TOKEN")
        .env_remove("CARTEVO_CLIENT_ID")
        .env_remove("CARTEVO_CLIENT_KEY")
        .envs(env.iter().copied())
        .output()
        .expect("the binary runs");
    (
        output.status.code().expect("exited, not killed"),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn outcome(work: &Work, input: &Path, report: &str, args: &[&str]) -> Outcome {
    let (code, stdout, stderr) = run_in(work, args, &[]);
    Outcome {
        code,
        stdout,
        stderr,
        report_dir: work.path(report),
        input: input.to_path_buf(),
    }
}

#[test]
fn validate_takes_its_report_dir_and_reading_from_the_current_folders_file() {
    let work = Work::new();
    let input = work.copy_fixture("semicolon.csv", "in/semicolon.csv");
    // rate is a flag of run, not of validate: left alone.
    work.write(
        "cartevo-enroll.toml",
        b"report_dir = \"nightly/report\"\nas-of = \"2026-11-21\"\ndelimiter = \";\"\nrate = 50\n",
    );
    let out = outcome(
        &work,
        &input,
        "nightly/report",
        &["-v", "validate", "in/semicolon.csv"],
    );
    out.expect_code(2);
    let statuses: Vec<_> = out.statuses();
    assert_eq!(statuses.len(), 3, "{statuses:?}");
    assert_eq!(out.summary()["counts"]["valid"], 2);
    assert!(
        out.stderr.contains("config file read") && out.stderr.contains("cartevo-enroll.toml"),
        "-v says which file was read: {}",
        out.stderr
    );

    // --config names another file, whose relative paths are from its own folder; the
    // current folder's file is then not read.
    work.write(
        "conf/other.toml",
        b"report_dir = \"other-report\"\nas_of = \"2026-11-21\"\ndelimiter = \";\"\n",
    );
    let out = outcome(
        &work,
        &input,
        "conf/other-report",
        &[
            "validate",
            "--config",
            "conf/other.toml",
            "in/semicolon.csv",
        ],
    );
    out.expect_code(2);
    assert_eq!(out.summary()["counts"]["valid"], 2);
}

#[test]
fn the_command_line_wins_over_the_environment_which_wins_over_the_file() {
    let work = Work::new();
    work.write("cartevo-enroll.toml", b"journal = \"from-file.db\"\n");
    // `status` names the journal it was asked to read, which none of these is.
    let (code, _, stderr) = run_in(&work, &["status"], &[]);
    assert_eq!(code, 1);
    assert!(stderr.contains("no journal at 'from-file.db'"), "{stderr}");
    let env = [("CARTEVO_JOURNAL", "from-env.db")];
    let (_, _, stderr) = run_in(&work, &["status"], &env);
    assert!(stderr.contains("no journal at 'from-env.db'"), "{stderr}");
    let (_, _, stderr) = run_in(&work, &["status", "--journal", "from-cli.db"], &env);
    assert!(stderr.contains("no journal at 'from-cli.db'"), "{stderr}");
}

#[test]
fn a_named_file_must_exist_and_a_bad_file_stops_before_anything_runs() {
    let work = Work::new();
    let (code, _, stderr) = run_in(&work, &["status"], &[("CARTEVO_CONFIG", "missing.toml")]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("could not read config file 'missing.toml' (named by CARTEVO_CONFIG)"),
        "{stderr}"
    );
    let (code, _, stderr) = run_in(&work, &["--config", "gone.toml", "status"], &[]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("'gone.toml' (named by --config)"),
        "{stderr}"
    );

    work.write("cartevo-enroll.toml", b"rate = 5\ntoken = \"abc123\"\n");
    let input = fixture("semicolon.csv");
    let (code, _, stderr) = run_in(&work, &["validate", input.to_str().unwrap()], &[]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("line 2") && stderr.contains("--token-file"),
        "{stderr}"
    );
    assert!(!stderr.contains("abc123"), "{stderr}");
    assert!(!work.path("reports").exists(), "nothing ran");
}

/// A token file named in the config file gives way to credentials in the environment, as
/// every setting of the file gives way to the environment.
#[test]
fn credentials_in_the_environment_win_over_the_files_token_file() {
    let work = Work::new();
    work.copy_fixture("semicolon.csv", "in.csv");
    work.write("cartevo-enroll.toml", b"token_file = \"no-such-token\"\n");
    let args = [
        "run",
        "in.csv",
        "--base-url",
        "http://127.0.0.1:9/api/v1",
        "--journal",
        "j.db",
    ];
    let (code, _, stderr) = run_in(&work, &args, &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("could not read the token file"), "{stderr}");
    // With a token in the environment the file's token_file is not used: the run goes on
    // to read the partner file (whose ';' header it then refuses).
    let (code, _, stderr) = run_in(&work, &args, &[("CARTEVO_API_TOKEN", "t")]);
    assert_eq!(code, 1, "{stderr}");
    assert!(!stderr.contains("token file"), "{stderr}");
    assert!(stderr.contains("required column"), "{stderr}");
}
