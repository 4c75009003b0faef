//! `validate FILE...`: one pass per file, each row decided and reported as it is read;
//! nothing is sent.

use std::path::Path;

use anyhow::Result;
use chrono::Utc;

use crate::config::{InputSettings, ValidateSettings};
use crate::exit::Exit;
use crate::input::{CsvInput, Field};
use crate::plan::{Decision, Planner};
use crate::report::{
    Figures, REPORT_FILES, Report, ReportDirs, ReportRow, Summary, SummaryCommand, SummaryInput,
};
use crate::status::Status;
use crate::validate::Validator;

pub fn validate(mut settings: ValidateSettings) -> Result<Exit> {
    super::exit_on_signals();
    let _stdin = super::spool_streams(&mut settings.files)?;
    if let Some(given) = &settings.input.report_dir {
        let dirs = crate::report::per_file_dirs(given, &settings.files);
        crate::report::refuse_overwriting_inputs(&settings.files, &dirs, &REPORT_FILES)?;
    }
    let mut exit = Exit::Done;
    let mut dirs = ReportDirs::new(settings.input.report_dir.as_deref(), &settings.files);
    for file in &settings.files {
        let dir = dirs.next(file);
        let outcome = validate_file(&settings.input, file, &dir).unwrap_or_else(|e| {
            crate::output::error(&e);
            Exit::Fatal
        });
        exit = exit.max(outcome);
    }
    Ok(exit)
}

/// One file: read, validate, dedupe and report each row as it comes.
pub fn validate_file(input: &InputSettings, file: &Path, dir: &Path) -> Result<Exit> {
    let started = Utc::now();
    let mut csv = CsvInput::open(file, &input.reading)?;
    csv.warn_unknown();
    let validator = Validator::new(input.rules(file))?;
    let mut planner = Planner::new(validator, None);
    let mut report = Report::create(dir, &csv.headers)?;
    let decided = planner.decide_all(&mut csv, |view, row, decision| {
        let (status, message, warnings) = match decision {
            Decision::Local {
                status,
                message,
                warnings,
                ..
            } => (status, message, warnings),
            Decision::Send(job) => (Status::Valid, String::new(), job.warnings),
            Decision::Done => unreachable!("validate has no journal"),
        };
        report.row(&ReportRow {
            row,
            reference: &view.get(Field::Reference),
            status,
            customer_id: None,
            http_status: None,
            attempts: 0,
            message: &message,
            warnings: &warnings,
            record: view.record,
        })?;
        Ok(true)
    });
    if let Err(e) = decided {
        // A file that breaks part way has no report: half a results.csv would read as a
        // complete one.
        report.discard();
        return Err(e);
    }
    let rows = csv.rows();
    if rows == 0 {
        tracing::warn!("{}: the file has a header and no rows", csv.path());
    }
    let path = csv.path().to_string();
    let sha = csv.sha256()?;
    let counts = *report.counts();
    let summary = Summary::new(
        SummaryCommand::Validate,
        SummaryInput::new(&path, &sha, rows),
        counts,
        Figures::new(started, Utc::now(), Default::default()),
    )
    .dates(planner.dates());
    let summary = report.finish(summary)?;
    crate::report::announce(file, &counts, &summary, dir);
    Ok(summary.exit())
}
