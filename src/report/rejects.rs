//! rejects.csv: every `invalid` and `rejected` row with its original fields as read, plus
//! `row` and `error`: the file a partner fixes and sends back.

use std::path::Path;

use anyhow::Result;

use super::{ReportRow, Writer};

pub(super) struct Rejects {
    out: csv::Writer<std::fs::File>,
    row: itoa::Buffer,
}

impl Rejects {
    pub(super) fn create(path: &Path, headers: &csv::StringRecord) -> Result<Rejects> {
        let mut out = super::csv_writer(path)?;
        out.write_record(headers.iter().chain(["row", "error"]))?;
        Ok(Rejects {
            out,
            row: itoa::Buffer::new(),
        })
    }
}

impl Writer for Rejects {
    fn row(&mut self, r: &ReportRow<'_>) -> Result<()> {
        if r.status.is_reject() {
            let row = self.row.format(r.row);
            self.out
                .write_record(r.record.iter().chain([row, r.message]))?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        self.out.flush()?;
        Ok(())
    }
}
