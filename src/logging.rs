//! Logs on stderr, as text or JSON. Personal data is logged at debug level at most, and
//! secrets never.

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;

/// How log lines are written on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Sets up tracing and [`crate::output`] alike. `quiet` leaves errors only, whatever
/// `RUST_LOG` says: it is the narrower wish, given for this one command.
pub fn init(format: LogFormat, verbose: u8, quiet: bool) {
    crate::output::init(format, quiet);
    let default = match verbose {
        0 => "cartevo_enroll=info,warn",
        1 => "cartevo_enroll=debug,warn",
        _ => "cartevo_enroll=trace,info",
    };
    let filter = if quiet {
        EnvFilter::new("error")
    } else {
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default))
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(
            std::env::var_os("NO_COLOR").is_none()
                && std::io::IsTerminal::is_terminal(&std::io::stderr()),
        );
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
