//! Reading a partner's CSV: header mapping and a streaming record reader.
//!
//! Owns the file format only (encoding, delimiter, quoting, header names). It knows nothing
//! of what a valid value is: that is `validate`'s job.

use std::borrow::Cow;
use std::fmt;

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

/// Which CSV column holds each known field.
#[derive(Debug, Clone, Default)]
pub struct ColumnMap {
    columns: [Option<usize>; Field::ALL.len()],
    /// Header names that matched no field, as written in the file.
    pub unknown: Vec<String>,
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
/// it (trimmed and normalised by [`text::clean`]), and "" for a column the file does not
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
        text::clean(self.raw(field))
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
}

impl CsvInput {
    pub fn open(path: &std::path::Path, delimiter: u8) -> Result<CsvInput, InputError> {
        let shown = path.display().to_string();
        let file = std::fs::File::open(path).map_err(|source| InputError::Io {
            path: shown.clone(),
            source,
        })?;
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
        let columns = map_columns(&shown, &headers)?;
        Ok(CsvInput {
            path: shown,
            reader,
            headers,
            columns,
            record: csv::StringRecord::new(),
            rows: 0,
            skip,
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

/// Reads a whole file once: its SHA-256 and row count, and every structural problem found
/// before anything is sent.
pub fn scan(path: &std::path::Path, delimiter: u8) -> Result<(String, u64), InputError> {
    let mut input = CsvInput::open(path, delimiter)?;
    while input.next_record()?.is_some() {}
    let rows = input.rows();
    Ok((input.sha256(), rows))
}

/// A header name as matched: surrounding spaces, and the byte-order marks and zero-width
/// characters that concatenated or hand-edited exports leave, ignored; ASCII case folded.
fn normalise(name: &str) -> String {
    text::clean(name).to_ascii_lowercase()
}

fn map_columns(path: &str, headers: &csv::StringRecord) -> Result<ColumnMap, InputError> {
    let bad = |problem: String| InputError::Bad {
        path: path.to_string(),
        line: 1,
        problem,
    };
    let mut map = ColumnMap::default();
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (i, raw) in headers.iter().enumerate() {
        let name = normalise(raw);
        if name.is_empty() {
            // Spreadsheet exports often end every line with a delimiter: an unnamed column
            // is carried along like any unknown one.
            map.unknown.push(format!("(unnamed column {})", i + 1));
            continue;
        }
        let known = Field::ALL.iter().find(|f| f.name() == name);
        if let Some(first) = seen.insert(name.clone(), i)
            && known.is_some()
        {
            // Which of the two is the customer's? Only a column we read is ambiguous; an
            // unknown one is carried along as it is, however often it appears.
            return Err(bad(format!(
                "column '{name}' appears twice (columns {} and {})",
                first + 1,
                i + 1
            )));
        }
        match known {
            Some(f) => map.columns[f.index()] = Some(i),
            None => map.unknown.push(raw.trim().to_string()),
        }
    }
    let missing: Vec<&str> = Field::REQUIRED
        .iter()
        .filter(|f| !map.has(**f))
        .map(|f| f.name())
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
        return Err(bad(format!(
            "required column{} missing: {}{hint}",
            if missing.len() > 1 { "s" } else { "" },
            missing.join(", ")
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
        Some(name) if !name.trim().is_empty() => format!("column '{}'", name.trim()),
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
mod tests {
    use super::*;
    use std::io::Write;

    fn write(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bytes).unwrap();
        f
    }

    const HEADER: &str = "first_name,last_name,email,country,street,city,state,postal_code,\
country_iso_code,country_phone_code,phone_number,identification_number,id_document_type,\
date_of_birth,id_document_front_url,id_document_back_url";

    fn all(path: &std::path::Path) -> Result<Vec<Vec<String>>, InputError> {
        let mut input = CsvInput::open(path, b',')?;
        let mut out = Vec::new();
        while let Some((_, rec)) = input.next_record()? {
            out.push(rec.iter().map(str::to_string).collect());
        }
        Ok(out)
    }

    #[test]
    fn bom_crlf_and_header_case_are_accepted() {
        let header = HEADER.to_uppercase().replace(",EMAIL,", ", Email ,");
        let body = format!(
            "\u{feff}{header}\r\nAnn,Lee,a@b.co,X,Y,Z,W,123,CM,+237,1234,1,NIN,1990-01-01,https://a/b,https://a/c\r\n"
        );
        let f = write(body.as_bytes());
        let input = CsvInput::open(f.path(), b',').unwrap();
        assert_eq!(input.columns.column(Field::FirstName), Some(0));
        assert_eq!(input.columns.column(Field::Email), Some(2));
        assert_eq!(&input.headers[0], "FIRST_NAME");
        assert_eq!(all(f.path()).unwrap()[0][15], "https://a/c");
    }

    #[test]
    fn quoted_fields_keep_commas_quotes_and_newlines() {
        let body = format!(
            "{HEADER}\n\"Ann, \"\"Jr\"\"\",\"Lee\nSmith\",a@b.co,X,Y,Z,W,123,CM,+237,1234,1,NIN,1990-01-01,u,v\n"
        );
        let f = write(body.as_bytes());
        let rows = all(f.path()).unwrap();
        assert_eq!(rows[0][0], "Ann, \"Jr\"");
        assert_eq!(rows[0][1], "Lee\nSmith");
    }

    #[test]
    fn header_only_file_has_zero_rows() {
        let f = write(format!("{HEADER}\n").as_bytes());
        let (sha, rows) = scan(f.path(), b',').unwrap();
        assert_eq!(rows, 0);
        assert_eq!(sha.len(), 64);
    }

    #[test]
    fn unusable_files_are_fatal_with_the_line() {
        let empty = write(b"");
        assert!(matches!(
            scan(empty.path(), b','),
            Err(InputError::Empty { .. })
        ));

        let missing = write(b"first_name,email\nAnn,a@b.co\n");
        let e = scan(missing.path(), b',').unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("last_name"), "{e}");

        let twice = write(format!("{HEADER},EMAIL\n").as_bytes());
        let e = scan(twice.path(), b',').unwrap_err().to_string();
        assert!(e.contains("'email' appears twice"), "{e}");
        // An unknown column twice (a rejects.csv of a rejects.csv) is carried, not fatal.
        let notes = write(format!("{HEADER},notes,Notes\n").as_bytes());
        assert!(scan(notes.path(), b',').is_ok());

        let ragged = write(format!("{HEADER}\na,b\n").as_bytes());
        let e = scan(ragged.path(), b',').unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("has 2 fields"), "{e}");

        let mut latin1 = format!("{HEADER}\n").into_bytes();
        latin1.extend_from_slice(
            b"Zo\xeb,Lee,a@b.co,X,Y,Z,W,123,CM,+237,1234,1,NIN,1990-01-01,u,v\n",
        );
        let f = write(&latin1);
        let e = scan(f.path(), b',').unwrap_err().to_string();
        assert!(
            e.contains("line 2: row 1: not valid UTF-8 in column 'first_name'"),
            "{e}"
        );
    }

    #[test]
    fn fatal_errors_name_the_physical_line_and_the_row_whatever_the_line_breaks() {
        let good = "Ann,Lee,a@b.co,X,Y,Z,W,123,CM,+237,1234,1,NIN,1990-01-01,u,v";
        let cases = [
            // (file, line, row)
            (format!("{HEADER}\r\n{good}\r\n{good}\r\na,b\r\n"), 4, 3),
            (format!("{HEADER}\r{good}\ra,b\r"), 3, 2),
            (format!("{HEADER}\n\n\n{good}\n\na,b\n"), 6, 2),
            (
                format!(
                    "{HEADER}\r\n{}\r\na,b\r\n",
                    good.replace(",W,", ",\"W\r\nX\",")
                ),
                4,
                2,
            ),
        ];
        for (body, line, row) in cases {
            let f = write(body.as_bytes());
            let e = scan(f.path(), b',').unwrap_err().to_string();
            assert!(
                e.contains(&format!("line {line}: row {row}: has 2 fields")),
                "{body:?}: {e}"
            );
        }
    }

    #[test]
    fn blank_spreadsheet_lines_are_skipped_and_take_no_row_number() {
        let good = "Ann,Lee,a@b.co,X,Y,Z,W,123,CM,+237,1234,1,NIN,1990-01-01,u,v";
        let commas = ",".repeat(15);
        let body = format!("{HEADER}\n{good}\n   \n{commas}\n\n{good},\n{commas}\n");
        let f = write(body.as_bytes());
        let mut input = CsvInput::open(f.path(), b',').unwrap();
        let mut rows = Vec::new();
        while let Some((row, record)) = input.next_record().unwrap() {
            rows.push((row, record.len()));
        }
        // The second row's trailing delimiter gave an empty 17th field: dropped.
        assert_eq!(rows, vec![(1, 16), (2, 16)]);
        assert_eq!(scan(f.path(), b',').unwrap().1, 2);
    }

    #[test]
    fn a_trailing_delimiter_makes_an_unnamed_column_not_an_error() {
        let body =
            format!("{HEADER},\nAnn,Lee,a@b.co,X,Y,Z,W,123,CM,+237,1234,1,NIN,1990-01-01,u,v,\n");
        let f = write(body.as_bytes());
        let input = CsvInput::open(f.path(), b',').unwrap();
        assert_eq!(
            input.columns.unknown,
            vec!["(unnamed column 17)".to_string()]
        );
        assert_eq!(all(f.path()).unwrap()[0].len(), 17);
    }

    #[test]
    fn unknown_columns_are_kept_aside_and_delimiter_is_configurable() {
        let body = format!("{};notes\n", HEADER.replace(',', ";"));
        let f = write(body.as_bytes());
        let input = CsvInput::open(f.path(), b';').unwrap();
        assert_eq!(input.columns.unknown, vec!["notes".to_string()]);
        // Read with the default comma, the same file says which delimiter to try.
        let e = scan(f.path(), b',').unwrap_err().to_string();
        assert!(e.contains("try --delimiter ';'"), "{e}");
    }

    #[test]
    fn an_excel_sep_line_names_the_delimiter_and_is_not_the_header() {
        let good = "Ann;Lee;a@b.co;X;Y;Z;W;123;CM;+237;1234;1;NIN;1990-01-01;u;v";
        let header = HEADER.replace(',', ";");
        for prefix in ["sep=;\r\n", "\u{feff}sep=;\n"] {
            let body = format!("{prefix}{header}\r\n{good}\r\na;b\r\n");
            let f = write(body.as_bytes());
            // Given the default comma, the file's own declaration wins.
            let mut input = CsvInput::open(f.path(), b',').unwrap();
            assert_eq!(input.columns.column(Field::Email), Some(2));
            let (row, record) = input.next_record().unwrap().unwrap();
            assert_eq!((row, &record[0]), (1, "Ann"));
            let e = scan(f.path(), b',').unwrap_err().to_string();
            assert!(e.contains("line 4: row 2: has 2 fields"), "{prefix:?}: {e}");
            // The identity is the whole file's, the sep line included.
            let clean = format!("{prefix}{header}\r\n{good}\r\n");
            let f = write(clean.as_bytes());
            let whole = hex::encode(sha2::Digest::finalize(
                <sha2::Sha256 as sha2::Digest>::new_with_prefix(clean.as_bytes()),
            ));
            assert_eq!(scan(f.path(), b',').unwrap(), (whole, 1));
        }
    }

    #[test]
    fn a_stray_byte_order_mark_or_zero_width_space_in_a_header_name_is_ignored() {
        let header = HEADER
            .replace("first_name", "\u{feff}first_name")
            .replace("email", "email\u{200b}");
        let f = write(format!("\u{feff}{header},\u{feff}reference\n").as_bytes());
        let input = CsvInput::open(f.path(), b',').unwrap();
        assert_eq!(input.columns.column(Field::FirstName), Some(0));
        assert_eq!(input.columns.column(Field::Email), Some(2));
        assert_eq!(input.columns.column(Field::Reference), Some(16));
    }
}

#[cfg(test)]
mod properties {
    use std::io::Write;

    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    use super::*;
    use crate::validate::{Checked, Rules, Validator};

    const GOOD: &str = "reference,first_name,last_name,email,country,street,city,state,\
postal_code,country_iso_code,country_phone_code,phone_number,identification_number,\
id_document_type,date_of_birth,id_document_front_url,id_document_back_url\n\
R-1,Ann,Lee,ann@example.com,Cameroon,1 Rue,Douala,Littoral,00237,CM,+237,677123456,ID1,NIN,\
1990-01-15,https://cdn.example.com/f.jpg,https://cdn.example.com/b.jpg\n\
R-2,\"Zo\u{eb}, \"\"Jr\"\"\",Lee,zoe@example.com,Cameroon,\"1 Rue\nBis\",Douala,Littoral,\
00237,CM,+237,677123456,ID2,PASSPORT,1980-02-29,https://cdn.example.com/f.jpg,\
https://cdn.example.com/b.jpg\n";

    /// Reads a whole file as `run` does: every record through the validator. Gives the
    /// number of rows, or the fatal error's message.
    fn read_all(bytes: &[u8], delimiter: u8, validator: &Validator) -> Result<u64, String> {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(bytes).unwrap();
        let mut input = CsvInput::open(file.path(), delimiter).map_err(|e| e.to_string())?;
        let columns = input.columns.clone();
        while let Some((_, record)) = input.next_record().map_err(|e| e.to_string())? {
            let verdict = validator.check(&RowView::new(&columns, record));
            if let Checked::Invalid { errors, .. } = verdict {
                assert!(!errors.is_empty());
            }
        }
        let rows = input.rows();
        assert_eq!(input.sha256().len(), 64);
        Ok(rows)
    }

    /// Arbitrary bytes, and a good file with bytes overwritten, inserted or cut: the reader
    /// and the validator behind it give rows or a fatal error that names a line, never a
    /// panic.
    #[test]
    fn any_bytes_give_rows_or_an_error_naming_the_line() {
        let docs = tempfile::tempdir().unwrap();
        let validator = Validator::new(Rules {
            as_of: chrono::NaiveDate::from_ymd_opt(2026, 11, 21).unwrap(),
            documents_dir: docs.path().to_path_buf(),
            strict: false,
        })
        .unwrap();
        let edit = (
            0..GOOD.len(),
            proptest::collection::vec(any::<u8>(), 0..8),
            0..4usize,
        );
        let bytes = prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..600),
            proptest::collection::vec(
                proptest::sample::select(&b",;\t\"\r\n \xef\xbb\xbfa\xe9\xff\x00sep="[..]),
                0..300
            ),
            proptest::collection::vec(edit, 1..6).prop_map(|edits| {
                let mut b = GOOD.as_bytes().to_vec();
                for (at, with, cut) in edits {
                    let at = at.min(b.len());
                    let end = (at + cut).min(b.len());
                    b.splice(at..end, with);
                }
                b
            }),
        ];
        let delimiter = proptest::sample::select(&b",;\t|"[..]);
        let mut runner = TestRunner::new(Config {
            cases: 1500,
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&(bytes, delimiter), |(bytes, delimiter)| {
                match read_all(&bytes, delimiter, &validator) {
                    Ok(rows) => prop_assert!(rows <= bytes.len() as u64),
                    Err(message) => prop_assert!(
                        message.contains(" line ") || message.contains("empty"),
                        "{message}"
                    ),
                }
                Ok(())
            })
            .unwrap();
        // The unedited file itself is two rows.
        assert_eq!(read_all(GOOD.as_bytes(), b',', &validator), Ok(2));
    }
}
