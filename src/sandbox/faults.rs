//! Rehearsal knobs: latency, injected failures of create requests, and a server-wide rate
//! limit. All off by default.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rand::RngExt;

use super::routes::ApiError;

/// How an injected failure of a create request shows itself to the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Store the customer, then answer 500: the client's retry will see 409.
    StoreThen500,
    /// Drop the connection before storing anything.
    Drop,
    /// Answer 503 before storing anything.
    Unavailable,
    /// Store the customer, then drop the connection: the worst case for a client.
    StoreThenDrop,
}

impl Failure {
    /// Failures cycle through every kind in this order, so any four consecutive injected
    /// failures show all four (tests rely on it; rehearsals get a fair mix).
    const CYCLE: [Failure; 4] = [
        Failure::StoreThen500,
        Failure::Drop,
        Failure::Unavailable,
        Failure::StoreThenDrop,
    ];

    /// True when the customer is stored before the failure.
    pub(crate) fn after_store(self) -> bool {
        matches!(self, Failure::StoreThen500 | Failure::StoreThenDrop)
    }

    /// The failing answer.
    pub(crate) fn response(self) -> Response {
        match self {
            Failure::StoreThen500 => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
                    .into_response()
            }
            Failure::Unavailable => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Service temporarily unavailable",
            )
            .into_response(),
            Failure::Drop | Failure::StoreThenDrop => dropped_connection(),
        }
    }
}

/// A response whose body fails on its first poll. hyper then closes the connection before it
/// has flushed the status line, so the client sees the connection closed with no answer
/// ("connection closed before message completed"), exactly like a crashed upstream.
fn dropped_connection() -> Response {
    let stream = futures_util::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "sandbox: injected dropped connection",
        ))
    });
    let mut response = Response::new(Body::from_stream(stream));
    // If the head ever did get out, it must not look like a success.
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
}

pub(crate) struct Faults {
    latency: Duration,
    jitter: Duration,
    fail_rate: f64,
    /// Counts injected failures; picks the next kind from `Failure::CYCLE`.
    failures: AtomicU64,
    /// The server-wide rate limit, shared by every connection.
    limiter: Option<Limiter>,
    /// The server-wide limit of requests handled at once.
    in_flight: Option<InFlight>,
}

/// At most `per_second` requests admitted in any one second (a sliding window of the
/// admissions' times), as a real API's limit counts them. A lock and at most `per_second`
/// instants: the sandbox answers a few thousand requests a second at most. With a schedule,
/// the limit of the moment applies (the window keeps what it admitted under the last one).
struct Limiter {
    schedule: Schedule,
    started: std::time::Instant,
    admitted: std::sync::Mutex<std::collections::VecDeque<std::time::Instant>>,
}

impl Limiter {
    fn admit(&self) -> bool {
        let now = std::time::Instant::now();
        let per_second = self.schedule.at(now.duration_since(self.started)) as usize;
        let mut admitted = self
            .admitted
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        while admitted
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            admitted.pop_front();
        }
        if admitted.len() >= per_second {
            return false;
        }
        admitted.push_back(now);
        true
    }
}

/// A rate limit that changes over time: from each step's time since the sandbox started, its
/// limit per second (`--rate-limit-schedule "0:80,20:30,40:80"`).
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule(Vec<(Duration, u32)>);

impl Schedule {
    /// The same limit all the time.
    pub fn fixed(per_second: u32) -> Schedule {
        Schedule(vec![(Duration::ZERO, per_second)])
    }

    /// "SECONDS:LIMIT,...", times rising from 0, every limit at least 1.
    pub fn parse(s: &str) -> Result<Schedule, String> {
        let mut steps = Vec::new();
        for step in s.split(',') {
            let (at, limit) = step
                .trim()
                .split_once(':')
                .ok_or_else(|| format!("'{step}' is not SECONDS:LIMIT"))?;
            let at: f64 = at
                .trim()
                .parse()
                .ok()
                .filter(|a: &f64| a.is_finite() && *a >= 0.0 && *a < 1e9)
                .ok_or_else(|| format!("'{at}' is not a number of seconds"))?;
            let limit: u32 = limit
                .trim()
                .parse()
                .ok()
                .filter(|l| *l >= 1)
                .ok_or_else(|| format!("'{limit}' is not a limit of at least 1 per second"))?;
            let at = Duration::from_secs_f64(at);
            if steps.last().is_some_and(|(prev, _)| *prev >= at) {
                return Err("the schedule's times must rise".into());
            }
            steps.push((at, limit));
        }
        if steps.first().is_none_or(|(at, _)| !at.is_zero()) {
            return Err("the schedule must start at 0".into());
        }
        Ok(Schedule(steps))
    }

    /// The limit `since` the start.
    pub fn at(&self, since: Duration) -> u32 {
        self.0
            .iter()
            .take_while(|(at, _)| *at <= since)
            .last()
            .map_or(self.0[0].1, |(_, limit)| *limit)
    }
}

/// Requests being handled at once; beyond `most`, refused.
struct InFlight {
    most: usize,
    now: std::sync::Arc<AtomicUsize>,
}

/// A request counted in flight until dropped.
pub(crate) struct Handling(Option<std::sync::Arc<AtomicUsize>>);

impl Drop for Handling {
    fn drop(&mut self) {
        if let Some(n) = &self.0 {
            n.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Faults {
    pub(crate) fn new(
        latency: Duration,
        jitter: Duration,
        fail_rate: f64,
        rate_limit: Option<Schedule>,
        max_in_flight: Option<u32>,
    ) -> anyhow::Result<Faults> {
        anyhow::ensure!(
            (0.0..=1.0).contains(&fail_rate),
            "fail rate must be between 0.0 and 1.0, got {fail_rate}"
        );
        let limiter = match rate_limit {
            None => None,
            Some(schedule) => {
                anyhow::ensure!(
                    schedule.0.iter().all(|(_, n)| *n >= 1),
                    "rate limit must be at least 1 per second"
                );
                Some(Limiter {
                    schedule,
                    started: std::time::Instant::now(),
                    admitted: Default::default(),
                })
            }
        };
        let in_flight = match max_in_flight {
            None => None,
            Some(n) => {
                anyhow::ensure!(n >= 1, "--max-in-flight must be at least 1");
                Some(InFlight {
                    most: n as usize,
                    now: Default::default(),
                })
            }
        };
        Ok(Faults {
            latency,
            jitter,
            fail_rate,
            failures: AtomicU64::new(0),
            limiter,
            in_flight,
        })
    }

    /// How long to hold this request: the fixed latency plus a uniform share of the jitter.
    pub(crate) fn delay(&self) -> Duration {
        if self.jitter.is_zero() {
            return self.latency;
        }
        let extra = rand::rng().random_range(0..=self.jitter.as_nanos() as u64);
        self.latency + Duration::from_nanos(extra)
    }

    /// `None` when the request is over the limit of requests in flight or the rate limit;
    /// otherwise the request counted in flight until the guard is dropped. (One refused for
    /// being too many in flight is not counted against the rate.)
    pub(crate) fn admit(&self) -> Option<Handling> {
        let handling = match &self.in_flight {
            None => Handling(None),
            Some(limit) => {
                if limit.now.fetch_add(1, Ordering::AcqRel) >= limit.most {
                    limit.now.fetch_sub(1, Ordering::AcqRel);
                    return None;
                }
                Handling(Some(limit.now.clone()))
            }
        };
        self.limiter
            .as_ref()
            .is_none_or(Limiter::admit)
            .then_some(handling)
    }

    /// Whether this create request fails, and how.
    pub(crate) fn roll(&self) -> Option<Failure> {
        if self.fail_rate <= 0.0 || rand::rng().random::<f64>() >= self.fail_rate {
            return None;
        }
        let n = self.failures.fetch_add(1, Ordering::Relaxed);
        Some(Failure::CYCLE[(n % Failure::CYCLE.len() as u64) as usize])
    }

    #[cfg(test)]
    pub(crate) fn injected(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod limiter_tests {
    use super::*;

    /// At most N admissions in any one second, counted on a sliding window: a burst of N,
    /// then refusals until the first of them is a second old.
    #[test]
    fn at_most_n_in_any_second() {
        let faults = Faults::new(
            Duration::ZERO,
            Duration::ZERO,
            0.0,
            Some(Schedule::fixed(3)),
            None,
        )
        .unwrap();
        let admitted = (0..5).filter(|_| faults.admit().is_some()).count();
        assert_eq!(admitted, 3);
        std::thread::sleep(Duration::from_millis(1050));
        assert_eq!((0..5).filter(|_| faults.admit().is_some()).count(), 3);
        let zero = Faults::new(
            Duration::ZERO,
            Duration::ZERO,
            0.0,
            Some(Schedule::fixed(0)),
            None,
        );
        assert!(zero.is_err());
        let unlimited = Faults::new(Duration::ZERO, Duration::ZERO, 0.0, None, None).unwrap();
        assert!((0..1000).all(|_| unlimited.admit().is_some()));
    }

    #[test]
    fn a_schedule_gives_the_limit_of_the_moment() {
        let s = Schedule::parse("0:80, 20:30,40.5:80").unwrap();
        let at = |secs: f64| s.at(Duration::from_secs_f64(secs));
        assert_eq!(
            (at(0.0), at(19.9), at(20.0), at(40.4), at(41.0)),
            (80, 80, 30, 30, 80)
        );
        for bad in ["", "5:10", "0:0", "0:10,0:20", "0:10,5", "0:x", "-1:3"] {
            assert!(Schedule::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn beyond_the_limit_in_flight_a_request_is_refused_until_one_ends() {
        let faults = Faults::new(Duration::ZERO, Duration::ZERO, 0.0, None, Some(2)).unwrap();
        let first = faults.admit().expect("one");
        let _second = faults.admit().expect("two");
        assert!(faults.admit().is_none());
        drop(first);
        assert!(faults.admit().is_some());
    }
}
