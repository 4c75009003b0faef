//! The integration tests: one binary, a module per feature. Each test works in its own temp
//! folder, against its own mock server on 127.0.0.1:0.

/// Shared helpers: running the binary, fixture rows, reading reports.
mod util;

/// `validate` on fixture files: encodings, quoting, duplicates, path escapes, broken files.
mod validate;

/// `run` against wiremock: answer classes, retries, tokens, stops, resume, already_enrolled.
mod run;

/// Where output goes: JSON lines on stderr, report folders on stdout, `--quiet`,
/// `status --json`.
mod output;

/// Off a terminal: heartbeat lines in the JSON log, `--metrics-file`.
mod progress;

/// The binary against the sandbox process: failure rehearsal and SIGKILL then resume.
mod e2e;

/// `run` and `reconcile` over HTTPS: `--ca-cert`, `SSL_CERT_FILE`, refused certificates.
mod tls;

/// The config file: the current folder's, `--config`, `CARTEVO_CONFIG`, precedence.
mod config_file;

/// What the tool leaves on disk: owner-only files whatever the umask, the journal's key kept
/// out of it, and a full disk.
mod safety;
/// The command surface: `check`, `completions`, `man`, and `demo`'s temporary folder.
mod surface;

/// A local HTTPS front with a CA of its own (shared with the unit tests of `api::tls`).
mod tls_front;
