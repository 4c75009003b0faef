//! cartevo-enroll: bulk enrollment of customers and their KYC identity documents into the
//! Cartevo card-issuing API, from partner CSV files.
//!
//! # Layout
//! Data flows through the modules in this order:
//! - [`input`]: CSV records and the header mapping.
//! - [`validate`]: every documented constraint and the 18+ check, into a [`customer::Customer`].
//! - [`plan`]: duplicates inside a file and what the journal knows: which rows are sent.
//! - [`executor`]: pacing, a bounded number of requests in flight, retries, shutdown.
//! - [`api`]: the Cartevo client: requests, answers, error classes, tokens.
//! - [`journal`]: SQLite, owned by one writer thread: outcomes, resume, customer index.
//! - [`report`]: results.csv, rejects.csv and summary.json.
//! - [`reconcile`]: reads back what runs created and compares it with the partner's rows.
//!
//! Around them: [`cli`] (flags), [`config`] (the checked settings built from them), [`app`]
//! (the commands), [`run`] (`run` on one file: the stages wired together), [`sandbox`] (a
//! local API double), [`status`] (the contract's row statuses), [`logging`].

pub mod app;
pub mod cli;
pub mod exit;
pub mod logging;

pub(crate) mod api;
pub(crate) mod commands;
pub(crate) mod config;
pub(crate) mod customer;
pub(crate) mod executor;
pub(crate) mod input;
pub(crate) mod journal;
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
    pub use crate::input::{ColumnMap, CsvInput, Field, RowView, scan};
    pub use crate::plan::{Decision, Planner};
    pub use crate::validate::{Checked, Rules, Validator};
}
