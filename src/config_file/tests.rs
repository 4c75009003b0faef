use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::FromArgMatches;

use super::{ConfigRead, command_for};
use crate::cli::{Auto, Cli, Command as Cmd};
use crate::logging::LogFormat;

/// The command line `args` (without the program's name) parsed as `main` does, with the
/// current folder `dir`.
fn parse_in(dir: &Path, args: &[&str]) -> Result<(Cli, ConfigRead), String> {
    let args: Vec<OsString> = std::iter::once("cartevo-enroll")
        .chain(args.iter().copied())
        .map(OsString::from)
        .collect();
    let (command, read) = command_for(&args, dir).map_err(|e| format!("{e:#}"))?;
    let matches = command
        .try_get_matches_from(args)
        .map_err(|e| e.to_string())?;
    let cli = Cli::from_arg_matches(&matches).map_err(|e| e.to_string())?;
    Ok((cli, read))
}

fn folder_with(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cartevo-enroll.toml"), config).unwrap();
    dir
}

fn run_args(cli: Cli) -> crate::cli::RunArgs {
    match cli.command {
        Cmd::Run(args) => args,
        other => panic!("not run: {other:?}"),
    }
}

#[test]
fn the_current_folders_file_sets_defaults_by_flag_name() {
    let dir = folder_with(
        "rate = 50\nbase_url = \"http://127.0.0.1:9/api/v1\"\njournal = \"nightly.db\"\n\
         report-dir = \"reports/nightly\"\nmax_attempts = 9\ntimeout = 2.5\n",
    );
    let (cli, read) = parse_in(dir.path(), &["run", "a.csv"]).unwrap();
    assert_eq!(read.path, Some(dir.path().join("cartevo-enroll.toml")));
    assert_eq!(
        read.applied,
        [
            "rate",
            "base_url",
            "journal",
            "report-dir",
            "max_attempts",
            "timeout"
        ]
    );
    let run = run_args(cli);
    assert_eq!(run.send.rate, Auto::Fixed(50.0));
    assert_eq!(run.send.max_attempts, 9);
    assert_eq!(run.send.timeout, 2.5);
    assert_eq!(run.api.base_url, "http://127.0.0.1:9/api/v1");
    // Relative paths are taken from the config file's folder.
    assert_eq!(run.journal.journal, dir.path().join("nightly.db"));
    assert_eq!(
        run.common.report_dir,
        Some(dir.path().join("reports/nightly"))
    );
    assert_eq!(run.files, [PathBuf::from("a.csv")]);
}

#[test]
fn the_command_line_wins_over_the_file() {
    let dir = folder_with("rate = 50\nstrict = true\njournal = \"/srv/j.db\"\n");
    let (cli, _) = parse_in(
        dir.path(),
        &["run", "--rate", "7", "a.csv", "--journal", "mine.db"],
    )
    .unwrap();
    let run = run_args(cli);
    assert_eq!(run.send.rate, Auto::Fixed(7.0));
    assert_eq!(run.journal.journal, PathBuf::from("mine.db"));
    // Not given on the command line: the file's.
    assert!(run.common.strict);
}

#[test]
fn booleans_counts_lists_and_global_flags() {
    let dir = folder_with(
        "strict = true\nkeep_phone_format = false\nca_cert = [\"a.pem\", \"/etc/b.pem\"]\n\
         verbose = 2\nlog_format = \"json\"\nconcurrency = 3\n",
    );
    let (cli, _) = parse_in(dir.path(), &["run", "x.csv"]).unwrap();
    assert_eq!(cli.verbose, 2);
    assert!(matches!(cli.log_format, LogFormat::Json));
    let run = run_args(cli);
    assert!(run.common.strict);
    assert!(!run.common.keep_phone_format);
    assert_eq!(run.send.concurrency, Auto::Fixed(3));
    assert_eq!(
        run.api.ca_cert,
        [dir.path().join("a.pem"), PathBuf::from("/etc/b.pem")]
    );
    // A flag given on the command line counts from zero, not from the file's count.
    let (cli, _) = parse_in(dir.path(), &["-v", "run", "x.csv"]).unwrap();
    assert_eq!(cli.verbose, 1);
    // A list on the command line replaces the file's list.
    let (cli, _) = parse_in(dir.path(), &["run", "x.csv", "--ca-cert", "c.pem"]).unwrap();
    assert_eq!(run_args(cli).api.ca_cert, [PathBuf::from("c.pem")]);
}

#[test]
fn a_flag_of_another_command_is_left_alone() {
    let dir = folder_with("rate = 50\nbase_url = \"https://x\"\nstrict = true\n");
    let (cli, read) = parse_in(dir.path(), &["validate", "a.csv"]).unwrap();
    assert_eq!(read.applied, ["strict"]);
    assert_eq!(read.ignored, ["rate", "base_url"]);
    match cli.command {
        Cmd::Validate(args) => assert!(args.common.strict),
        other => panic!("not validate: {other:?}"),
    }
    // A command with none of the file's flags runs as without it.
    let (cli, read) = parse_in(dir.path(), &["demo"]).unwrap();
    assert!(matches!(cli.command, Cmd::Demo { .. }));
    assert_eq!(read.ignored.len(), 3);
}

#[test]
fn an_unknown_key_is_named_with_the_file_its_line_and_the_closest_key() {
    let dir = folder_with("rate = 5\n\n# the nightly folder\nreprot_dir = \"r\"\n");
    let e = parse_in(dir.path(), &["validate", "a.csv"]).unwrap_err();
    let file = dir.path().join("cartevo-enroll.toml");
    assert!(
        e.contains(&format!("config file '{}' line 4", file.display())),
        "{e}"
    );
    assert!(e.contains("unknown key 'reprot_dir'"), "{e}");
    assert!(e.contains("did you mean 'report_dir'?"), "{e}");
    // Whichever command runs: the file is wrong for all of them.
    let e = parse_in(dir.path(), &["demo"]).unwrap_err();
    assert!(e.contains("unknown key 'reprot_dir'"), "{e}");
    let dir = folder_with("[run]\nrate = 5\n");
    let e = parse_in(dir.path(), &["demo"]).unwrap_err();
    assert!(
        e.contains("line 1") && e.contains("unknown key 'run'"),
        "{e}"
    );
}

#[test]
fn a_secret_is_refused_and_the_message_says_where_secrets_go() {
    for key in [
        "token",
        "client_key",
        "client_id",
        "api_token",
        "client-secret",
        "journal_key",
        "password",
    ] {
        let dir = folder_with(&format!("rate = 5\n{key} = \"s3cr3t-value\"\n"));
        let e = parse_in(dir.path(), &["run", "a.csv"]).unwrap_err();
        assert!(
            e.contains("line 2") && e.contains(&format!("'{key}'")),
            "{e}"
        );
        assert!(
            e.contains("environment") && e.contains("--token-file"),
            "{e}"
        );
        assert!(!e.contains("s3cr3t"), "the value is never echoed: {e}");
    }
    // Where a secret is kept, and how long the sandbox's tokens live, are no secrets.
    let dir = folder_with("token_file = \"secrets/token\"\n");
    let (cli, _) = parse_in(dir.path(), &["run", "a.csv"]).unwrap();
    assert_eq!(
        run_args(cli).api.token_file,
        Some(dir.path().join("secrets/token"))
    );
    let dir = folder_with("token_ttl = 60\n");
    assert!(parse_in(dir.path(), &["sandbox"]).is_ok());
}

#[test]
fn a_value_its_flag_refuses_is_named_with_its_line() {
    for (config, wanted) in [
        ("rate = \"fast\"\n", "rate: invalid value 'fast'"),
        ("\nconcurrency = 0\n", "concurrency: invalid value '0'"),
        ("strict = \"yes\"\n", "strict: give true or false"),
        ("verbose = -1\n", "verbose: give a count"),
        ("rate = [1, 2]\n", "rate: give one value"),
        (
            "report_dir = \"a\"\nreport-dir = \"b\"\n",
            "which line 1 sets already",
        ),
        ("rate = \n", "line 1"),
    ] {
        let dir = folder_with(config);
        let e = parse_in(dir.path(), &["run", "a.csv"]).unwrap_err();
        assert!(e.contains(wanted), "{config:?}: {e}");
        assert!(e.contains("cartevo-enroll.toml"), "{e}");
    }
}

#[test]
fn config_names_a_file_that_must_exist_and_wins_over_the_current_folders() {
    let dir = folder_with("rate = 50\n");
    let other = dir.path().join("conf/nightly.toml");
    std::fs::create_dir_all(other.parent().unwrap()).unwrap();
    std::fs::write(&other, "rate = 2\njournal = \"n.db\"\n").unwrap();
    let other_arg = other.to_str().unwrap();
    // Before or after the command: --config is global.
    for args in [
        vec!["--config", other_arg, "run", "a.csv"],
        vec!["run", "a.csv", "--config", other_arg],
    ] {
        let (cli, read) = parse_in(dir.path(), &args).unwrap();
        assert_eq!(read.path.as_deref(), Some(other.as_path()));
        let run = run_args(cli);
        assert_eq!(run.send.rate, Auto::Fixed(2.0));
        assert_eq!(run.journal.journal, dir.path().join("conf/n.db"));
    }
    let missing = dir.path().join("nope.toml");
    let e = parse_in(
        dir.path(),
        &["--config", missing.to_str().unwrap(), "run", "a.csv"],
    )
    .unwrap_err();
    assert!(
        e.contains(&format!(
            "could not read config file '{}' (named by --config)",
            missing.display()
        )),
        "{e}"
    );
}

#[test]
fn no_file_in_the_current_folder_is_fine() {
    let dir = tempfile::tempdir().unwrap();
    let (cli, read) = parse_in(dir.path(), &["run", "a.csv"]).unwrap();
    assert_eq!(read, ConfigRead::default());
    assert_eq!(run_args(cli).send.rate, Auto::Fixed(5.0));
}

#[test]
fn the_file_cannot_name_another_config_file() {
    let dir = folder_with("config = \"other.toml\"\n");
    let e = parse_in(dir.path(), &["run", "a.csv"]).unwrap_err();
    assert!(e.contains("'config' cannot be set in a config file"), "{e}");
}

#[test]
fn help_and_errors_of_the_command_line_are_clap_s_own() {
    let dir = folder_with("rate = 50\n");
    // A missing file argument is reported by the real parse, not hidden by the first look.
    let e = parse_in(dir.path(), &["run"]).unwrap_err();
    assert!(e.contains("required"), "{e}");
    let e = parse_in(dir.path(), &["run", "--help"]).unwrap_err();
    assert!(e.contains("--rate"), "{e}");
}

#[test]
fn a_value_is_checked_by_the_flag_of_the_command_being_run() {
    // `rate` is no flag of validate: its value is run's business.
    let dir = folder_with("rate = \"fast\"\n");
    assert!(parse_in(dir.path(), &["validate", "a.csv"]).is_ok());
    assert!(parse_in(dir.path(), &["run", "a.csv"]).is_err());
}

#[test]
fn the_readme_example_is_a_valid_file() {
    let readme = include_str!("../../README.md");
    let section = &readme[readme.find("### Config file").expect("the README section")..];
    let start = section.find("```toml\n").expect("the example") + "```toml\n".len();
    let example = &section[start..start + section[start..].find("```").unwrap()];
    let dir = folder_with(example);
    let (cli, read) = parse_in(dir.path(), &["run", "a.csv"]).unwrap();
    assert!(read.ignored.is_empty(), "{read:?}");
    let run = run_args(cli);
    assert_eq!(run.send.rate, Auto::Fixed(20.0));
    assert!(run.common.strict);
    assert_eq!(
        run.api.token_file,
        Some(dir.path().join("secrets/cartevo.token"))
    );
}

#[cfg(unix)]
#[test]
fn config_dev_null_runs_without_the_current_folders_file() {
    let dir = folder_with("strict = true\nrate = 50\n");
    let (cli, read) = parse_in(dir.path(), &["--config", "/dev/null", "run", "a.csv"]).unwrap();
    assert_eq!(read.path, Some(PathBuf::from("/dev/null")));
    let run = run_args(cli);
    assert!(!run.common.strict);
    assert_eq!(run.send.rate, Auto::Fixed(5.0));
}
