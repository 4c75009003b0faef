//! Reading a partner's file: its form (CSV text in any encoding, gzip, an .xlsx sheet), header
//! mapping and a streaming record reader.
//!
//! Owns the file format only (encoding, delimiter, quoting, header names). It knows nothing
//! of what a valid value is: that is `validate`'s job.

mod profile;
mod sheet;
mod source;
pub use profile::{Mapping, Profile};

use std::borrow::Cow;
use std::fmt;
use std::io::BufReader;
use std::sync::Arc;

use crate::text;
use sheet::Sheet;
use source::Text;

/// A column this program understands. Header names match these, case-insensitively, with
/// surrounding spaces ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    FirstName,
    LastName,
    Email,
    Country,
    Street,
    City,
    State,
    PostalCode,
    CountryIsoCode,
    CountryPhoneCode,
    PhoneNumber,
    IdentificationNumber,
    IdDocumentType,
    DateOfBirth,
    IdDocumentFrontUrl,
    IdDocumentBackUrl,
    IdDocumentFront,
    IdDocumentBack,
    Reference,
}

impl Field {
    pub const ALL: [Field; 19] = [
        Field::FirstName,
        Field::LastName,
        Field::Email,
        Field::Country,
        Field::Street,
        Field::City,
        Field::State,
        Field::PostalCode,
        Field::CountryIsoCode,
        Field::CountryPhoneCode,
        Field::PhoneNumber,
        Field::IdentificationNumber,
        Field::IdDocumentType,
        Field::DateOfBirth,
        Field::IdDocumentFrontUrl,
        Field::IdDocumentBackUrl,
        Field::IdDocumentFront,
        Field::IdDocumentBack,
        Field::Reference,
    ];

    /// Columns every file must have.
    pub const REQUIRED: [Field; 14] = [
        Field::FirstName,
        Field::LastName,
        Field::Email,
        Field::Country,
        Field::Street,
        Field::City,
        Field::State,
        Field::PostalCode,
        Field::CountryIsoCode,
        Field::CountryPhoneCode,
        Field::PhoneNumber,
        Field::IdentificationNumber,
        Field::IdDocumentType,
        Field::DateOfBirth,
    ];

    /// The header name, which is also the API field name.
    pub fn name(self) -> &'static str {
        match self {
            Field::FirstName => "first_name",
            Field::LastName => "last_name",
            Field::Email => "email",
            Field::Country => "country",
            Field::Street => "street",
            Field::City => "city",
            Field::State => "state",
            Field::PostalCode => "postal_code",
            Field::CountryIsoCode => "country_iso_code",
            Field::CountryPhoneCode => "country_phone_code",
            Field::PhoneNumber => "phone_number",
            Field::IdentificationNumber => "identification_number",
            Field::IdDocumentType => "id_document_type",
            Field::DateOfBirth => "date_of_birth",
            Field::IdDocumentFrontUrl => "id_document_front_url",
            Field::IdDocumentBackUrl => "id_document_back_url",
            Field::IdDocumentFront => "id_document_front",
            Field::IdDocumentBack => "id_document_back",
            Field::Reference => "reference",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which CSV column holds each known field, and the profile's words for its values.
#[derive(Debug, Clone, Default)]
pub struct ColumnMap {
    columns: [Option<usize>; Field::ALL.len()],
    /// Header names that matched no field, as written in the file.
    pub unknown: Vec<String>,
    /// The profile's mapping, when it maps values: `None` keeps [`RowView::get`] to the
    /// cleaning alone.
    values: Option<Arc<Mapping>>,
}

impl ColumnMap {
    pub fn column(&self, field: Field) -> Option<usize> {
        self.columns[field.index()]
    }

    pub fn has(&self, field: Field) -> bool {
        self.column(field).is_some()
    }

    /// Builds the map directly, for tests and callers that know their columns.
    pub fn from_fields(fields: &[Field]) -> Self {
        let mut map = ColumnMap::default();
        for (i, f) in fields.iter().enumerate() {
            map.columns[f.index()] = Some(i);
        }
        map
    }
}

/// One record seen through the column map. `get` gives each value as every later stage sees
/// it (trimmed and normalised by [`text::clean`], then one of the partner's words turned
/// into ours by the profile's `[values.<field>]`), and "" for a column the file does not
/// have.
#[derive(Debug, Clone, Copy)]
pub struct RowView<'a> {
    pub columns: &'a ColumnMap,
    pub record: &'a csv::StringRecord,
}

impl<'a> RowView<'a> {
    pub fn new(columns: &'a ColumnMap, record: &'a csv::StringRecord) -> Self {
        RowView { columns, record }
    }

    #[inline]
    pub fn get(&self, field: Field) -> Cow<'a, str> {
        let value = text::clean(self.raw(field));
        match &self.columns.values {
            Some(mapping) => mapped(mapping, field, value),
            None => value,
        }
    }

    /// A value as the file holds it, only trimmed of whitespace and format characters at
    /// its edges: for local file paths, which the file system compares byte for byte.
    pub fn get_path(&self, field: Field) -> &'a str {
        self.raw(field).trim_matches(text::is_edge_junk)
    }

    #[inline]
    fn raw(&self, field: Field) -> &'a str {
        self.columns
            .column(field)
            .and_then(|i| self.record.get(i))
            .unwrap_or("")
    }
}

/// A profile's word for a value, kept out of line: most files have no profile, and
/// [`RowView::get`] runs for every field of every row.
#[cold]
#[inline(never)]
fn mapped<'a>(mapping: &'a Mapping, field: Field, value: Cow<'a, str>) -> Cow<'a, str> {
    mapping.word(field, value)
}

/// How a partner file is read: its format, not its values.
#[derive(Debug, Clone)]
pub struct Reading {
    pub delimiter: u8,
    /// `None`: UTF-8, or UTF-16 when the file starts with its byte-order mark.
    pub encoding: Option<&'static encoding_rs::Encoding>,
    /// The worksheet of an .xlsx workbook; `None`: the first.
    pub sheet: Option<String>,
    /// The profile's header aliases and value words; `None`: headers are our field names and
    /// values are read as written.
    pub mapping: Option<Arc<Mapping>>,
}

impl Reading {
    /// A UTF-8 CSV file with this delimiter.
    pub fn csv(delimiter: u8) -> Reading {
        Reading {
            delimiter,
            encoding: None,
            sheet: None,
            mapping: None,
        }
    }
}

impl Default for Reading {
    fn default() -> Reading {
        Reading::csv(b',')
    }
}

/// A file that cannot be used at all. Each message names the line and the problem.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("could not read '{path}'")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("'{path}' is empty: a header row is required")]
    Empty { path: String },
    #[error("'{path}' is {what}")]
    NotText { path: String, what: String },
    #[error("'{path}' line {line}: {problem}")]
    Bad {
        path: String,
        line: u64,
        problem: String,
    },
}

/// One record of a file. `problem` is set when the record cannot be read on its own (a
/// different number of fields than the header, bytes that are not valid in the file's
/// encoding, a spreadsheet error in a cell): the row is `invalid` with it, and its fields are
/// as read (undecodable bytes as U+FFFD), for rejects.csv.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    pub row: u64,
    pub fields: &'a csv::StringRecord,
    pub problem: Option<&'a str>,
}

/// Where the records come from.
enum Records {
    Text(Box<csv::Reader<BufReader<Text>>>),
    Sheet(Sheet),
}

/// A streaming reader over one partner file: CSV text in any encoding, gzip-compressed or
/// not, or an .xlsx workbook's sheet. Memory does not grow with the number of rows: one
/// record buffer is reused.
pub struct CsvInput {
    path: String,
    records: Records,
    /// The header as read (BOM removed), for rejects.csv.
    pub headers: csv::StringRecord,
    pub columns: ColumnMap,
    record: csv::StringRecord,
    /// The last record's problem, if any.
    problem: Option<String>,
    rows: u64,
    /// Bytes of text before the CSV proper (a `sep=` line): the parser's positions start
    /// after them.
    skip: u64,
    /// Where in the text the last record read starts (after `skip`), for the open-quote check.
    last_start: u64,
    delimiter: u8,
    /// The file's size when opened.
    file_len: u64,
    /// Cells are read through [`unguard_cell`]: the file is a rejects.csv we wrote.
    unguard: bool,
    /// A workbook's SHA-256, taken when it was opened.
    sheet_sha: Option<String>,
}

impl CsvInput {
    pub fn open(path: &std::path::Path, reading: &Reading) -> Result<CsvInput, InputError> {
        let shown = path.display().to_string();
        let io = |source: std::io::Error| InputError::Io {
            path: shown.clone(),
            source,
        };
        let mut file = std::fs::File::open(path).map_err(io)?;
        let file_len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let bad = |line: u64, problem: String| InputError::Bad {
            path: shown.clone(),
            line,
            problem,
        };
        let form = match source::sniff(&mut file, reading.encoding).map_err(io)? {
            Ok(form) => form,
            Err(what) => {
                return Err(InputError::NotText {
                    path: shown.clone(),
                    what,
                });
            }
        };
        let gzip = match form {
            source::Form::Workbook => {
                drop(file);
                return CsvInput::open_sheet(path, shown.clone(), file_len, reading);
            }
            source::Form::Text { gzip } => gzip,
        };
        let text = Text::open(file, path, gzip, reading.encoding).map_err(io)?;
        let mut text = BufReader::with_capacity(8 * 1024, text);
        // Excel's `sep=;` first line names the delimiter; it is hashed with the rest of the
        // file but is not the header.
        let head = std::io::BufRead::fill_buf(&mut text).map_err(io)?;
        let (delimiter, skip) = match sep_directive(head) {
            Some((declared, len)) => {
                std::io::BufRead::consume(&mut text, len as usize);
                (declared, len)
            }
            None => (reading.delimiter, 0),
        };
        // Flexible: field counts are checked here, so that a blank spreadsheet line (only
        // spaces, or only delimiters) can be skipped like an empty one, and a record of
        // another length is one invalid row rather than a fatal file.
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(true)
            .flexible(true)
            .buffer_capacity(64 * 1024)
            .from_reader(text);
        let raw_headers = match reader.byte_headers() {
            Ok(h) => h.clone(),
            Err(e) => return Err(csv_error(&shown, e)),
        };
        let end = reader.position().byte();
        if raw_headers
            .iter()
            .any(|h| h.contains(&b'\n') || h.contains(&b'\r'))
        {
            // A quote left open in the header swallowed the file: say so, not that every
            // column is missing.
            open_quote_error(&shown, reader.get_ref().get_ref(), skip, delimiter)?;
        }
        let text = reader.get_mut().get_mut();
        let headers = match csv::StringRecord::from_byte_record(raw_headers) {
            Ok(h) if !text.malformed_in(skip, skip + end) => h,
            Ok(_) => {
                return Err(bad(
                    1,
                    format!(
                        "the header holds bytes that are not valid {}: is --encoding right?",
                        text.encoding().unwrap_or(encoding_rs::UTF_8).name()
                    ),
                ));
            }
            Err(e) => {
                let raw = e.into_byte_record();
                let likely = source::likely_encoding(raw.as_slice());
                return Err(bad(
                    1,
                    format!(
                        "the header is not valid UTF-8: the file looks {}-encoded, try \
                         --encoding {}",
                        likely.name(),
                        likely.name().to_ascii_lowercase()
                    ),
                ));
            }
        };
        let mut input = CsvInput::new(
            shown,
            Records::Text(Box::new(reader)),
            headers,
            file_len,
            delimiter,
            reading,
        )?;
        input.skip = skip;
        Ok(input)
    }

    fn open_sheet(
        path: &std::path::Path,
        shown: String,
        file_len: u64,
        reading: &Reading,
    ) -> Result<CsvInput, InputError> {
        let sha = sheet::sha256(path).map_err(|source| InputError::Io {
            path: shown.clone(),
            source,
        })?;
        let bad = |problem: String| InputError::Bad {
            path: shown.clone(),
            line: 1,
            problem,
        };
        let mut sheet = Sheet::open(path, reading.sheet.as_deref()).map_err(bad)?;
        let header = sheet.next_row().map_err(bad)?;
        let Some(header) = header else {
            return Err(InputError::Empty { path: shown });
        };
        if let Some((column, error)) = header.errors.first() {
            return Err(bad(format!(
                "sheet '{}': the header's column {} holds the spreadsheet error {error}",
                sheet.name,
                column + 1
            )));
        }
        let headers: csv::StringRecord = header.cells.iter().collect();
        let mut input = CsvInput::new(
            shown,
            Records::Sheet(sheet),
            headers,
            file_len,
            b',',
            reading,
        )?;
        input.sheet_sha = Some(sha);
        Ok(input)
    }

    fn new(
        path: String,
        records: Records,
        headers: csv::StringRecord,
        file_len: u64,
        delimiter: u8,
        reading: &Reading,
    ) -> Result<CsvInput, InputError> {
        if headers.is_empty() || (headers.len() == 1 && headers[0].trim().is_empty()) {
            return Err(InputError::Empty { path });
        }
        // A rejects.csv of ours sent back (it has our `row` and `error` columns): its cells
        // read as the values they guard (see `report::guard_cell`).
        let has = |name: &str| headers.iter().any(|h| h.trim().eq_ignore_ascii_case(name));
        let unguard = has("row") && has("error");
        let headers = if unguard {
            unguarded(&headers)
        } else {
            headers
        };
        let columns = map_columns(&path, &headers, reading.mapping.as_ref())?;
        Ok(CsvInput {
            path,
            records,
            headers,
            columns,
            record: csv::StringRecord::new(),
            problem: None,
            rows: 0,
            skip: 0,
            last_start: 0,
            delimiter,
            file_len,
            unguard,
            sheet_sha: None,
        })
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// Says which columns of the file are not read (they are carried into rejects.csv).
    pub fn warn_unknown(&self) {
        let unknown = &self.columns.unknown;
        if !unknown.is_empty() {
            tracing::warn!(
                "{}: ignoring unknown column{} {} (kept in rejects.csv)",
                self.path,
                if unknown.len() > 1 { "s" } else { "" },
                unknown.join(", ")
            );
        }
    }

    /// The next record, or `None` at the end of the file. Blank lines (empty, only spaces,
    /// or only delimiters, as spreadsheets leave them) are skipped and take no row number;
    /// empty fields past the header's last column (a delimiter ending every line) are
    /// dropped. A record that cannot be read on its own comes with its problem.
    pub fn next_record(&mut self) -> Result<Option<Record<'_>>, InputError> {
        let expected = self.headers.len();
        loop {
            self.problem = None;
            let read = match self.records {
                Records::Text(_) => self.read_text()?,
                Records::Sheet(_) => self.read_sheet()?,
            };
            if !read {
                return Ok(None);
            }
            if self.record.len() != expected || self.record.iter().all(|f| f.is_empty()) {
                if self.problem.is_none() && self.record.iter().all(|f| f.trim().is_empty()) {
                    continue;
                }
                let extra_empty = self.record.len() > expected
                    && self
                        .record
                        .iter()
                        .skip(expected)
                        .all(|f| f.trim().is_empty());
                if extra_empty {
                    self.record.truncate(expected);
                } else if self.record.len() != expected && self.problem.is_none() {
                    self.problem = Some(self.unequal_lengths());
                }
            }
            if self.unguard && self.record.iter().any(|f| f.starts_with('\'')) {
                self.record = unguarded(&self.record);
            }
            self.rows += 1;
            return Ok(Some(Record {
                row: self.rows,
                fields: &self.record,
                problem: self.problem.as_deref(),
            }));
        }
    }

    /// Reads the next CSV record into `record`; `false` at the end of the text.
    fn read_text(&mut self) -> Result<bool, InputError> {
        let Records::Text(reader) = &mut self.records else {
            return Ok(false);
        };
        let mut bytes = std::mem::take(&mut self.record).into_byte_record();
        match reader.read_byte_record(&mut bytes) {
            Ok(true) => {}
            Ok(false) => {
                self.at_end()?;
                return Ok(false);
            }
            Err(e) => return Err(csv_error(&self.path, e)),
        }
        let start = bytes.position().map_or(0, |p| p.byte());
        let end = reader.position().byte();
        self.last_start = start;
        let text = reader.get_mut().get_mut();
        match csv::StringRecord::from_byte_record(bytes) {
            Ok(record) => {
                self.record = record;
                if text.malformed_in(self.skip + start, self.skip + end) {
                    let encoding = text.encoding().unwrap_or(encoding_rs::UTF_8).name();
                    let column = self
                        .record
                        .iter()
                        .position(|f| f.contains('\u{fffd}'))
                        .map_or_else(|| "row".to_string(), |i| self.column_name(i));
                    self.problem = Some(format!(
                        "{column}: holds bytes that are not valid {encoding} (shown as \u{fffd} \
                         in rejects.csv): is --encoding right?"
                    ));
                }
            }
            Err(e) => {
                let column = e.utf8_error().field();
                let raw = e.into_byte_record();
                let likely = source::likely_encoding(raw.as_slice());
                self.record = raw.iter().map(String::from_utf8_lossy).collect();
                self.problem = Some(format!(
                    "{}: holds bytes that are not valid UTF-8, shown as \u{fffd} in \
                     rejects.csv (they look {}-encoded: try --encoding {})",
                    self.column_name(column),
                    likely.name(),
                    likely.name().to_ascii_lowercase()
                ));
            }
        }
        Ok(true)
    }

    /// At the end of the text: a quoted field still open there swallowed the file's end.
    fn at_end(&mut self) -> Result<(), InputError> {
        let Records::Text(reader) = &self.records else {
            return Ok(());
        };
        let text = reader.get_ref().get_ref();
        open_quote_error(
            &self.path,
            text,
            self.skip + self.last_start,
            self.delimiter,
        )
    }

    /// Reads the next sheet row into `record`; `false` at the end of the sheet.
    fn read_sheet(&mut self) -> Result<bool, InputError> {
        let Records::Sheet(sheet) = &mut self.records else {
            return Ok(false);
        };
        let row = sheet.next_row().map_err(|problem| InputError::Bad {
            path: self.path.clone(),
            line: sheet.received + 1,
            problem,
        })?;
        let Some(row) = row else {
            return Ok(false);
        };
        let width = self.headers.len();
        self.record.clear();
        for cell in &row.cells {
            self.record.push_field(cell);
        }
        // Cells left empty at a row's end are not in the workbook.
        while self.record.len() < width {
            self.record.push_field("");
        }
        if let Some((column, error)) = row.errors.first() {
            self.problem = Some(format!(
                "{}: the cell holds the spreadsheet error {error}",
                self.column_name(*column)
            ));
        }
        Ok(true)
    }

    /// A column as messages name it: its field, or its header as written.
    fn column_name(&self, i: usize) -> String {
        match self.headers.get(i) {
            Some(name) if !name.trim().is_empty() => match field_named(&normalise(name)) {
                Some(field) => field.name().to_string(),
                None => format!("column '{}'", text::printable(name.trim())),
            },
            _ => format!("column {}", i + 1),
        }
    }

    fn unequal_lengths(&self) -> String {
        let (len, expected) = (self.record.len(), self.headers.len());
        if let Records::Sheet(_) = self.records
            && len > expected
        {
            // No delimiter or quote in a workbook: a cell right of the last header.
            return format!(
                "row: has a value in column {len} where the header has {expected} columns (a \
                 cell right of the last header)"
            );
        }
        let delimiter = match self.delimiter {
            b'\t' => "tab".to_string(),
            d => format!("'{}'", d as char),
        };
        // One problem, so no "; " in it: that separates the problems of a row.
        let mut hints = Vec::new();
        if len > expected {
            hints.push(format!(
                "a value may hold an unquoted {delimiter}: put that value in double quotes"
            ));
        }
        if self.record.iter().any(|f| f.contains(['\n', '\r'])) {
            hints.push(
                "a quoted value runs over several lines: a closing quote may be missing".into(),
            );
        }
        let mut problem = format!("row: has {len} fields where the header has {expected}");
        if !hints.is_empty() {
            problem.push_str(&format!(" ({})", hints.join(", and ")));
        }
        problem
    }

    /// The file's size when it was opened.
    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    /// How far into the file reading is, in bytes of the file (estimated for compressed or
    /// decoded text, and for a workbook).
    pub fn bytes_read(&self) -> u64 {
        match &self.records {
            Records::Text(reader) => {
                let text = reader.get_ref().get_ref();
                let at = reader.position().byte() + self.skip;
                match text.encoding() {
                    None if !text.gzip() => at,
                    _ => {
                        let decoded = text.produced() + text.ahead();
                        let scale = text.raw_bytes() as f64 / decoded.max(1) as f64;
                        (at as f64 * scale) as u64
                    }
                }
            }
            Records::Sheet(sheet) => {
                let share = sheet.received as f64 / f64::from(sheet.total_rows.max(1));
                (self.file_len as f64 * share.min(1.0)) as u64
            }
        }
    }

    /// Rows read so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The SHA-256 of the file's bytes on disk, whatever form they take.
    pub fn sha256(self) -> Result<String, InputError> {
        let path = self.path;
        match self.records {
            Records::Text(reader) => reader
                .into_inner()
                .into_inner()
                .sha256()
                .map_err(|source| InputError::Io { path, source }),
            Records::Sheet(_) => Ok(self.sheet_sha.unwrap_or_default()),
        }
    }
}

/// The fatal error of a quoted value that the record starting at text position `from` opens
/// and the text never closes, naming the line the quote is on.
fn open_quote_error(path: &str, text: &Text, from: u64, delimiter: u8) -> Result<(), InputError> {
    let io = |source: std::io::Error| InputError::Io {
        path: path.to_string(),
        source,
    };
    let Some(opened) =
        source::open_quote(text.again_from(from).map_err(io)?, delimiter).map_err(io)?
    else {
        return Ok(());
    };
    let line = source::line_at(text.again_from_start().map_err(io)?, from + opened).map_err(io)?;
    Err(InputError::Bad {
        path: path.to_string(),
        line,
        problem: "a quoted value opened on this line is never closed: everything after it up to \
                  the end of the file was read as one value (a closing \" is missing)"
            .to_string(),
    })
}

/// A cell as `report::guard_cell` wrote it, given back: a `'` before a formula trigger (`=`,
/// `+`, `-`, `@`, tab, carriage return) or before another `'` is taken off.
pub(crate) fn unguard_cell(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r', '\'']) => rest,
        _ => cell,
    }
}

fn unguarded(record: &csv::StringRecord) -> csv::StringRecord {
    record.iter().map(unguard_cell).collect()
}

/// Reads a whole file once: its SHA-256 and row count, and every structural problem found
/// before anything is sent.
pub fn scan(path: &std::path::Path, reading: &Reading) -> Result<(String, u64), InputError> {
    let mut input = CsvInput::open(path, reading)?;
    while input.next_record()?.is_some() {}
    let rows = input.rows();
    Ok((input.sha256()?, rows))
}

/// A header name as matched: case, spaces, `_`, `-` and `.` ignored ("First Name", "E-mail"
/// and "Date of Birth" are `first_name`, `email` and `date_of_birth`), and the byte-order
/// marks and zero-width characters that concatenated or hand-edited exports leave.
fn normalise(name: &str) -> String {
    text::clean(name)
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '_' | '-' | '.'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The field a header names, if any.
fn field_named(normalised: &str) -> Option<Field> {
    Field::ALL
        .into_iter()
        .find(|f| normalise(f.name()) == normalised)
}

/// The field whose name is closest to `header`, when one is close enough to be a likely typo
/// or translation slip.
fn closest_field(header: &str) -> Option<Field> {
    let header = normalise(header);
    Field::ALL
        .into_iter()
        .map(|f| (f, strsim::jaro_winkler(&header, &normalise(f.name()))))
        .filter(|(_, score)| *score >= 0.8)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(f, _)| f)
}

/// Which column holds each field: the header named like it, or one the profile's
/// `[columns]` gives for it (`mapping`).
fn map_columns(
    path: &str,
    headers: &csv::StringRecord,
    mapping: Option<&Arc<Mapping>>,
) -> Result<ColumnMap, InputError> {
    let bad = |problem: String| InputError::Bad {
        path: path.to_string(),
        line: 1,
        problem,
    };
    let mut map = ColumnMap {
        values: mapping.filter(|m| m.has_values()).cloned(),
        ..ColumnMap::default()
    };
    // The profile cannot give a field's header to another field, so the order is moot.
    let known = |name: &str| field_named(name).or_else(|| mapping.and_then(|m| m.field_of(name)));
    for (i, raw) in headers.iter().enumerate() {
        let name = normalise(raw);
        if name.is_empty() {
            // Spreadsheet exports often end every line with a delimiter: an unnamed column
            // is carried along like any unknown one.
            map.unknown.push(format!("(unnamed column {})", i + 1));
            continue;
        }
        let Some(field) = known(&name) else {
            map.unknown.push(text::printable(raw.trim()).into_owned());
            continue;
        };
        if let Some(first) = map.column(field) {
            // Which of the two is the customer's? Only a column we read is ambiguous; an
            // unknown one is carried along as it is, however often it appears.
            let (a, b) = (headers[first].trim(), raw.trim());
            let names = if normalise(a) == name {
                String::new()
            } else {
                format!(": '{}' and '{}'", text::printable(a), text::printable(b))
            };
            return Err(bad(format!(
                "column '{field}' appears twice (columns {} and {}){names}",
                first + 1,
                i + 1
            )));
        }
        map.columns[field.index()] = Some(i);
    }
    let missing: Vec<String> = Field::REQUIRED
        .iter()
        .filter(|f| !map.has(**f))
        .map(|f| {
            let aliases: Vec<&str> = mapping.into_iter().flat_map(|m| m.aliases(*f)).collect();
            match aliases[..] {
                [] => f.name().to_string(),
                _ => format!("{f} (or '{}')", aliases.join("' or '")),
            }
        })
        .collect();
    if !missing.is_empty() {
        // One column whose name holds the others: the file uses another delimiter.
        let hint = match headers.iter().next() {
            Some(only) if headers.len() == 1 => [(';', "';'"), ('\t', "tab"), ('|', "'|'")]
                .iter()
                .find(|(c, _)| only.contains(*c))
                .map(|(_, name)| {
                    format!(" (the header looks {name}-separated: try --delimiter {name})")
                })
                .unwrap_or_default(),
            _ => String::new(),
        };
        // A file sent without its header row has a customer where the headers go: that line
        // is personal data, and is not repeated in a message.
        let data_like = headers.iter().any(|h| {
            let digits = h.bytes().filter(u8::is_ascii_digit).count();
            h.contains(['@', '\n', '\r']) || digits >= 6
        });
        if data_like {
            return Err(bad(format!(
                "required column{} missing: {}{hint}; the first line looks like a customer's \
                 data, not a header row: the file needs a header row (see the README's Input \
                 section)",
                if missing.len() > 1 { "s" } else { "" },
                missing.join(", "),
            )));
        }
        // What the file has instead, and what each unread header most likely meant.
        let found: Vec<String> = headers
            .iter()
            .filter(|h| !h.trim().is_empty())
            .map(|h| match closest_field(h).filter(|f| !map.has(*f)) {
                Some(f) if known(&normalise(h)).is_none() => {
                    format!("'{}' (closest field: {f})", shown_header(h))
                }
                _ => format!("'{}'", shown_header(h)),
            })
            .collect();
        return Err(bad(format!(
            "required column{} missing: {}{hint}; the file's headers: {}",
            if missing.len() > 1 { "s" } else { "" },
            missing.join(", "),
            found.join(", ")
        )));
    }
    if !map.has(Field::IdDocumentFrontUrl) && !map.has(Field::IdDocumentFront) {
        return Err(bad(
            "no document columns: give id_document_front_url and id_document_back_url, \
             or id_document_front and id_document_back"
                .to_string(),
        ));
    }
    Ok(map)
}

/// A header as a message shows it: printable, and at most 60 characters.
fn shown_header(header: &str) -> String {
    text::cut(text::printable(header.trim()).into_owned(), 60)
}

/// A parser error: with flexible records read as bytes, only the file's reading can fail.
fn csv_error(path: &str, e: csv::Error) -> InputError {
    let source = match e.into_kind() {
        csv::ErrorKind::Io(io) => io,
        other => std::io::Error::other(format!("{other:?}")),
    };
    InputError::Io {
        path: path.to_string(),
        source,
    }
}

/// Excel's optional first line `sep=X` (after a BOM, if any), seen in the file's first
/// buffered bytes: the delimiter it declares and the bytes the line takes, its line break
/// and the BOM included.
fn sep_directive(head: &[u8]) -> Option<(u8, u64)> {
    let bom = if head.starts_with(b"\xef\xbb\xbf") {
        3
    } else {
        0
    };
    let rest = head[bom..].strip_prefix(b"sep=")?;
    let (&delimiter, after) = rest.split_first()?;
    if !delimiter.is_ascii() || matches!(delimiter, b'"' | b'\r' | b'\n') {
        return None;
    }
    let ending = match after {
        [b'\r', b'\n', ..] => 2,
        [b'\n', ..] | [b'\r', ..] => 1,
        _ => return None,
    };
    Some((delimiter, (bom + 4 + 1 + ending) as u64))
}

#[cfg(test)]
mod tests;
