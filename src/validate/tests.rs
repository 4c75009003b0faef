//! Both sides of every documented boundary, one test per rule.

use std::fs;
use std::path::PathBuf;

use chrono::NaiveDate;
use tempfile::TempDir;

use super::{Checked, DateFormat, Rules, Validator};
use crate::customer::{DocumentType, Documents};
use crate::input::{ColumnMap, Field, RowView};

const JPEG: &[u8] = &[
    0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00,
];
const PNG: &[u8] = &[
    0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1A, b'\n', 0, 0, 0, 13, b'I', b'H', b'D', b'R',
];
const PDF: &[u8] = b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n";

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// A documents folder `docs/` inside a temporary folder that also holds files outside it.
struct Fixture {
    root: TempDir,
}

impl Fixture {
    fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir(root.path().join("docs")).unwrap();
        let f = Fixture { root };
        f.write("docs/front.jpg", JPEG);
        f.write("docs/back.png", PNG);
        f.write("docs/scan.pdf", PDF);
        f.write("secret.jpg", JPEG);
        f
    }

    fn docs(&self) -> PathBuf {
        self.root.path().join("docs")
    }

    fn write(&self, rel: &str, bytes: &[u8]) -> PathBuf {
        let path = self.root.path().join(rel);
        fs::write(&path, bytes).unwrap();
        path
    }

    fn validator(&self, as_of: &str, strict: bool) -> Validator {
        Validator::new(Rules {
            as_of: date(as_of),
            documents_dir: self.docs(),
            strict,
            date_format: None,
            keep_phone_format: false,
        })
        .unwrap()
    }

    /// The validator of `--keep-phone-format`.
    fn keeping_phone_format(&self) -> Validator {
        Validator::new(Rules {
            keep_phone_format: true,
            ..self.rules()
        })
        .unwrap()
    }

    fn rules(&self) -> Rules {
        Rules {
            as_of: date("2026-11-21"),
            documents_dir: self.docs(),
            strict: false,
            date_format: None,
            keep_phone_format: false,
        }
    }

    fn check(&self, set: &[(Field, &str)]) -> Checked {
        check_with(&self.validator("2026-11-21", false), set)
    }
}

/// A valid URL row, Cameroon throughout.
const BASE: &[(Field, &str)] = &[
    (Field::FirstName, "John"),
    (Field::LastName, "Doe"),
    (Field::Email, "john.doe@example.com"),
    (Field::Country, "Cameroon"),
    (Field::Street, "123 Main Street"),
    (Field::City, "Yaoundé"),
    (Field::State, "Centre"),
    (Field::PostalCode, "00237"),
    (Field::CountryIsoCode, "CM"),
    (Field::CountryPhoneCode, "+237"),
    (Field::PhoneNumber, "600000000"),
    (Field::IdentificationNumber, "12345678901"),
    (Field::IdDocumentType, "NIN"),
    (Field::DateOfBirth, "1990-01-15"),
    (
        Field::IdDocumentFrontUrl,
        "https://cdn.example.com/kyc/front.jpg",
    ),
    (
        Field::IdDocumentBackUrl,
        "https://cdn.example.com/kyc/back.jpg",
    ),
];

/// BASE with `set` applied: a field in `set` replaces or adds its column; "" blanks it.
fn check_with(v: &Validator, set: &[(Field, &str)]) -> Checked {
    let mut cells: Vec<(Field, &str)> = BASE.to_vec();
    for &(field, value) in set {
        match cells.iter_mut().find(|(f, _)| *f == field) {
            Some(cell) => cell.1 = value,
            None => cells.push((field, value)),
        }
    }
    let fields: Vec<Field> = cells.iter().map(|c| c.0).collect();
    let map = ColumnMap::from_fields(&fields);
    let record = csv::StringRecord::from(cells.iter().map(|c| c.1).collect::<Vec<_>>());
    v.check(&RowView::new(&map, &record))
}

/// The row with local files instead of URLs.
fn files<'a>(front: &'a str, back: &'a str) -> Vec<(Field, &'a str)> {
    vec![
        (Field::IdDocumentFrontUrl, ""),
        (Field::IdDocumentBackUrl, ""),
        (Field::IdDocumentFront, front),
        (Field::IdDocumentBack, back),
    ]
}

fn with<'a>(mut base: Vec<(Field, &'a str)>, more: &[(Field, &'a str)]) -> Vec<(Field, &'a str)> {
    base.extend_from_slice(more);
    base
}

#[track_caller]
fn valid(c: Checked) -> (crate::customer::Customer, Vec<String>) {
    match c {
        Checked::Valid { customer, warnings } => (customer, warnings),
        Checked::Invalid { errors, .. } => panic!("expected valid, got {errors:?}"),
    }
}

#[track_caller]
fn errors(c: Checked) -> Vec<String> {
    match c {
        Checked::Invalid { errors, .. } => errors,
        Checked::Valid { .. } => panic!("expected invalid"),
    }
}

#[track_caller]
fn assert_error(c: Checked, expected: &str) {
    let errs = errors(c);
    assert!(
        errs.iter().any(|e| e == expected),
        "expected {expected:?} among {errs:?}"
    );
}

#[track_caller]
fn assert_valid_clean(c: Checked) {
    let (_, warnings) = valid(c);
    assert!(warnings.is_empty(), "unexpected warnings {warnings:?}");
}

// ---------------------------------------------------------------- basics

#[test]
fn a_complete_url_row_is_valid_and_normalised() {
    let f = Fixture::new();
    let (c, warnings) = valid(f.check(&[
        (Field::FirstName, "  John "),
        (Field::CountryIsoCode, " cm "),
        (Field::IdDocumentType, "nin"),
    ]));
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(c.first_name, "John");
    assert_eq!(c.country_iso_code, "CM");
    assert_eq!(c.country_phone_code, "+237");
    assert_eq!(c.id_document_type, DocumentType::Nin);
    assert_eq!(c.date_of_birth, date("1990-01-15"));
    assert_eq!(
        c.documents,
        Documents::Urls {
            front: "https://cdn.example.com/kyc/front.jpg".into(),
            back: "https://cdn.example.com/kyc/back.jpg".into(),
        }
    );
}

#[test]
fn every_missing_field_is_reported_together() {
    let f = Fixture::new();
    let blank: Vec<(Field, &str)> = BASE.iter().map(|&(field, _)| (field, "")).collect();
    let errs = errors(f.check(&blank));
    for field in crate::input::Field::REQUIRED {
        let expected = format!("{field}: is required");
        assert!(errs.contains(&expected), "{expected} missing from {errs:?}");
    }
    assert!(
        errs.iter()
            .any(|e| e.starts_with("id_document_front_url, id_document_front:"))
    );
}

#[test]
fn absent_columns_count_as_empty() {
    let f = Fixture::new();
    let v = f.validator("2026-11-21", false);
    let map = ColumnMap::from_fields(&[Field::FirstName]);
    let record = csv::StringRecord::from(vec!["John"]);
    let errs = errors(v.check(&RowView::new(&map, &record)));
    assert!(errs.contains(&"email: is required".to_owned()));
    assert!(!errs.iter().any(|e| e.starts_with("first_name")));
}

#[test]
fn validator_needs_an_existing_documents_folder() {
    let f = Fixture::new();
    let err = Validator::new(Rules {
        as_of: date("2026-11-21"),
        documents_dir: f.root.path().join("nope"),
        strict: false,
        date_format: None,
        keep_phone_format: false,
    })
    .unwrap_err();
    assert!(format!("{err:#}").contains("documents folder"));
}

// ---------------------------------------------------------------- lengths

#[test]
fn names_count_characters_not_bytes() {
    let f = Fixture::new();
    // "Zoë" is 3 characters (4 bytes): the minimum.
    assert_valid_clean(f.check(&[(Field::FirstName, "Zoë")]));
    assert_error(
        f.check(&[(Field::FirstName, "Zë")]),
        "first_name: must be at least 3 characters",
    );
    assert_error(
        f.check(&[(Field::LastName, "Do")]),
        "last_name: must be at least 3 characters",
    );
    let max = "é".repeat(255); // 510 bytes
    let over = "é".repeat(256);
    assert_valid_clean(f.check(&[(Field::LastName, &max)]));
    assert_error(
        f.check(&[(Field::LastName, &over)]),
        "last_name: must be at most 255 characters",
    );
    assert_error(
        f.check(&[(Field::FirstName, &over)]),
        "first_name: must be at most 255 characters",
    );
}

#[test]
fn address_fields_take_two_to_255_characters() {
    let f = Fixture::new();
    for field in [Field::Street, Field::City, Field::State] {
        assert_valid_clean(f.check(&[(field, "Ré")]));
        assert_error(
            f.check(&[(field, "é")]),
            &format!("{field}: must be at least 2 characters"),
        );
        assert_valid_clean(f.check(&[(field, &"ü".repeat(255))]));
        assert_error(
            f.check(&[(field, &"ü".repeat(256))]),
            &format!("{field}: must be at most 255 characters"),
        );
    }
    // country: the length rule is an error, a long or short name only mismatches.
    assert_error(
        f.check(&[(Field::Country, "C")]),
        "country: must be at least 2 characters",
    );
    assert_error(
        f.check(&[(Field::Country, &"a".repeat(256))]),
        "country: must be at most 255 characters",
    );
    let (_, w) = valid(f.check(&[(Field::Country, "Ca")]));
    assert_eq!(
        w,
        ["country: does not match the country of country_iso_code"]
    );
}

#[test]
fn postal_code_phone_and_identification_lengths() {
    let f = Fixture::new();
    assert_valid_clean(f.check(&[(Field::PostalCode, "ÉÉÉ")]));
    assert_error(
        f.check(&[(Field::PostalCode, "ÉÉ")]),
        "postal_code: must be at least 3 characters",
    );
    assert_error(
        f.check(&[(Field::PostalCode, &"9".repeat(256))]),
        "postal_code: must be at most 255 characters",
    );
    assert_valid_clean(f.check(&[(Field::PostalCode, &"9".repeat(255))]));

    assert_error(
        f.check(&[(Field::PhoneNumber, "60")]),
        "phone_number: must be at least 3 characters",
    );
    assert_error(
        f.check(&[(Field::PhoneNumber, &"6".repeat(256))]),
        "phone_number: must be at most 255 characters",
    );
    // Three characters pass the length rule; only the plausibility warning remains.
    let (_, w) = valid(f.check(&[(Field::PhoneNumber, "600")]));
    assert_eq!(
        w,
        ["phone_number: not a plausible national number for the country of country_iso_code"]
    );
    // The row's own country code is removed; with --keep-phone-format it is sent and
    // gets its own, clearer warning.
    for number in ["+237677123456", "00237677123456"] {
        let (c, w) = valid(f.check(&[(Field::PhoneNumber, number)]));
        assert_eq!(
            w,
            ["phone_number: normalised to the national number (country code +237 removed)"]
        );
        assert_eq!(c.phone_number, "677123456");
        let (c, w) = valid(check_with(
            &f.keeping_phone_format(),
            &[(Field::PhoneNumber, number)],
        ));
        assert_eq!(
            w,
            [
                "phone_number: seems to include a country code: give the local number, the dial \
              code goes in country_phone_code"
            ]
        );
        assert_eq!(c.phone_number, number);
    }

    assert_valid_clean(f.check(&[(Field::IdentificationNumber, "7")]));
    assert_valid_clean(f.check(&[(Field::IdentificationNumber, &"ñ".repeat(255))]));
    assert_error(
        f.check(&[(Field::IdentificationNumber, &"ñ".repeat(256))]),
        "identification_number: must be at most 255 characters",
    );
    assert_error(
        f.check(&[(Field::IdentificationNumber, "   ")]),
        "identification_number: is required",
    );
}

#[test]
fn control_characters_in_a_text_are_invalid_and_line_breaks_are_flagged() {
    let f = Fixture::new();
    for (field, value) in [
        (Field::FirstName, "Am\u{0}ina"),
        (Field::IdentificationNumber, "NG\u{7}1"),
        (Field::Street, "14\u{7f} Road"),
    ] {
        assert_error(
            f.check(&[(field, value)]),
            &format!("{field}: contains a control character"),
        );
    }
    for (field, value) in [
        (Field::Street, "14\tAwolowo Road"),
        (Field::City, "La\r\ngos"),
    ] {
        let (_, warnings) = valid(f.check(&[(field, value)]));
        assert_eq!(
            warnings,
            vec![format!("{field}: contains a line break or a tab")]
        );
    }
}

// ---------------------------------------------------------------- server's counting

/// The nine length-checked fields and their minimum, as the API's `MinLength` gives it.
const LENGTH_CHECKED: [(Field, usize); 9] = [
    (Field::FirstName, 3),
    (Field::LastName, 3),
    (Field::Country, 2),
    (Field::Street, 2),
    (Field::City, 2),
    (Field::State, 2),
    (Field::PostalCode, 3),
    (Field::PhoneNumber, 3),
    (Field::IdentificationNumber, 1),
];

/// Both sides of the minimum and of 255 for every length-checked field, in characters the
/// server counts differently from bytes or UTF-16 units: emoji and CJK Extension B (two
/// units each), combining marks (a code point each), variation selectors (not counted).
#[test]
fn every_length_is_counted_as_the_server_counts_it() {
    let f = Fixture::new();
    // Each unit is one character to the server.
    let units = [
        "a",
        "\u{1f600}",
        "\u{20000}",
        "\u{4e2d}",
        "\u{270c}\u{fe0f}",
        "\u{2764}\u{fe0e}",
    ];
    for (field, min) in LENGTH_CHECKED {
        for unit in units {
            let at_least = unit.repeat(min);
            let below = unit.repeat(min - 1);
            let at_most = unit.repeat(255);
            let above = unit.repeat(256);
            for ok in [&at_least, &at_most] {
                valid(f.check(&[(field, ok)]));
            }
            if min > 1 {
                assert_error(
                    f.check(&[(field, &below)]),
                    &format!("{field}: must be at least {min} characters"),
                );
            }
            assert_error(
                f.check(&[(field, &above)]),
                &format!("{field}: must be at most 255 characters"),
            );
        }
        // A combining mark is a code point of its own where no precomposed letter exists:
        // "xq" + U+0301 is three characters to the server ("xa" + U+0301 composes to two).
        if min == 3 {
            valid(f.check(&[(field, "xq\u{301}")]));
            assert_error(
                f.check(&[(field, "xa\u{301}")]),
                &format!("{field}: must be at least 3 characters"),
            );
        }
    }
    // "J✌️" is two characters to the server: under a name's minimum of three.
    assert_error(
        f.check(&[(Field::FirstName, "J\u{270c}\u{fe0f}")]),
        "first_name: must be at least 3 characters",
    );
}

/// Decomposed accents (as macOS and some exports write them) are composed before checking
/// and sending: 128 "e + U+0301" are 256 code points as read but 128 characters as sent.
#[test]
fn values_are_checked_and_built_in_composed_form() {
    let f = Fixture::new();
    let name = "e\u{301}".repeat(128);
    let (c, _) = valid(f.check(&[
        (Field::FirstName, &name),
        (Field::Email, "jose\u{301}@example.com"),
        (Field::City, "Yaounde\u{301}"),
    ]));
    assert_eq!(c.first_name, "\u{e9}".repeat(128));
    assert_eq!(c.email, "jos\u{e9}@example.com");
    assert_eq!(c.city, "Yaound\u{e9}");
}

/// A zero-width space, a byte-order mark or a no-break space stuck to a value is copied
/// junk: cut before checking, so the value is valid and sent clean.
#[test]
fn invisible_characters_at_the_edges_are_cut() {
    let f = Fixture::new();
    let (c, warnings) = valid(f.check(&[
        (Field::Email, "\u{feff}john@example.com\u{200b}"),
        (Field::FirstName, "\u{200b}John\u{a0}"),
        (Field::IdentificationNumber, "\u{2060}12345678901\u{200d}"),
        (Field::CountryIsoCode, "\u{feff}cm"),
        (Field::IdDocumentType, "nin\u{200b}"),
        (Field::DateOfBirth, "\u{200b}1990-01-15"),
        (
            Field::IdDocumentFrontUrl,
            "\u{feff}https://cdn.example.com/kyc/front.jpg",
        ),
    ]));
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(c.email, "john@example.com");
    assert_eq!(c.first_name, "John");
    assert_eq!(c.identification_number, "12345678901");
    assert_eq!(c.country_iso_code, "CM");
    assert_eq!(c.id_document_type, DocumentType::Nin);
}

/// Addresses in any script pass, as the server's isEmail passes them.
#[test]
fn ordinary_addresses_in_any_script_pass() {
    let f = Fixture::new();
    for good in [
        "a@\u{4f8b}\u{5b50}.\u{4e2d}\u{56fd}",
        "c@example.\u{92d}\u{93e}\u{930}\u{924}",
        "d@example.com\u{e9}",
        "\u{438}\u{432}\u{430}\u{43d}@\u{43f}\u{440}\u{438}\u{43c}\u{435}\u{440}.\u{440}\u{444}",
        "m\u{fc}ller@m\u{fc}nchen.de",
        "\u{3042}\u{3044}@example.jp",
    ] {
        assert_valid_clean(f.check(&[(Field::Email, good)]));
    }
    for bad in [
        "\u{1d423}\u{1d428}\u{1d421}\u{1d427}@example.com",
        "a@\u{ff45}\u{ff58}\u{ff41}\u{ff4d}\u{ff50}\u{ff4c}\u{ff45}.com",
        "a@example.\u{1d41a}\u{1d41b}",
    ] {
        assert_error(
            f.check(&[(Field::Email, bad)]),
            "email: not a valid email address",
        );
    }
    let long = format!(
        "{}@{}.com",
        "a".repeat(64),
        vec!["b".repeat(63); 3].join(".")
    );
    assert!(long.len() > 254);
    assert_error(
        f.check(&[(Field::Email, &long)]),
        "email: not a valid email address",
    );
}

// ---------------------------------------------------------------- email, codes, type

#[test]
fn email_addresses() {
    let f = Fixture::new();
    for good in [
        "a@b.co",
        "first.last+tag@sub.example.org",
        "o'neil@example.ie",
        "ann@bücher.de",
        "ann@xn--bcher-kva.de",
        "x@sub-domain.example.museum",
    ] {
        assert_valid_clean(f.check(&[(Field::Email, good)]));
    }
    for bad in [
        "john.doe",
        "john doe@example.com",
        "john@@example.com",
        "john@doe@example.com",
        "john@localhost",
        "john@",
        "@example.com",
        "John <john@example.com>",
        "john@[192.168.0.1]",
        "john@exa mple.com",
        "john@.com",
        "john@example.com.",
        "john..doe@example.com",
        ".john@example.com",
        "john@-example.com",
        // What the API's IsEmail refuses: a one-letter or numeric top-level label, an
        // underscore or an outer hyphen in a label.
        "a@b.c",
        "x@example.c0m",
        "x@example.123",
        "x@ex_ample.com",
        "x@example-.com",
    ] {
        assert_error(
            f.check(&[(Field::Email, bad)]),
            "email: not a valid email address",
        );
    }
}

#[test]
fn iso_codes_must_be_assigned_alpha2() {
    let f = Fixture::new();
    let (c, _) = valid(f.check(&[(Field::CountryIsoCode, "cm")]));
    assert_eq!(c.country_iso_code, "CM");
    let (c, _) = valid(f.check(&[(Field::CountryIsoCode, "Cm")]));
    assert_eq!(c.country_iso_code, "CM");
    for bad in ["CMR", "ZZ", "XK", "C", "C1", "É", "ÇM", "AA"] {
        assert_error(
            f.check(&[(Field::CountryIsoCode, bad)]),
            "country_iso_code: not an assigned ISO 3166-1 alpha-2 code",
        );
    }
}

#[test]
fn dial_codes_are_plus_and_one_to_four_digits() {
    let f = Fixture::new();
    let msg = "country_phone_code: must be \"+\" followed by 1 to 4 digits";
    for bad in ["+", "+12345", "+23a", "++237", "+ 237", "+٣", "12345", "٣"] {
        assert_error(f.check(&[(Field::CountryPhoneCode, bad)]), msg);
    }
    // The "+" a spreadsheet dropped (LibreOffice's and Excel's CSV exports write "+237" back
    // as 237) is put back, with a warning.
    let (c, w) = valid(f.check(&[(Field::CountryPhoneCode, "237")]));
    assert_eq!(c.country_phone_code, "+237");
    assert_eq!(w.len(), 1);
    assert!(w[0].starts_with("country_phone_code: \"+\" added"), "{w:?}");
    // Well-formed but of another country: a warning, not an error.
    for other in ["+1", "+1234"] {
        let (c, w) = valid(f.check(&[(Field::CountryPhoneCode, other)]));
        assert_eq!(c.country_phone_code, other);
        assert_eq!(
            w,
            ["country_phone_code: is not the dial code of the country of country_iso_code"]
        );
    }
}

#[test]
fn document_types_any_case() {
    let f = Fixture::new();
    for (text, t) in [
        ("passport", DocumentType::Passport),
        ("Voters_Card", DocumentType::VotersCard),
        ("DRIVERS_LICENSE", DocumentType::DriversLicense),
    ] {
        let (c, _) = valid(f.check(&[(Field::IdDocumentType, text)]));
        assert_eq!(c.id_document_type, t);
    }
    for bad in ["ID_CARD", "DRIVERS LICENSE", "N I N"] {
        assert_error(
            f.check(&[(Field::IdDocumentType, bad)]),
            "id_document_type: must be one of NIN, PASSPORT, VOTERS_CARD, DRIVERS_LICENSE",
        );
    }
}

// ---------------------------------------------------------------- dates

#[test]
fn dates_must_be_real_and_strictly_formatted() {
    let f = Fixture::new();
    let msg = "date_of_birth: not a real date in the form YYYY-MM-DD";
    for bad in [
        "1990-02-30",
        "1991-02-29",
        "1990-13-01",
        "1990-00-10",
        "1990-2-3",
        "19900203",
        "1990-01-15T00:00:00",
        "+990-01-15",
        "1990-01-1a",
    ] {
        assert_error(f.check(&[(Field::DateOfBirth, bad)]), msg);
    }
    assert_valid_clean(f.check(&[(Field::DateOfBirth, "1992-02-29")]));
    // A real date in another form is told which --date-format reads it.
    for (other, hint) in [
        ("15/01/1990", "try --date-format DD/MM/YYYY"),
        ("01/15/1990", "try --date-format MM/DD/YYYY"),
        ("1990/01/15", "try --date-format YYYY/MM/DD"),
        (
            "05/06/1990",
            "try --date-format DD/MM/YYYY or --date-format MM/DD/YYYY",
        ),
    ] {
        assert_error(
            f.check(&[(Field::DateOfBirth, other)]),
            &format!("date_of_birth: not a date in the form YYYY-MM-DD: {hint}"),
        );
    }
}

/// With --date-format, the file's dates are read in its pattern (one-digit days and months
/// too) and sent as YYYY-MM-DD.
#[test]
fn a_date_format_reads_the_partners_dates() {
    let f = Fixture::new();
    let v = Validator::new(Rules {
        as_of: date("2026-11-21"),
        documents_dir: f.docs(),
        strict: false,
        date_format: Some(super::DateFormat::parse("DD/MM/YYYY").unwrap()),
        keep_phone_format: false,
    })
    .unwrap();
    let (c, _) = valid(check_with(&v, &[(Field::DateOfBirth, "5/1/1990")]));
    assert_eq!(c.date_of_birth, date("1990-01-05"));
    // A workbook's date cell reads as YYYY-MM-DD beside the pattern.
    let (c, _) = valid(check_with(&v, &[(Field::DateOfBirth, "1990-01-05")]));
    assert_eq!(c.date_of_birth, date("1990-01-05"));
    assert_error(
        check_with(&v, &[(Field::DateOfBirth, "1990/01/05")]),
        "date_of_birth: not a real date in the form --date-format gives",
    );
    assert_error(
        check_with(&v, &[(Field::DateOfBirth, "5/1/2010")]),
        "date_of_birth: customer is 16 on 2026-11-21, must be 18 or older",
    );
}

#[test]
fn the_eighteenth_birthday_is_the_boundary() {
    let f = Fixture::new();
    let (c, _) = valid(f.check(&[(Field::DateOfBirth, "2008-11-21")]));
    assert_eq!(c.date_of_birth, date("2008-11-21"));
    assert_error(
        f.check(&[(Field::DateOfBirth, "2008-11-22")]),
        "date_of_birth: customer is 17 on 2026-11-21, must be 18 or older",
    );
    assert_error(
        f.check(&[(Field::DateOfBirth, "2026-11-21")]),
        "date_of_birth: customer is 0 on 2026-11-21, must be 18 or older",
    );
}

#[test]
fn future_dates_are_refused() {
    let f = Fixture::new();
    assert_error(
        f.check(&[(Field::DateOfBirth, "2026-11-22")]),
        "date_of_birth: is in the future",
    );
    assert_error(
        f.check(&[(Field::DateOfBirth, "2090-01-01")]),
        "date_of_birth: is in the future",
    );
}

#[test]
fn implausibly_old_customers_are_flagged() {
    let f = Fixture::new();
    assert_valid_clean(f.check(&[(Field::DateOfBirth, "1906-11-20")]));
    for (born, age) in [("1905-11-21", 121), ("0000-01-01", 2026)] {
        let (_, warnings) = valid(f.check(&[(Field::DateOfBirth, born)]));
        assert_eq!(
            warnings,
            vec![format!(
                "date_of_birth: customer would be {age} on 2026-11-21: check the year"
            )]
        );
    }
}

#[test]
fn leap_day_birthdays_come_on_the_first_of_march() {
    let f = Fixture::new();
    let born = [(Field::DateOfBirth, "2008-02-29")];
    assert_error(
        check_with(&f.validator("2026-02-28", false), &born),
        "date_of_birth: customer is 17 on 2026-02-28, must be 18 or older",
    );
    valid(check_with(&f.validator("2026-03-01", false), &born));
    // In a leap year the birthday itself counts.
    let born = [(Field::DateOfBirth, "2010-02-28")];
    valid(check_with(&f.validator("2028-02-28", false), &born));
    let born = [(Field::DateOfBirth, "2012-02-29")];
    assert_error(
        check_with(&f.validator("2030-02-28", false), &born),
        "date_of_birth: customer is 17 on 2030-02-28, must be 18 or older",
    );
    valid(check_with(&f.validator("2030-03-01", false), &born));
}

#[test]
fn age_arithmetic() {
    use super::age::age_on;
    assert_eq!(age_on(date("2008-11-21"), date("2026-11-21")), 18);
    assert_eq!(age_on(date("2008-11-22"), date("2026-11-21")), 17);
    assert_eq!(age_on(date("2008-12-01"), date("2026-11-21")), 17);
    assert_eq!(age_on(date("2008-02-29"), date("2026-02-28")), 17);
    assert_eq!(age_on(date("2008-02-29"), date("2026-03-01")), 18);
    assert_eq!(age_on(date("2008-02-29"), date("2028-02-29")), 20);
    assert_eq!(age_on(date("1900-01-01"), date("2026-11-21")), 126);
}

// ---------------------------------------------------------------- URLs

#[test]
fn document_urls_must_be_absolute_https_with_a_host() {
    let f = Fixture::new();
    for good in [
        "https://cdn.example.com/a.jpg",
        "HTTPS://cdn.example.com/a.jpg",
        "https://cdn.example.com:8443/kyc/a.jpg?sig=abc#x",
        "https://192.0.2.1/a.pdf",
    ] {
        assert_valid_clean(f.check(&[(Field::IdDocumentFrontUrl, good)]));
    }
    let cases = [
        ("http://cdn.example.com/a.jpg", "must be an https:// URL"),
        ("ftp://cdn.example.com/a.jpg", "must be an https:// URL"),
        ("file:///etc/passwd", "must be an https:// URL"),
        ("/kyc/a.jpg", "not a valid absolute URL"),
        ("cdn.example.com/a.jpg", "not a valid absolute URL"),
        ("https://", "not a valid absolute URL"),
        ("https://cdn.example.com/a b.jpg", "not a valid URL"),
        // The URL standard would take "kyc" for the host of the first two.
        ("https:///kyc/front.jpg", "URL has no host"),
        ("https:kyc/front.jpg", "URL has no host"),
        ("https://@cdn.example.com/a.jpg", "URL has no host"),
        (
            "https://localhost/a.jpg",
            "URL host is not a domain name with a top-level domain, or an IP address",
        ),
        (
            "https://cdn_1.example.com/a.jpg",
            "URL host is not a domain name with a top-level domain, or an IP address",
        ),
    ];
    for (bad, problem) in cases {
        assert_error(
            f.check(&[(Field::IdDocumentBackUrl, bad)]),
            &format!("id_document_back_url: {problem}"),
        );
    }
}

#[test]
fn both_urls_are_required_for_every_type() {
    let f = Fixture::new();
    for t in ["NIN", "PASSPORT", "VOTERS_CARD", "DRIVERS_LICENSE"] {
        assert_error(
            f.check(&[(Field::IdDocumentType, t), (Field::IdDocumentBackUrl, "")]),
            "id_document_back_url: is required",
        );
    }
    assert_error(
        f.check(&[(Field::IdDocumentFrontUrl, "")]),
        "id_document_front_url: is required",
    );
}

#[test]
fn exactly_one_document_source() {
    let f = Fixture::new();
    let errs = errors(f.check(&[(Field::IdDocumentFront, "front.jpg")]));
    assert_eq!(
        errs,
        [
            "id_document_front_url, id_document_front: give document URLs or document files, not both"
        ]
    );
    let errs = errors(f.check(&[(Field::IdDocumentBack, "back.png")]));
    assert_eq!(errs.len(), 1, "{errs:?}");
    let errs = errors(f.check(&[
        (Field::IdDocumentFrontUrl, ""),
        (Field::IdDocumentBackUrl, ""),
    ]));
    assert_eq!(
        errs,
        [
            "id_document_front_url, id_document_front: is required (a document URL or a document file)"
        ]
    );
}

// ---------------------------------------------------------------- files

#[test]
fn local_files_are_resolved_and_described() {
    let f = Fixture::new();
    let (c, w) = valid(f.check(&files("front.jpg", "./back.png")));
    assert!(w.is_empty(), "{w:?}");
    let Documents::Files { front, back } = c.documents else {
        panic!("expected files");
    };
    let docs = f.docs().canonicalize().unwrap();
    assert_eq!(front.path, docs.join("front.jpg"));
    assert_eq!(front.file_name, "front.jpg");
    assert_eq!(front.mime, "image/jpeg");
    assert_eq!(front.size, JPEG.len() as u64);
    let back = back.unwrap();
    assert_eq!(back.mime, "image/png");
    assert_eq!(back.file_name, "back.png");

    // PDF, and an absolute path that stays inside the folder.
    let abs = f.docs().join("scan.pdf");
    let (c, _) = valid(f.check(&files(abs.to_str().unwrap(), "back.png")));
    let Documents::Files { front, .. } = c.documents else {
        panic!("expected files");
    };
    assert_eq!(front.mime, "application/pdf");
    assert_eq!(front.file_name, "scan.pdf");

    // `..` that comes back inside is fine.
    fs::create_dir(f.docs().join("sub")).unwrap();
    valid(f.check(&files("sub/../front.jpg", "back.png")));
}

#[test]
fn paths_leading_outside_the_folder_are_refused() {
    let f = Fixture::new();
    let msg = "id_document_front: path leads outside the documents folder";
    let secret = f.root.path().join("secret.jpg");
    assert_error(f.check(&files("../secret.jpg", "back.png")), msg);
    assert_error(f.check(&files(secret.to_str().unwrap(), "back.png")), msg);
    assert_error(f.check(&files("/etc/passwd", "back.png")), msg);
    assert_error(f.check(&files("../missing.jpg", "back.png")), msg);
    assert_error(f.check(&files("sub/../../secret.jpg", "back.png")), msg);

    // A symlink inside the folder pointing out, to a file and to a folder.
    std::os::unix::fs::symlink(&secret, f.docs().join("link.jpg")).unwrap();
    assert_error(f.check(&files("link.jpg", "back.png")), msg);
    std::os::unix::fs::symlink(f.root.path(), f.docs().join("up")).unwrap();
    assert_error(f.check(&files("up/secret.jpg", "back.png")), msg);
    // The back side is held to the same rule.
    assert_error(
        f.check(&files("front.jpg", "link.jpg")),
        "id_document_back: path leads outside the documents folder",
    );

    // A symlink that stays inside is followed.
    std::os::unix::fs::symlink(f.docs().join("front.jpg"), f.docs().join("alias.jpg")).unwrap();
    let (c, _) = valid(f.check(&files("alias.jpg", "back.png")));
    let Documents::Files { front, .. } = c.documents else {
        panic!("expected files");
    };
    assert_eq!(
        front.path,
        f.docs().canonicalize().unwrap().join("front.jpg")
    );
    assert_eq!(front.file_name, "alias.jpg");
}

#[test]
fn the_documents_folder_may_itself_be_a_symlink() {
    let f = Fixture::new();
    let link = f.root.path().join("docs-link");
    std::os::unix::fs::symlink(f.docs(), &link).unwrap();
    let v = Validator::new(Rules {
        as_of: date("2026-11-21"),
        documents_dir: link,
        strict: false,
        date_format: None,
        keep_phone_format: false,
    })
    .unwrap();
    valid(check_with(&v, &files("front.jpg", "back.png")));
}

#[test]
fn files_must_exist_and_be_regular() {
    let f = Fixture::new();
    assert_error(
        f.check(&files("nope.jpg", "back.png")),
        "id_document_front: file not found",
    );
    fs::create_dir(f.docs().join("dir.jpg")).unwrap();
    assert_error(
        f.check(&files("dir.jpg", "back.png")),
        "id_document_front: not a regular file",
    );
    // A FIFO would block a reader forever: opened without blocking, refused at once.
    let fifo = f.docs().join("pipe.jpg");
    if std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success())
    {
        assert_error(
            f.check(&files("pipe.jpg", "back.png")),
            "id_document_front: not a regular file",
        );
    }
    f.write("docs/empty.jpg", b"");
    assert_error(
        f.check(&files("empty.jpg", "back.png")),
        "id_document_front: file is empty",
    );
    // A hard link makes a file outside the folder readable from inside it.
    fs::hard_link(
        f.root.path().join("secret.jpg"),
        f.docs().join("linked.jpg"),
    )
    .unwrap();
    assert_error(
        f.check(&files("linked.jpg", "back.png")),
        "id_document_front: file has more than one hard link",
    );
    // What validation saw of the file is what the upload will check again.
    let (c, _) = valid(f.check(&files("front.jpg", "back.png")));
    let Documents::Files { front, .. } = c.documents else {
        panic!("files")
    };
    assert_eq!(front.head, JPEG);
    assert!(front.open().is_ok());
}

#[test]
fn files_are_at_most_ten_megabytes() {
    let f = Fixture::new();
    let make = |name: &str, len: u64| {
        let path = f.write(name, JPEG);
        fs::OpenOptions::new()
            .write(true)
            .open(path)
            .unwrap()
            .set_len(len)
            .unwrap();
    };
    make("docs/max.jpg", 10 * 1024 * 1024);
    make("docs/big.jpg", 10 * 1024 * 1024 + 1);
    let (c, _) = valid(f.check(&files("max.jpg", "back.png")));
    let Documents::Files { front, .. } = c.documents else {
        panic!("expected files");
    };
    assert_eq!(front.size, 10 * 1024 * 1024);
    assert_error(
        f.check(&files("big.jpg", "back.png")),
        "id_document_front: file is larger than 10 MB",
    );
}

#[test]
fn content_not_name_decides_the_format() {
    let f = Fixture::new();
    let msg = "id_document_front: content is not JPEG, PNG or PDF";
    f.write("docs/fake.jpg", b"GIF89a not a jpeg at all");
    assert_error(f.check(&files("fake.jpg", "back.png")), msg);
    f.write("docs/short.png", &PNG[..4]); // a truncated PNG signature
    assert_error(f.check(&files("short.png", "back.png")), msg);
    f.write("docs/late.pdf", b"junk\n%PDF-1.4");
    assert_error(f.check(&files("late.pdf", "back.png")), msg);
    f.write("docs/two.jpg", &JPEG[..2]);
    assert_error(f.check(&files("two.jpg", "back.png")), msg);
    // A PNG named .jpg is a PNG.
    f.write("docs/png-really.jpg", PNG);
    let (c, _) = valid(f.check(&files("png-really.jpg", "back.png")));
    let Documents::Files { front, .. } = c.documents else {
        panic!("expected files");
    };
    assert_eq!(front.mime, "image/png");
}

#[test]
fn back_side_rules_by_document_type() {
    let f = Fixture::new();
    for t in ["NIN", "DRIVERS_LICENSE"] {
        let row = with(files("front.jpg", ""), &[(Field::IdDocumentType, t)]);
        assert_error(
            f.check(&row),
            "id_document_back: is required for this id_document_type",
        );
    }
    // VOTERS_CARD: back optional either way.
    let row = with(
        files("front.jpg", ""),
        &[(Field::IdDocumentType, "VOTERS_CARD")],
    );
    let (c, w) = valid(f.check(&row));
    assert!(w.is_empty());
    assert!(matches!(c.documents, Documents::Files { back: None, .. }));
    let row = with(
        files("front.jpg", "back.png"),
        &[(Field::IdDocumentType, "VOTERS_CARD")],
    );
    let (c, _) = valid(f.check(&row));
    assert!(matches!(
        c.documents,
        Documents::Files { back: Some(_), .. }
    ));

    // Front is always required.
    assert_error(
        f.check(&files("", "back.png")),
        "id_document_front: is required",
    );
}

#[test]
fn a_passport_back_is_not_sent() {
    let f = Fixture::new();
    let row = with(
        files("front.jpg", ""),
        &[(Field::IdDocumentType, "PASSPORT")],
    );
    let (c, w) = valid(f.check(&row));
    assert!(w.is_empty());
    assert!(matches!(c.documents, Documents::Files { back: None, .. }));

    // Given anyway: a warning, not read (even a bad path), not sent.
    let row = with(
        files("front.jpg", "../secret.jpg"),
        &[(Field::IdDocumentType, "passport")],
    );
    let (c, w) = valid(f.check(&row));
    assert_eq!(
        w,
        ["id_document_back: not used for a passport, the file will not be sent"]
    );
    assert!(matches!(c.documents, Documents::Files { back: None, .. }));

    // Strict: the warning makes the row invalid.
    let strict = f.validator("2026-11-21", true);
    assert_eq!(
        errors(check_with(&strict, &row)),
        ["id_document_back: not used for a passport, the file will not be sent"]
    );
}

// ---------------------------------------------------------------- warnings

#[test]
fn country_names_and_aliases_match_their_code() {
    let f = Fixture::new();
    let cases = [
        ("CM", "Cameroon"),
        ("CM", "CAMEROON"),
        ("CM", "cameroon"),
        ("NG", "Nigeria"),
        ("US", "United States"),
        ("US", "United States of America"),
        ("US", "USA"),
        ("US", "U.S.A."),
        ("CI", "Côte d'Ivoire"),
        ("CI", "Cote d’Ivoire"),
        ("CI", "Ivory Coast"),
        ("GB", "United Kingdom"),
        ("GB", "UK"),
        ("GB", "Great Britain"),
        ("GB", "England"),
        ("GM", "The Gambia"),
        ("GM", "Gambia"),
        ("BO", "Bolivia"),
        ("TR", "Türkiye"),
        ("TR", "Turkey"),
        ("CD", "Democratic Republic of the Congo"),
        ("CD", "DRC"),
        ("CG", "Congo"),
        ("TZ", "Tanzania"),
        ("KR", "South Korea"),
        ("VN", "Vietnam"),
        ("ST", "São Tomé and Príncipe"),
        ("TT", "Trinidad & Tobago"),
        ("GB", "  united   kingdom "),
    ];
    for (code, name) in cases {
        let (_, w) = valid(f.check(&[(Field::CountryIsoCode, code), (Field::Country, name)]));
        assert!(
            !w.iter().any(|w| w.starts_with("country:")),
            "{name} should match {code}: {w:?}"
        );
    }
    for (code, name) in [
        ("CM", "Nigeria"),
        ("NG", "Niger"),
        ("US", "UK"),
        ("GB", "Ireland"),
    ] {
        let (_, w) = valid(f.check(&[(Field::CountryIsoCode, code), (Field::Country, name)]));
        assert!(
            w.contains(&"country: does not match the country of country_iso_code".to_owned()),
            "{name} should not match {code}: {w:?}"
        );
    }
}

#[test]
fn the_api_example_row_gets_both_warnings() {
    // The API's own example pairs "Nigeria" with CM and +234.
    let f = Fixture::new();
    let row = [
        (Field::Country, "Nigeria"),
        (Field::CountryPhoneCode, "+234"),
    ];
    let (_, w) = valid(f.check(&row));
    assert_eq!(
        w,
        [
            "country: does not match the country of country_iso_code",
            "country_phone_code: is not the dial code of the country of country_iso_code",
        ]
    );
    let strict = f.validator("2026-11-21", true);
    match check_with(&strict, &row) {
        Checked::Invalid { errors, warnings } => {
            assert_eq!(errors.len(), 2, "{errors:?}");
            assert!(warnings.is_empty());
        }
        Checked::Valid { .. } => panic!("strict must refuse warnings"),
    }
    // Strict with nothing to warn about stays valid.
    assert_valid_clean(check_with(&strict, &[]));
}

#[test]
fn dial_codes_match_the_country() {
    let f = Fixture::new();
    for (code, country, dial, phone) in [
        ("NG", "Nigeria", "+234", "8012345678"),
        ("US", "USA", "+1", "2015550123"),
        ("CA", "Canada", "+1", "6135550123"),
        ("GB", "UK", "+44", "7911123456"),
        ("CI", "Ivory Coast", "+225", "0102030405"),
    ] {
        assert_valid_clean(f.check(&[
            (Field::CountryIsoCode, code),
            (Field::Country, country),
            (Field::CountryPhoneCode, dial),
            (Field::PhoneNumber, phone),
        ]));
    }
}

#[test]
fn phone_numbers_are_plausible_for_the_country() {
    let f = Fixture::new();
    let warn = "phone_number: not a plausible national number for the country of country_iso_code";
    assert_valid_clean(f.check(&[(Field::PhoneNumber, "600000000")]));
    // Formatting is removed before sending; as written it was plausible too.
    for formatted in [
        "6 00 00 00 00",
        "600-000-000",
        "6-00 00-00-00",
        "(600)000000",
    ] {
        let (c, w) = valid(f.check(&[(Field::PhoneNumber, formatted)]));
        assert_eq!(
            w,
            ["phone_number: normalised to the national number (formatting removed)"]
        );
        assert_eq!(c.phone_number, "600000000");
    }
    for bad in ["60000", "6000000000000", "60000000a", "237600000000"] {
        let (c, w) = valid(f.check(&[(Field::PhoneNumber, bad)]));
        assert_eq!(w, [warn], "{bad}");
        assert_eq!(c.phone_number, bad, "sent as written");
    }
    // The national trunk prefix is tolerated: "07911 123456" is how the British write it.
    let uk = [
        (Field::CountryIsoCode, "GB"),
        (Field::Country, "United Kingdom"),
        (Field::CountryPhoneCode, "+44"),
    ];
    let row = with(uk.to_vec(), &[(Field::PhoneNumber, "07911 123456")]);
    assert_valid_clean(check_with(&f.keeping_phone_format(), &row));
    let (c, w) = valid(f.check(&row));
    assert_eq!(
        w,
        [
            "phone_number: normalised to the national number (formatting and trunk prefix 0 \
             removed)"
        ]
    );
    assert_eq!(c.phone_number, "7911123456");
    let (_, w) = valid(f.check(&with(
        uk.to_vec(),
        &[(Field::PhoneNumber, "079111234567890")],
    )));
    assert_eq!(w, [warn]);
}

#[test]
fn a_region_unknown_to_libphonenumber_gets_no_phone_warning() {
    // Antarctica is an assigned code without telephone metadata: nothing to compare.
    let f = Fixture::new();
    assert_valid_clean(f.check(&[
        (Field::CountryIsoCode, "AQ"),
        (Field::Country, "Antarctica"),
        (Field::CountryPhoneCode, "+672"),
        (Field::PhoneNumber, "123"),
    ]));
}

// ---------------------------------------------------------------- phone numbers sent

/// What libphonenumber's metadata, the authority, takes for the national significant number
/// of `number` in region `iso`.
#[track_caller]
fn libphonenumber_national(iso: &str, number: &str) -> String {
    let region: phonenumber::country::Id = iso.parse().unwrap();
    phonenumber::parse(Some(region), number)
        .unwrap()
        .national()
        .to_string()
}

/// The row of a country: (iso code, name, dial code).
type Place = (&'static str, &'static str, &'static str);
const NIGERIA: Place = ("NG", "Nigeria", "+234");
const CAMEROON: Place = ("CM", "Cameroon", "+237");
const FRANCE: Place = ("FR", "France", "+33");
const IVORY_COAST: Place = ("CI", "Ivory Coast", "+225");
const KENYA: Place = ("KE", "Kenya", "+254");

/// The phone number sent for `number` in a row of `place`, and the row's warnings.
#[track_caller]
fn sent(v: &Validator, place: Place, number: &str) -> (String, Vec<String>) {
    let (iso, country, dial) = place;
    let (c, w) = valid(check_with(
        v,
        &[
            (Field::CountryIsoCode, iso),
            (Field::Country, country),
            (Field::CountryPhoneCode, dial),
            (Field::PhoneNumber, number),
        ],
    ));
    (c.phone_number, w)
}

fn normalised(removed: &str) -> Vec<String> {
    vec![format!(
        "phone_number: normalised to the national number ({removed} removed)"
    )]
}

/// Each `(written, removed)` of `place` is sent as `national`, which is what libphonenumber
/// makes of it, with the warning naming `removed` ("" for no warning).
#[track_caller]
fn assert_sent_as(place: Place, national: &str, cases: &[(&str, &str)]) {
    let f = Fixture::new();
    let v = f.validator("2026-11-21", false);
    for &(written, removed) in cases {
        assert_eq!(
            libphonenumber_national(place.0, written),
            national,
            "libphonenumber's reading of {written}"
        );
        let (number, warnings) = sent(&v, place, written);
        assert_eq!(number, national, "{written}");
        let expected = if removed.is_empty() {
            Vec::new()
        } else {
            normalised(removed)
        };
        assert_eq!(warnings, expected, "{written}");
    }
}

#[test]
fn nigerian_numbers_lose_formatting_country_code_and_trunk_prefix() {
    assert_sent_as(
        NIGERIA,
        "8012345678",
        &[
            ("8012345678", ""),
            ("801 234 5678", "formatting"),
            ("08012345678", "trunk prefix 0"),
            ("0801-234-5678", "formatting and trunk prefix 0"),
            ("+2348012345678", "country code +234"),
            ("+234 801 234 5678", "formatting and country code +234"),
            (
                "+234 (0)801 234 5678",
                "formatting, country code +234 and trunk prefix 0",
            ),
            ("0801.234.5678", "formatting and trunk prefix 0"),
        ],
    );
    // "00" is how Nigerians write the international prefix too, though libphonenumber's
    // for Nigeria is "009": the contract removes "00" and the row's code.
    let f = Fixture::new();
    let (number, w) = sent(
        &f.validator("2026-11-21", false),
        NIGERIA,
        "00234 801 234 5678",
    );
    assert_eq!(number, "8012345678");
    assert_eq!(w, normalised("formatting and country code +234"));
}

#[test]
fn cameroonian_numbers_have_no_trunk_prefix() {
    assert_sent_as(
        CAMEROON,
        "677123456",
        &[
            ("677123456", ""),
            ("6 77 12 34 56", "formatting"),
            ("+237 6 77 12 34 56", "formatting and country code +237"),
            ("00237677123456", "country code +237"),
        ],
    );
    // Cameroon has no trunk prefix: a leading 0 is not removed, and the number, too long
    // for Cameroon, keeps its warning.
    let f = Fixture::new();
    let national = libphonenumber_national("CM", "0677123456");
    assert_eq!(national, "0677123456");
    let (number, w) = sent(&f.validator("2026-11-21", false), CAMEROON, "0677123456");
    assert_eq!(number, national);
    assert_eq!(
        w,
        ["phone_number: not a plausible national number for the country of country_iso_code"]
    );
}

#[test]
fn french_numbers_lose_their_trunk_prefix() {
    assert_sent_as(
        FRANCE,
        "612345678",
        &[
            ("612345678", ""),
            ("0612345678", "trunk prefix 0"),
            ("06 12 34 56 78", "formatting and trunk prefix 0"),
            ("06.12.34.56.78", "formatting and trunk prefix 0"),
            ("+33 6 12 34 56 78", "formatting and country code +33"),
            (
                "+33 (0)6 12 34 56 78",
                "formatting, country code +33 and trunk prefix 0",
            ),
            ("0033612345678", "country code +33"),
        ],
    );
}

#[test]
fn ivorian_numbers_keep_their_leading_zero() {
    // Since 2021 Ivorian numbers have ten digits, and their leading 0 is part of the number:
    // libphonenumber's metadata gives Côte d'Ivoire no trunk prefix.
    let meta = phonenumber::metadata::DATABASE.by_id("CI").unwrap();
    assert_eq!(meta.national_prefix(), None);
    assert_sent_as(
        IVORY_COAST,
        "0708091011",
        &[
            ("0708091011", ""),
            ("07 08 09 10 11", "formatting"),
            ("07-08-09-10-11", "formatting"),
            ("+225 07 08 09 10 11", "formatting and country code +225"),
            ("+2250708091011", "country code +225"),
            ("002250708091011", "country code +225"),
        ],
    );
}

#[test]
fn kenyan_numbers_lose_their_trunk_prefix() {
    assert_sent_as(
        KENYA,
        "712345678",
        &[
            ("712345678", ""),
            ("0712345678", "trunk prefix 0"),
            ("0712 345678", "formatting and trunk prefix 0"),
            ("+254 712 345678", "formatting and country code +254"),
            ("+254-712-345-678", "formatting and country code +254"),
        ],
    );
}

#[test]
fn another_countrys_number_is_sent_as_written() {
    // A British number in a Nigerian row: libphonenumber reads +44, not the row's +234, so
    // nothing is removed and the number keeps today's warning.
    let region: phonenumber::country::Id = "NG".parse().unwrap();
    let parsed = phonenumber::parse(Some(region), "+44 7911 123456").unwrap();
    assert_eq!(parsed.code().value(), 44);
    let f = Fixture::new();
    let v = f.validator("2026-11-21", false);
    for written in ["+44 7911 123456", "0044 7911 123456", "+447911123456"] {
        let (number, w) = sent(&v, NIGERIA, written);
        assert_eq!(number, written);
        assert_eq!(
            w,
            [
                "phone_number: seems to include a country code: give the local number, the dial \
                 code goes in country_phone_code"
            ],
            "{written}"
        );
    }
}

#[test]
fn a_number_the_parser_does_not_vouch_for_is_sent_as_written() {
    let f = Fixture::new();
    let v = f.validator("2026-11-21", false);
    let not_plausible =
        "phone_number: not a plausible national number for the country of country_iso_code";
    // A country code without "+" or "00" is not removed: the contract does not say so.
    let (number, _) = sent(&v, NIGERIA, "234 801 234 5678");
    assert_eq!(number, "234 801 234 5678");
    // Too long for Nigeria once normalised, an extension, a letter: as written, warned.
    for written in [
        "0801 234 5678 9999999",
        "0801 234 5678 ext 12",
        "0801 234 567O",
    ] {
        let (number, w) = sent(&v, NIGERIA, written);
        assert_eq!(number, written);
        assert_eq!(w, [not_plausible], "{written}");
    }
    // The row's dial code is not its country's: no removal is trusted.
    let (number, w) = sent(&v, ("CM", "Cameroon", "+234"), "+234 801 234 5678");
    assert_eq!(number, "+234 801 234 5678");
    assert_eq!(w.len(), 2, "{w:?}");
    // Too short to be a number: sent as written, never shorter than the length rule.
    let (number, w) = sent(&v, NIGERIA, "+234 8");
    assert_eq!(number, "+234 8");
    assert_eq!(w.len(), 1, "{w:?}");
    // A region libphonenumber does not know: no facts to normalise with, sent as written.
    let (number, w) = sent(&v, ("AQ", "Antarctica", "+672"), "+672 10 1234");
    assert_eq!(number, "+672 10 1234");
    assert_eq!(
        w,
        [
            "phone_number: seems to include a country code: give the local number, the dial code \
             goes in country_phone_code"
        ]
    );
}

#[test]
fn keep_phone_format_sends_numbers_as_written() {
    let f = Fixture::new();
    let v = f.keeping_phone_format();
    for written in ["0801-234-5678", "801 234 5678", "08012345678"] {
        let (number, w) = sent(&v, NIGERIA, written);
        assert_eq!(number, written);
        assert!(w.is_empty(), "{written}: {w:?}");
    }
    let (number, w) = sent(&v, NIGERIA, "+234 801 234 5678");
    assert_eq!(number, "+234 801 234 5678");
    assert_eq!(
        w,
        [
            "phone_number: seems to include a country code: give the local number, the dial code \
             goes in country_phone_code"
        ]
    );
}

#[test]
fn a_normalised_number_is_a_warning_so_strict_refuses_it() {
    let f = Fixture::new();
    let strict = f.validator("2026-11-21", true);
    let errs = errors(check_with(&strict, &[(Field::PhoneNumber, "677 12 34 56")]));
    assert_eq!(
        errs,
        ["phone_number: normalised to the national number (formatting removed)"]
    );
}

#[test]
fn the_normalisation_warning_never_holds_the_number() {
    let f = Fixture::new();
    let (_, w) = sent(
        &f.validator("2026-11-21", false),
        NIGERIA,
        "+234 (0)801 234 5678",
    );
    assert_eq!(w.len(), 1);
    for part in ["801", "234 5678", "5678"] {
        assert!(!w[0].contains(part), "{}", w[0]);
    }
}

// ---------------------------------------------------------------- privacy

#[test]
fn messages_never_echo_the_cell() {
    let f = Fixture::new();
    let secret_row = [
        (Field::FirstName, "Qx"),
        (Field::Email, "Qxsecret@@x"),
        (Field::Country, "Qxsecretland"),
        (Field::CountryIsoCode, "QX"),
        (Field::CountryPhoneCode, "+Qx"),
        (Field::PhoneNumber, "Qxsecret"),
        (Field::IdDocumentType, "Qxsecret"),
        (Field::DateOfBirth, "Qxsecret"),
        (Field::IdDocumentFrontUrl, "http://Qxsecret.example/a.jpg"),
        (Field::IdDocumentBackUrl, "Qxsecret"),
    ];
    let errs = errors(f.check(&secret_row));
    // Country name and phone number are only compared once the ISO code is valid.
    assert_eq!(errs.len(), 8, "{errs:?}");
    for e in &errs {
        assert!(!e.to_lowercase().contains("qx"), "{e}");
        assert!(e.contains(": "), "{e}");
    }
    let errs = errors(f.check(&files("../Qxsecret.jpg", "Qxmissing.png")));
    for e in &errs {
        assert!(!e.to_lowercase().contains("qx"), "{e}");
    }
}

// ---------------------------------------------------------------- speed

/// Not a pass/fail test: `cargo test --release --lib validate::tests::throughput -- --ignored
/// --nocapture` prints rows per second for a mix of valid and warning URL rows.
#[test]
#[ignore]
fn throughput() {
    let dir = tempfile::tempdir().unwrap();
    let v = Validator::new(Rules {
        as_of: date("2026-11-21"),
        documents_dir: dir.path().to_path_buf(),
        strict: false,
        date_format: None,
        keep_phone_format: false,
    })
    .unwrap();
    let fields: Vec<Field> = BASE.iter().map(|c| c.0).collect();
    let map = ColumnMap::from_fields(&fields);
    let record = csv::StringRecord::from(BASE.iter().map(|c| c.1).collect::<Vec<_>>());
    let mut other: Vec<&str> = BASE.iter().map(|c| c.1).collect();
    other[3] = "Nigeria";
    let warn_record = csv::StringRecord::from(other);
    let n = 1_000_000;
    let start = std::time::Instant::now();
    let mut valid_rows = 0;
    for i in 0..n {
        let rec = if i % 10 == 0 { &warn_record } else { &record };
        if let Checked::Valid { .. } = std::hint::black_box(v.check(&RowView::new(&map, rec))) {
            valid_rows += 1;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(valid_rows, n);
    println!("{:.0} rows/s", n as f64 / secs);
}

// ---------------------------------------------------------------- properties

mod properties {
    use std::collections::HashMap;

    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    use super::*;
    use crate::sandbox::checks;

    /// Characters that have broken validators: combining marks, variation selectors, format
    /// characters, characters outside the BMP, full-width forms, quotes, controls.
    const AWKWARD: &[char] = &[
        'a',
        'Z',
        '0',
        '9',
        '.',
        '@',
        '-',
        '_',
        '+',
        '"',
        '\\',
        ' ',
        '\t',
        '\n',
        '\r',
        '\0',
        '\u{7f}',
        '\u{85}',
        '\u{a0}',
        '\u{e9}',
        '\u{301}',
        '\u{fe0e}',
        '\u{fe0f}',
        '\u{200b}',
        '\u{200d}',
        '\u{feff}',
        '\u{2028}',
        '\u{3000}',
        '\u{4e2d}',
        '\u{927}',
        '\u{ff41}',
        '\u{ff0e}',
        '\u{1d41a}',
        '\u{1f600}',
        '\u{20000}',
        '\u{e0067}',
        '\u{10ffff}',
        '\u{fdd0}',
        '\u{e000}',
        ':',
        '/',
        '[',
        ']',
        '<',
        '>',
        '%',
        '#',
    ];

    fn awkward(max: usize) -> impl Strategy<Value = String> {
        proptest::collection::vec(proptest::sample::select(AWKWARD), 0..max)
            .prop_map(|chars| chars.into_iter().collect())
    }

    /// Any text: arbitrary Unicode, awkward mixtures, and address-shaped ones.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            awkward(300),
            (awkward(70), awkward(70)).prop_map(|(l, d)| format!("{l}@{d}")),
            (awkward(12), awkward(12), awkward(6)).prop_map(|(l, d, t)| format!("{l}@{d}.{t}")),
            "[a-z0-9.\"+]{0,66}@([a-z0-9-]{0,64}\\.){1,5}[a-z]{1,4}",
            "https://[a-z/.:@]{0,30}",
            "[0-9]{4}-[0-9]{2}-[0-9]{2}",
        ]
    }

    fn field() -> impl Strategy<Value = Field> {
        proptest::sample::select(&Field::ALL[..])
    }

    /// Whatever text lands in whichever fields, the validator gives a verdict; and a row it
    /// calls valid passes the server's own checks (the sandbox's, which apply validator.js's
    /// isEmail and isLength to what we would send).
    #[test]
    fn any_text_in_any_field_gets_a_verdict_and_valid_rows_pass_the_server_checks() {
        let f = Fixture::new();
        let v = f.validator("2026-11-21", false);
        let mut runner = TestRunner::new(Config {
            cases: 3000,
            failure_persistence: None,
            ..Config::default()
        });
        let row = proptest::collection::vec((field(), text()), 1..4);
        runner
            .run(&row, |set| {
                let cells: Vec<(Field, &str)> = set.iter().map(|(f, t)| (*f, t.as_str())).collect();
                match check_with(&v, &cells) {
                    Checked::Valid { customer, .. } => {
                        let values: HashMap<String, String> =
                            crate::api::wire::text_fields(&customer)
                                .into_iter()
                                .map(|(k, v)| (k.to_owned(), v.into_owned()))
                                .collect();
                        let server = checks::check_fields(values, &[]);
                        prop_assert!(server.is_ok(), "{set:?}: the server refuses {server:?}");
                        if let Documents::Urls { front, back } = &customer.documents {
                            for (name, url) in [("front", front), ("back", back)] {
                                let problem = checks::check_document_url(name, Some(url));
                                prop_assert!(problem.is_none(), "{set:?}: {problem:?}");
                            }
                        }
                    }
                    Checked::Invalid { errors, .. } => {
                        prop_assert!(!errors.is_empty());
                    }
                }
                Ok(())
            })
            .unwrap();
    }

    /// The email rule alone, on many more addresses: a verdict, and agreement with the
    /// sandbox's server-side check after the row's normalisation.
    #[test]
    fn any_email_gets_the_servers_verdict() {
        let f = Fixture::new();
        let v = f.validator("2026-11-21", false);
        let mut runner = TestRunner::new(Config {
            cases: 5000,
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&text(), |email| {
                let ours = matches!(
                    check_with(&v, &[(Field::Email, &email)]),
                    Checked::Valid { .. }
                );
                let cleaned = crate::text::clean(&email);
                let mut values: HashMap<String, String> = super::BASE
                    .iter()
                    .take(14)
                    .map(|(f, v)| (f.name().to_owned(), v.to_string()))
                    .collect();
                values.insert("email".to_owned(), cleaned.into_owned());
                let server = checks::check_fields(values, &[]).is_ok();
                prop_assert_eq!(ours, server, "{:?}", email);
                Ok(())
            })
            .unwrap();
    }
}

/// A workbook's date cells arrive as YYYY-MM-DD beside a partner's typed DD/MM/YYYY: with
/// that pattern both read, and YYYY-MM-DD is still not read by YYYY-DD-MM.
#[test]
fn a_date_format_also_reads_a_date_cells_yyyy_mm_dd() {
    let day_first = DateFormat::parse("DD/MM/YYYY").unwrap();
    let cell = NaiveDate::from_ymd_opt(1990, 1, 15);
    assert_eq!(day_first.read_or_iso("15/01/1990"), cell);
    assert_eq!(day_first.read_or_iso("1990-01-15"), cell);
    assert_eq!(day_first.read("1990-01-15"), None);
    let odd = DateFormat::parse("YYYY-DD-MM").unwrap();
    assert_eq!(
        odd.read_or_iso("1990-01-02"),
        NaiveDate::from_ymd_opt(1990, 2, 1)
    );
    assert_eq!(odd.read_or_iso("1990-01-15"), None);
}

/// What Excel does to a long number in a column not formatted as text: `1.23457E+10`. The
/// digits are lost; sending it would enroll a wrong number, and make every later row with the
/// same mangled value a duplicate of the first.
#[test]
fn numbers_a_spreadsheet_turned_into_scientific_notation_are_refused() {
    let f = Fixture::new();
    for damaged in [
        "1.23457E+10",
        "2.34E+11",
        "1E+10",
        "8.03123e+09",
        "1,23457E+10",
    ] {
        for field in [Field::IdentificationNumber, Field::PhoneNumber] {
            let errs = errors(f.check(&[(field, damaged)]));
            assert!(
                errs.iter()
                    .any(|e| e.starts_with(&format!("{field}: is in scientific notation"))),
                "{field} {damaged}: {errs:?}"
            );
            assert!(errs.iter().all(|e| !e.contains(damaged)), "{errs:?}");
        }
    }
    // Letters and digits that only look alike stay valid.
    for fine in ["CM-1E5", "E12345678", "12E", "1.2.3E+4"] {
        valid(f.check(&[(Field::IdentificationNumber, fine)]));
    }
}
