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
const STOPPED: &str = "  130       interrupted (Ctrl-C); the journal is consistent: run again to resume
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
        &exit_codes("  0         the page was printed\n  1         bad arguments", false),
        &examples(
            "  cartevo-enroll man | man -l -
  cartevo-enroll man > /usr/local/share/man/man1/cartevo-enroll.1",
        ),
    ])
}
