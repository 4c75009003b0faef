//! The config file (`cartevo-enroll.toml` in the current folder, `--config FILE` or
//! `CARTEVO_CONFIG`): defaults for any long flag of any command, by the flag's name.
//!
//! Owns finding, reading and checking the file, and handing its values to clap. It knows no
//! flag by name: the flags are read from clap's [`Command`] when the program runs, so a flag
//! added to `cli` can be set in the file without a change here. Each value becomes the
//! flag's default on the `Command` before the command line is parsed, so clap's own order
//! does the rest: the command line, then the flag's environment variable, then the file,
//! then the built-in default.
//!
//! What it does not own: what a flag means (`config` checks the typed settings, whatever
//! set them) and logging (it is not started yet when the file is read: [`ConfigRead::log`]
//! says afterwards what was read).

use std::any::TypeId;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::ops::Range;
use std::path::{Path, PathBuf};

use clap::{Arg, ArgAction, ArgMatches, Command, CommandFactory, FromArgMatches};
use toml::Spanned;

use crate::cli::Cli;

/// The file read from the current folder when neither `--config` nor `CARTEVO_CONFIG` names
/// one. Its absence is fine.
pub const DEFAULT_NAME: &str = "cartevo-enroll.toml";

/// The flag (and its environment variable) that names the file: it cannot be set in it.
const CONFIG_FLAG: &str = "config";

/// Flags that are no settings.
const NOT_SETTINGS: [&str; 3] = [CONFIG_FLAG, "help", "version"];

/// A config file that cannot be used. Each message names the file and, when the problem is
/// at a place in it, the line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    #[error("could not read config file '{path}'{}: {source}", by_whom(.named_by))]
    Io {
        path: String,
        named_by: Option<&'static str>,
        #[source]
        source: std::io::Error,
    },
    #[error("config file '{path}'{}: {problem}", at_line(*.line))]
    Bad {
        path: String,
        line: Option<usize>,
        problem: String,
    },
}

fn by_whom(by: &Option<&'static str>) -> String {
    by.map(|by| format!(" (named by {by})")).unwrap_or_default()
}

fn at_line(line: Option<usize>) -> String {
    line.map(|l| format!(" line {l}")).unwrap_or_default()
}

/// What the config file did, for the log once logging has started.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ConfigRead {
    /// The file read; `None` when there was none.
    pub path: Option<PathBuf>,
    /// The keys that set a default for the command being run.
    pub applied: Vec<String>,
    /// The keys that are flags of other commands only, so were left alone.
    pub ignored: Vec<String>,
}

impl ConfigRead {
    /// Says at debug level (`-v`) which file was read and what it set.
    pub fn log(&self) {
        match &self.path {
            Some(path) => tracing::debug!(
                path = %path.display(),
                applied = %self.applied.join(", "),
                ignored = %self.ignored.join(", "),
                "config file read"
            ),
            None => tracing::debug!("no config file"),
        }
    }
}

/// Parses the command line `args` (the program's name first), with the defaults of the
/// config file. A bad config file is reported as a clap error, like a bad flag: it is a bad
/// invocation, and `main` already prints those and exits 1.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<(Cli, ConfigRead), clap::Error> {
    let args: Vec<OsString> = args.into_iter().collect();
    let (command, read) = command_for(&args, Path::new(""))
        .map_err(|e| clap::Error::raw(clap::error::ErrorKind::InvalidValue, format!("{e}\n")))?;
    let matches = command.try_get_matches_from(args)?;
    let cli = Cli::from_arg_matches(&matches)?;
    Ok((cli, read))
}

/// `Cli`'s command with the config file's values as its flags' defaults. `cwd` is where the
/// default file is looked for (the empty path: the current folder).
pub(crate) fn command_for(
    args: &[OsString],
    cwd: &Path,
) -> Result<(Command, ConfigRead), ConfigFileError> {
    let command = Cli::command();
    // A first look at the command line, for the file's name and the command being run. It
    // forgives what the real parse will report (a missing file argument, a bad value), and
    // --help or --version simply get no defaults.
    let Ok(first) = command
        .clone()
        .ignore_errors(true)
        .try_get_matches_from(args)
    else {
        return Ok((command, ConfigRead::default()));
    };
    let Some((path, named_by)) = locate(&first, cwd) else {
        return Ok((command, ConfigRead::default()));
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if named_by.is_none() && e.kind() == std::io::ErrorKind::NotFound => {
            return Ok((command, ConfigRead::default()));
        }
        Err(source) => {
            return Err(ConfigFileError::Io {
                path: path.display().to_string(),
                named_by,
                source,
            });
        }
    };
    let file = ConfigFile::parse(&text, &path)?;
    let running = subcommand_path(&first);
    let (command, read) = file.apply(command, &running)?;
    Ok((command, read))
}

/// The file to read: `--config` or `CARTEVO_CONFIG` (which must exist, and are named in the
/// message when it does not), else `cartevo-enroll.toml` in `cwd` (which may be absent).
fn locate(matches: &ArgMatches, cwd: &Path) -> Option<(PathBuf, Option<&'static str>)> {
    match matches.try_get_one::<PathBuf>(CONFIG_FLAG).ok().flatten() {
        Some(path) => {
            let by = match matches.value_source(CONFIG_FLAG) {
                Some(clap::parser::ValueSource::EnvVariable) => "CARTEVO_CONFIG",
                _ => "--config",
            };
            Some((cwd.join(path), Some(by)))
        }
        None => Some((cwd.join(DEFAULT_NAME), None)),
    }
}

/// The names of the subcommands being run, outermost first.
fn subcommand_path(matches: &ArgMatches) -> Vec<String> {
    let mut path = Vec::new();
    let mut at = matches;
    while let Some((name, sub)) = at.subcommand() {
        path.push(name.to_owned());
        at = sub;
    }
    path
}

/// The file as written: each key with its value and where it is.
struct ConfigFile {
    path: PathBuf,
    text: String,
    entries: Vec<(Spanned<String>, Spanned<toml::Value>)>,
}

impl ConfigFile {
    fn parse(text: &str, path: &Path) -> Result<ConfigFile, ConfigFileError> {
        // Notepad's byte-order mark is no TOML.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text).to_owned();
        let table: BTreeMap<Spanned<String>, Spanned<toml::Value>> = toml::from_str(&text)
            .map_err(|e| ConfigFileError::Bad {
                path: path.display().to_string(),
                line: e.span().map(|span| line_of(&text, span)),
                problem: e.message().trim_end().replace('\n', "; "),
            })?;
        let mut entries: Vec<_> = table.into_iter().collect();
        entries.sort_by_key(|(key, _)| key.span().start);
        Ok(ConfigFile {
            path: path.to_path_buf(),
            text,
            entries,
        })
    }

    fn bad(&self, span: Range<usize>, problem: String) -> ConfigFileError {
        ConfigFileError::Bad {
            path: self.path.display().to_string(),
            line: Some(line_of(&self.text, span)),
            problem,
        }
    }

    /// Sets each key's value as the default of its flag in `command` when the flag belongs
    /// to the command being run (`running`: the subcommands' names). A secret, a key that is
    /// no flag of any command or a flag given twice is an error whichever command runs; a
    /// value its flag refuses, when that flag's command runs.
    fn apply(
        &self,
        mut command: Command,
        running: &[String],
    ) -> Result<(Command, ConfigRead), ConfigFileError> {
        let every = every_flag(&command);
        let mut read = ConfigRead {
            path: Some(self.path.clone()),
            ..ConfigRead::default()
        };
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        // Per command on the way to the one being run (0: the program itself), the flags to
        // set there: (arg id, values).
        let mut settings: Vec<Vec<(String, Vec<OsString>)>> = vec![Vec::new(); running.len() + 1];
        for (key, value) in &self.entries {
            let name = key.get_ref();
            let long = name.replace('_', "-");
            if looks_secret(&long) {
                return Err(self.bad(
                    key.span(),
                    format!(
                        "'{name}' looks like a secret, and a config file never holds one: give \
                         it in the environment (CARTEVO_API_TOKEN, CARTEVO_CLIENT_ID, \
                         CARTEVO_CLIENT_KEY) or as a file with --token-file"
                    ),
                ));
            }
            if NOT_SETTINGS.contains(&long.as_str()) {
                return Err(self.bad(
                    key.span(),
                    format!("'{name}' cannot be set in a config file"),
                ));
            }
            if !every.contains(&long) {
                let settable = every.iter().filter(|k| !NOT_SETTINGS.contains(&k.as_str()));
                let known: Vec<String> = settable.map(|k| k.replace('-', "_")).collect();
                let problem = match crate::text::closest(name, known.iter().map(String::as_str)) {
                    Some(known) => format!(
                        "unknown key '{name}': no command has a flag --{long} (did you mean \
                         '{known}'?)"
                    ),
                    None => format!(
                        "unknown key '{name}': no command has a flag --{long}; the keys are \
                         the long flags of `cartevo-enroll <command> --help`, with _ or -"
                    ),
                };
                return Err(self.bad(key.span(), problem));
            }
            let line = line_of(&self.text, key.span());
            if let Some(earlier) = seen.insert(long.clone(), line) {
                return Err(self.bad(
                    key.span(),
                    format!("'{name}' sets --{long}, which line {earlier} sets already"),
                ));
            }
            // Checked by the flag of the command being run: another command's flag of the
            // same name may take another kind of value, and is checked when that one runs.
            // Credentials in the environment win over a token file named here, as the
            // environment wins over the file for every flag (the client prefers
            // --token-file when both are given: only the command line may ask for that).
            let credentials_in_env = ["CARTEVO_API_TOKEN", "CARTEVO_CLIENT_ID"]
                .iter()
                .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()));
            if long == "token-file" && credentials_in_env {
                read.ignored.push(name.clone());
                continue;
            }
            match where_set(&command, running, &long) {
                Some((depth, arg)) => {
                    let values = self.values(&arg, name, value)?;
                    settings[depth].push((arg.get_id().to_string(), values));
                    read.applied.push(name.clone());
                }
                None => read.ignored.push(name.clone()),
            }
        }
        for (depth, flags) in settings.into_iter().enumerate() {
            if flags.is_empty() {
                continue;
            }
            command = at_depth(command, &running[..depth], &mut |c: Command| {
                flags.iter().fold(c, |c, (id, values)| {
                    c.mut_arg(id, |a| a.default_values(values.clone()))
                })
            });
        }
        Ok((command, read))
    }

    /// The value of `key` as its flag's defaults: checked by the flag's own parser, and, for
    /// a path, taken from the config file's folder when relative.
    fn values(
        &self,
        arg: &Arg,
        key: &str,
        value: &Spanned<toml::Value>,
    ) -> Result<Vec<OsString>, ConfigFileError> {
        let bad = |problem: String| self.bad(value.span(), format!("{key}: {problem}"));
        let texts: Vec<String> = match (arg.get_action(), value.get_ref()) {
            (ArgAction::SetTrue | ArgAction::SetFalse, toml::Value::Boolean(b)) => {
                vec![b.to_string()]
            }
            (ArgAction::SetTrue | ArgAction::SetFalse, _) => {
                return Err(bad("give true or false".into()));
            }
            (ArgAction::Count, toml::Value::Integer(n)) if (0..=255).contains(n) => {
                vec![n.to_string()]
            }
            (ArgAction::Count, _) => {
                return Err(bad("give a count: a whole number from 0 to 255".into()));
            }
            (ArgAction::Append, toml::Value::Array(items)) => items
                .iter()
                .map(|item| scalar(item).ok_or_else(|| bad("give a list of values".into())))
                .collect::<Result<_, _>>()?,
            (_, toml::Value::Array(_)) => {
                return Err(bad(
                    "give one value: the flag cannot be given more than once".into(),
                ));
            }
            (_, other) => {
                vec![scalar(other).ok_or_else(|| bad("give a value, not a table".into()))?]
            }
        };
        check_values(arg, &texts).map_err(bad)?;
        let is_path = arg.get_value_parser().type_id() == TypeId::of::<PathBuf>();
        let folder = self.path.parent().unwrap_or(Path::new(""));
        Ok(texts
            .into_iter()
            .map(|text| {
                if is_path && !text.is_empty() {
                    folder.join(text).into_os_string()
                } else {
                    OsString::from(text)
                }
            })
            .collect())
    }
}

/// A TOML scalar as a flag's value on the command line.
fn scalar(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(n) => Some(n.to_string()),
        toml::Value::Float(x) => Some(x.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        toml::Value::Datetime(d) => Some(d.to_string()),
        toml::Value::Array(_) | toml::Value::Table(_) => None,
    }
}

/// Runs `values` through the flag's own parser, on a command holding a copy of the flag
/// alone, so a bad value is reported at its line rather than as a bad default later. The
/// message is clap's, without its "error: " and its usage lines.
fn check_values(arg: &Arg, values: &[String]) -> Result<(), String> {
    if matches!(
        arg.get_action(),
        ArgAction::SetTrue | ArgAction::SetFalse | ArgAction::Count
    ) {
        return Ok(());
    }
    let long = arg.get_long().unwrap_or_default();
    let probe = Arg::new(arg.get_id().clone())
        .long(long.to_owned())
        .value_names(arg.get_value_names().unwrap_or_default().to_vec())
        .action(arg.get_action().clone())
        .value_parser(arg.get_value_parser().clone());
    let probe = match arg.get_num_args() {
        Some(range) => probe.num_args(range),
        None => probe,
    };
    let args = values.iter().map(|v| format!("--{long}={v}"));
    let probe_command = Command::new("cartevo-enroll")
        .no_binary_name(true)
        .disable_help_flag(true)
        .arg(probe);
    match probe_command.try_get_matches_from(args) {
        Ok(_) => Ok(()),
        Err(e) => {
            let rendered = e.render().to_string();
            let first = rendered.lines().next().unwrap_or_default();
            Err(first.strip_prefix("error: ").unwrap_or(first).to_owned())
        }
    }
}

/// The long names of every flag of `command` and of its subcommands, at any depth.
fn every_flag(command: &Command) -> BTreeSet<String> {
    let mut flags = BTreeSet::new();
    let mut stack = vec![command];
    while let Some(c) = stack.pop() {
        for arg in c.get_arguments() {
            if let Some(long) = arg.get_long() {
                flags.insert(long.to_owned());
            }
        }
        stack.extend(c.get_subcommands());
    }
    flags
}

/// Where the flag `--long` of the command being run is defined: how many subcommands deep
/// on `running`, and the flag there. `None` when the command being run has no such flag.
/// The innermost definition wins, as clap's parse does.
fn where_set(command: &Command, running: &[String], long: &str) -> Option<(usize, Arg)> {
    let mut found = None;
    let mut at = Some(command);
    for depth in 0..=running.len() {
        let Some(c) = at else { break };
        if let Some(arg) = c.get_arguments().find(|a| a.get_long() == Some(long)) {
            found = Some((depth, arg.clone()));
        }
        at = running.get(depth).and_then(|name| c.find_subcommand(name));
    }
    found
}

/// `command` with `f` applied to the subcommand at `path` (the command itself when empty).
fn at_depth(command: Command, path: &[String], f: &mut dyn FnMut(Command) -> Command) -> Command {
    match path.split_first() {
        None => f(command),
        Some((name, rest)) => command.mut_subcommand(name, |sub| at_depth(sub, rest, f)),
    }
}

/// Whether a flag's long name says it holds a secret: a token, a key, a password, a client
/// id. A flag naming where a secret is kept, or how long it lives (`token_file`,
/// `token_ttl`), is none.
fn looks_secret(long: &str) -> bool {
    let words: Vec<&str> = long.split('-').collect();
    if matches!(
        words.last(),
        Some(&("file" | "path" | "dir" | "ttl" | "env"))
    ) {
        return false;
    }
    words.iter().any(|w| {
        matches!(
            *w,
            "token"
                | "secret"
                | "password"
                | "passwd"
                | "passphrase"
                | "key"
                | "apikey"
                | "credential"
                | "credentials"
        )
    }) || long.contains("client-id")
}

/// The 1-based line of the byte at `span.start`.
fn line_of(text: &str, span: Range<usize>) -> usize {
    let start = span.start.min(text.len());
    text.as_bytes()[..start]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests;
