//! An .xlsx workbook's worksheet, read row by row as text. calamine's streaming cell reader
//! borrows the workbook it reads, so it runs on a thread of its own and hands rows over a
//! bounded channel: memory holds the shared-strings table and a few hundred rows, never the
//! sheet.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use calamine::{DataRef, Reader, Xlsx};

/// One non-blank row of the sheet.
pub(super) struct SheetRow {
    /// Cell texts from column A, up to the row's last non-empty cell.
    pub cells: Vec<String>,
    /// Cells that hold a spreadsheet error (`#N/A`, `#REF!`...): (column, error).
    pub errors: Vec<(usize, String)>,
}

enum Message {
    Opened { sheet: String, rows: u32 },
    Row(SheetRow),
    Failed(String),
}

/// A worksheet being read.
pub(super) struct Sheet {
    rows: Receiver<Message>,
    /// The sheet's name, for messages.
    pub name: String,
    /// Rows in the sheet's used range, for progress.
    pub total_rows: u32,
    /// Rows received so far, blank ones included in the count the reader skipped.
    pub received: u64,
}

impl Sheet {
    /// Opens `path`'s worksheet `wanted` (the first when `None`). Fails with a message when
    /// the workbook cannot be read or has no such sheet.
    pub(super) fn open(path: &Path, wanted: Option<&str>) -> Result<Sheet, String> {
        let (tx, rx) = sync_channel(256);
        let (path, wanted) = (path.to_path_buf(), wanted.map(str::to_owned));
        std::thread::Builder::new()
            .name("xlsx-reader".into())
            .spawn(move || read_sheet(&path, wanted.as_deref(), &tx))
            .map_err(|e| format!("could not start the workbook reader: {e}"))?;
        match rx.recv() {
            Ok(Message::Opened { sheet, rows }) => Ok(Sheet {
                rows: rx,
                name: sheet,
                total_rows: rows,
                received: 0,
            }),
            Ok(Message::Failed(why)) => Err(why),
            Ok(Message::Row(_)) | Err(_) => Err("the workbook reader stopped".to_string()),
        }
    }

    /// The next non-blank row, or `None` at the end of the sheet.
    pub(super) fn next_row(&mut self) -> Result<Option<SheetRow>, String> {
        match self.rows.recv() {
            Ok(Message::Row(row)) => {
                self.received += 1;
                Ok(Some(row))
            }
            Ok(Message::Failed(why)) => Err(why),
            Ok(Message::Opened { .. }) => Err("the workbook reader restarted".to_string()),
            // The sender is dropped when the sheet is read to its end.
            Err(_) => Ok(None),
        }
    }
}

/// The thread's body: every message it sends goes to `tx`; it stops when the receiver goes.
fn read_sheet(path: &PathBuf, wanted: Option<&str>, tx: &SyncSender<Message>) {
    let fail = |why: String| {
        let _ = tx.send(Message::Failed(why));
    };
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => return fail(format!("could not open the workbook: {e}")),
    };
    let mut workbook: Xlsx<_> = match Xlsx::new(BufReader::new(file)) {
        Ok(w) => w,
        Err(e) => return fail(format!("not a readable .xlsx workbook: {e}")),
    };
    let names = workbook.sheet_names();
    let sheet = match wanted {
        Some(w) => names
            .iter()
            .find(|n| *n == w)
            .or_else(|| names.iter().find(|n| n.eq_ignore_ascii_case(w)))
            .cloned(),
        None => names.first().cloned(),
    };
    let Some(sheet) = sheet else {
        let list = names
            .iter()
            .map(|n| format!("'{}'", crate::text::printable(n)))
            .collect::<Vec<_>>()
            .join(", ");
        return fail(match wanted {
            Some(w) => format!(
                "the workbook has no sheet '{}'; its sheets: {list}",
                crate::text::printable(w)
            ),
            None => "the workbook has no worksheet".to_string(),
        });
    };
    let mut cells = match workbook.worksheet_cells_reader(&sheet) {
        Ok(c) => c,
        Err(e) => return fail(format!("could not read sheet '{sheet}': {e}")),
    };
    let rows = cells.dimensions().end.0.saturating_add(1);
    if tx.send(Message::Opened { sheet, rows }).is_err() {
        return;
    }
    let mut current: Option<u32> = None;
    let mut row = SheetRow {
        cells: Vec::new(),
        errors: Vec::new(),
    };
    let flush = |row: &mut SheetRow| -> bool {
        let blank = row.cells.iter().all(|c| c.trim().is_empty()) && row.errors.is_empty();
        let taken = std::mem::replace(
            row,
            SheetRow {
                cells: Vec::new(),
                errors: Vec::new(),
            },
        );
        blank || tx.send(Message::Row(taken)).is_ok()
    };
    loop {
        let cell = match cells.next_cell() {
            Ok(Some(cell)) => cell,
            Ok(None) => break,
            Err(e) => return fail(format!("the sheet cannot be read further: {e}")),
        };
        let (r, c) = cell.get_position();
        if current != Some(r) {
            if current.is_some() && !flush(&mut row) {
                return;
            }
            current = Some(r);
        }
        let c = c as usize;
        match cell_text(cell.get_value()) {
            Ok(text) if text.is_empty() => {}
            Ok(text) => {
                if row.cells.len() <= c {
                    row.cells.resize(c + 1, String::new());
                }
                row.cells[c] = text.into_owned();
            }
            Err(error) => row.errors.push((c, error)),
        }
    }
    if current.is_some() {
        flush(&mut row);
    }
}

/// A cell as the text a CSV export would hold: whole numbers without a decimal point, date
/// cells as `YYYY-MM-DD` (with the time when it is not midnight), `TRUE`/`FALSE`. A number of
/// 16 digits or more has lost digits in Excel (it keeps 15) and is written in scientific
/// notation, so that an identification or phone number in such a cell is refused as such.
/// A cell holding a spreadsheet error gives the error's text as `Err`.
pub(super) fn cell_text<'a>(value: &'a DataRef<'_>) -> Result<Cow<'a, str>, String> {
    Ok(match value {
        DataRef::Empty => Cow::Borrowed(""),
        DataRef::String(s) => Cow::Borrowed(s.as_str()),
        DataRef::SharedString(s) => Cow::Borrowed(s),
        DataRef::Int(i) => Cow::Owned(i.to_string()),
        DataRef::Float(f) => Cow::Owned(number(*f)),
        DataRef::Bool(b) => Cow::Borrowed(if *b { "TRUE" } else { "FALSE" }),
        DataRef::DateTime(d) if d.is_datetime() => match d.as_datetime() {
            Some(t) if t.time() == chrono::NaiveTime::MIN => {
                Cow::Owned(t.date().format("%Y-%m-%d").to_string())
            }
            Some(t) => Cow::Owned(t.format("%Y-%m-%d %H:%M:%S").to_string()),
            None => Cow::Owned(number(d.as_f64())),
        },
        DataRef::DateTime(d) => Cow::Owned(number(d.as_f64())),
        DataRef::DateTimeIso(s) => Cow::Borrowed(s.strip_suffix("T00:00:00").unwrap_or(s)),
        DataRef::DurationIso(s) => Cow::Borrowed(s.as_str()),
        DataRef::Error(e) => return Err(e.to_string()),
    })
}

/// A number cell's text.
fn number(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else if f.is_finite() && f.abs() >= 1e15 {
        // As Excel shows it: 1.23457E+15.
        let text = format!("{f:E}");
        match text.split_once('E') {
            Some((mantissa, exp)) if !exp.starts_with('-') => format!("{mantissa}E+{exp}"),
            _ => text,
        }
    } else if f.is_finite() && f != 0.0 {
        // As Excel shows it in the General format: 15 significant digits, so a binary
        // fraction's tail (0.30000000000000004) is not read as the partner's digits.
        let magnitude = f.abs().log10().floor() as i32;
        let decimals = (14 - magnitude).clamp(0, 30) as usize;
        let text = format!("{f:.decimals$}");
        match text.contains('.') {
            true => text.trim_end_matches('0').trim_end_matches('.').to_string(),
            false => text,
        }
    } else {
        f.to_string()
    }
}

/// The SHA-256 of a file's bytes, read once.
pub(super) fn sha256(path: &Path) -> std::io::Result<String> {
    let mut hashing = super::source::Hashing::new(File::open(path)?);
    let mut buf = vec![0u8; 256 * 1024];
    while hashing.read(&mut buf)? > 0 {}
    let (_, hasher) = hashing.into_parts();
    Ok(hex::encode(sha2::Digest::finalize(hasher)))
}

#[cfg(test)]
mod tests {
    use super::number;

    /// Number cells read as Excel's General format shows them: whole numbers without a
    /// decimal point, 15 significant digits, scientific notation from 1E+15.
    #[test]
    fn numbers_read_as_the_spreadsheet_shows_them() {
        for (cell, shown) in [
            (8012345678.0, "8012345678"),
            (0.1 + 0.2, "0.3"),
            (1.5, "1.5"),
            (-2.25, "-2.25"),
            (2.0 / 3.0, "0.666666666666667"),
            (1000.0 / 3.0, "333.333333333333"),
            (0.000123, "0.000123"),
            (1234567890123456.0, "1.234567890123456E+15"),
        ] {
            assert_eq!(number(cell), shown, "{cell}");
        }
    }
}
