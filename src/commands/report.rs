//! `report FILE`: a file's report written again from the journal, with the figures of all
//! the file's runs.

use anyhow::{Result, anyhow};

use crate::config::ReportSettings;
use crate::executor::Tally;
use crate::exit::Exit;
use crate::journal::JournalRead;
use crate::report::{Figures, ReportDirs, Summary, SummaryCommand, SummaryInput};

pub fn report(settings: ReportSettings) -> Result<Exit> {
    let ReportSettings {
        file,
        journal,
        report_dir,
        reading,
    } = settings;
    super::exit_on_signals();
    let journal = JournalRead::open(&journal)?;
    let (sha, rows) = crate::input::scan(&file, &reading)?;
    let entry = journal.find_file(&sha)?.ok_or_else(|| {
        anyhow!(
            "the journal has no run of '{}' (SHA-256 {sha}): run it first",
            file.display()
        )
    })?;
    let dir = ReportDirs::new(report_dir.as_deref(), std::slice::from_ref(&file)).next(&file);
    crate::report::refuse_overwriting_inputs(
        std::slice::from_ref(&file),
        &[&dir],
        &crate::report::REPORT_FILES,
    )?;
    // The figures are those of the file's runs, as the journal recorded them.
    let figures = match journal.run_totals(&entry)? {
        Some(t) => Figures::recorded(
            &t.first_started,
            t.last_ended.as_deref(),
            Tally {
                sent: t.requests_sent,
                retries: t.retries,
                http_429: t.http_429_seen,
            },
        ),
        None => {
            let now = chrono::Utc::now();
            Figures::new(now, now, Tally::default())
        }
    };
    let input = SummaryInput::new(&file.display().to_string(), &sha, rows);
    // No dates: the journal keeps none, so summary.json has no ambiguous_dates.
    let (counts, summary) =
        crate::report::from_journal(&journal, &entry, &file, &reading, &dir, |c| {
            Summary::new(SummaryCommand::Report, input, c, figures)
        })?;
    crate::report::announce(&file, &counts, &summary, &dir);
    Ok(summary.exit())
}
