//! Rehearsal knobs: latency, injected failures of create requests, and a server-wide rate
//! limit. All off by default.

use std::sync::atomic::{AtomicU64, Ordering};
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
}

/// At most `per_second` requests admitted in any one second (a sliding window of the
/// admissions' times), as a real API's limit counts them. A lock and at most `per_second`
/// instants: the sandbox answers a few thousand requests a second at most.
struct Limiter {
    per_second: usize,
    admitted: std::sync::Mutex<std::collections::VecDeque<std::time::Instant>>,
}

impl Limiter {
    fn admit(&self) -> bool {
        let now = std::time::Instant::now();
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
        if admitted.len() >= self.per_second {
            return false;
        }
        admitted.push_back(now);
        true
    }
}

impl Faults {
    pub(crate) fn new(
        latency: Duration,
        jitter: Duration,
        fail_rate: f64,
        rate_limit: Option<u32>,
    ) -> anyhow::Result<Faults> {
        anyhow::ensure!(
            (0.0..=1.0).contains(&fail_rate),
            "fail rate must be between 0.0 and 1.0, got {fail_rate}"
        );
        let limiter = match rate_limit {
            None => None,
            Some(n) => {
                anyhow::ensure!(n >= 1, "rate limit must be at least 1 per second");
                Some(Limiter {
                    per_second: n as usize,
                    admitted: Default::default(),
                })
            }
        };
        Ok(Faults {
            latency,
            jitter,
            fail_rate,
            failures: AtomicU64::new(0),
            limiter,
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

    /// False when the request is over the rate limit.
    pub(crate) fn admit(&self) -> bool {
        self.limiter.as_ref().is_none_or(Limiter::admit)
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
        let faults = Faults::new(Duration::ZERO, Duration::ZERO, 0.0, Some(3)).unwrap();
        let admitted = (0..5).filter(|_| faults.admit()).count();
        assert_eq!(admitted, 3);
        std::thread::sleep(Duration::from_millis(1050));
        assert_eq!((0..5).filter(|_| faults.admit()).count(), 3);
        assert!(Faults::new(Duration::ZERO, Duration::ZERO, 0.0, Some(0)).is_err());
        let unlimited = Faults::new(Duration::ZERO, Duration::ZERO, 0.0, None).unwrap();
        assert!((0..1000).all(|_| unlimited.admit()));
    }
}
