//! results.csv: one line per input row, and no personal data beyond the partner's reference.

use std::path::Path;

use anyhow::{Context, Result};

use super::{ReportRow, Writer, guard_cell};
use crate::files::{Ready, Staged};

pub(super) struct Results {
    out: csv::Writer<Staged>,
    itoa: [itoa::Buffer; 3],
}

impl Results {
    pub(super) fn create(path: &Path) -> Result<Results> {
        let mut out = super::csv_writer(path)?;
        out.write_record([
            "row",
            "reference",
            "status",
            "customer_id",
            "http_status",
            "attempts",
            "message",
            "warnings",
        ])
        .with_context(|| super::could_not_write(&out))?;
        Ok(Results {
            out,
            itoa: Default::default(),
        })
    }
}

impl Writer for Results {
    fn row(&mut self, r: &ReportRow<'_>) -> Result<()> {
        let [a, b, c] = &mut self.itoa;
        let http = r.http_status.map(|s| b.format(s)).unwrap_or("");
        // An invalid reference (a partner's 100 MB cell) is not copied whole: the first
        // characters name the row well enough.
        let reference = match r.reference.char_indices().nth(255) {
            Some((at, _)) => &r.reference[..at],
            None => r.reference,
        };
        self.out
            .write_record([
                a.format(r.row),
                &guard_cell(reference),
                r.status.as_str(),
                &guard_cell(r.customer_id.unwrap_or("")),
                http,
                c.format(r.attempts),
                &guard_cell(r.message),
                &guard_cell(r.warnings),
            ])
            .with_context(|| super::could_not_write(&self.out))
    }

    fn finish(self: Box<Self>) -> Result<Ready> {
        super::finish_csv(self.out)
    }
}
