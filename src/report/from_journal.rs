//! A file's report written from the journal, for `run` (after sending) and `report FILE`.

use std::path::Path;

use anyhow::Result;

use super::{Report, ReportRow, Summary};
use crate::input::{CsvInput, Field, Reading, RowView};
use crate::journal::{FileEntry, JournalRead, JournalStatus};
use crate::status::{Counts, Status};

/// Writes a file's report from the journal: the CSV is read again for references and the
/// original fields of rejects, beside the journal's rows; a row the journal does not have is
/// `pending`. Gives the final counts and the summary written, which `summary` makes from
/// them. The commonest problems are counted from the journal's messages, as `validate`
/// counts its own: `run` and `report` name the same ones.
pub fn from_journal(
    journal: &JournalRead,
    entry: &FileEntry,
    file: &Path,
    reading: &Reading,
    dir: &Path,
    summary: impl FnOnce(Counts) -> Summary,
) -> Result<(Counts, Summary)> {
    let mut input = CsvInput::open(file, reading)?;
    let mut report = Report::create(dir, &input.headers)?;
    let columns = input.columns.clone();
    let walked = journal.beside(entry, &mut input, |row, record, state| {
        let reference = RowView::new(&columns, record).get(Field::Reference);
        let Some(state) = state else {
            return report.row(&ReportRow {
                row,
                reference: &reference,
                status: Status::Pending,
                customer_id: None,
                http_status: None,
                attempts: 0,
                message: "",
                warnings: "",
                record,
            });
        };
        let message = if state.status == JournalStatus::InFlight && state.message.is_empty() {
            "claimed for sending, no answer recorded (the run was stopped): it may or may not \
             have been sent; run again to resume"
        } else {
            &state.message
        };
        report.row(&ReportRow {
            row,
            reference: &reference,
            status: state.status.reported(),
            customer_id: state.customer_id.as_deref(),
            http_status: state.http_status,
            attempts: state.attempts,
            message,
            warnings: &state.warnings,
            record,
        })
    });
    if let Err(e) = walked {
        report.discard();
        return Err(e);
    }
    let counts = *report.counts();
    let summary = report.finish(summary(counts))?;
    Ok((counts, summary))
}
