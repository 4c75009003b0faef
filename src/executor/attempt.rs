//! The one attempt loop: every request of `run` and `reconcile` goes through [`Attempts::call`].
//!
//! The policy lives here: a turn from the pacer before every attempt, the counts for
//! summary.json, a `Retry-After` turned into a pause of every worker, full-jitter backoff
//! after a transient failure, giving up after `max_attempts`, and a stop of the whole command
//! on an answer that says our requests will never be accepted. What an answer *means* (a
//! created customer, a duplicate, a transient failure) is each endpoint's classification,
//! done by the API client into [`ApiError`]; callers turn the [`Attempted`] they get back into
//! their own outcome. As vector's `sinks/util/retries.rs` keeps one retry policy for many
//! sinks' classifiers; unlike it, this loop honours Retry-After.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{Backoff, Pacer, Stats, Stop, StopReason};
use crate::api::ApiError;

/// What every attempt needs; shared by all the requests of one command.
#[derive(Clone)]
pub struct Attempts {
    pub pacer: Arc<Pacer>,
    pub stop: Stop,
    pub stats: Arc<Stats>,
    pub max_attempts: u32,
    pub backoff: Backoff,
}

/// How a request ended after its attempts.
#[derive(Debug)]
pub enum Attempted<T> {
    Done {
        value: T,
        attempts: u32,
    },
    /// The last answer was final: refused, or a transient failure that outlasted
    /// `max_attempts` (then `gave_up`), or one that stopped the command (`Fatal`).
    Failed {
        error: ApiError,
        attempts: u32,
        gave_up: bool,
        /// Some attempt may have reached the server without its answer reaching us.
        maybe_sent: bool,
    },
    /// The command stopped first: before the first attempt (`attempts == 0`: never sent), or
    /// while waiting to retry after `last`.
    Stopped {
        attempts: u32,
        last: Option<ApiError>,
    },
}

impl Attempts {
    /// Runs `op` until it succeeds, fails for good, or the command stops.
    pub async fn call<T, F, Fut>(&self, mut op: F) -> Attempted<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let mut attempts = 0u32;
        let mut maybe_sent = false;
        loop {
            if !self.pacer.ready(self.stop.token()).await {
                return Attempted::Stopped {
                    attempts,
                    last: None,
                };
            }
            attempts += 1;
            self.stats.sent.fetch_add(1, Ordering::Relaxed);
            if attempts > 1 {
                self.stats.retries.fetch_add(1, Ordering::Relaxed);
            }
            let error = match op().await {
                Ok(value) => return Attempted::Done { value, attempts },
                Err(e) => e,
            };
            let (status, retry_after) = match &error {
                ApiError::Retryable {
                    status,
                    retry_after,
                    maybe_sent: sent,
                    ..
                } => {
                    maybe_sent |= sent;
                    (*status, *retry_after)
                }
                ApiError::Fatal { .. } => {
                    self.stop.trigger(StopReason::Fatal(refusal(&error)));
                    return Attempted::Failed {
                        error,
                        attempts,
                        gave_up: false,
                        maybe_sent,
                    };
                }
                _ => {
                    return Attempted::Failed {
                        error,
                        attempts,
                        gave_up: false,
                        maybe_sent,
                    };
                }
            };
            if status == Some(429) {
                self.stats.http_429.fetch_add(1, Ordering::Relaxed);
            }
            if let Some(wait) = retry_after {
                // Every worker shares the limit the server reports: they all wait.
                self.pacer.pause_for(wait);
            }
            if attempts >= self.max_attempts.max(1) {
                return Attempted::Failed {
                    error,
                    attempts,
                    gave_up: true,
                    maybe_sent,
                };
            }
            if retry_after.is_none() {
                tokio::select! {
                    _ = tokio::time::sleep(self.backoff.delay(attempts)) => {}
                    _ = self.stop.token().cancelled() => {
                        return Attempted::Stopped { attempts, last: Some(error) };
                    }
                }
            }
        }
    }

    /// "run interrupted after N attempts; run again to resume", or the fatal reason.
    pub fn stopped_message(&self, attempts: u32) -> String {
        match self.stop.reason() {
            Some(StopReason::Fatal(why)) => {
                format!("run stopped ({why}) after {attempts} attempts; run again to resume")
            }
            _ => format!("run interrupted after {attempts} attempts; run again to resume"),
        }
    }
}

/// The reason a fatal answer stops the command, as the operator reads it.
fn refusal(error: &ApiError) -> String {
    match error {
        ApiError::Fatal {
            status: Some(code),
            message,
        } => format!("the API refuses our requests: HTTP {code}: {message}"),
        ApiError::Fatal {
            status: None,
            message,
        } => format!("the API refuses our requests: {message}"),
        other => other.to_string(),
    }
}
