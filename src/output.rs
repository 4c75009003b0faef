//! What the program says outside tracing's log lines: the per-file summaries, notices, fatal
//! errors on stderr, and the report folders on stdout for scripts. This is the one place that
//! decides between text and JSON and that honours `--quiet`; the commands describe an
//! [`Event`] and never test the format themselves.
//!
//! In JSON, an event has the shape tracing-subscriber's JSON lines have
//! (`{"timestamp", "level", "fields": {"message", ...}, "target"}`), so a log system reads
//! every stderr line with one schema. With `--quiet` only errors reach stderr; stdout is
//! unchanged.

use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;

use serde_json::Value;

use crate::logging::LogFormat;

/// How stderr is written, fixed once at start.
#[derive(Debug, Clone, Copy)]
struct Mode {
    format: LogFormat,
    quiet: bool,
}

static MODE: OnceLock<Mode> = OnceLock::new();

/// Sets the format and quietness for the whole process (the first call wins: the library's
/// unit tests never call it and get text).
pub fn init(format: LogFormat, quiet: bool) {
    let _ = MODE.set(Mode { format, quiet });
}

fn mode() -> Mode {
    MODE.get().copied().unwrap_or(Mode {
        format: LogFormat::Text,
        quiet: false,
    })
}

/// Whether a progress bar may be drawn: not in JSON (its redraws are not JSON lines) and not
/// with `--quiet`.
pub fn bars_allowed() -> bool {
    let mode = mode();
    mode.format == LogFormat::Text && !mode.quiet
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }
}

/// One thing to say on stderr: a message with fields for JSON, and the lines text mode
/// writes (the message itself unless [`Event::text`] gives others).
#[must_use = "an event says nothing until emitted"]
pub struct Event {
    level: Level,
    message: String,
    text: Option<String>,
    /// In the order given, after the message, as tracing writes an event's fields.
    fields: Vec<(String, Value)>,
}

impl Event {
    pub fn new(level: Level, message: impl Into<String>) -> Event {
        Event {
            level,
            message: message.into(),
            text: None,
            fields: Vec::new(),
        }
    }

    pub fn info(message: impl Into<String>) -> Event {
        Event::new(Level::Info, message)
    }

    pub fn warn(message: impl Into<String>) -> Event {
        Event::new(Level::Warn, message)
    }

    /// An error: in text, `error: <message>`.
    pub fn error(message: impl Into<String>) -> Event {
        let message = message.into();
        Event {
            text: Some(format!("error: {message}\n")),
            ..Event::new(Level::Error, message)
        }
    }

    /// An error with its chain: `error: <outer>: <cause>...` in text; in JSON the same
    /// message and `"chain"`, each cause on its own.
    pub fn failure(e: &anyhow::Error) -> Event {
        let chain: Vec<Value> = e.chain().map(|c| Value::from(c.to_string())).collect();
        Event::error(format!("{e:#}")).field("chain", chain)
    }

    /// A field of the JSON object; text mode does not show it.
    pub fn field(mut self, key: &str, value: impl Into<Value>) -> Event {
        self.fields.push((key.to_string(), value.into()));
        self
    }

    /// The fields of a summary.json (or reconcile-summary.json), after those given so far,
    /// but its `input` (the event names the file) and its times (the event has its own), so
    /// that a log system sees the file's figures in one line.
    pub fn summary(mut self, summary: &impl serde::Serialize) -> Event {
        if let Ok(Value::Object(map)) = serde_json::to_value(summary) {
            self.fields.extend(
                map.into_iter()
                    .filter(|(k, _)| !["input", "started_at", "ended_at"].contains(&k.as_str())),
            );
        }
        self
    }

    /// What text mode writes instead of the message: whole lines, each ending in `\n`.
    pub fn text(mut self, text: impl Into<String>) -> Event {
        self.text = Some(text.into());
        self
    }

    /// Writes the event on stderr, unless `--quiet` drops it. A closed stderr has no reader
    /// to tell.
    pub fn emit(self) {
        let mode = mode();
        if mode.quiet && self.level < Level::Error {
            return;
        }
        let line = match mode.format {
            LogFormat::Text => self.into_text(),
            LogFormat::Json => self.into_json_line(),
        };
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn into_text(self) -> String {
        self.text.unwrap_or_else(|| format!("{}\n", self.message))
    }

    /// One line: the object and a newline; an empty message (a blank text line) is written
    /// as nothing.
    fn into_json_line(self) -> String {
        if self.message.trim().is_empty() && self.fields.is_empty() {
            return String::new();
        }
        // Written out in tracing's order (serde_json's map would sort the keys); serde_json
        // escapes every control character, so the object stays on one line.
        let json = |s: &str| Value::from(s).to_string();
        let mut line = format!(
            "{{\"timestamp\":{},\"level\":{},\"fields\":{{\"message\":{}",
            json(&chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
            json(self.level.name()),
            json(self.message.trim()),
        );
        for (key, value) in &self.fields {
            line.push_str(&format!(",{}:{}", json(key), value));
        }
        line.push_str(&format!(
            "}},\"target\":{}}}\n",
            json(env!("CARGO_CRATE_NAME"))
        ));
        line
    }
}

/// A line of information, as `eprintln!` takes its arguments; in JSON its message.
macro_rules! say {
    () => {
        $crate::output::Event::info("").emit()
    };
    ($($arg:tt)*) => {
        $crate::output::Event::info(format!($($arg)*)).emit()
    };
}
pub(crate) use say;

/// A fatal error with its chain, as `main` and the per-file loops report it.
pub fn error(e: &anyhow::Error) {
    Event::failure(e).emit();
}

/// Set by `demo` when its folders go with its temporary folder: a path printed for a script
/// must still exist when the script reads it.
static FOLDERS_HIDDEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// No report folder on stdout from now on (`demo` without `--keep` or `--workdir`).
pub fn hide_report_folders() {
    FOLDERS_HIDDEN.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// A report folder on stdout, one line, for scripts (`--quiet` keeps it). The path's bytes
/// are written as they are, so a script gets back the folder exactly.
pub fn report_folder(dir: &Path) {
    use std::os::unix::ffi::OsStrExt;
    if FOLDERS_HIDDEN.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let mut line = dir.as_os_str().as_bytes().to_vec();
    line.push(b'\n');
    let mut out = std::io::stdout().lock();
    // A reader that went away (`| head -1`) did not want the rest; any other failure to
    // write stdout is not worth failing a finished run for either: the report is on disk.
    let _ = out.write_all(&line).and_then(|()| out.flush());
}

/// The `--log-format` given on a command line that did not parse, so that even the usage
/// error is a JSON line when JSON was asked for.
pub fn format_in_args(args: impl IntoIterator<Item = std::ffi::OsString>) -> LogFormat {
    let mut args = args.into_iter();
    let mut found = LogFormat::Text;
    while let Some(arg) = args.next() {
        let value = match arg.to_str() {
            Some("--log-format") => args.next(),
            Some(a) => a.strip_prefix("--log-format=").map(Into::into),
            None => None,
        };
        if let Some(v) = value {
            found = if v == "json" {
                LogFormat::Json
            } else {
                LogFormat::Text
            };
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Value {
        assert!(line.ends_with('\n') && !line[..line.len() - 1].contains('\n'));
        serde_json::from_str(line).unwrap()
    }

    #[test]
    fn a_json_event_has_tracing_subscribers_shape() {
        let line = Event::info("file finished")
            .field("rows", 3)
            .text("not this\n")
            .into_json_line();
        assert!(
            line.starts_with(r#"{"timestamp":"#) && line.contains(r#""fields":{"message":"#),
            "{line}"
        );
        let v = parse(&line);
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["fields"]["message"], "file finished");
        assert_eq!(v["fields"]["rows"], 3);
        assert_eq!(v["target"], "cartevo_enroll");
        let stamp = v["timestamp"].as_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(stamp).is_ok(),
            "{stamp}"
        );
    }

    #[test]
    fn an_error_keeps_its_chain_apart_in_json_and_joined_in_text() {
        let e = anyhow::anyhow!("disk full").context("could not write 'r/results.csv'");
        let v = parse(&Event::failure(&e).into_json_line());
        assert_eq!(v["level"], "ERROR");
        assert_eq!(
            v["fields"]["message"],
            "could not write 'r/results.csv': disk full"
        );
        assert_eq!(
            v["fields"]["chain"],
            serde_json::json!(["could not write 'r/results.csv'", "disk full"])
        );
        assert_eq!(
            Event::failure(&e).into_text(),
            "error: could not write 'r/results.csv': disk full\n"
        );
    }

    #[test]
    fn multi_line_text_is_one_json_line_and_blank_text_is_none() {
        let v = parse(&Event::warn("\nSIGINT: stopping\n").into_json_line());
        assert_eq!(v["fields"]["message"], "SIGINT: stopping");
        assert_eq!(Event::info("").into_json_line(), "");
        assert_eq!(Event::info("").into_text(), "\n");
    }

    #[test]
    fn the_format_is_found_in_arguments_that_did_not_parse() {
        let args = |a: &[&str]| {
            a.iter()
                .map(Into::into)
                .collect::<Vec<std::ffi::OsString>>()
        };
        assert_eq!(
            format_in_args(args(&["x", "run", "--log-format", "json", "--bad"])),
            LogFormat::Json
        );
        assert_eq!(
            format_in_args(args(&["x", "--log-format=json", "run"])),
            LogFormat::Json
        );
        assert_eq!(
            format_in_args(args(&["x", "run", "--bad"])),
            LogFormat::Text
        );
    }
}
