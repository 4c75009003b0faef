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

    let ragged = write(format!("{HEADER}\na,b\n").as_bytes());
    let e = scan(ragged.path(), &Reading::csv(b','))
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 2") && e.contains("has 2 fields"), "{e}");

    let mut latin1 = format!("{HEADER}\n").into_bytes();
    latin1.extend_from_slice(b"Zo\xeb,Lee,a@b.co,X,Y,Z,W,123,CM,+237,1234,1,NIN,1990-01-01,u,v\n");
    let f = write(&latin1);
    let e = scan(f.path(), &Reading::csv(b',')).unwrap_err().to_string();
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
        let e = scan(f.path(), &Reading::csv(b',')).unwrap_err().to_string();
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
    let mut input = CsvInput::open(f.path(), &Reading::csv(b',')).unwrap();
    let mut rows = Vec::new();
    while let Some((row, record)) = input.next_record().unwrap() {
        rows.push((row, record.len()));
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
        let (row, record) = input.next_record().unwrap().unwrap();
        assert_eq!((row, &record[0]), (1, "Ann"));
        let e = scan(f.path(), &Reading::csv(b',')).unwrap_err().to_string();
        assert!(e.contains("line 4: row 2: has 2 fields"), "{prefix:?}: {e}");
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
