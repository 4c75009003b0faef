//! cartevo-enroll: bulk enrollment of customers and their KYC identity documents into the
//! Cartevo card-issuing API, from partner CSV files.
//!
//! # Layout
//! One road, every import pointing down it:
//! - `main.rs` → [`cli`] (clap, with [`config_file`]'s defaults) → [`app`] (dispatch only) → `config` (checked, typed settings
//!   per command; no clap type past it) → `commands` (one file per command, each returning an
//!   [`exit::Exit`]).
//! - The stages, in the order data flows: `input` (CSV records, header mapping, a partner's
//!   profile) → `validate` (every rule, as the server's own library counts) → `plan`
//!   (duplicates in the file, what the journal knows) → `executor` (pacing, workers, the one
//!   attempt loop) → `api` (the Cartevo client) → `journal` (SQLite: one writer thread,
//!   read-only readers) → `report` (results.csv, rejects.csv, summary.json, report folders). Beside them: `reconcile`
//!   (reads back what runs created) and `sandbox` (the local API double).
//! - Leaves used by all: [`exit`], `status` (row statuses), `customer`, `text` (cleaning of
//!   cell values), `validatorjs` (the server's validation rules), `sqlite` (migrations),
//!   `files` (owner-only files and folders, written whole), `progress` (the bar and the
//!   heartbeat line), `metrics` (`--metrics-file`), [`logging`] and [`output`] (stderr's
//!   summaries and errors as text or JSON, `--quiet`, stdout's report folders).
//!
//! Only what `main` needs is public; `internals` serves the benchmarks and fuzz targets.

pub mod app;
pub mod cli;
pub mod config_file;
pub mod exit;
pub mod logging;
pub mod output;

pub(crate) mod api;
pub(crate) mod commands;
pub(crate) mod config;
pub(crate) mod customer;
pub(crate) mod executor;
pub(crate) mod files;
pub(crate) mod input;
pub(crate) mod journal;
pub(crate) mod metrics;
pub(crate) mod plan;
pub(crate) mod progress;
pub(crate) mod reconcile;
pub(crate) mod report;
pub(crate) mod sandbox;
pub(crate) mod sqlite;
pub(crate) mod status;
pub(crate) mod text;
pub(crate) mod validate;
pub(crate) mod validatorjs;

/// What the benchmarks (`examples/`) and the fuzz targets (`fuzz/`) drive directly: the
/// reader, the validator, the planner and `validate` on one file. Not an API.
#[doc(hidden)]
pub mod internals {
    pub use crate::commands::validate::validate_file;
    pub use crate::config::InputSettings;
    pub use crate::input::{ColumnMap, CsvInput, Field, Reading, Record, RowView, scan};
    pub use crate::plan::{Decision, Planner};
    pub use crate::validate::{Checked, Rules, Validator};
}
