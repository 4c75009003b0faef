//! The one attempt loop: every request of `run` and `reconcile` goes through [`Attempts::call`].
//!
//! The policy lives here: a turn from the pacer before every attempt, the counts for
//! summary.json, a `Retry-After` turned into a pause of every worker, full-jitter backoff
//! after a transient failure, giving up after `max_attempts`, and a stop of the whole command
//! on an answer that says our requests will never be accepted, or when the API stays
//! unreachable (see [`Unanswered`]). What an answer *means* (a
//! created customer, a duplicate, a transient failure) is each endpoint's classification,
//! done by the API client into [`ApiError`]; callers turn the [`Attempted`] they get back into
//! their own outcome. As vector's `sinks/util/retries.rs` keeps one retry policy for many
//! sinks' classifiers; unlike it, this loop honours Retry-After.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::limits::{Change, Limits, Slot};
use super::{Backoff, Pacer, Stats, Stop, StopReason};
use crate::api::ApiError;

/// Attempts in a row without a connection that stop the command.
const UNREACHABLE_ATTEMPTS: u32 = 10;
/// How long attempts in a row (two at least) may go without a connection before the command
/// stops: with slow connect timeouts, ten attempts would take too long to add up.
const UNREACHABLE_FOR: Duration = Duration::from_secs(30);

/// What every attempt needs; shared by all the requests of one command.
#[derive(Clone)]
pub struct Attempts {
    pub pacer: Arc<Pacer>,
    /// `--rate auto`, `--concurrency auto` and the answer time: told about every answer.
    pub limits: Arc<Limits>,
    pub stop: Stop,
    pub stats: Arc<Stats>,
    pub max_attempts: u32,
    pub backoff: Backoff,
    /// The attempts in a row that reached no one, across every worker of the command.
    pub unanswered: Arc<Unanswered>,
}

/// The attempts in a row, across all workers, that could not connect to the API (refused,
/// DNS, connect timeout): when the API stays unreachable for [`UNREACHABLE_ATTEMPTS`] of them
/// or [`UNREACHABLE_FOR`], rows would only churn through their attempts at the paced rate for
/// hours, so the command stops instead. Any attempt that reached the API, answered or not, and
/// whatever the answer (a 5xx too), ends the run of them.
///
/// Atomics, not a lock: every attempt of every worker thread touches this, and it needs no
/// consistency between the two fields beyond what the stop decision tolerates. A reset racing
/// with a failure may leave the count at one and the start unset, or the reverse; either only
/// delays the stop by an attempt or so.
#[derive(Debug)]
pub struct Unanswered {
    /// Attempts in a row without a connection; any attempt that connected sets it to zero.
    count: AtomicU32,
    /// When the first of them started: milliseconds since `origin`, plus one; zero when there
    /// are none.
    since: AtomicU64,
    origin: Instant,
}

impl Default for Unanswered {
    fn default() -> Unanswered {
        Unanswered {
            count: AtomicU32::new(0),
            since: AtomicU64::new(0),
            origin: Instant::now(),
        }
    }
}

impl Unanswered {
    /// An attempt that started at `started` could not connect: whether the API has now been
    /// unreachable long enough to stop.
    fn failed(&self, started: Instant) -> bool {
        let count = self.count.fetch_add(1, Ordering::AcqRel) + 1;
        let mark = started.duration_since(self.origin).as_millis() as u64 + 1;
        // The first failure of a run of them marks its start; later ones keep it.
        let since = match self
            .since
            .compare_exchange(0, mark, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => mark,
            Err(earlier) => earlier,
        };
        let lasted = self
            .origin
            .elapsed()
            .saturating_sub(Duration::from_millis(since - 1));
        count >= UNREACHABLE_ATTEMPTS || (count >= 2 && lasted >= UNREACHABLE_FOR)
    }

    /// An attempt reached the API.
    fn reached(&self) {
        // Read first: every answered attempt of every worker passes here, and a store would
        // take the shared cache line each time.
        if self.count.load(Ordering::Acquire) != 0 {
            self.count.store(0, Ordering::Release);
        }
        if self.since.load(Ordering::Acquire) != 0 {
            self.since.store(0, Ordering::Release);
        }
    }
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
    /// The command stopped first: before the first attempt (`attempts == 0`: never sent),
    /// while waiting to retry after `last`, or because `last` found the API unreachable once
    /// too often.
    Stopped {
        attempts: u32,
        last: Option<ApiError>,
    },
}

impl Attempts {
    /// Runs `op` until it succeeds, fails for good, or the command stops.
    pub async fn call<T, F, Fut>(&self, op: F) -> Attempted<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        self.call_scrubbed(op, &|m| m.to_owned()).await
    }

    /// [`Attempts::call`] for a request carrying a row's personal values: `scrub` takes them
    /// out of an answer that stops the whole command before it becomes the reason shown.
    pub async fn call_scrubbed<T, F, Fut>(
        &self,
        mut op: F,
        scrub: &(dyn Fn(&str) -> String + Sync),
    ) -> Attempted<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let mut attempts = 0u32;
        let mut maybe_sent = false;
        loop {
            // With `--concurrency auto`, a place among the requests in flight first, then the
            // turn: a turn is never taken only to wait for a place.
            let mut slot = match self.limits.gate() {
                None => None,
                Some(gate) => match gate.enter(self.stop.token()).await {
                    Some(slot) => Some(slot),
                    None => {
                        return Attempted::Stopped {
                            attempts,
                            last: None,
                        };
                    }
                },
            };
            if !self.pacer.ready(self.stop.token()).await {
                return Attempted::Stopped {
                    attempts,
                    last: None,
                };
            }
            let in_flight = slot.as_mut().map(Slot::send);
            attempts += 1;
            self.stats.sent.fetch_add(1, Ordering::Relaxed);
            if attempts > 1 {
                self.stats.retries.fetch_add(1, Ordering::Relaxed);
            }
            let started = Instant::now();
            let answer = op().await;
            self.limit(&answer, started, in_flight);
            drop(slot);
            let error = match answer {
                Ok(value) => {
                    self.unanswered.reached();
                    return Attempted::Done { value, attempts };
                }
                Err(e) => e,
            };
            match &error {
                ApiError::Unreachable { message } => {
                    if self.unanswered.failed(started) {
                        self.stop.trigger(StopReason::Unreachable(format!(
                            "the API is unreachable: {message}"
                        )));
                        return Attempted::Stopped {
                            attempts,
                            last: Some(error),
                        };
                    }
                }
                // Built from local data, nothing sent: it says nothing about the API.
                ApiError::Local { .. } | ApiError::Refused { .. } => {}
                _ => self.unanswered.reached(),
            }
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
                ApiError::Unreachable { .. } => (None, None),
                ApiError::Fatal { .. } => {
                    // The reason reaches summary.json, stderr and every row still in flight:
                    // without this row's own values, and never at any length.
                    // (One of ours, with no answer behind it, such as a refused certificate and
                    // its hint, is kept whole.)
                    let reason = if error.http_status().is_some() {
                        crate::text::cut(scrub(&refusal(&error)), 440)
                    } else {
                        refusal(&error)
                    };
                    self.stop.trigger(StopReason::Fatal(reason));
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

    /// Tells the limits how an attempt sent at `sent` ended: a 429 or 503 says a limit was
    /// reached; any other answer from the API that one came back (and how long it took); no
    /// answer (a timeout, a refused connection) or nothing sent says nothing about limits.
    fn limit<T>(&self, answer: &Result<T, ApiError>, sent: Instant, in_flight: Option<usize>) {
        let now = Instant::now();
        let change = match answer {
            Ok(_) => self.limits.answered(sent, now, in_flight),
            Err(ApiError::Retryable {
                status: Some(429 | 503),
                ..
            }) => self.limits.throttled(sent, now, in_flight),
            Err(e) if e.http_status().is_some() => self.limits.answered(sent, now, in_flight),
            Err(_) => return,
        };
        self.follow(change);
    }

    /// Paces at the rate the limits give.
    fn follow(&self, change: Change) {
        if let Some(rate) = change.rate {
            self.pacer.set_rate(rate);
            self.stats.set_rate(Some(rate));
        }
        if let Some(learned) = change.learned {
            self.stats.set_learned(learned);
        }
    }

    /// "run interrupted after N attempts; run again to resume", or why the run stopped.
    pub fn stopped_message(&self, attempts: u32) -> String {
        match self.stop.reason() {
            Some(StopReason::Signal(signal)) => format!(
                "run {} after {attempts} attempts; run again to resume",
                signal.describe()
            ),
            // The row's own message is already the last error: not twice.
            Some(StopReason::Unreachable(_)) => format!(
                "run stopped after {attempts} attempts: the API is unreachable; run again to \
                 resume"
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

    use super::*;
    use crate::executor::Rate;

    fn attempts(max: u32) -> Attempts {
        Attempts {
            pacer: Arc::new(Pacer::new(Rate::Unlimited)),
            limits: Arc::new(Limits::new(None, None, 1, false)),
            stop: Stop::new(),
            stats: Arc::new(Stats::default()),
            max_attempts: max,
            backoff: Backoff {
                base: Duration::from_millis(100),
                cap: Duration::from_secs(1),
            },
            unanswered: Arc::default(),
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

    fn unreachable() -> ApiError {
        ApiError::Unreachable {
            message: "could not connect (not sent): Connection refused".into(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn ten_attempts_in_a_row_without_a_connection_stop_the_command() {
        let a = attempts(5);
        // The first row gives up after its five, as any transient failure does.
        let got = a.call(script(vec![Err(unreachable()); 5])).await;
        assert!(
            matches!(
                got,
                Attempted::Failed {
                    error: ApiError::Unreachable { .. },
                    attempts: 5,
                    maybe_sent: false
                }
            ),
            "{got:?}"
        );
        assert!(!a.stop.is_stopped());
        // The next row's five make ten in a row: everyone stops.
        let got = a.call(script(vec![Err(unreachable()); 5])).await;
        assert!(
            matches!(
                got,
                Attempted::Stopped {
                    attempts: 5,
                    last: Some(ApiError::Unreachable { .. })
                }
            ),
            "{got:?}"
        );
        let why = "the API is unreachable: could not connect (not sent): Connection refused";
        assert_eq!(a.stop.reason(), Some(StopReason::Unreachable(why.into())));
        assert_eq!(
            a.stopped_message(5),
            "run stopped after 5 attempts: the API is unreachable; run again to resume"
        );
        assert!(matches!(
            a.call(script(vec![])).await,
            Attempted::Stopped { attempts: 0, .. }
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn any_answer_ends_a_run_of_attempts_without_a_connection() {
        let a = attempts(20);
        // Nine, an answer (a 503 is one), nine, a success, nine: never ten in a row.
        let mut answers = vec![Err(unreachable()); 9];
        answers.push(Err(retryable(503, None, true)));
        answers.extend(vec![Err(unreachable()); 9]);
        answers.push(Ok(1));
        let got = a.call(script(answers)).await;
        assert!(
            matches!(got, Attempted::Done { attempts: 20, .. }),
            "{got:?}"
        );
        let mut answers = vec![Err(unreachable()); 9];
        answers.push(Ok(2));
        let got = a.call(script(answers)).await;
        assert!(
            matches!(got, Attempted::Done { attempts: 10, .. }),
            "{got:?}"
        );
        assert!(!a.stop.is_stopped());
    }

    /// Connects that each time out after 20 s: the second ends 40 s after the first began,
    /// past the thirty seconds. One such attempt alone does not stop anything.
    #[tokio::test(start_paused = true)]
    async fn thirty_seconds_without_a_connection_stop_the_command() {
        let slow = || async {
            tokio::time::sleep(Duration::from_secs(20)).await;
            Err::<u32, _>(unreachable())
        };
        let a = attempts(1);
        let got = a.call(slow).await;
        assert!(
            matches!(got, Attempted::Failed { attempts: 1, .. }),
            "{got:?}"
        );
        assert!(!a.stop.is_stopped());

        let a = attempts(5);
        let started = Instant::now();
        let got = a.call(slow).await;
        assert!(
            matches!(got, Attempted::Stopped { attempts: 2, .. }),
            "{got:?}"
        );
        assert!(matches!(a.stop.reason(), Some(StopReason::Unreachable(_))));
        assert!(started.elapsed() < Duration::from_secs(45));
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
