//! `validate` on fixture files: encodings, quoting, duplicates, path escapes, broken files.
//!
//! Every test runs the binary in its own temporary folder and reads the report back;
//! `Outcome::summary` also checks summary.json against schemas/summary.schema.json.

use crate::util::{
    FILE_HEADER, JPEG, PDF, PNG, Table, URL_HEADER, Work, csv_text, file_row, fixture, repo_file,
    unguarded, url_row,
};

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn bom_crlf_and_mixed_case_spaced_headers_are_all_valid() {
    let work = Work::new();
    let out = work.validate(&fixture("bom_crlf.csv"), &[]);
    out.expect_code(0);
    assert_eq!(
        out.statuses(),
        pairs(&[("B-1", "valid"), ("B-2", "valid"), ("B-3", "valid")])
    );
    // The last column's values end before the CR: the URLs are valid, so no "\r" leaked.
    for r in out.results() {
        assert_eq!(r.message, "", "{r:?}");
        assert_eq!(r.warnings, "", "{r:?}");
    }
    let summary = out.summary();
    assert_eq!(summary["counts"]["valid"], 3);
    assert_eq!(summary["input"]["rows"], 3);
    // rejects.csv carries the header as read, BOM removed, plus row and error.
    let rejects = out.rejects();
    assert_eq!(rejects.len(), 0);
    assert_eq!(rejects.headers[0], "Reference");
    assert_eq!(rejects.headers[1], " First_Name ");
    assert_eq!(rejects.headers[17..], ["row", "error"]);
    let raw = std::fs::read(out.report_dir.join("rejects.csv")).unwrap();
    assert!(
        !raw.starts_with("\u{feff}".as_bytes()),
        "no BOM in rejects.csv"
    );
}

#[test]
fn quoted_fields_reach_rejects_exactly_as_read_with_unknown_columns() {
    let work = Work::new();
    let input = fixture("quoted.csv");
    let out = work.validate(&input, &[]);
    out.expect_code(2);
    assert_eq!(
        out.statuses(),
        pairs(&[("Q-1", "valid"), ("Q-2", "invalid"), ("Q-3", "invalid")])
    );
    assert!(
        out.result(2)
            .message
            .contains("first_name: must be at least 3 characters"),
        "{:?}",
        out.result(2)
    );
    assert!(out.result(3).message.contains("email:"));

    let original = Table::read(&input, b',');
    let rejects = out.rejects();
    let mut expected_headers = original.headers.clone();
    expected_headers.extend(["row".to_string(), "error".to_string()]);
    assert_eq!(rejects.headers, expected_headers);
    assert_eq!(rejects.len(), 2);
    for (reject, row) in rejects.rows.iter().zip([2usize, 3]) {
        let n = original.headers.len();
        // Every original cell, unknown columns included, byte for byte (" Al " keeps its
        // spaces; quotes, commas and newlines survive the round trip).
        assert_eq!(
            unguarded(&reject[..n]),
            unguarded(&original.rows[row - 1]),
            "row {row}"
        );
        // A dial code is written so that a spreadsheet shows it as text.
        assert!(reject[original.column("country_phone_code")].starts_with("'+"));
        assert_eq!(reject[n], row.to_string());
        assert_eq!(reject[n + 1], out.result(row as u64).message);
    }
    assert_eq!(rejects.rows[0][1], " Al ");
    assert_eq!(rejects.rows[0][5], "Rue \"Joss\",\nAkwa");
    assert_eq!(rejects.rows[0][rejects.column("Notes")], "x, \"y\", z");
    assert_eq!(rejects.rows[1][2], "N\"Diaye, Sr");
    assert_eq!(
        rejects.rows[1][rejects.column("partner_batch")],
        "multi\nline\nbatch"
    );
    // The valid row's multi-line cells did not shift the record count.
    assert_eq!(out.summary()["input"]["rows"], 3);
    // The unknown columns are named once on stderr.
    assert!(
        out.stderr.contains("Notes") && out.stderr.contains("partner_batch"),
        "{}",
        out.stderr
    );
}

#[test]
fn duplicates_in_file_name_the_earlier_row() {
    let work = Work::new();
    let out = work.validate(&fixture("duplicates.csv"), &[]);
    out.expect_code(2);
    assert_eq!(
        out.statuses(),
        pairs(&[
            ("D-1", "valid"),
            ("D-2", "duplicate_in_file"),
            ("D-3", "duplicate_in_file"),
            ("D-4", "valid"),
            ("D-5", "duplicate_in_file"),
            // Any earlier row counts, as the issue says, even one that is itself invalid.
            ("D-6", "invalid"),
            ("D-7", "duplicate_in_file"),
            // Identification numbers compare exactly, not case-insensitively.
            ("D-8", "valid"),
        ])
    );
    assert_eq!(out.result(2).message, "email: same as row 1 of this file");
    assert_eq!(
        out.result(3).message,
        "identification_number: same as row 1 of this file"
    );
    assert_eq!(
        out.result(5).message,
        "email, identification_number: same as row 4 of this file"
    );
    assert_eq!(
        out.result(7).message,
        "email, identification_number: same as row 6 of this file"
    );
    let summary = out.summary();
    assert_eq!(summary["counts"]["duplicate_in_file"], 4);
    assert_eq!(summary["counts"]["invalid"], 1);
    assert_eq!(summary["counts"]["valid"], 3);
    // rejects.csv holds invalid and rejected rows only.
    let rejects = out.rejects();
    assert_eq!(rejects.len(), 1);
    assert_eq!(rejects.rows[0][0], "D-6");
    // No personal data in results.csv.
    let text = out.results_text();
    assert!(
        !text.to_lowercase().contains("ann.lee@example.com"),
        "{text}"
    );
}

#[test]
fn a_file_of_only_duplicates_of_valid_rows_exits_2() {
    let work = Work::new();
    let mut second = url_row(2);
    second[3] = url_row(1)[3].to_uppercase();
    let file = work.write("dups.csv", &csv_text(URL_HEADER, &[url_row(1), second]));
    let out = work.validate(&file, &[]);
    out.expect_code(2);
    assert_eq!(out.count("duplicate_in_file"), 1);
    assert_eq!(out.count("invalid"), 0);
}

/// (reference, expected status, what the message must contain)
const INVALID_CASES: &[(&str, &str, &str)] = &[
    ("I-01", "valid", ""),
    (
        "I-02",
        "invalid",
        "first_name: must be at least 3 characters",
    ),
    ("I-03", "invalid", "email: not a valid email address"),
    (
        "I-04",
        "invalid",
        "country_iso_code: not an assigned ISO 3166-1 alpha-2 code",
    ),
    (
        "I-05",
        "invalid",
        "country_iso_code: not an assigned ISO 3166-1 alpha-2 code",
    ),
    (
        "I-06",
        "invalid",
        "country_phone_code: must be \"+\" followed by 1 to 4 digits",
    ),
    ("I-07", "invalid", "id_document_type: must be one of"),
    ("I-08", "invalid", "date_of_birth: not a real date"),
    ("I-09", "invalid", "date_of_birth: is in the future"),
    (
        "I-10",
        "invalid",
        "date_of_birth: customer is 17 on 2026-11-21",
    ),
    ("I-11", "valid", ""),
    (
        "I-12",
        "invalid",
        "id_document_front_url: must be an https:// URL",
    ),
    ("I-13", "invalid", "id_document_back_url: is required"),
    ("I-14", "invalid", "not both"),
    ("I-15", "invalid", "email: not a valid email address"),
    ("I-16", "invalid", "country_phone_code: must be"),
    (
        "I-17",
        "invalid",
        "date_of_birth: not a date in the form YYYY-MM-DD: try --date-format DD/MM/YYYY",
    ),
];

#[test]
fn every_kind_of_invalid_row_names_the_field_and_never_the_value() {
    let work = Work::new();
    let input = fixture("invalid.csv");
    let out = work.validate(&input, &[]);
    out.expect_code(2);
    let results = out.results();
    assert_eq!(results.len(), INVALID_CASES.len());
    for ((reference, status, message), got) in INVALID_CASES.iter().zip(&results) {
        assert_eq!(got.reference, *reference);
        assert_eq!(got.status, *status, "{got:?}");
        assert!(got.message.contains(message), "{reference}: {got:?}");
        if got.status == "valid" {
            assert_eq!(got.message, "", "{got:?}");
        }
    }
    // A row with two problems names both fields.
    let both = out.by_ref("I-15");
    assert!(
        both.message.contains("last_name: must be at least 3"),
        "{both:?}"
    );
    // Messages and warnings never echo a bad value.
    let text = out.results_text();
    for raw in [
        "mr.bad@@example",
        "no-at-sign.example.com",
        "CMR",
        "ZZ",
        "ID_CARD",
        "1990-02-30",
        "2027-01-01",
        "2008-11-22",
        "http://cdn",
        "Zé",
        "30/09/1985",
        "+12345",
    ] {
        assert!(!text.contains(raw), "results.csv repeats {raw:?}:\n{text}");
    }
    let summary = out.summary();
    assert_eq!(summary["counts"]["valid"], 2);
    assert_eq!(summary["counts"]["invalid"], 15);
    // rejects.csv: the invalid rows, in order, with the same messages.
    let rejects = out.rejects();
    let invalid: Vec<_> = results.iter().filter(|r| r.status == "invalid").collect();
    assert_eq!(rejects.len(), invalid.len());
    let (row, error) = (rejects.column("row"), rejects.column("error"));
    for (reject, result) in rejects.rows.iter().zip(invalid) {
        assert_eq!(reject[0], result.reference);
        assert_eq!(reject[row], result.row.to_string());
        assert_eq!(reject[error], result.message);
    }
    // ...and the raw values are there, for the partner to fix.
    let original = Table::read(&input, b',');
    assert_eq!(rejects.rows[1][3], original.rows[2][3]);
}

/// A folder `data/` holding the CSV and `data/docs/` the documents, with files outside it.
struct Docs {
    work: Work,
}

impl Docs {
    fn new() -> Docs {
        let work = Work::new();
        work.write("data/docs/front.jpg", JPEG);
        work.write("data/docs/back.png", PNG);
        work.write("data/docs/back.pdf", PDF);
        work.write("data/docs/fake.jpg", b"this is only text, not a JPEG\n");
        work.write("outside.jpg", JPEG);
        work.write("data/outside-docs.jpg", JPEG);
        let big = work.path("data/docs/big.jpg");
        let mut bytes = JPEG.to_vec();
        bytes.resize(10 * 1024 * 1024 + 1, 0);
        std::fs::write(&big, &bytes).unwrap();
        bytes.truncate(10 * 1024 * 1024);
        work.write("data/docs/ten.jpg", &bytes);
        std::os::unix::fs::symlink("../../outside.jpg", work.path("data/docs/out-link.jpg"))
            .unwrap();
        std::os::unix::fs::symlink("front.jpg", work.path("data/docs/in-link.jpg")).unwrap();
        Docs { work }
    }

    fn abs(&self, rel: &str) -> String {
        self.work.path(rel).display().to_string()
    }
}

#[test]
fn document_files_must_be_real_documents_inside_the_folder() {
    let d = Docs::new();
    let rows = vec![
        file_row(1, "NIN", "docs/front.jpg", "docs/back.png"),
        file_row(2, "NIN", "docs/front.jpg", "../outside.jpg"),
        file_row(3, "NIN", &d.abs("outside.jpg"), "docs/back.png"),
        file_row(4, "NIN", "docs/out-link.jpg", "docs/back.png"),
        file_row(5, "NIN", "docs/fake.jpg", "docs/back.png"),
        file_row(6, "NIN", "docs/big.jpg", "docs/back.png"),
        file_row(7, "PASSPORT", "docs/front.jpg", "docs/back.png"),
        file_row(8, "NIN", "docs/front.jpg", ""),
        file_row(9, "DRIVERS_LICENSE", "docs/missing.jpg", "docs/back.pdf"),
        file_row(10, "VOTERS_CARD", &d.abs("data/docs/front.jpg"), ""),
        file_row(11, "NIN", "docs/ten.jpg", "docs/in-link.jpg"),
        file_row(12, "NIN", "docs/../../outside.jpg", "docs/back.png"),
        file_row(
            13,
            "NIN",
            "docs/front.jpg",
            "../../../../../../../../etc/passwd",
        ),
        file_row(14, "NIN", "docs", "docs/back.png"),
        file_row(15, "PASSPORT", "docs/back.pdf", ""),
    ];
    let file = d
        .work
        .write("data/partner.csv", &csv_text(FILE_HEADER, &rows));
    let out = d.work.validate(&file, &[]);
    out.expect_code(2);
    let expect: &[(&str, &str, &str)] = &[
        ("R-1", "valid", ""),
        (
            "R-2",
            "invalid",
            "id_document_back: path leads outside the documents folder",
        ),
        (
            "R-3",
            "invalid",
            "id_document_front: path leads outside the documents folder",
        ),
        (
            "R-4",
            "invalid",
            "id_document_front: path leads outside the documents folder",
        ),
        (
            "R-5",
            "invalid",
            "id_document_front: content is not JPEG, PNG or PDF",
        ),
        (
            "R-6",
            "invalid",
            "id_document_front: file is larger than 10 MB",
        ),
        ("R-7", "valid", ""),
        ("R-8", "invalid", "id_document_back: is required"),
        ("R-9", "invalid", "id_document_front: file not found"),
        ("R-10", "valid", ""),
        ("R-11", "valid", ""),
        (
            "R-12",
            "invalid",
            "id_document_front: path leads outside the documents folder",
        ),
        (
            "R-13",
            "invalid",
            "id_document_back: path leads outside the documents folder",
        ),
        ("R-14", "invalid", "id_document_front: not a regular file"),
        ("R-15", "valid", ""),
    ];
    let results = out.results();
    assert_eq!(results.len(), expect.len());
    for ((reference, status, message), got) in expect.iter().zip(&results) {
        assert_eq!(got.reference, *reference);
        assert_eq!(got.status, *status, "{got:?}");
        assert!(got.message.contains(message), "{reference}: {got:?}");
    }
    let passport = out.by_ref("R-7");
    assert!(
        passport
            .warnings
            .contains("id_document_back: not used for a passport"),
        "{passport:?}"
    );
    // No path of this machine in the report's messages.
    let text = out.results_text();
    assert!(
        !text.contains("outside.jpg") && !text.contains("/etc/passwd"),
        "{text}"
    );
    assert_eq!(out.count("valid"), 5);
    assert_eq!(out.count("invalid"), 10);

    // --strict: the passport's warning makes it invalid; nothing else changes.
    let strict = d.work.validate_into(&file, "strict", &["--strict"]);
    strict.expect_code(2);
    let passport = strict.by_ref("R-7");
    assert_eq!(passport.status, "invalid");
    assert!(
        passport
            .message
            .contains("id_document_back: not used for a passport"),
        "{passport:?}"
    );
    assert_eq!(strict.count("valid"), 4);
    assert_eq!(strict.count("invalid"), 11);
}

#[test]
fn documents_dir_is_the_base_of_relative_paths_and_the_fence() {
    let d = Docs::new();
    let rows = vec![
        file_row(1, "NIN", "front.jpg", "back.png"),
        file_row(2, "NIN", "front.jpg", "../outside-docs.jpg"),
    ];
    let file = d
        .work
        .write("csvs/partner.csv", &csv_text(FILE_HEADER, &rows));
    // Without the flag the paths are relative to csvs/: not found.
    let out = d.work.validate(&file, &[]);
    out.expect_code(2);
    assert!(
        out.result(1).message.contains("file not found"),
        "{:?}",
        out.result(1)
    );

    let docs = d.abs("data/docs");
    let out = d
        .work
        .validate_into(&file, "with-dir", &["--documents-dir", &docs]);
    out.expect_code(2);
    assert_eq!(out.result(1).status, "valid", "{:?}", out.result(1));
    let escaped = out.result(2);
    assert_eq!(escaped.status, "invalid");
    assert!(
        escaped
            .message
            .contains("id_document_back: path leads outside the documents folder"),
        "{escaped:?}"
    );

    // A documents folder that does not exist is fatal.
    let out = d
        .work
        .validate_into(&file, "no-dir", &["--documents-dir", &d.abs("nowhere")]);
    out.expect_code(1);
    assert!(out.stderr.contains("nowhere"), "{}", out.stderr);
}

/// Runs `validate` on a broken fixture: exit 1 and stderr with every expected piece.
#[track_caller]
fn fatal(name: &str, expected: &[&str]) {
    let work = Work::new();
    let out = work.validate(&fixture(name), &[]);
    out.expect_code(1);
    for piece in expected {
        assert!(
            out.stderr.contains(piece),
            "{name}: stderr lacks {piece:?}:\n{}",
            out.stderr
        );
    }
    assert!(
        out.stderr.contains(name),
        "{name}: the file is named: {}",
        out.stderr
    );
}

/// A Windows-1252 byte in a UTF-8 file spoils its row only: that row is invalid, naming the
/// column and the encoding to try, and is in rejects.csv with the byte shown as U+FFFD.
#[test]
fn a_latin1_byte_spoils_its_row_only_and_names_the_encoding_to_try() {
    let work = Work::new();
    let out = work.validate(&fixture("latin1.csv"), &[]);
    out.expect_code(2);
    assert_eq!(out.result(1).status, "valid");
    let bad = out.result(2);
    assert_eq!(bad.status, "invalid");
    assert!(
        bad.message
            .starts_with("first_name: holds bytes that are not valid UTF-8")
            && bad.message.contains("try --encoding windows-1252"),
        "{bad:?}"
    );
    let rejects = out.rejects();
    assert_eq!(rejects.rows.len(), 1);
    assert_eq!(rejects.rows[0][1], "Zo\u{fffd}");
}

#[test]
fn a_missing_required_column_is_fatal() {
    fatal(
        "missing_column.csv",
        &["line 1", "date_of_birth", "missing"],
    );
}

#[test]
fn a_column_twice_is_fatal() {
    fatal("column_twice.csv", &["line 1", "'email' appears twice"]);
}

/// One unquoted delimiter in a value: that row is invalid and goes to rejects.csv as it was
/// read, all 18 fields of it (`row` and `error` under their headers, the field past the
/// header's 17 after them); the file's other rows are checked as usual.
#[test]
fn a_row_with_another_number_of_fields_is_invalid_and_the_rest_goes_on() {
    let work = Work::new();
    let out = work.validate(&fixture("ragged.csv"), &[]);
    out.expect_code(2);
    assert_eq!(out.result(1).status, "valid", "{:?}", out.result(1));
    let ragged = out.result(2);
    assert_eq!(ragged.status, "invalid");
    assert!(
        ragged.message.contains(
            "row: has 18 fields where the header has 17 (a value may hold an unquoted ','"
        ),
        "{ragged:?}"
    );
    let rejects = out.rejects();
    assert_eq!(rejects.rows[0].len(), 18 + 2, "{:?}", rejects.rows[0]);
    assert_eq!(rejects.headers[17], "row");
    assert_eq!(rejects.rows[0][17], "2");
    assert!(rejects.rows[0][18].starts_with("row: has 18 fields"));
    assert_eq!(rejects.rows[0][19], "extra");
}

/// A quote never closed swallows the rest of the file: fatal, naming the line it opened on.
#[test]
fn a_quote_left_open_to_the_end_is_fatal_and_names_the_line_it_opened_on() {
    let work = Work::new();
    let mut rows = [url_row(1), url_row(2), url_row(3)];
    rows[1][5] = "\"14 Main Street".to_string();
    let mut body = csv_text(URL_HEADER, &rows[..1]);
    for row in &rows[1..] {
        body.extend_from_slice(format!("{}\n", row.join(",")).as_bytes());
    }
    let file = work.write("open.csv", &body);
    let out = work.validate(&file, &[]);
    out.expect_code(1);
    assert!(
        out.stderr
            .contains("line 3: a quoted value opened on this line is never closed"),
        "{}",
        out.stderr
    );
}

#[test]
fn an_empty_file_is_fatal() {
    fatal("empty.csv", &["empty"]);
}

#[test]
fn a_missing_file_is_fatal() {
    let work = Work::new();
    let out = work.validate(&work.path("nope.csv"), &[]);
    out.expect_code(1);
    assert!(out.stderr.contains("nope.csv"), "{}", out.stderr);
}

#[test]
fn a_header_only_file_has_zero_rows() {
    let work = Work::new();
    let out = work.validate(&fixture("header_only.csv"), &[]);
    out.expect_code(0);
    // Not silently: a partner who sent only a header should hear of it.
    assert!(
        out.stderr.contains("the file has a header and no rows"),
        "{}",
        out.stderr
    );
    let summary = out.summary();
    assert_eq!(summary["input"]["rows"], 0);
    assert!(
        summary["counts"]
            .as_object()
            .unwrap()
            .values()
            .all(|v| v == 0)
    );
    assert_eq!(out.results().len(), 0);
    assert_eq!(out.rejects().len(), 0);
}

#[test]
fn a_semicolon_delimited_file_with_delimiter_flag() {
    let work = Work::new();
    let input = fixture("semicolon.csv");
    let out = work.validate(&input, &["--delimiter", ";"]);
    out.expect_code(2);
    assert_eq!(
        out.statuses(),
        pairs(&[("S-1", "valid"), ("S-2", "valid"), ("S-3", "invalid")])
    );
    // rejects.csv is written with commas, the original cells intact.
    let rejects = out.rejects();
    let original = Table::read(&input, b';');
    assert_eq!(
        unguarded(&rejects.rows[0][..17]),
        unguarded(&original.rows[2])
    );
    assert_eq!(out.summary()["counts"]["valid"], 2);

    // Read with the default comma, the header is one unknown column: fatal.
    let out = work.validate_into(&input, "comma", &[]);
    out.expect_code(1);
    assert!(out.stderr.contains("line 1"), "{}", out.stderr);
}

#[test]
fn summary_json_matches_the_schema_and_the_rows() {
    let work = Work::new();
    let rows: Vec<_> = (1..=5).map(url_row).collect();
    let file = work.write("five.csv", &csv_text(URL_HEADER, &rows));
    let out = work.validate(&file, &[]);
    out.expect_code(0);
    let summary = out.summary();
    assert_eq!(summary["input"]["rows"], 5);
    assert_eq!(summary["counts"]["valid"], 5);
    assert_eq!(summary["exit_code"], 0);
    assert_eq!(summary["input"]["path"], file.display().to_string());
    assert!(summary["elapsed_seconds"].as_f64().unwrap() >= 0.0);
    assert!(summary["started_at"].as_str().unwrap() <= summary["ended_at"].as_str().unwrap());
    // Every status of the contract is present, zeros included.
    assert_eq!(summary["counts"].as_object().unwrap().len(), 9);

    // The schema does catch a wrong summary (the check above is not vacuous).
    let mut broken = summary.clone();
    broken["counts"]["valid"] = serde_json::json!(-1);
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_file("schemas/summary.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    assert!(validator.is_valid(&summary));
    assert!(!validator.is_valid(&broken));
    let mut extra = summary.clone();
    extra["unexpected"] = serde_json::json!(true);
    assert!(!validator.is_valid(&extra));
}

#[test]
fn several_files_each_get_a_report_and_the_worst_exit_code() {
    let work = Work::new();
    let good = work.write("good.csv", &csv_text(URL_HEADER, &[url_row(1)]));
    let mut bad_row = url_row(2);
    bad_row[14] = "2020-01-01".to_string();
    let bad = work.write("bad.csv", &csv_text(URL_HEADER, &[bad_row]));
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_cartevo-enroll"))
        .arg("validate")
        .args([&good, &bad])
        .arg("--report-dir")
        .arg(work.path("reports"))
        .args(["--as-of", crate::util::AS_OF])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(work.path("reports/good/summary.json").exists());
    let bad_results = Table::read(&work.path("reports/bad/results.csv"), b',');
    assert_eq!(bad_results.rows[0][2], "invalid");
}

#[test]
fn the_bundled_url_example_has_its_known_invalid_rows() {
    let work = Work::new();
    let out = work.validate(&repo_file("examples/customers.csv"), &[]);
    out.expect_code(2);
    assert_eq!(
        out.statuses(),
        pairs(&[
            ("P-0001", "valid"),
            ("P-0002", "valid"),
            ("P-0003", "valid"),
            ("P-0004", "valid"),
            ("P-0005", "valid"),
            ("P-0006", "valid"),
            ("P-0007", "invalid"),
            ("P-0008", "invalid"),
            ("P-0009", "duplicate_in_file"),
            ("P-0010", "valid"),
            ("P-0011", "invalid"),
            ("P-0012", "valid"),
        ])
    );
    assert!(
        out.by_ref("P-0007")
            .message
            .contains("date_of_birth: customer is 16")
    );
    let fatou = out.by_ref("P-0008").message;
    assert!(
        fatou.contains("email:") && fatou.contains("country_iso_code:"),
        "{fatou}"
    );
    assert_eq!(
        out.by_ref("P-0009").message,
        "email: same as row 2 of this file"
    );
    assert!(
        out.by_ref("P-0011")
            .message
            .contains("id_document_front_url: must be an https:// URL")
    );
    assert!(
        out.by_ref("P-0012")
            .warnings
            .contains("country_phone_code: is not the dial code"),
        "{:?}",
        out.by_ref("P-0012")
    );
    let summary = out.summary();
    assert_eq!(summary["counts"]["valid"], 8);
    assert_eq!(summary["counts"]["invalid"], 3);
    assert_eq!(summary["counts"]["duplicate_in_file"], 1);
    let rejects = out.rejects();
    let refs: Vec<&str> = rejects.rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(refs, ["P-0007", "P-0008", "P-0011"]);
}

#[test]
fn the_bundled_files_example_refuses_the_escaping_back_path() {
    let work = Work::new();
    let out = work.validate(&repo_file("examples/customers-files.csv"), &[]);
    out.expect_code(2);
    assert_eq!(
        out.statuses(),
        pairs(&[
            ("F-0001", "valid"),
            ("F-0002", "valid"),
            ("F-0003", "valid"),
            ("F-0004", "valid"),
            ("F-0005", "valid"),
            ("F-0006", "invalid"),
        ])
    );
    assert_eq!(
        out.by_ref("F-0006").message,
        "id_document_back: path leads outside the documents folder"
    );
    assert_eq!(out.count("invalid"), 1);
}

#[test]
fn a_tab_separated_file_with_delimiter_tab() {
    let work = Work::new();
    let mut text = String::from_utf8(csv_text(URL_HEADER, &[url_row(1), url_row(2)])).unwrap();
    text = text.replace(',', "\t");
    let file = work.write("partner.tsv", text.as_bytes());
    let out = work.validate(&file, &["--delimiter", "tab"]);
    out.expect_code(0);
    assert_eq!(out.count("valid"), 2);
}

#[test]
fn strict_turns_the_examples_warnings_into_invalid_rows() {
    let work = Work::new();
    let out = work.validate(&repo_file("examples/customers.csv"), &["--strict"]);
    out.expect_code(2);
    let thandiwe = out.by_ref("P-0012");
    assert_eq!(thandiwe.status, "invalid");
    assert!(
        thandiwe
            .message
            .contains("country_phone_code: is not the dial code"),
        "{thandiwe:?}"
    );
    assert_eq!(thandiwe.warnings, "");
    // Rows without warnings are unaffected.
    assert_eq!(out.by_ref("P-0001").status, "valid");
}

#[test]
fn a_rejects_file_goes_round_after_round_and_fixed_rows_pass() {
    let work = Work::new();
    let first = work.validate_into(&fixture("invalid.csv"), "round1", &[]);
    first.expect_code(2);
    let invalid = first.count("invalid");
    assert!(invalid > 0);
    // The partner sends rejects.csv back unchanged: the same rows fail, with one row and one
    // error column, round after round.
    let mut rejects = first.report_dir.join("rejects.csv");
    for round in ["round2", "round3"] {
        let out = work.validate_into(&rejects, round, &[]);
        out.expect_code(2);
        assert_eq!(out.count("invalid"), invalid, "{}", out.stderr);
        let table = out.rejects();
        let named = |name: &str| table.headers.iter().filter(|h| *h == name).count();
        assert_eq!(
            (named("row"), named("error")),
            (1, 1),
            "{:?}",
            table.headers
        );
        rejects = out.report_dir.join("rejects.csv");
    }
    // Then fixes its first row (the old row and error cells still in it): that row passes,
    // and only the others come back.
    let mut table = Table::read(&rejects, b',');
    let valid: std::collections::BTreeMap<&str, String> =
        URL_HEADER.split(',').zip(url_row(900)).collect();
    table.rows[0] = table
        .headers
        .iter()
        .zip(&table.rows[0])
        .map(|(h, old)| {
            valid
                .get(h.as_str())
                .cloned()
                .unwrap_or_else(|| old.clone())
        })
        .collect();
    let fixed = work.write(
        "fixed.csv",
        &csv_text(&table.headers.join(","), &table.rows),
    );
    let out = work.validate_into(&fixed, "round4", &[]);
    assert_eq!(out.results()[0].status, "valid", "{}", out.stderr);
    assert_eq!(out.count("invalid"), invalid - 1, "{}", out.stderr);
    assert_eq!(out.rejects().len(), invalid as usize - 1);
}

#[test]
fn blank_spreadsheet_lines_are_skipped_and_a_ragged_row_names_its_line_and_row() {
    let work = Work::new();
    let mut body = csv_text(URL_HEADER, &[url_row(1), url_row(2)]);
    let commas = ",".repeat(URL_HEADER.matches(',').count());
    body.extend_from_slice(format!("   \r\n{commas}\r\n\r\n").as_bytes());
    let file = work.write("blank.csv", &body);
    let out = work.validate(&file, &[]);
    out.expect_code(0);
    assert_eq!(out.results().len(), 2);

    body.extend_from_slice(b"only,three,fields\r\n");
    let file = work.write("ragged.csv", &body);
    let out = work.validate(&file, &[]);
    out.expect_code(2);
    // Header, two rows, three blank lines (no row numbers): the ragged row is row 3.
    assert_eq!(out.results().len(), 3);
    assert!(
        out.result(3).message.contains("has 3 fields"),
        "{:?}",
        out.result(3)
    );
}

/// The README's own workflow gone wrong: a partner's rejects.csv, fixed and sent back, run
/// with --report-dir pointing at the folder that holds it. The report would be written over
/// its own input: refused before anything is read, naming both, the file untouched.
#[test]
fn a_report_is_never_written_over_its_own_input() {
    let work = Work::new();
    let rows = [url_row(1), url_row(2)];
    let input = work.write("back/rejects.csv", &csv_text(URL_HEADER, &rows));
    let before = std::fs::read(&input).unwrap();
    for args in [vec![], vec!["--strict"]] {
        let out = work.validate_into(&input, "back", &args);
        out.expect_code(1);
        assert!(
            out.stderr.contains("would be written over the input")
                && out.stderr.contains("rejects.csv"),
            "{}",
            out.stderr
        );
        assert_eq!(std::fs::read(&input).unwrap(), before);
    }
    // Through a symbolic link to the input, under a report file's name, too.
    std::fs::create_dir_all(work.path("out")).unwrap();
    std::os::unix::fs::symlink(&input, work.path("out/results.csv")).unwrap();
    let out = work.validate_into(&input, "out", &[]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("would be written over the input"),
        "{}",
        out.stderr
    );
    assert_eq!(std::fs::read(&input).unwrap(), before);
}

/// Formulas in a partner's cells never run when our CSVs are opened in a spreadsheet, and a
/// rejects.csv sent back reads as the original values (the dial code `+237` included).
#[test]
fn no_cell_we_write_runs_as_a_formula_and_rejects_read_back_as_written() {
    let work = Work::new();
    let mut bad = url_row(1);
    bad[0] = "@SUM(A1)".into(); // reference
    bad[1] = "=HYPERLINK(\"http://evil.example\",\"Jean\")".into(); // first_name
    bad[3] = "not-an-email".into();
    bad[5] = "+cmd|' /C calc'!A0".into(); // street
    let input = work.write("in.csv", &csv_text(URL_HEADER, &[bad.clone(), url_row(2)]));
    let out = work.validate(&input, &[]);
    out.expect_code(2);
    let raw = std::fs::read_to_string(out.report_dir.join("rejects.csv")).unwrap();
    for guarded in ["'@SUM(A1)", "'=HYPERLINK(", "'+cmd|", "'+237"] {
        assert!(raw.contains(guarded), "{guarded} in {raw}");
    }
    let results = std::fs::read_to_string(out.report_dir.join("results.csv")).unwrap();
    assert!(results.contains("'@SUM(A1)"), "{results}");
    for line in raw.lines().chain(results.lines()) {
        for cell in line.split(',') {
            let cell = cell.trim_start_matches('"');
            assert!(
                !cell.starts_with(['=', '+', '@']),
                "a cell starts a formula: {cell:?} in {line:?}"
            );
        }
    }
    // Sent back with the email fixed: read as the original values, so the row is valid
    // (a dial code read as "'+237" would not be).
    let fixed = raw.replace("not-an-email", "jean.fixed@example.cm");
    let back = work.write("back/rejects.csv", fixed.as_bytes());
    let out = work.validate_into(&back, "round2", &[]);
    out.expect_code(0);
    // Read as "@SUM(A1)" and guarded once more; read as "'@SUM(A1)" it would be "''@SUM(A1)".
    assert_eq!(out.result(1).reference, "'@SUM(A1)");
}

/// The `reference` column is the partner's own, carried into results.csv: held to 255
/// characters and no control character like any text, and never copied whole when longer.
#[test]
fn the_reference_is_checked_like_any_text() {
    let work = Work::new();
    let mut long = url_row(1);
    long[0] = "R".repeat(100_000);
    let mut control = url_row(2);
    control[0] = "R-\u{7}2".into();
    let input = work.write(
        "in.csv",
        &csv_text(URL_HEADER, &[long, control, url_row(3)]),
    );
    let out = work.validate(&input, &[]);
    out.expect_code(2);
    assert!(
        out.result(1)
            .message
            .contains("reference: must be at most 255 characters")
    );
    assert_eq!(out.result(1).reference.chars().count(), 255);
    assert!(
        out.result(2)
            .message
            .contains("reference: contains a control character")
    );
    assert_eq!(out.result(3).status, "valid");
}

/// A header name with terminal escapes (ANSI colours, a screen clear) reaches the terminal
/// written out, not obeyed.
#[test]
fn escapes_in_a_header_name_never_reach_the_terminal_raw() {
    let work = Work::new();
    let header = URL_HEADER.replace("reference", "\u{1b}[2J\u{1b}[31mreference");
    let mut bytes = format!("{header}\n").into_bytes();
    bytes.extend_from_slice(
        csv_text(URL_HEADER, &[url_row(1)])
            .split(|&b| b == b'\n')
            .nth(1)
            .unwrap(),
    );
    bytes.extend_from_slice(b"\n");
    // A byte that is not UTF-8 in the renamed column makes the error name it.
    let input = work.write("in.csv", &bytes);
    let out = work.validate(&input, &[]);
    assert!(!out.stderr.contains('\u{1b}'), "{:?}", out.stderr);
    let mut broken = format!("{header}\n").into_bytes();
    broken.extend_from_slice(b"\xff\xfe");
    broken.extend_from_slice(&csv_text(URL_HEADER, &[url_row(1)])[URL_HEADER.len() + 1..]);
    let input = work.write("broken.csv", &broken);
    let out = work.validate(&input, &[]);
    out.expect_code(2);
    let message = out.result(1).message;
    assert!(message.contains("\\u{1b}"), "{message:?}");
    assert!(!message.contains('\u{1b}'), "{message:?}");
    assert!(!out.stderr.contains('\u{1b}'), "{:?}", out.stderr);
}

/// `--date-format` through the binary: a partner's DD/MM/YYYY dates are valid with it, and
/// without it each row is told which pattern would read it.
#[test]
fn a_partners_date_format_is_read_with_the_flag_and_named_without_it() {
    let work = Work::new();
    let mut rows = vec![url_row(1), url_row(2)];
    rows[0][14] = "30/09/1985".into();
    rows[1][14] = "1/2/1985".into();
    let input = work.write("in.csv", &csv_text(URL_HEADER, &rows));
    let out = work.validate(&input, &[]);
    out.expect_code(2);
    assert!(
        out.result(1)
            .message
            .contains("try --date-format DD/MM/YYYY"),
        "{:?}",
        out.result(1)
    );
    let out = work.validate_into(&input, "with", &["--date-format", "DD/MM/YYYY"]);
    out.expect_code(0);
    let bad = work.validate_into(&input, "bad", &["--date-format", "DD/MM/YY"]);
    bad.expect_code(1);
    assert!(bad.stderr.contains("not a date pattern"), "{}", bad.stderr);
}

/// The files a partner's spreadsheet really writes (LibreOffice Calc's exports, made by
/// scripts/partner-files/make.sh) validate through the binary like the UTF-8 original: the
/// flags that say how to read them are all it takes. Calc dropped the "+" of every dial
/// code, which comes back with a warning.
#[test]
fn a_spreadsheets_exports_validate_like_the_original() {
    let partner = |name: &str| fixture(&format!("partner/{name}"));
    let forms: [(&str, &[&str]); 5] = [
        ("source.csv", &[]),
        ("windows-1252.csv", &["--encoding", "windows-1252"]),
        ("windows-1252.csv.gz", &["--encoding", "cp1252"]),
        ("utf16.txt", &["--delimiter", "tab"]),
        ("source.xlsx", &[]),
    ];
    let work = Work::new();
    for (i, (name, flags)) in forms.iter().enumerate() {
        let out = work.validate_into(&partner(name), &format!("r{i}"), flags);
        out.expect_code(0);
        assert_eq!(out.count("valid"), 5, "{name}: {}", out.stderr);
        let dial_warnings = out
            .results()
            .iter()
            .filter(|r| r.warnings.contains("country_phone_code: \"+\" added"))
            .count();
        assert_eq!(dial_warnings, if i == 0 { 0 } else { 5 }, "{name}");
    }
    // Read as UTF-8, the Windows-1252 export's accented rows say what to do.
    let out = work.validate_into(&partner("windows-1252.csv"), "plain", &[]);
    out.expect_code(2);
    assert_eq!(out.count("invalid"), 3);
    assert!(
        out.result(2)
            .message
            .contains("try --encoding windows-1252")
    );
    // Without --delimiter tab, the header says to use it.
    let out = work.validate_into(&partner("utf16.txt"), "notab", &[]);
    out.expect_code(1);
    assert!(out.stderr.contains("try --delimiter tab"), "{}", out.stderr);
}

/// A workbook, a PDF or an archive given as the partner file is refused by what it is.
#[test]
fn files_that_are_not_partner_data_are_refused_by_name() {
    let work = Work::new();
    let xls = work.write(
        "old.xls",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\0\0\0\0\0\0\0\0",
    );
    let out = work.validate(&xls, &[]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("is an Excel 97-2003 workbook (.xls)"),
        "{}",
        out.stderr
    );
}

/// `--profile` through the binary: the bundled French partner's file, its headers, words and
/// dates read through its profile, is valid as it is.
#[test]
fn the_bundled_french_file_is_valid_with_its_profile() {
    let work = Work::new();
    let profile = repo_file("examples/profiles/french-partner.toml");
    let profile = profile.to_str().unwrap();
    let out = work.validate(
        &repo_file("examples/customers-fr.csv"),
        &["--profile", profile],
    );
    out.expect_code(0);
    assert_eq!(
        out.statuses(),
        pairs(&[
            ("FR-0001", "valid"),
            ("FR-0002", "valid"),
            ("FR-0003", "valid"),
            ("FR-0004", "valid"),
            ("FR-0005", "valid"),
        ])
    );
    // "Cameroun" is Cameroon by the profile's [values.country]: no country warning.
    assert!(out.results().iter().all(|r| r.warnings.is_empty()));
    assert_eq!(out.summary()["counts"]["valid"], 5);
}

/// A flag given on the command line wins over the profile's setting.
#[test]
fn a_flag_wins_over_the_profile() {
    let work = Work::new();
    let profile = repo_file("examples/profiles/french-partner.toml");
    let profile = profile.to_str().unwrap();
    let input = repo_file("examples/customers-fr.csv");
    // The profile's ";" is not used: the header is one column.
    let out = work.validate(&input, &["--profile", profile, "--delimiter", ","]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("required columns missing"),
        "{}",
        out.stderr
    );
    // The profile's DD/MM/YYYY is not used: 02/11/1985 reads as 11 February, 14/03/1990 as
    // nothing.
    let out = work.validate_into(
        &input,
        "us",
        &["--profile", profile, "--date-format", "MM/DD/YYYY"],
    );
    out.expect_code(2);
    assert_eq!(out.by_ref("FR-0001").status, "valid");
    let second = out.by_ref("FR-0002");
    assert_eq!(second.status, "invalid");
    assert!(second.message.contains("date_of_birth"), "{second:?}");
}

/// A profile that cannot be used stops the command before any file is read, naming the
/// profile, the line and the key; `report` and `reconcile` read the same flag.
#[test]
fn a_wrong_profile_is_fatal_for_every_command_that_reads_files() {
    let work = Work::new();
    let input = repo_file("examples/customers-fr.csv");
    let profile = work.write(
        "acme.toml",
        b"delimiter = \";\"\n[columns]\nfirst_name = \"Nom\"\nlast_name = \"nom\"\n",
    );
    let out = work.validate(&input, &["--profile", profile.to_str().unwrap()]);
    out.expect_code(1);
    assert!(
        out.stderr
            .contains("acme.toml' line 4: [columns] column mapped twice: 'nom'"),
        "{}",
        out.stderr
    );
    assert!(!out.report_dir.exists(), "nothing was read");

    for command in [&["report", "in.csv"][..], &["reconcile"][..]] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_cartevo-enroll"))
            .args(command)
            .args(["--journal", "none.db", "--profile", "missing.toml"])
            .current_dir(work.dir.path())
            .env_remove("CARTEVO_API_TOKEN")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{command:?}: {stderr}");
        assert!(
            stderr.contains("could not read profile 'missing.toml'"),
            "{command:?}: {stderr}"
        );
    }
}

/// The lines under a file's counts on stderr, in order: its problems and ambiguous dates.
fn problem_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.starts_with("  ")).collect()
}

#[test]
fn the_terminal_and_summary_json_name_the_commonest_problems() {
    let work = Work::new();
    let mut rows = Vec::new();
    // 20 dates of birth in a partner's DD/MM/YYYY (days past 12: only that pattern reads
    // them), 3 countries that do not match their code, 2 dates too old to be true.
    for n in 1..=20 {
        let mut r = url_row(n);
        r[14] = format!("{}/{:02}/1990", 13 + n % 15, 1 + n % 12);
        rows.push(r);
    }
    for n in 21..=23 {
        let mut r = url_row(n);
        r[4] = "Ghana".to_string();
        rows.push(r);
    }
    for (n, born) in [(24, "1890-05-06"), (25, "1880-01-02")] {
        let mut r = url_row(n);
        r[14] = born.to_string();
        rows.push(r);
    }
    rows.push(url_row(26));
    let file = work.write("partner.csv", &csv_text(URL_HEADER, &rows));
    let out = work.validate(&file, &[]);
    out.expect_code(2);
    assert!(
        out.stderr
            .contains("partner.csv: 26 rows: invalid 20, valid 6\n"),
        "{}",
        out.stderr
    );
    assert_eq!(
        problem_lines(&out.stderr),
        [
            "  invalid: date_of_birth: not a date in the form YYYY-MM-DD: try --date-format \
             DD/MM/YYYY (20 rows)",
            "  warning: country: does not match the country of country_iso_code (3 rows)",
            "  warning: date_of_birth: customer would be N on 2026-11-21: check the year (2 rows)",
        ],
        "{}",
        out.stderr
    );
    let summary = out.summary();
    assert_eq!(
        summary["problems"],
        serde_json::json!({
            "invalid": [{
                "problem": "date_of_birth: not a date in the form YYYY-MM-DD: try --date-format \
                            DD/MM/YYYY",
                "rows": 20
            }],
            "rejected": [],
            "warnings": [
                {"problem": "country: does not match the country of country_iso_code", "rows": 3},
                {
                    "problem": "date_of_birth: customer would be N on 2026-11-21: check the year",
                    "rows": 2
                }
            ]
        })
    );
    // No --date-format: no date can read two ways.
    assert_eq!(summary["ambiguous_dates"], 0);
    assert!(!out.stderr.contains("could also be read"), "{}", out.stderr);
}

/// A problem whose text holds its own advice is counted whole, not cut at its punctuation
/// into a "problem" that is only the advice.
#[test]
fn a_problem_with_its_advice_is_counted_as_one() {
    let work = Work::new();
    let mut damaged = url_row(1);
    damaged[12] = "1.23457E+10".to_string();
    let mut ragged = url_row(2).join(",");
    ragged.push_str(",extra");
    let mut text = csv_text(URL_HEADER, &[damaged, url_row(3)]);
    text.extend_from_slice(format!("{ragged}\n").as_bytes());
    let file = work.write("partner.csv", &text);
    let out = work.validate(&file, &[]);
    out.expect_code(2);
    let invalid: Vec<String> = out.summary()["problems"]["invalid"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["problem"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(invalid.len(), 2, "{invalid:?}");
    for problem in &invalid {
        assert!(
            problem.starts_with("identification_number: is in scientific notation")
                || problem.starts_with("row: has 18 fields where the header has 17"),
            "{invalid:?}"
        );
    }
    assert!(
        invalid
            .iter()
            .any(|p| p.contains("format the column as text"))
    );
    assert!(
        invalid
            .iter()
            .any(|p| p.contains("put that value in double quotes"))
    );
}

#[test]
fn dates_that_read_both_ways_are_counted_and_still_read() {
    let work = Work::new();
    let mut rows = Vec::new();
    // 20 dates with day and month both 12 or less, one of them in a row invalid for its
    // email; one with day 13 and one with day = month, which read one way only.
    for n in 1..=20 {
        let mut r = url_row(n);
        r[14] = format!("{:02}/{:02}/1990", 1 + n % 12, 1 + (n + 1) % 12);
        rows.push(r);
    }
    rows[4][3] = "not-an-email".to_string();
    for (n, born) in [(21, "13/01/1990"), (22, "06/06/1990")] {
        let mut r = url_row(n);
        r[14] = born.to_string();
        rows.push(r);
    }
    let file = work.write("ambiguous.csv", &csv_text(URL_HEADER, &rows));
    let out = work.validate(&file, &["--date-format", "DD/MM/YYYY"]);
    out.expect_code(2);
    assert_eq!(out.count("valid"), 21);
    assert_eq!(
        problem_lines(&out.stderr),
        [
            "  invalid: email: not a valid email address (1 row)",
            "  date_of_birth: 20 of 22 dates could also be read as MM/DD/YYYY (day and month \
             both 12 or less): check the partner's format",
        ],
        "{}",
        out.stderr
    );
    assert_eq!(out.summary()["ambiguous_dates"], 20);

    // The year first reads one way only.
    let iso: Vec<_> = (1..=3).map(url_row).collect();
    let file = work.write("iso.csv", &csv_text(URL_HEADER, &iso));
    let out = work.validate_into(&file, "iso", &["--date-format", "YYYY-MM-DD"]);
    out.expect_code(0);
    assert!(problem_lines(&out.stderr).is_empty(), "{}", out.stderr);
    assert_eq!(out.summary()["ambiguous_dates"], 0);
}

/// A signal while `validate -` reads standard input (systemd, `timeout`, Ctrl-C) ends it with
/// the signal's exit code and leaves no temporary file: not the spooled copy of the stream,
/// not a report half-written.
#[cfg(unix)]
#[test]
fn a_signal_during_validate_leaves_no_temporary_file() {
    use std::io::Write;
    for (signal, expected) in [("TERM", 143), ("INT", 130), ("HUP", 129)] {
        let work = Work::new();
        let tmp = work.path("tmp");
        std::fs::create_dir(&tmp).unwrap();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cartevo-enroll"))
            .args(["validate", "-", "--report-dir", "report"])
            .current_dir(work.dir.path())
            .env("TMPDIR", &tmp)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Half a file, the stream left open: the copy is being written.
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{URL_HEADER}").unwrap();
        writeln!(stdin, "{}", url_row(1).join(",")).unwrap();
        stdin.flush().unwrap();
        let started = std::time::Instant::now();
        while std::fs::read_dir(&tmp).unwrap().next().is_none() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(20),
                "no spool file"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let kill = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        let out = child.wait_with_output().unwrap();
        drop(stdin);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(expected), "{stderr}");
        let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
        assert!(!work.path("report").exists(), "{stderr}");
    }
}
