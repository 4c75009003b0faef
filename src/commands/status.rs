//! `status`: what the journal knows, on stdout, as text or (`--json`) as one JSON document
//! whose shape schemas/status.schema.json pins.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use anyhow::Result;
use serde::Serialize;

use crate::exit::Exit;
use crate::journal::{FileStatus, JournalRead};

pub fn status(journal: &Path, json: bool) -> Result<Exit> {
    let journal = JournalRead::open(journal)?;
    let files = journal.status()?;
    let text = if json {
        let learned = journal.learned_rates()?;
        let mut text = serde_json::to_string_pretty(&StatusJson::new(&journal, &files, &learned))?;
        text.push('\n');
        text
    } else {
        describe(&journal, &files)?
    };
    super::print_stdout(&text)?;
    Ok(Exit::Done)
}

fn describe(journal: &JournalRead, files: &[FileStatus]) -> Result<String> {
    let mut out = String::new();
    if files.is_empty() {
        writeln!(out, "journal {}: no files yet", journal.path().display())?;
        return Ok(out);
    }
    writeln!(out, "journal {}", journal.path().display())?;
    for (base_url, rate, at) in journal.learned_rates()? {
        writeln!(
            out,
            "  learned rate: {rate:.1} requests/s against {base_url} (--rate auto, {at})"
        )?;
    }
    for f in files {
        writeln!(out)?;
        writeln!(
            out,
            "{}  ({} rows, sha256 {})",
            f.file.path,
            f.file.rows,
            &f.file.sha256[..16]
        )?;
        match &f.last_run {
            Some((start, end, code)) => writeln!(
                out,
                "  runs: {}, last started {start}, {}",
                f.runs,
                match (end, code) {
                    (Some(end), Some(code)) => format!("ended {end} with exit code {code}"),
                    _ => "did not finish (interrupted or still running)".to_string(),
                }
            )?,
            None => writeln!(out, "  runs: 0")?,
        }
        for (status, n) in &f.counts {
            writeln!(out, "  {status:<18} {n}")?;
        }
    }
    Ok(out)
}

/// `status --json`: the text's facts, the SHA-256 whole.
#[derive(Serialize)]
struct StatusJson<'a> {
    journal: String,
    /// The rate limits `--rate auto` learned, by base URL.
    learned_rates: Vec<LearnedJson<'a>>,
    files: Vec<FileJson<'a>>,
}

#[derive(Serialize)]
struct LearnedJson<'a> {
    base_url: &'a str,
    /// Requests a second.
    rate: f64,
    learned_at: &'a str,
}

#[derive(Serialize)]
struct FileJson<'a> {
    path: &'a str,
    sha256: &'a str,
    rows: u64,
    runs: u64,
    /// `null` before the first run.
    last_run: Option<LastRun<'a>>,
    /// Rows per journal status, with `pending` for rows no run has reached.
    counts: BTreeMap<&'a str, u64>,
}

#[derive(Serialize)]
struct LastRun<'a> {
    started_at: &'a str,
    /// Both `null` while the run has not finished (interrupted or still running).
    ended_at: Option<&'a str>,
    exit_code: Option<i32>,
}

impl<'a> StatusJson<'a> {
    fn new(
        journal: &JournalRead,
        files: &'a [FileStatus],
        learned: &'a [(String, f64, String)],
    ) -> StatusJson<'a> {
        StatusJson {
            journal: journal.path().display().to_string(),
            learned_rates: learned
                .iter()
                .map(|(base_url, rate, at)| LearnedJson {
                    base_url,
                    rate: *rate,
                    learned_at: at,
                })
                .collect(),
            files: files
                .iter()
                .map(|f| FileJson {
                    path: &f.file.path,
                    sha256: &f.file.sha256,
                    rows: f.file.rows,
                    runs: f.runs,
                    last_run: f.last_run.as_ref().map(|(start, end, code)| LastRun {
                        started_at: start,
                        ended_at: end.as_deref(),
                        exit_code: *code,
                    }),
                    counts: f.counts.iter().map(|(s, n)| (s.as_str(), *n)).collect(),
                })
                .collect(),
        }
    }
}
