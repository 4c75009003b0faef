//! The reader on files built byte by byte: encodings, quoting, line endings, broken files.

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
    let mut input = CsvInput::open(path, &Reading::csv(b','))?;
    let mut out = Vec::new();
    while let Some(r) = input.next_record()? {
        out.push(r.fields.iter().map(str::to_string).collect());
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
    let input = CsvInput::open(f.path(), &Reading::csv(b',')).unwrap();
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
    let (sha, rows) = scan(f.path(), &Reading::csv(b',')).unwrap();
    assert_eq!(rows, 0);
    assert_eq!(sha.len(), 64);
}

#[test]
fn unusable_files_are_fatal_with_the_line() {
    let empty = write(b"");
    assert!(matches!(
        scan(empty.path(), &Reading::csv(b',')),
        Err(InputError::Empty { .. })
    ));

    let missing = write(b"first_name,email\nAnn,a@b.co\n");
    let e = scan(missing.path(), &Reading::csv(b','))
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 1") && e.contains("last_name"), "{e}");

    let twice = write(format!("{HEADER},EMAIL\n").as_bytes());
    let e = scan(twice.path(), &Reading::csv(b','))
        .unwrap_err()
        .to_string();
    assert!(e.contains("'email' appears twice"), "{e}");
    // An unknown column twice (a rejects.csv of a rejects.csv) is carried, not fatal.
    let notes = write(format!("{HEADER},notes,Notes\n").as_bytes());
    assert!(scan(notes.path(), &Reading::csv(b',')).is_ok());

    let mut latin1 = format!("{HEADER}\n").into_bytes();
    latin1[0] = 0xe9;
    let f = write(&latin1);
    let e = scan(f.path(), &Reading::csv(b',')).unwrap_err().to_string();
    assert!(
        e.contains("line 1: the header is not valid UTF-8")
            && e.contains("try --encoding windows-1252"),
        "{e}"
    );
}

/// The problems of each record, in order (`None`: readable).
fn problems(bytes: &[u8], reading: &Reading) -> Result<Vec<Option<String>>, InputError> {
    let f = write(bytes);
    let mut input = CsvInput::open(f.path(), reading)?;
    let mut out = Vec::new();
    while let Some(r) = input.next_record()? {
        out.push(r.problem.map(str::to_owned));
    }
    Ok(out)
}

#[test]
fn a_record_that_cannot_be_read_is_one_invalid_row_and_the_rest_goes_on() {
    let good = "Ann,Lee,a@b.co,X,Y,Z,W,123,CM,+237,1234,1,NIN,1990-01-01,u,v";
    let comma = good.replace(",Y,", ",Y,Y2,");
    let mut body = format!("{HEADER}\n{good}\n{comma}\na,b\n").into_bytes();
    body.extend_from_slice(b"Zo\xeb,Lee,a@b.co,X,Y,Z,W,123,CM,+237,1234,1,NIN,1990-01-01,u,v\n");
    body.extend_from_slice(format!("{good}\n").as_bytes());
    let found = problems(&body, &Reading::default()).unwrap();
    assert_eq!(found.len(), 5, "{found:?}");
    assert_eq!(found[0], None);
    let extra = found[1].as_deref().unwrap();
    assert!(
        extra.contains("has 17 fields where the header has 16") && extra.contains("unquoted ','"),
        "{extra}"
    );
    assert!(found[2].as_deref().unwrap().contains("has 2 fields"));
    let bytes = found[3].as_deref().unwrap();
    assert!(
        bytes.starts_with("first_name: holds bytes that are not valid UTF-8")
            && bytes.contains("try --encoding windows-1252"),
        "{bytes}"
    );
    assert_eq!(found[4], None);
    // The record with the bad byte is kept as read, the byte shown as U+FFFD.
    let f = write(&body);
    let mut input = CsvInput::open(f.path(), &Reading::default()).unwrap();
    for _ in 0..3 {
        input.next_record().unwrap();
    }
    assert_eq!(
        &input.next_record().unwrap().unwrap().fields[0],
        "Zo\u{fffd}"
    );
}

#[test]
fn a_quote_open_at_the_end_of_the_file_is_fatal_naming_the_line_that_opened_it() {
    let good = "Ann,Lee,a@b.co,X,Y,Z,W,123,CM,+237,1234,1,NIN,1990-01-01,u,v";
    let open = good.replace(",W,", ",\"W,");
    let cases = [
        // (file, the line the quote opened on)
        (
            format!("{HEADER}\r\n{good}\r\n{open}\r\n{good}\r\n{good}\r\n"),
            3,
        ),
        (format!("{HEADER}\r{good}\r\r{open}\r{good}"), 4),
        // Quoted line breaks before it count as lines.
        (
            format!("{HEADER}\n{}\n{open}\n", good.replace(",X,", ",\"X\nY\","),),
            4,
        ),
        // In the header itself, also after Excel's UTF-8 byte-order mark, and on the last
        // line without a line break.
        (format!("\"first_name,{HEADER}\n{good}\n"), 1),
        (format!("\u{feff}\"first_name,{HEADER}\n{good}\n"), 1),
        (
            format!("{HEADER}\n{good}\n{}", good.replace(",v", ",\"v")),
            3,
        ),
    ];
    for (body, line) in cases {
        for reading in [Reading::default(), windows_1252()] {
            let f = write(body.as_bytes());
            let e = scan(f.path(), &reading).unwrap_err().to_string();
            assert!(
                e.contains(&format!(
                    "line {line}: a quoted value opened on this line is never closed"
                )),
                "{body:?}: {e}"
            );
        }
    }
    // Closed quotes, doubled quotes and a quote inside an unquoted value are not open.
    let fine = format!(
        "{HEADER}\n{}\n{}\n",
        good.replace(",X,", ",\"X \"\"the\"\" one\","),
        good.replace(",Y,", ",Y\"s,")
    );
    assert_eq!(
        scan(write(fine.as_bytes()).path(), &Reading::default())
            .unwrap()
            .1,
        2
    );
}

fn windows_1252() -> Reading {
    Reading {
        encoding: Some(encoding_rs::WINDOWS_1252),
        ..Reading::default()
    }
}

#[test]
fn short_records_are_numbered_as_rows_whatever_the_line_breaks() {
    let good = "Ann,Lee,a@b.co,X,Y,Z,W,123,CM,+237,1234,1,NIN,1990-01-01,u,v";
    let cases = [
        // (file, row of the short record)
        (format!("{HEADER}\r\n{good}\r\n{good}\r\na,b\r\n"), 3),
        (format!("{HEADER}\r{good}\ra,b\r"), 2),
        (format!("{HEADER}\n\n\n{good}\n\na,b\n"), 2),
        (
            format!(
                "{HEADER}\r\n{}\r\na,b\r\n",
                good.replace(",W,", ",\"W\r\nX\",")
            ),
            2,
        ),
    ];
    for (body, row) in cases {
        let found = problems(body.as_bytes(), &Reading::default()).unwrap();
        assert_eq!(found.len(), row, "{body:?}");
        assert!(
            found[row - 1].as_deref().unwrap().contains("has 2 fields"),
            "{body:?}"
        );
    }
}

#[test]
fn blank_spreadsheet_lines_are_skipped_and_take_no_row_number() {
    let good = "Ann,Lee,a@b.co,X,Y,Z,W,123,CM,+237,1234,1,NIN,1990-01-01,u,v";
    let commas = ",".repeat(15);
    let body = format!("{HEADER}\n{good}\n   \n{commas}\n\n{good},\n{commas}\n");
    let f = write(body.as_bytes());
    let mut input = CsvInput::open(f.path(), &Reading::csv(b',')).unwrap();
    let mut rows = Vec::new();
    while let Some(r) = input.next_record().unwrap() {
        rows.push((r.row, r.fields.len()));
    }
    // The second row's trailing delimiter gave an empty 17th field: dropped.
    assert_eq!(rows, vec![(1, 16), (2, 16)]);
    assert_eq!(scan(f.path(), &Reading::csv(b',')).unwrap().1, 2);
}

#[test]
fn a_trailing_delimiter_makes_an_unnamed_column_not_an_error() {
    let body =
        format!("{HEADER},\nAnn,Lee,a@b.co,X,Y,Z,W,123,CM,+237,1234,1,NIN,1990-01-01,u,v,\n");
    let f = write(body.as_bytes());
    let input = CsvInput::open(f.path(), &Reading::csv(b',')).unwrap();
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
    let input = CsvInput::open(f.path(), &Reading::csv(b';')).unwrap();
    assert_eq!(input.columns.unknown, vec!["notes".to_string()]);
    // Read with the default comma, the same file says which delimiter to try.
    let e = scan(f.path(), &Reading::csv(b',')).unwrap_err().to_string();
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
        let mut input = CsvInput::open(f.path(), &Reading::csv(b',')).unwrap();
        assert_eq!(input.columns.column(Field::Email), Some(2));
        let r = input.next_record().unwrap().unwrap();
        assert_eq!((r.row, &r.fields[0]), (1, "Ann"));
        let r = input.next_record().unwrap().unwrap();
        assert_eq!(r.row, 2);
        assert!(r.problem.unwrap().contains("has 2 fields"), "{prefix:?}");
        // The identity is the whole file's, the sep line included.
        let clean = format!("{prefix}{header}\r\n{good}\r\n");
        let f = write(clean.as_bytes());
        let whole = hex::encode(sha2::Digest::finalize(
            <sha2::Sha256 as sha2::Digest>::new_with_prefix(clean.as_bytes()),
        ));
        assert_eq!(scan(f.path(), &Reading::csv(b',')).unwrap(), (whole, 1));
    }
}

#[test]
fn a_stray_byte_order_mark_or_zero_width_space_in_a_header_name_is_ignored() {
    let header = HEADER
        .replace("first_name", "\u{feff}first_name")
        .replace("email", "email\u{200b}");
    let f = write(format!("\u{feff}{header},\u{feff}reference\n").as_bytes());
    let input = CsvInput::open(f.path(), &Reading::csv(b',')).unwrap();
    assert_eq!(input.columns.column(Field::FirstName), Some(0));
    assert_eq!(input.columns.column(Field::Email), Some(2));
    assert_eq!(input.columns.column(Field::Reference), Some(16));
}

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
        let mut input =
            CsvInput::open(file.path(), &Reading::csv(delimiter)).map_err(|e| e.to_string())?;
        let columns = input.columns.clone();
        while let Some(r) = input.next_record().map_err(|e| e.to_string())? {
            let verdict = validator.check(&RowView::new(&columns, r.fields));
            if let Checked::Invalid { errors, .. } = verdict {
                assert!(!errors.is_empty());
            }
        }
        let rows = input.rows();
        assert_eq!(input.sha256().unwrap().len(), 64);
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
            date_format: None,
            keep_phone_format: false,
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
                        message.contains(" line ")
                            || message.contains("empty")
                            || message.contains("' is "),
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

#[test]
fn headers_match_ignoring_case_spaces_underscores_hyphens_and_dots() {
    let header = "Reference,First Name,LAST-NAME,E-mail,Country,Street,City,State,Postal.Code,\
Country ISO Code,Country_Phone_Code,Phone Number,Identification Number,ID Document Type,\
Date of Birth,ID Document Front URL,id-document-back-url";
    let f = write(format!("{header}\n").as_bytes());
    let input = CsvInput::open(f.path(), &Reading::csv(b',')).unwrap();
    for (field, column) in [
        (Field::Reference, 0),
        (Field::FirstName, 1),
        (Field::LastName, 2),
        (Field::Email, 3),
        (Field::PostalCode, 8),
        (Field::CountryIsoCode, 9),
        (Field::DateOfBirth, 14),
        (Field::IdDocumentBackUrl, 16),
    ] {
        assert_eq!(input.columns.column(field), Some(column), "{field}");
    }
    assert!(
        input.columns.unknown.is_empty(),
        "{:?}",
        input.columns.unknown
    );
    // Two spellings of one field are one column twice.
    let twice = write(format!("{HEADER},First Name\n").as_bytes());
    let e = scan(twice.path(), &Reading::csv(b','))
        .unwrap_err()
        .to_string();
    assert!(e.contains("column 'first_name' appears twice"), "{e}");
}

#[test]
fn missing_columns_name_the_headers_found_and_the_closest_field() {
    let header = HEADER
        .replace("first_name", "Frist Name")
        .replace("date_of_birth", "Birthdate");
    let f = write(format!("{header}\n").as_bytes());
    let e = scan(f.path(), &Reading::csv(b',')).unwrap_err().to_string();
    assert!(
        e.contains("required columns missing: first_name, date_of_birth"),
        "{e}"
    );
    assert!(
        e.contains("'Frist Name' (closest field: first_name)"),
        "{e}"
    );
    assert!(e.contains("the file's headers: "), "{e}");
}

/// A file sent without its header row: its first customer is not repeated in the message.
#[test]
fn a_first_line_of_customer_data_is_not_shown_as_headers() {
    let first = "Ann,Lee,ann.lee@example.com,X,Y,Z,W,123,CM,+237,677123456,CM-000000001,NIN,\
                 1990-01-01,u,v";
    let f = write(format!("{first}\n{first}\n").as_bytes());
    let e = scan(f.path(), &Reading::csv(b',')).unwrap_err().to_string();
    assert!(
        e.contains("the first line looks like a customer's data"),
        "{e}"
    );
    for personal in ["ann.lee", "677123456", "Lee"] {
        assert!(!e.contains(personal), "{personal}: {e}");
    }
}

/// The exports of a real spreadsheet program (LibreOffice Calc, through
/// `scripts/partner-files/make.sh`) read to the same records as the UTF-8 file they came
/// from: Windows-1252 text, gzip-compressed or not, "Unicode Text" (UTF-16LE with a BOM,
/// tab-separated), and an .xlsx workbook whose dates are date cells. Calc wrote the dial
/// codes back without their "+" (it read "+234" as a number): that column is compared
/// without it.
mod spreadsheet_exports {
    use super::*;

    fn fixture(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/partner")
            .join(name)
    }

    fn records(name: &str, reading: &Reading) -> Vec<Vec<String>> {
        let mut input = CsvInput::open(&fixture(name), reading).unwrap();
        let dial = input.columns.column(Field::CountryPhoneCode).unwrap();
        let mut out = Vec::new();
        while let Some(r) = input.next_record().unwrap() {
            assert_eq!(r.problem, None, "{name} row {}", r.row);
            let mut cells: Vec<String> = r
                .fields
                .iter()
                .map(|f| text::clean(f).into_owned())
                .collect();
            cells[dial] = cells[dial].trim_start_matches('+').to_string();
            out.push(cells);
        }
        out
    }

    #[test]
    fn every_form_reads_as_the_utf8_original() {
        let original = records("source.csv", &Reading::default());
        assert_eq!(original.len(), 5);
        assert_eq!(original[2][1], "Zoë");
        let cp1252 = windows_1252();
        let tab = Reading {
            delimiter: b'\t',
            ..Reading::default()
        };
        let forms = [
            ("windows-1252.csv", &cp1252),
            ("windows-1252.csv.gz", &cp1252),
            // The byte-order mark says UTF-16 without a flag.
            ("utf16.txt", &tab),
            ("source.xlsx", &Reading::default()),
        ];
        for (name, reading) in forms {
            assert_eq!(records(name, reading), original, "{name}");
        }
    }

    #[test]
    fn the_identity_is_the_bytes_on_disk_in_every_form() {
        for (name, reading) in [
            ("windows-1252.csv.gz", windows_1252()),
            ("source.xlsx", Reading::default()),
            ("utf16.txt", Reading::csv(b'\t')),
        ] {
            let bytes = std::fs::read(fixture(name)).unwrap();
            let expected = hex::encode(sha2::Digest::finalize(
                <sha2::Sha256 as sha2::Digest>::new_with_prefix(&bytes),
            ));
            assert_eq!(
                scan(&fixture(name), &reading).unwrap(),
                (expected, 5),
                "{name}"
            );
        }
    }

    #[test]
    fn without_the_encoding_the_accented_rows_name_the_encoding_to_try() {
        let mut input = CsvInput::open(&fixture("windows-1252.csv"), &Reading::default()).unwrap();
        let mut named = 0;
        while let Some(r) = input.next_record().unwrap() {
            if let Some(problem) = r.problem {
                assert!(problem.contains("try --encoding windows-1252"), "{problem}");
                named += 1;
            }
        }
        // Rows 2 to 4 hold accents; rows 1 and 5 are ASCII.
        assert_eq!(named, 3);
    }

    #[test]
    fn a_sheet_is_chosen_by_name_and_an_unknown_one_lists_the_sheets() {
        let named = Reading {
            sheet: Some("source".to_string()),
            ..Reading::default()
        };
        assert_eq!(scan(&fixture("source.xlsx"), &named).unwrap().1, 5);
        let unknown = Reading {
            sheet: Some("Customers".to_string()),
            ..Reading::default()
        };
        let e = scan(&fixture("source.xlsx"), &unknown)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no sheet 'Customers'; its sheets: 'source'"),
            "{e}"
        );
    }
}

#[test]
fn files_that_are_not_text_are_refused_naming_what_they_are() {
    let cases: [(&[u8], &str); 6] = [
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\0\0\0\0",
            "an Excel 97-2003 workbook (.xls)",
        ),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "a PDF document"),
        (
            b"PK\x03\x04\x14\0\0\0\x08\0data.csv",
            "a zip archive: unzip it",
        ),
        (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "a PNG image"),
        (b"first_name\0\x01\x02\x03\0\0", "a binary file"),
        (
            b"f\0i\0r\0s\0t\0_\0n\0a\0m\0e\0,\0",
            "try --encoding utf-16le",
        ),
    ];
    for (bytes, what) in cases {
        let f = write(bytes);
        let e = scan(f.path(), &Reading::default()).unwrap_err().to_string();
        assert!(e.contains(what), "{what}: {e}");
    }
    // An Office document that is not a workbook is named, not read as one.
    for (folder, what) in [
        (&b"word/document.xml"[..], "a Word document"),
        (b"ppt/slides", "a PowerPoint"),
    ] {
        let mut bytes = b"PK\x03\x04\x14\0\0\0\x08\0[Content_Types].xml".to_vec();
        bytes.extend_from_slice(b"PK\x03\x04\x14\0\0\0\x08\0");
        bytes.extend_from_slice(folder);
        let e = scan(write(&bytes).path(), &Reading::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains(what), "{what}: {e}");
    }
    // Gzip is looked into: a compressed PDF is still a PDF.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, b"%PDF-1.7\n").unwrap();
    let f = write(&gz.finish().unwrap());
    let e = scan(f.path(), &Reading::default()).unwrap_err().to_string();
    assert!(e.contains("a gzip file holding a PDF document"), "{e}");
}

/// UTF-16 without a byte-order mark is read with the --encoding the refusal names; one zero
/// byte in a UTF-8 file is its row's problem, not a binary file.
#[test]
fn utf16_without_a_mark_reads_with_its_encoding_and_a_stray_zero_byte_stays_in_its_row() {
    let good = "Ann,Lee,a@b.co,X,Y,Z,W,123,CM,+237,1234,1,NIN,1990-01-01,u,v";
    let text = format!("{HEADER}\n{good}\n");
    for (encoding, units) in [
        (
            encoding_rs::UTF_16LE,
            text.encode_utf16()
                .flat_map(u16::to_le_bytes)
                .collect::<Vec<u8>>(),
        ),
        (
            encoding_rs::UTF_16BE,
            text.encode_utf16().flat_map(u16::to_be_bytes).collect(),
        ),
    ] {
        let f = write(&units);
        assert!(scan(f.path(), &Reading::default()).is_err());
        let reading = Reading {
            encoding: Some(encoding),
            ..Reading::default()
        };
        let mut input = CsvInput::open(f.path(), &reading).unwrap();
        let record = input.next_record().unwrap().unwrap();
        assert_eq!(&record.fields[2], "a@b.co");
        assert!(record.problem.is_none());
    }
    let body = format!(
        "{HEADER}\n{good}\n{}\n{good}\n",
        good.replace("Lee", "L\0ee")
    );
    assert_eq!(
        scan(write(body.as_bytes()).path(), &Reading::default())
            .unwrap()
            .1,
        3
    );
}

#[test]
fn decoding_keeps_multibyte_delimiter_bytes_inside_their_characters() {
    // In Shift_JIS, "ポ" is 0x83 0x7C: its second byte is '|'. Decoded before parsing, it
    // stays in its value.
    let header = HEADER.replace(',', "|");
    let row = "ポール|Lee|a@b.co|X|Y|Z|W|123|CM|+237|1234|1|NIN|1990-01-01|u|v";
    let text = format!("{header}\n{row}\n");
    let (bytes, _, _) = encoding_rs::SHIFT_JIS.encode(&text);
    let reading = Reading {
        delimiter: b'|',
        encoding: Some(encoding_rs::SHIFT_JIS),
        ..Reading::default()
    };
    let f = write(&bytes);
    let mut input = CsvInput::open(f.path(), &reading).unwrap();
    let r = input.next_record().unwrap().unwrap();
    assert_eq!((r.problem, &r.fields[0]), (None, "ポール"));
}

#[test]
fn a_sequence_invalid_in_the_chosen_encoding_spoils_its_row_only() {
    // UTF-16LE with a lone surrogate (0xD800) in row 2's first name.
    let good = "Ann,Lee,a@b.co,X,Y,Z,W,123,CM,+237,1234,1,NIN,1990-01-01,u,v";
    let mut bytes = vec![0xff, 0xfe];
    let units = |s: &str| {
        s.encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect::<Vec<u8>>()
    };
    bytes.extend(units(&format!("{HEADER}\n{good}\nA")));
    bytes.extend([0x00, 0xd8]);
    bytes.extend(units(&format!("{}\n{good}\n", &good[3..])));
    let found = problems(&bytes, &Reading::default()).unwrap();
    assert_eq!(found.len(), 3);
    assert_eq!((&found[0], &found[2]), (&None, &None));
    assert!(
        found[1]
            .as_deref()
            .unwrap()
            .starts_with("first_name: holds bytes that are not valid UTF-16LE"),
        "{found:?}"
    );
}
