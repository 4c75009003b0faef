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
    /// The last answer was final: refused, a transient failure (`Retryable`) that outlasted
    /// `max_attempts`, or one that stopped the command (`Fatal`).
    Failed {
        error: ApiError,
        attempts: u32,
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
                        maybe_sent,
                    };
                }
                _ => {
                    return Attempted::Failed {
                        error,
                        attempts,
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
            Some(StopReason::Signal(signal)) => format!(
                "run {} after {attempts} attempts; run again to resume",
                signal.describe()
            ),
            Some(StopReason::Fatal(why)) => {
                format!("run stopped ({why}) after {attempts} attempts; run again to resume")
            }
            None => format!("run stopped after {attempts} attempts; run again to resume"),
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
        // No answer behind it (a token file gone bad, a refused server certificate): the
        // message says what stopped the command on its own.
        ApiError::Fatal {
            status: None,
            message,
        } => message.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;
    use crate::executor::Rate;

    fn attempts(max: u32) -> Attempts {
        Attempts {
            pacer: Arc::new(Pacer::new(Rate::Unlimited)),
            stop: Stop::new(),
            stats: Arc::new(Stats::default()),
            max_attempts: max,
            backoff: Backoff {
                base: Duration::from_millis(100),
                cap: Duration::from_secs(1),
            },
        }
    }

    fn retryable(status: u16, retry_after: Option<u64>, maybe_sent: bool) -> ApiError {
        ApiError::Retryable {
            status: Some(status),
            message: "busy".into(),
            retry_after: retry_after.map(Duration::from_secs),
            maybe_sent,
        }
    }

    /// Answers in turn from a script.
    fn script(
        answers: Vec<Result<u32, ApiError>>,
    ) -> impl FnMut() -> std::future::Ready<Result<u32, ApiError>> {
        let answers = Mutex::new(answers.into_iter());
        move || std::future::ready(answers.lock().unwrap().next().expect("an answer left"))
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_retried_and_counted_until_success() {
        let a = attempts(5);
        let started = tokio::time::Instant::now();
        let got = a
            .call(script(vec![
                Err(retryable(503, None, true)),
                Err(retryable(429, Some(7), false)),
                Ok(42),
            ]))
            .await;
        assert!(
            matches!(
                got,
                Attempted::Done {
                    value: 42,
                    attempts: 3
                }
            ),
            "{got:?}"
        );
        let tally = a.stats.snapshot();
        assert_eq!((tally.sent, tally.retries, tally.http_429), (3, 2, 1));
        // The 429's Retry-After held the third attempt back at least that long.
        assert!(started.elapsed() >= Duration::from_secs(7));
    }

    #[tokio::test(start_paused = true)]
    async fn the_last_transient_failure_is_given_up_with_what_may_have_arrived() {
        let a = attempts(2);
        let got = a
            .call(script(vec![
                Err(retryable(502, None, true)),
                Err(retryable(429, None, false)),
            ]))
            .await;
        match got {
            Attempted::Failed {
                error: ApiError::Retryable { .. },
                attempts: 2,
                maybe_sent: true,
            } => {}
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_final_answer_is_not_retried_and_a_fatal_one_stops_everyone() {
        let a = attempts(5);
        let got = a
            .call(script(vec![Err(ApiError::Rejected {
                status: 400,
                message: "email must be an email".into(),
            })]))
            .await;
        assert!(
            matches!(got, Attempted::Failed { attempts: 1, .. }),
            "{got:?}"
        );
        assert!(!a.stop.is_stopped());

        let got = a
            .call(script(vec![Err(ApiError::Fatal {
                status: Some(403),
                message: "Forbidden".into(),
            })]))
            .await;
        assert!(
            matches!(got, Attempted::Failed { attempts: 1, .. }),
            "{got:?}"
        );
        assert_eq!(
            a.stop.reason(),
            Some(StopReason::Fatal(
                "the API refuses our requests: HTTP 403: Forbidden".into()
            ))
        );
        // Nothing more leaves once the command stopped.
        let got = a.call(script(vec![])).await;
        assert!(
            matches!(
                got,
                Attempted::Stopped {
                    attempts: 0,
                    last: None
                }
            ),
            "{got:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_while_waiting_to_retry_ends_the_wait() {
        let a = attempts(5);
        let stop = a.stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            stop.trigger(StopReason::Signal(crate::exit::Signal::Interrupt));
        });
        let got = a.call(script(vec![Err(retryable(503, None, true))])).await;
        match got {
            Attempted::Stopped {
                attempts: 1,
                last: Some(ApiError::Retryable { .. }),
            } => {}
            other => panic!("{other:?}"),
        }
        assert_eq!(
            a.stopped_message(1),
            "run interrupted after 1 attempts; run again to resume"
        );
    }
}
