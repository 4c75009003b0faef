//! rejects.csv: every `invalid` and `rejected` row with its original fields as read, plus
//! `row` and `error`: the file a partner fixes and sends back. A file that already has those
//! two columns (a rejects.csv sent back) keeps them, refilled, rather than gaining a second
//! pair that would make the next round's file unreadable.

use std::path::Path;

use anyhow::{Context, Result};

use super::{ReportRow, Writer, guard_cell};
use crate::files::{Ready, Staged};

pub(super) struct Rejects {
    out: csv::Writer<Staged>,
    row: itoa::Buffer,
    /// Where the file already has a `row` / an `error` column; `None`: appended.
    row_column: Option<usize>,
    error_column: Option<usize>,
    /// The header's number of columns: a record of another length (an invalid row) is laid
    /// out against it, so that `row` and `error` stay under their headers.
    width: usize,
    fields: Vec<String>,
}

impl Rejects {
    pub(super) fn create(path: &Path, headers: &csv::StringRecord) -> Result<Rejects> {
        let find = |name: &str| {
            headers
                .iter()
                .position(|h| h.trim().eq_ignore_ascii_case(name))
        };
        let (row_column, error_column) = (find("row"), find("error"));
        let mut out = super::flexible_csv_writer(path)?;
        let appended = [
            row_column.is_none().then_some("row"),
            error_column.is_none().then_some("error"),
        ];
        out.write_record(
            headers
                .iter()
                .chain(appended.into_iter().flatten())
                .map(guard_cell),
        )
        .with_context(|| super::could_not_write(&out))?;
        Ok(Rejects {
            out,
            row: itoa::Buffer::new(),
            row_column,
            error_column,
            width: headers.len(),
            fields: Vec::new(),
        })
    }
}

impl Writer for Rejects {
    fn row(&mut self, r: &ReportRow<'_>) -> Result<()> {
        if !r.status.is_reject() {
            return Ok(());
        }
        let row = self.row.format(r.row);
        let fitting = r.record.len() == self.width;
        if fitting && self.row_column.is_none() && self.error_column.is_none() {
            return self
                .out
                .write_record(r.record.iter().chain([row, r.message]).map(guard_cell))
                .with_context(|| super::could_not_write(&self.out));
        }
        // The header's columns first (a short record padded with empty cells), then the
        // appended `row` and `error`, then what a long record holds past the header.
        self.fields.clear();
        self.fields
            .extend(r.record.iter().take(self.width).map(str::to_owned));
        self.fields.resize(self.width, String::new());
        for (column, value) in [(self.row_column, row), (self.error_column, r.message)] {
            match column {
                Some(i) => self.fields[i] = value.to_owned(),
                None => self.fields.push(value.to_owned()),
            }
        }
        self.fields
            .extend(r.record.iter().skip(self.width).map(str::to_owned));
        self.out
            .write_record(self.fields.iter().map(|f| guard_cell(f)))
            .with_context(|| super::could_not_write(&self.out))
    }

    fn finish(self: Box<Self>) -> Result<Ready> {
        super::finish_csv(self.out)
    }
}
