//! summary.json: the file's identity, counts per status, timing, request figures and the exit
//! code. Its shape is pinned by schemas/summary.schema.json.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::status::{Counts, Status};

#[derive(Debug, Clone, Serialize)]
pub struct SummaryInput {
    pub path: String,
    pub sha256: String,
    pub rows: u64,
}

impl SummaryInput {
    pub fn new(path: &str, sha256: &str, rows: u64) -> Self {
        SummaryInput {
            path: path.to_string(),
            sha256: sha256.to_string(),
            rows,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub command: String,
    pub input: SummaryInput,
    /// Every status of the contract, zeros included, so a script never meets a missing key.
    pub counts: BTreeMap<&'static str, u64>,
    pub started_at: String,
    pub ended_at: String,
    pub elapsed_seconds: f64,
    pub requests_sent: u64,
    pub retries: u64,
    pub http_429_seen: u64,
    pub exit_code: i32,
    /// Why the run stopped early, when it did (credentials refused, interrupted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

impl Summary {
    pub fn new(command: &str, input: SummaryInput, counts: Counts) -> Summary {
        let now = stamp(Utc::now());
        Summary {
            command: command.to_string(),
            input,
            counts: Status::ALL
                .into_iter()
                .map(|s| (s.as_str(), counts.get(s)))
                .collect(),
            started_at: now.clone(),
            ended_at: now,
            elapsed_seconds: 0.0,
            requests_sent: 0,
            retries: 0,
            http_429_seen: 0,
            exit_code: counts.exit_code(command == "validate"),
            stopped: None,
        }
    }

    pub fn timed(mut self, started: DateTime<Utc>, ended: DateTime<Utc>) -> Summary {
        self.started_at = stamp(started);
        self.ended_at = stamp(ended);
        self.elapsed_seconds = (ended - started).num_milliseconds() as f64 / 1000.0;
        self
    }
}

pub fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub(super) fn write(path: &Path, summary: &Summary) -> Result<()> {
    let mut text = serde_json::to_string_pretty(summary)?;
    text.push('\n');
    std::fs::write(path, text).with_context(|| format!("could not write '{}'", path.display()))
}
