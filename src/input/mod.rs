//! Reading a partner's CSV: header mapping and a streaming record reader.
//!
//! Owns the file format only (encoding, delimiter, quoting, header names). It knows nothing
//! of what a valid value is: that is `validate`'s job.

mod profile;
pub use profile::{Mapping, Profile};

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use crate::text;

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

    pub fn get(&self, field: Field) -> Cow<'a, str> {
        let value = text::clean(self.raw(field));
        match &self.columns.values {
            Some(mapping) => mapping.word(field, value),
            None => value,
        }
    }

    /// A value as the file holds it, only trimmed of whitespace and format characters at
    /// its edges: for local file paths, which the file system compares byte for byte.
    pub fn get_path(&self, field: Field) -> &'a str {
        self.raw(field).trim_matches(text::is_edge_junk)
    }

    fn raw(&self, field: Field) -> &'a str {
        self.columns
            .column(field)
            .and_then(|i| self.record.get(i))
            .unwrap_or("")
    }
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
    #[error("'{path}' line {line}: {problem}")]
    Bad {
        path: String,
        line: u64,
        problem: String,
    },
}

/// Reads a file's bytes through SHA-256 as the CSV parser consumes them, so the file is
/// identified by its content without a second read.
struct HashingReader<R> {
    inner: R,
    hasher: sha2::Sha256,
}

impl<R: std::io::Read> std::io::Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use sha2::Digest;
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// A streaming reader over one partner file. Memory does not grow with the number of rows:
/// one record buffer is reused.
pub struct CsvInput {
    path: String,
    reader: csv::Reader<HashingReader<std::io::BufReader<std::fs::File>>>,
    /// The header as read (BOM removed), for rejects.csv.
    pub headers: csv::StringRecord,
    pub columns: ColumnMap,
    record: csv::StringRecord,
    rows: u64,
    /// Bytes before the CSV proper (a `sep=` line): the parser's positions start after them.
    skip: u64,
    /// The file's size when opened.
    file_len: u64,
    /// Cells are read through [`unguard_cell`]: the file is a rejects.csv we wrote.
    unguard: bool,
}

impl CsvInput {
    pub fn open(path: &std::path::Path, reading: &Reading) -> Result<CsvInput, InputError> {
        let delimiter = reading.delimiter;
        let shown = path.display().to_string();
        let file = std::fs::File::open(path).map_err(|source| InputError::Io {
            path: shown.clone(),
            source,
        })?;
        let file_len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let mut hashing = HashingReader {
            inner: std::io::BufReader::with_capacity(256 * 1024, file),
            hasher: sha2::Digest::new(),
        };
        // Excel's `sep=;` first line names the delimiter; it is hashed with the rest of the
        // file but is not the header.
        let head =
            std::io::BufRead::fill_buf(&mut hashing.inner).map_err(|source| InputError::Io {
                path: shown.clone(),
                source,
            })?;
        let (delimiter, skip) = match sep_directive(head) {
            Some((declared, len)) => {
                let mut line = vec![0u8; len as usize];
                std::io::Read::read_exact(&mut hashing, &mut line).map_err(|source| {
                    InputError::Io {
                        path: shown.clone(),
                        source,
                    }
                })?;
                (declared, len)
            }
            None => (delimiter, 0),
        };
        // Flexible: field counts are checked here, so that a blank spreadsheet line (only
        // spaces, or only delimiters) can be skipped like an empty one instead of being fatal.
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(true)
            .flexible(true)
            .from_reader(hashing);
        let headers = match reader.headers() {
            Ok(h) => h.clone(),
            Err(e) => return Err(csv_error(&shown, skip, None, e)),
        };
        if headers.is_empty() || (headers.len() == 1 && headers[0].trim().is_empty()) {
            return Err(InputError::Empty { path: shown });
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
        let columns = map_columns(&shown, &headers, reading.mapping.as_ref())?;
        Ok(CsvInput {
            path: shown,
            reader,
            headers,
            columns,
            record: csv::StringRecord::new(),
            rows: 0,
            skip,
            file_len,
            unguard,
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
    /// dropped. Any other record with a field count unlike the header's is fatal.
    pub fn next_record(&mut self) -> Result<Option<(u64, &csv::StringRecord)>, InputError> {
        let expected = self.headers.len();
        loop {
            match self.reader.read_record(&mut self.record) {
                Ok(true) => {}
                Ok(false) => return Ok(None),
                Err(e) => {
                    return Err(csv_error(
                        &self.path,
                        self.skip,
                        Some((&self.headers, self.rows + 1)),
                        e,
                    ));
                }
            }
            if self.record.len() != expected || self.record.iter().all(|f| f.is_empty()) {
                if self.record.iter().all(|f| f.trim().is_empty()) {
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
                } else {
                    return Err(self.unequal_lengths());
                }
            }
            if self.unguard && self.record.iter().any(|f| f.starts_with('\'')) {
                self.record = unguarded(&self.record);
            }
            self.rows += 1;
            return Ok(Some((self.rows, &self.record)));
        }
    }

    fn unequal_lengths(&self) -> InputError {
        let (len, expected) = (self.record.len(), self.headers.len());
        let hint = if len < expected {
            ""
        } else {
            " (a quote left open swallows the lines after it)"
        };
        let byte = self.record.position().map(|p| p.byte()).unwrap_or(0);
        InputError::Bad {
            path: self.path.clone(),
            line: physical_line(&self.path, byte + self.skip).unwrap_or(0),
            problem: format!(
                "row {}: has {len} fields, the header has {expected}{hint}",
                self.rows + 1
            ),
        }
    }

    /// The file's size when it was opened.
    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    /// Bytes of the file parsed so far.
    pub fn bytes_read(&self) -> u64 {
        self.reader.position().byte() + self.skip
    }

    /// Rows read so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The SHA-256 of the bytes read so far: the whole file once `next_record` gave `None`.
    pub fn sha256(self) -> String {
        let hasher = self.reader.into_inner().hasher;
        hex::encode(sha2::Digest::finalize(hasher))
    }
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
    Ok((input.sha256(), rows))
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
        // What the file has instead, and what each unread header most likely meant.
        let found: Vec<String> = headers
            .iter()
            .filter(|h| !h.trim().is_empty())
            .map(|h| match closest_field(h).filter(|f| !map.has(*f)) {
                Some(f) if known(&normalise(h)).is_none() => {
                    format!("'{}' (closest field: {f})", text::printable(h.trim()))
                }
                _ => format!("'{}'", text::printable(h.trim())),
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

/// A parser error as a message naming the file's physical line (what an editor shows) and,
/// for a data record, its row number (what results.csv shows) and the column concerned.
fn csv_error(
    path: &str,
    skip: u64,
    record: Option<(&csv::StringRecord, u64)>,
    e: csv::Error,
) -> InputError {
    let position = e.position().cloned();
    let headers = record.map(|(h, _)| h);
    let column = |i: usize| match headers.and_then(|h| h.get(i)) {
        Some(name) if !name.trim().is_empty() => {
            format!("column '{}'", text::printable(name.trim()))
        }
        _ => format!("column {}", i + 1),
    };
    let problem = match e.kind() {
        csv::ErrorKind::Utf8 { err, .. } => format!(
            "not valid UTF-8 in {} (save the file as UTF-8)",
            column(err.field())
        ),
        csv::ErrorKind::Io(io) => {
            return InputError::Io {
                path: path.to_string(),
                source: std::io::Error::new(io.kind(), io.to_string()),
            };
        }
        _ => e.to_string(),
    };
    // The parser's own line count misses blank lines and CRLF breaks; count the file's line
    // breaks up to the record instead (only on this error path).
    let line = position
        .map(|p| physical_line(path, p.byte() + skip).unwrap_or(p.line()))
        .unwrap_or(0);
    let problem = match record {
        Some((_, row)) => format!("row {row}: {problem}"),
        None => problem,
    };
    InputError::Bad {
        path: path.to_string(),
        line,
        problem,
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

/// The 1-based line of the file on which the record starting at `byte` begins: line breaks
/// (LF, CRLF or a lone CR) before it, plus any the parser left at the record's start.
fn physical_line(path: &str, byte: u64) -> Option<u64> {
    use std::io::Read;
    let file = std::fs::File::open(path).ok()?;
    let mut reader = std::io::BufReader::new(file);
    let mut breaks = 0u64;
    let mut previous = 0u8;
    let mut at = 0u64;
    let mut buf = [0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut buf).ok()?;
        if n == 0 {
            return Some(breaks + 1);
        }
        for &b in &buf[..n] {
            // Past the record's start, only the line breaks right at it still count.
            if at >= byte && b != b'\n' && b != b'\r' {
                return Some(breaks + 1);
            }
            match b {
                b'\n' if previous == b'\r' => {}
                b'\n' | b'\r' => breaks += 1,
                _ => {}
            }
            previous = b;
            at += 1;
        }
    }
}

#[cfg(test)]
mod tests;
