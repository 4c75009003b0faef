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
        if self.row_column.is_none() && self.error_column.is_none() {
            return self
                .out
                .write_record(r.record.iter().chain([row, r.message]).map(guard_cell))
                .with_context(|| super::could_not_write(&self.out));
        }
        self.fields.clear();
        self.fields.extend(r.record.iter().map(str::to_owned));
        for (column, value) in [(self.row_column, row), (self.error_column, r.message)] {
            match column {
                Some(i) if i < self.fields.len() => self.fields[i] = value.to_owned(),
                _ => self.fields.push(value.to_owned()),
            }
        }
        self.out
            .write_record(self.fields.iter().map(|f| guard_cell(f)))
            .with_context(|| super::could_not_write(&self.out))
    }

    fn finish(self: Box<Self>) -> Result<Ready> {
        super::finish_csv(self.out)
    }
}
