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

pub mod api;
pub mod app;
pub mod cli;
pub mod config;
pub mod customer;
pub mod demo;
pub mod executor;
pub mod input;
pub mod journal;
pub mod logging;
pub mod plan;
pub mod reconcile;
pub mod report;
pub mod run;
pub mod sandbox;
pub mod status;
pub(crate) mod text;
pub mod validate;
pub(crate) mod validatorjs;
