//! The long help of each command (`--help`, after the flags): how it authenticates where it
//! talks to the API, its exit codes, and examples. `-h` stays short.
//!
//! The texts are built from the pieces below so that every command says the same thing of
//! credentials and exit codes; they follow the contract's wording. Every line but a heading
//! starts with spaces: `man` joins a line that does not to the one before it.

/// The heading of the flags every command takes.
pub const GLOBAL: &str = "Global options";

const CREDENTIALS: &str = "Credentials (the first one given is used):
  --token-file PATH: a file holding the bearer token, read again after a 401
  CARTEVO_API_TOKEN: a static bearer token
  CARTEVO_CLIENT_ID and CARTEVO_CLIENT_KEY: client credentials, exchanged at
    POST /auth/token for an access token that is renewed before it expires
  A secret is never printed, logged, journaled or written to a report.";

/// The exit codes of a command that sends rows or reads them back.
const STOPPED: &str =
    "  130       interrupted (Ctrl-C); the journal is consistent: run again to resume
  143, 129  stopped by SIGTERM or SIGHUP, as gracefully as by Ctrl-C: run again to resume";

fn exit_codes(lines: &str, signals: bool) -> String {
    let mut text = format!("Exit codes:\n{lines}");
    if signals {
        text.push('\n');
        text.push_str(STOPPED);
    }
    text
}

fn examples(lines: &str) -> String {
    format!("Examples:\n{lines}")
}

fn join(parts: &[&str]) -> String {
    parts.join("\n\n")
}

pub fn top() -> String {
    join(&[
        CREDENTIALS,
        &exit_codes(
            "  0         every row final, none invalid or rejected
  2         every row final, some invalid or rejected: the partner must act
  3         some rows failed or pending: run again to resume
  1         fatal: bad arguments, unreadable input, credentials refused, journal unusable",
            true,
        ),
        "Each command's --help says more; `cartevo-enroll man` prints the whole manual.",
    ])
}

pub fn validate() -> String {
    join(&[
        "Sends nothing: no credentials are needed.",
        &exit_codes(
            "  0         every row valid
  2         some rows invalid or duplicated in the file: the partner must act (rejects.csv)
  1         fatal: bad arguments, an unreadable file or profile",
            false,
        ),
        &examples(
            "  cartevo-enroll validate partner-2026-11-21.csv
  cartevo-enroll validate --profile acme.toml --as-of 2026-11-21 acme-*.csv",
        ),
    ])
}

pub fn run() -> String {
    join(&[
        CREDENTIALS,
        &exit_codes(
            "  0         every row final, none invalid or rejected
  2         every row final, some invalid or rejected: the partner must act (rejects.csv)
  3         some rows failed or pending: run again to resume
  1         fatal: bad arguments, unreadable input, credentials refused, journal unusable",
            true,
        ),
        &examples(
            "  CARTEVO_CLIENT_ID=... CARTEVO_CLIENT_KEY=... cartevo-enroll run partner-2026-11-21.csv
  cartevo-enroll run --token-file /run/secrets/cartevo --rate 20 --journal /srv/enroll.db *.csv",
        ),
    ])
}

pub fn status() -> String {
    join(&[
        "Reads the journal only: no credentials are needed.",
        &exit_codes(
            "  0         the journal was read
  1         fatal: the journal is missing or unusable",
            false,
        ),
        &examples(
            "  cartevo-enroll status
  cartevo-enroll status --journal /srv/enroll.db",
        ),
    ])
}

pub fn report() -> String {
    join(&[
        "Reads the journal and the file only: no credentials are needed.",
        &exit_codes(
            "  0         every row final, none invalid or rejected
  2         every row final, some invalid or rejected: the partner must act (rejects.csv)
  3         some rows failed or pending: run the file again to resume
  1         fatal: the file or the journal unreadable, or the journal has no run of the file",
            false,
        ),
        &examples(
            "  cartevo-enroll report partner-2026-11-21.csv
  cartevo-enroll report --report-dir reports/again partner-2026-11-21.csv",
        ),
    ])
}

pub fn reconcile() -> String {
    join(&[
        CREDENTIALS,
        &exit_codes(
            "  0         every customer read back matches
  2         some customer is a mismatch, inactive or missing
  3         the API stayed unreachable: run again once it answers
  1         fatal: bad arguments, unreadable input, credentials refused, journal unusable",
            true,
        ),
        &examples(
            "  cartevo-enroll reconcile
  cartevo-enroll reconcile --cards --transactions partner-2026-11-21.csv",
        ),
    ])
}

pub fn check() -> String {
    join(&[
        CREDENTIALS,
        &exit_codes(
            "  0         every step ok
  1         a step failed (the output says which and why), or bad arguments",
            false,
        ),
        &examples(
            "  CARTEVO_CLIENT_ID=... CARTEVO_CLIENT_KEY=... cartevo-enroll check
  cartevo-enroll check --base-url https://api.example.com/api/v1 --token-file token --ca-cert company-root.pem",
        ),
    ])
}

pub fn sandbox() -> String {
    join(&[
        "Clients authenticate to the sandbox with the bearer token --token, or with the client
credentials --client-id and --client-key through POST /auth/token.",
        &exit_codes(
            "  0         stopped by Ctrl-C
  1         fatal: the port is taken, or bad arguments",
            false,
        ),
        &examples(
            "  cartevo-enroll sandbox --port 0
  cartevo-enroll sandbox --port 8080 --latency 80+40 --fail-rate 0.1 --rate-limit 20",
        ),
    ])
}

pub fn demo() -> String {
    join(&[
        "Needs no account and no network: the sandbox runs in-process.",
        &exit_codes(
            "  2         as the examples intend: some of their rows are invalid or rejected
  0         every row final, none invalid or rejected
  3         some rows failed or pending
  1         fatal: the work folder or the sandbox could not be set up",
            false,
        ),
        &examples(
            "  cartevo-enroll demo
  cartevo-enroll demo --keep",
        ),
    ])
}

pub fn completions() -> String {
    join(&[
        &exit_codes("  0         the script was printed\n  1         bad arguments", false),
        &examples(
            "  cartevo-enroll completions bash > ~/.local/share/bash-completion/completions/cartevo-enroll
  cartevo-enroll completions zsh > ~/.zfunc/_cartevo-enroll
  cartevo-enroll completions fish > ~/.config/fish/completions/cartevo-enroll.fish",
        ),
    ])
}

pub fn man() -> String {
    join(&[
        &exit_codes(
            "  0         the page was printed\n  1         bad arguments",
            false,
        ),
        &examples(
            "  cartevo-enroll man | man -l -
  cartevo-enroll man > /usr/local/share/man/man1/cartevo-enroll.1",
        ),
    ])
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use crate::cli::Cli;

    /// Every command, the top one included, with its full name.
    fn commands() -> Vec<clap::Command> {
        let mut top = Cli::command();
        top.build();
        let mut all = vec![top.clone()];
        all.extend(top.get_subcommands().cloned());
        all
    }

    fn long_help(name: &str) -> String {
        let mut top = Cli::command();
        top.build();
        let mut sub = top.find_subcommand(name).expect(name).clone();
        sub.render_long_help().to_string()
    }

    #[test]
    fn every_argument_of_every_command_says_what_it_is() {
        for command in commands() {
            for arg in command.get_arguments() {
                let help = arg.get_long_help().or(arg.get_help());
                assert!(
                    help.is_some_and(|h| !h.to_string().trim().is_empty()),
                    "{} {}: no help text",
                    command.get_name(),
                    arg.get_id()
                );
            }
            assert!(
                command.get_about().is_some() || command.get_name() == "help",
                "{}: no description",
                command.get_name()
            );
        }
    }

    #[test]
    fn commands_that_talk_to_the_api_say_how_to_authenticate_and_how_they_exit() {
        for name in ["run", "reconcile", "check"] {
            let help = long_help(name);
            for needed in [
                "CARTEVO_API_TOKEN",
                "CARTEVO_CLIENT_ID",
                "CARTEVO_CLIENT_KEY",
                "--token-file",
                "Exit codes:",
                "Examples:",
            ] {
                assert!(
                    help.contains(needed),
                    "{name} --help lacks {needed}:\n{help}"
                );
            }
            let codes: &[&str] = if name == "check" {
                &["0", "1"]
            } else {
                &["0", "2", "3", "1", "130", "143, 129"]
            };
            let section = &help[help.find("Exit codes:").unwrap()..];
            for code in codes {
                assert!(
                    section
                        .lines()
                        .any(|l| l.trim_start().starts_with(&format!("{code} "))),
                    "{name} --help has no exit code {code}:\n{section}"
                );
            }
        }
        let validate = long_help("validate");
        assert!(validate.contains("2         some rows invalid or duplicated in the file"));
        assert!(
            !validate.contains("CARTEVO_API_TOKEN"),
            "validate sends nothing"
        );
    }

    #[test]
    fn every_command_has_exit_codes_and_examples() {
        for command in commands().iter().skip(1).filter(|c| c.get_name() != "help") {
            let help = long_help(command.get_name());
            for needed in ["Exit codes:", "Examples:"] {
                assert!(help.contains(needed), "{}: no {needed}", command.get_name());
            }
        }
    }

    #[test]
    fn reconcile_and_check_take_no_upload_flag() {
        let mut top = Cli::command();
        top.build();
        let flags = |name: &str| -> Vec<String> {
            top.find_subcommand(name)
                .unwrap()
                .get_arguments()
                .filter_map(|a| a.get_long().map(str::to_owned))
                .collect()
        };
        assert!(flags("run").contains(&"no-provider-enroll".to_owned()));
        for name in ["reconcile", "check"] {
            assert!(
                !flags(name).contains(&"no-provider-enroll".to_owned()),
                "{name}"
            );
        }
        for api in ["base-url", "token-file", "ca-cert", "timeout"] {
            assert!(flags("check").contains(&api.to_owned()), "check --{api}");
        }
        assert!(!long_help("reconcile").contains("no-provider-enroll"));
    }

    #[test]
    fn global_flags_stand_under_their_own_heading() {
        for command in commands() {
            for arg in command.get_arguments().filter(|a| a.is_global_set()) {
                assert_eq!(
                    arg.get_help_heading(),
                    Some(super::GLOBAL),
                    "{} --{}",
                    command.get_name(),
                    arg.get_id()
                );
            }
        }
        let help = long_help("run");
        let global = help.find("Global options:").expect("a heading");
        assert!(help.find("--log-format").unwrap() > global);
        assert!(help.find("--verbose").unwrap() > global);
        assert!(help.find("--journal").unwrap() < global);
    }
}
