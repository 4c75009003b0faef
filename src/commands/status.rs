//! `status`: what the journal knows, on stdout.

use std::fmt::Write;
use std::path::Path;

use anyhow::Result;

use crate::exit::Exit;
use crate::journal::JournalRead;

pub fn status(journal: &Path) -> Result<Exit> {
    let journal = JournalRead::open(journal)?;
    super::print_stdout(&describe(&journal)?)?;
    Ok(Exit::Done)
}

fn describe(journal: &JournalRead) -> Result<String> {
    let mut out = String::new();
    let files = journal.status()?;
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
