//! Shared helpers: running the binary, fixture rows, reading reports.

#![allow(dead_code)] // each test module uses a different subset

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

/// The date every test validates on.
pub const AS_OF: &str = "2026-11-21";

/// The folder of the committed fixture files.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A file of the repository (the bundled examples, the schemas).
pub fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// A temporary folder of one test.
pub struct Work {
    pub dir: TempDir,
}

impl Work {
    pub fn new() -> Work {
        Work {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes `bytes` at `rel`, creating its folders.
    pub fn write(&self, rel: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// Copies a committed fixture to `rel`.
    pub fn copy_fixture(&self, name: &str, rel: &str) -> PathBuf {
        self.write(rel, &std::fs::read(fixture(name)).unwrap())
    }

    /// `cartevo-enroll validate FILE --report-dir <this folder>/report --as-of AS_OF ARGS...`
    pub fn validate(&self, file: &Path, args: &[&str]) -> Outcome {
        self.validate_into(file, "report", args)
    }

    /// As [`Work::validate`], with the report in `<this folder>/<report>`.
    pub fn validate_into(&self, file: &Path, report: &str, args: &[&str]) -> Outcome {
        let report_dir = self.path(report);
        let output = Command::new(env!("CARGO_BIN_EXE_cartevo-enroll"))
            .arg("validate")
            .arg(file)
            .arg("--report-dir")
            .arg(&report_dir)
            .args(["--as-of", AS_OF])
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("RUST_LOG")
            .output()
            .expect("the binary runs");
        Outcome {
            code: output.status.code().expect("exited, not killed"),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            report_dir,
            input: file.to_path_buf(),
        }
    }
}

/// One CSV file read back: its header and its records, cells exactly as the csv crate reads
/// them.
#[derive(Debug, Clone)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn read(path: &Path, delimiter: u8) -> Table {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Table::parse(&bytes, delimiter)
    }

    pub fn parse(bytes: &[u8], delimiter: u8) -> Table {
        let bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
        // Flexible: rejects.csv gives a ragged record back as it was read.
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .flexible(true)
            .from_reader(bytes);
        let headers = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_string)
            .collect();
        let rows = reader
            .records()
            .map(|r| r.unwrap().iter().map(str::to_string).collect())
            .collect();
        Table { headers, rows }
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn column(&self, name: &str) -> usize {
        self.headers
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name:?} in {:?}", self.headers))
    }

    /// The rows as maps from header to cell.
    pub fn maps(&self) -> Vec<BTreeMap<String, String>> {
        self.rows
            .iter()
            .map(|r| {
                self.headers
                    .iter()
                    .cloned()
                    .zip(r.iter().cloned())
                    .collect()
            })
            .collect()
    }
}

/// What one `validate` did: the exit code, its output and its report folder.
#[derive(Debug)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub report_dir: PathBuf,
    pub input: PathBuf,
}

/// One line of results.csv.
#[derive(Debug, Clone)]
pub struct ResultRow {
    pub row: u64,
    pub reference: String,
    pub status: String,
    pub message: String,
    pub warnings: String,
}

pub const RESULTS_HEADER: [&str; 8] = [
    "row",
    "reference",
    "status",
    "customer_id",
    "http_status",
    "attempts",
    "message",
    "warnings",
];

impl Outcome {
    /// Exit code `code`, or a panic that shows what the program said.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Outcome {
        assert_eq!(
            self.code, code,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    pub fn results_text(&self) -> String {
        std::fs::read_to_string(self.report_dir.join("results.csv")).unwrap()
    }

    /// results.csv, checked for the contract's columns and for `validate`'s empty request
    /// columns.
    pub fn results(&self) -> Vec<ResultRow> {
        let table = Table::read(&self.report_dir.join("results.csv"), b',');
        assert_eq!(table.headers, RESULTS_HEADER);
        table
            .rows
            .iter()
            .map(|r| {
                assert_eq!(r.len(), 8, "{r:?}");
                assert_eq!(r[3], "", "validate sets no customer_id: {r:?}");
                assert_eq!(r[4], "", "validate sets no http_status: {r:?}");
                assert_eq!(r[5], "0", "validate makes no attempts: {r:?}");
                ResultRow {
                    row: r[0].parse().unwrap(),
                    reference: r[1].clone(),
                    status: r[2].clone(),
                    message: r[6].clone(),
                    warnings: r[7].clone(),
                }
            })
            .collect()
    }

    /// The results line of row `row` (1-based).
    #[track_caller]
    pub fn result(&self, row: u64) -> ResultRow {
        self.results()
            .into_iter()
            .find(|r| r.row == row)
            .unwrap_or_else(|| panic!("no row {row} in results.csv"))
    }

    /// The results line whose reference is `reference`.
    #[track_caller]
    pub fn by_ref(&self, reference: &str) -> ResultRow {
        self.results()
            .into_iter()
            .find(|r| r.reference == reference)
            .unwrap_or_else(|| panic!("no reference {reference} in results.csv"))
    }

    /// Status of every row, by reference, in file order.
    pub fn statuses(&self) -> Vec<(String, String)> {
        self.results()
            .into_iter()
            .map(|r| (r.reference, r.status))
            .collect()
    }

    pub fn rejects(&self) -> Table {
        Table::read(&self.report_dir.join("rejects.csv"), b',')
    }

    /// summary.json, checked against schemas/summary.schema.json and for inner consistency:
    /// the counts add up to the rows, the exit code is the process's, the SHA-256 is the
    /// input's.
    pub fn summary(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.report_dir.join("summary.json")).unwrap();
        let summary: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_schema_valid(&summary);
        assert_eq!(summary["command"], "validate");
        assert_eq!(summary["exit_code"], self.code);
        let counts = summary["counts"].as_object().unwrap();
        let total: u64 = counts.values().map(|v| v.as_u64().unwrap()).sum();
        assert_eq!(summary["input"]["rows"], total, "{summary}");
        assert_eq!(self.results().len() as u64, total);
        for sent in ["requests_sent", "retries", "http_429_seen"] {
            assert_eq!(summary[sent], 0, "validate sends nothing");
        }
        let sha = {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(std::fs::read(&self.input).unwrap()))
        };
        assert_eq!(summary["input"]["sha256"], sha);
        summary
    }

    /// The count of `status` in summary.json.
    pub fn count(&self, status: &str) -> u64 {
        self.summary()["counts"][status].as_u64().unwrap()
    }
}

/// summary.json must satisfy the published schema.
#[track_caller]
pub fn assert_schema_valid(instance: &serde_json::Value) {
    let problems = schema_problems("schemas/summary.schema.json", instance);
    assert!(
        problems.is_empty(),
        "summary.json breaks the schema: {problems:?}\n{instance:#}"
    );
}

/// Where `instance` breaks the committed schema at `schema` (a path in the repository),
/// formats included (date-time: draft 2020-12 only annotates them by default).
pub fn schema_problems(schema: &str, instance: &serde_json::Value) -> Vec<String> {
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo_file(schema)).unwrap()).unwrap();
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the schema compiles");
    validator
        .iter_errors(instance)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

/// The first bytes of each accepted format, padded to a small file.
pub const JPEG: &[u8] = &[
    0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0x01, 0x01, 0x00, 0x00, 0x01,
    0xFF, 0xD9,
];
pub const PNG: &[u8] = &[
    0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1A, b'\n', 0, 0, 0, 13, b'I', b'H', b'D', b'R',
];
pub const PDF: &[u8] = b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n%%EOF\n";

/// The columns of a URL-document file, in the order [`url_row`] gives them.
pub const URL_HEADER: &str = "reference,first_name,last_name,email,country,street,city,state,\
postal_code,country_iso_code,country_phone_code,phone_number,identification_number,\
id_document_type,date_of_birth,id_document_front_url,id_document_back_url";

/// The columns of a file-document file, in the order [`file_row`] gives them.
pub const FILE_HEADER: &str = "reference,first_name,last_name,email,country,street,city,state,\
postal_code,country_iso_code,country_phone_code,phone_number,identification_number,\
id_document_type,date_of_birth,id_document_front,id_document_back";

/// A valid Cameroonian row with document URLs, distinct per `n`, as CSV cells.
pub fn url_row(n: u32) -> Vec<String> {
    let mut cells = person(n);
    cells.push(format!("https://cdn.example.com/kyc/{n}/front.jpg"));
    cells.push(format!("https://cdn.example.com/kyc/{n}/back.jpg"));
    cells
}

/// A valid Cameroonian NIN row with document files `front` and `back`, distinct per `n`.
pub fn file_row(n: u32, doc_type: &str, front: &str, back: &str) -> Vec<String> {
    let mut cells = person(n);
    cells[13] = doc_type.to_string();
    cells.push(front.to_string());
    cells.push(back.to_string());
    cells
}

fn person(n: u32) -> Vec<String> {
    [
        format!("R-{n}"),
        "Jean-Paul".to_string(),
        "Mbarga".to_string(),
        format!("person.{n}@example.cm"),
        "Cameroon".to_string(),
        "Rue 1.750 Bastos".to_string(),
        "Yaoundé".to_string(),
        "Centre".to_string(),
        "00237".to_string(),
        "CM".to_string(),
        "+237".to_string(),
        "677123456".to_string(),
        format!("CM-{n:09}"),
        "NIN".to_string(),
        "1985-09-30".to_string(),
    ]
    .into()
}

/// A CSV file from a header line and rows of cells, quoted where needed.
pub fn csv_text(header: &str, rows: &[Vec<String>]) -> Vec<u8> {
    let mut out = csv::WriterBuilder::new().from_writer(Vec::new());
    out.write_record(header.split(',')).unwrap();
    for r in rows {
        out.write_record(r).unwrap();
    }
    out.into_inner().unwrap()
}

/// A cell of a CSV the tool wrote, as a spreadsheet shows it: the `'` that keeps a formula
/// trigger (`=`, `+`, `-`, `@`, tab, CR) or a leading `'` from running is not part of it.
pub fn unguard(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r', '\'']) => rest,
        _ => cell,
    }
}

/// `row`'s cells, unguarded.
pub fn unguarded(row: &[String]) -> Vec<&str> {
    row.iter().map(|c| unguard(c)).collect()
}

/// Emails of the create requests (`POST /customers/enroll`) a mock server received, in order.
pub async fn emails_sent(server: &wiremock::MockServer) -> Vec<String> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path().ends_with("/customers/enroll"))
        .map(|r| {
            let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            v["email"].as_str().unwrap().to_string()
        })
        .collect()
}

/// `cartevo-enroll sandbox --port 0 ARGS...` in its own process, its stderr sent to
/// `stderr`, and the URL it prints on stdout's first line.
pub fn spawn_sandbox(args: &[&str], stderr: std::process::Stdio) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_cartevo-enroll"))
        .args(["sandbox", "--port", "0"])
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let url = first.trim().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    (child, url)
}
