//! The report folder: results.csv, rejects.csv and summary.json, one file per format.
//!
//! Writers receive rows in file order as they are decided (validate) or as they are read back
//! from the journal (run, report); none of them holds more than one row.
//!
//! Every file is written under a temporary name beside its place (0600, in a folder created
//! 0700: rejects.csv holds personal data) and renamed into place only when all of the report
//! is written and synced: a full disk leaves an error naming the file and no half-written
//! report (see [`crate::files`]).

mod dirs;
mod from_journal;
mod problems;
mod rejects;
mod results;
mod summary;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

pub use dirs::{REPORT_FILES, ReportDirs, per_file_dirs, refuse_overwriting_inputs, stamped};
pub use from_journal::from_journal;
pub use problems::CommonProblems;
pub use summary::{Figures, Rates, Summary, SummaryCommand, SummaryInput, stage_json, stamp};

use crate::files::{self, Ready, Staged};
use crate::status::{Counts, Status};
use problems::ProblemTally;

/// Problems of each list that summary.json names; the terminal names the first
/// [`ON_TERMINAL`] of them.
const IN_SUMMARY: usize = 5;
const ON_TERMINAL: usize = 3;

/// Everything the report says about one input row.
pub struct ReportRow<'a> {
    pub row: u64,
    pub reference: &'a str,
    pub status: Status,
    pub customer_id: Option<&'a str>,
    pub http_status: Option<u16>,
    pub attempts: u32,
    pub message: &'a str,
    pub warnings: &'a str,
    /// The row's fields exactly as read, for rejects.csv.
    pub record: &'a csv::StringRecord,
}

/// One output format.
trait Writer {
    fn row(&mut self, row: &ReportRow<'_>) -> Result<()>;
    /// Written whole and synced, ready to be put in place.
    fn finish(self: Box<Self>) -> Result<Ready>;
}

/// The whole report folder, fed row by row.
pub struct Report {
    dir: PathBuf,
    writers: Vec<Box<dyn Writer>>,
    counts: Counts,
    problems: ProblemTally,
}

impl Report {
    /// Creates the folder and opens every row-level file. `headers` is the input's header row
    /// as read.
    pub fn create(dir: &Path, headers: &csv::StringRecord) -> Result<Report> {
        files::create_dir_all(dir)
            .with_context(|| format!("could not create report folder '{}'", dir.display()))?;
        let writers: Vec<Box<dyn Writer>> = vec![
            Box::new(results::Results::create(&dir.join("results.csv"))?),
            Box::new(rejects::Rejects::create(&dir.join("rejects.csv"), headers)?),
        ];
        Ok(Report {
            dir: dir.to_path_buf(),
            writers,
            counts: Counts::default(),
            problems: ProblemTally::default(),
        })
    }

    /// Removes the row files written so far (never in place yet), and the folder if that
    /// leaves it empty.
    pub fn discard(self) {
        drop(self.writers);
        let _ = std::fs::remove_dir(&self.dir);
    }

    pub fn row(&mut self, row: &ReportRow<'_>) -> Result<()> {
        self.counts.add(row.status);
        self.problems.row(row.status, row.message, row.warnings);
        for w in &mut self.writers {
            w.row(row)?;
        }
        Ok(())
    }

    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    /// Writes out the row files and summary.json, `summary` with the commonest problems of
    /// the rows added, then puts them in place and gives that summary. On an error none is
    /// put in place, and the folder is removed if it is empty.
    pub fn finish(self, mut summary: Summary) -> Result<Summary> {
        let Report {
            dir,
            writers,
            problems,
            ..
        } = self;
        summary.problems = problems.common(IN_SUMMARY);
        let written = writers
            .into_iter()
            .map(|w| w.finish())
            .chain([summary::stage_json(&dir.join("summary.json"), &summary)])
            .collect::<Result<Vec<Ready>>>();
        match written {
            Ok(ready) => {
                ready.into_iter().try_for_each(Ready::put_in_place)?;
                Ok(summary)
            }
            Err(e) => {
                let _ = std::fs::remove_dir(&dir);
                Err(e)
            }
        }
    }
}

/// The per-file summary on stderr (the counts per status, the commonest problems, dates that
/// read two ways, and where the report is), and the report folder on stdout. In JSON the
/// summary is one "file finished" object with summary.json's figures and the folder.
pub fn announce(file: &Path, counts: &Counts, summary: &Summary, dir: &Path) {
    crate::output::Event::info("file finished")
        .field("file", file.display().to_string())
        .field("rows", counts.total())
        .summary(summary)
        .field("report", dir.display().to_string())
        .text(announcement(file, counts, summary, dir))
        .emit();
    crate::output::report_folder(dir);
}

/// What [`announce`] writes: plain lines, no colour and no layout that needs a terminal, so
/// that a cron log reads as well.
fn announcement(file: &Path, counts: &Counts, summary: &Summary, dir: &Path) -> String {
    use std::fmt::Write;
    let parts: Vec<String> = counts
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(s, n)| format!("{s} {n}"))
        .collect();
    let mut out = format!(
        "{}: {} rows{}{}\n",
        crate::text::printable(&file.display().to_string()),
        counts.total(),
        if parts.is_empty() { "" } else { ": " },
        parts.join(", ")
    );
    let lists = &summary.problems;
    for (what, list) in [
        ("invalid", &lists.invalid),
        ("rejected", &lists.rejected),
        ("warning", &lists.warnings),
    ] {
        for c in list.listed.iter().take(ON_TERMINAL) {
            // The API's reasons are text from the network: no escape reaches the terminal.
            let problem = crate::text::cut(crate::text::printable(&c.problem).into_owned(), 200);
            let _ = writeln!(out, "  {what}: {problem} ({})", rows(c.rows));
        }
        let more = list
            .listed
            .iter()
            .skip(ON_TERMINAL)
            .map(|c| c.rows)
            .sum::<u64>()
            + list.unlisted;
        if more > 0 {
            let _ = writeln!(
                out,
                "  {what}: other problems ({more} times): see results.csv"
            );
        }
    }
    if let Some(dates) = &summary.ambiguous_dates
        && dates.ambiguous > 0
        && let Some(other) = dates.swapped()
    {
        let _ = writeln!(
            out,
            "  date_of_birth: {} of {} dates could also be read as {other} (day and month both \
             12 or less): check the partner's format",
            dates.ambiguous, dates.read
        );
    }
    let _ = writeln!(
        out,
        "report: {}",
        crate::text::printable(&dir.display().to_string())
    );
    out
}

fn rows(n: u64) -> String {
    format!("{n} row{}", if n == 1 { "" } else { "s" })
}

/// A cell as a spreadsheet may open it without running it: a value that starts with `=`,
/// `+`, `-`, `@`, a tab or a carriage return (OWASP's CSV-injection triggers) gets a leading
/// `'`, which Excel, LibreOffice and Google Sheets show as nothing and which makes the cell
/// text (a dial code `+237` stays `+237`, not the number 237). A value that already starts
/// with `'` gets one too, so [`crate::input::unguard_cell`] gives back every value exactly.
pub(crate) fn guard_cell(value: &str) -> Guarded<'_> {
    Guarded(match value.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r' | b'\'') => format!("'{value}").into(),
        _ => value.into(),
    })
}

/// A cell [`guard_cell`] made safe, as the csv writer takes it.
pub(crate) struct Guarded<'a>(std::borrow::Cow<'a, str>);

impl AsRef<[u8]> for Guarded<'_> {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl std::ops::Deref for Guarded<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

pub(crate) fn csv_writer(path: &Path) -> Result<csv::Writer<Staged>> {
    Ok(csv::WriterBuilder::new().from_writer(Staged::create(path)?))
}

/// A writer of rows as long as each is: rejects.csv gives a record with more or fewer
/// fields than its header back as it was read.
pub(crate) fn flexible_csv_writer(path: &Path) -> Result<csv::Writer<Staged>> {
    Ok(csv::WriterBuilder::new()
        .flexible(true)
        .from_writer(Staged::create(path)?))
}

/// The error of a write to a report file, naming it.
pub(crate) fn could_not_write(out: &csv::Writer<Staged>) -> String {
    format!("could not write '{}'", out.get_ref().target().display())
}

/// Writes out a csv file: the csv buffer, then the file, synced.
pub(crate) fn finish_csv(out: csv::Writer<Staged>) -> Result<Ready> {
    let context = could_not_write(&out);
    let staged = out
        .into_inner()
        .map_err(|e| e.into_error())
        .context(context)?;
    staged.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(counts: Counts, rows: u64) -> Summary {
        let now = chrono::Utc::now();
        Summary::new(
            SummaryCommand::Validate,
            SummaryInput::new("in.csv", "ab", rows),
            counts,
            Figures::new(now, now, Default::default()),
        )
    }

    #[test]
    fn rows_reach_results_and_rejects_and_the_summary_counts_them() {
        let dir = tempfile::tempdir().unwrap();
        let headers = csv::StringRecord::from(vec!["first_name", "email", "notes"]);
        let mut report = Report::create(dir.path(), &headers).unwrap();
        let bad = csv::StringRecord::from(vec![" Al ", "x", "call back, \"soon\""]);
        let good = csv::StringRecord::from(vec!["Anna", "a@b.co", ""]);
        report
            .row(&ReportRow {
                row: 1,
                reference: "P-1",
                status: Status::Invalid,
                customer_id: None,
                http_status: None,
                attempts: 0,
                message: "first_name: must be at least 3 characters",
                warnings: "",
                record: &bad,
            })
            .unwrap();
        report
            .row(&ReportRow {
                row: 2,
                reference: "",
                status: Status::Created,
                customer_id: Some("c-1"),
                http_status: Some(201),
                attempts: 1,
                message: "",
                warnings: "country: does not match country_iso_code",
                record: &good,
            })
            .unwrap();
        let counts = *report.counts();
        let summary = summary(counts, 2);
        report.finish(summary).unwrap();

        let results = std::fs::read_to_string(dir.path().join("results.csv")).unwrap();
        assert_eq!(
            results,
            "row,reference,status,customer_id,http_status,attempts,message,warnings\n\
             1,P-1,invalid,,,0,first_name: must be at least 3 characters,\n\
             2,,created,c-1,201,1,,country: does not match country_iso_code\n"
        );
        let rejects = std::fs::read_to_string(dir.path().join("rejects.csv")).unwrap();
        assert_eq!(
            rejects,
            "first_name,email,notes,row,error\n\
             \x20Al ,x,\"call back, \"\"soon\"\"\",1,first_name: must be at least 3 characters\n"
        );
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("summary.json")).unwrap())
                .unwrap();
        assert_eq!(json["counts"]["invalid"], 1);
        assert_eq!(json["counts"]["created"], 1);
        assert_eq!(json["input"]["rows"], 2);
    }

    #[test]
    fn the_terminal_names_the_commonest_problems_and_ambiguous_dates() {
        let dir = tempfile::tempdir().unwrap();
        let headers = csv::StringRecord::from(vec!["date_of_birth"]);
        let mut report = Report::create(dir.path(), &headers).unwrap();
        let record = csv::StringRecord::from(vec!["x"]);
        let mut row = |n: u64, status, message: &str, warnings: &str| {
            report
                .row(&ReportRow {
                    row: n,
                    reference: "",
                    status,
                    customer_id: None,
                    http_status: None,
                    attempts: 0,
                    message,
                    warnings,
                    record: &record,
                })
                .unwrap()
        };
        let bad_date = "date_of_birth: not a date in the form YYYY-MM-DD: try --date-format \
                        DD/MM/YYYY";
        for n in 1..=4 {
            row(n, Status::Invalid, bad_date, "");
        }
        for (n, problem) in [
            "email: not a valid email address",
            "first_name: is required",
            "city: is required",
            "state: is required",
        ]
        .into_iter()
        .enumerate()
        {
            row(10 + n as u64, Status::Invalid, problem, "");
        }
        row(
            20,
            Status::Valid,
            "",
            "country: \x1b[31mred; phone_number: odd",
        );
        let counts = *report.counts();
        let dates = crate::plan::AmbiguousDates {
            format: Some(crate::validate::DateFormat::parse("DD/MM/YYYY").unwrap()),
            read: 5,
            ambiguous: 3,
        };
        let written = report.finish(summary(counts, 9).dates(dates)).unwrap();
        assert_eq!(
            announcement(Path::new("in.csv"), &counts, &written, Path::new("out")),
            "in.csv: 9 rows: invalid 8, valid 1\n\
             \x20 invalid: date_of_birth: not a date in the form YYYY-MM-DD: try --date-format \
             DD/MM/YYYY (4 rows)\n\
             \x20 invalid: email: not a valid email address (1 row)\n\
             \x20 invalid: first_name: is required (1 row)\n\
             \x20 invalid: other problems (2 times): see results.csv\n\
             \x20 warning: country: \\u{1b}[31mred (1 row)\n\
             \x20 warning: phone_number: odd (1 row)\n\
             \x20 date_of_birth: 3 of 5 dates could also be read as MM/DD/YYYY (day and month \
             both 12 or less): check the partner's format\n\
             report: out\n"
        );
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("summary.json")).unwrap())
                .unwrap();
        assert_eq!(json["ambiguous_dates"], 3);
        assert_eq!(json["problems"]["invalid"].as_array().unwrap().len(), 5);
        assert_eq!(
            json["problems"]["invalid"][0],
            serde_json::json!({"problem": bad_date, "rows": 4})
        );
        assert_eq!(json["problems"]["rejected"], serde_json::json!([]));

        // Nothing to say: the counts and the folder only; no dates, no key.
        let quiet = summary(counts, 9);
        assert_eq!(
            announcement(Path::new("in.csv"), &counts, &quiet, Path::new("out")),
            "in.csv: 9 rows: invalid 8, valid 1\nreport: out\n"
        );
        let json = serde_json::to_value(&quiet).unwrap();
        assert!(json.get("ambiguous_dates").is_none(), "{json}");
    }

    #[test]
    fn per_file_folders_never_share_a_name() {
        let base = Path::new("out");
        let dirs = per_file_dirs(base, &["a/x.csv", "b/x.csv", "x-2.csv", "c/x.csv"]);
        let names: Vec<_> = dirs.iter().map(|d| d.strip_prefix(base).unwrap()).collect();
        assert_eq!(names, ["x", "x-2", "x-2-2", "x-3"].map(Path::new).to_vec());
        assert_eq!(per_file_dirs(base, &["a/x.csv"]), vec![base.to_path_buf()]);
    }

    #[test]
    fn a_rejects_file_sent_back_keeps_one_row_and_one_error_column() {
        let dir = tempfile::tempdir().unwrap();
        let headers = csv::StringRecord::from(vec!["first_name", "Row", "error", "email"]);
        let mut report = Report::create(dir.path(), &headers).unwrap();
        let record = csv::StringRecord::from(vec!["Al", "7", "old error", "x"]);
        report
            .row(&ReportRow {
                row: 1,
                reference: "",
                status: Status::Invalid,
                customer_id: None,
                http_status: None,
                attempts: 0,
                message: "email: not a valid email address",
                warnings: "",
                record: &record,
            })
            .unwrap();
        let counts = *report.counts();
        let summary = summary(counts, 1);
        report.finish(summary).unwrap();
        let rejects = std::fs::read_to_string(dir.path().join("rejects.csv")).unwrap();
        assert_eq!(
            rejects,
            "first_name,Row,error,email
Al,1,email: not a valid email address,x
"
        );
    }
}

#[cfg(test)]
mod guard_tests {
    use proptest::prelude::*;

    use super::guard_cell;
    use crate::input::unguard_cell;

    #[test]
    fn formula_triggers_become_text() {
        for (value, written) in [
            (
                "=HYPERLINK(\"http://x\",\"y\")",
                "'=HYPERLINK(\"http://x\",\"y\")",
            ),
            ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("-2+3", "'-2+3"),
            ("\t=1", "'\t=1"),
            ("+237", "'+237"),
            ("'quoted", "''quoted"),
            ("Ann", "Ann"),
            ("", ""),
        ] {
            assert_eq!(&*guard_cell(value), written, "{value:?}");
            assert_eq!(unguard_cell(written), value, "{written:?}");
        }
    }

    proptest! {
        /// Whatever a cell held, the file we wrote reads back as it.
        #[test]
        fn guarded_cells_read_back_as_written(value in any::<String>()) {
            let written = guard_cell(&value);
            prop_assert_eq!(unguard_cell(&written), value.as_str());
        }
    }
}
