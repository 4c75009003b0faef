//! Pacing: a GCRA rate limiter with no burst, and a pause every worker honours when the API
//! says Retry-After.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub struct Pacer {
    /// `None` when the rate is unlimited (`--rate 0`, benchmarks against a local server).
    /// Burst 1: requests leave evenly spaced, `1/rate` apart, and never in a clump.
    limiter: Option<DefaultDirectRateLimiter>,
    /// When set in the future, nobody sends before it: a 429 or 503 with Retry-After from one
    /// worker's request holds back every worker, since they share the limit it reports.
    paused_until: Mutex<Option<Instant>>,
    /// Whether a pause was ever asked for: until then an unlimited run skips the lock.
    ever_paused: AtomicBool,
}

impl Pacer {
    /// `rate` requests per second; 0 means no limit.
    pub fn new(rate: f64) -> Pacer {
        let limiter = (rate > 0.0).then(|| {
            let quota = Quota::with_period(Duration::from_secs_f64(1.0 / rate))
                .expect("a positive period")
                .allow_burst(NonZeroU32::MIN);
            RateLimiter::direct(quota)
        });
        Pacer {
            limiter,
            paused_until: Mutex::new(None),
            ever_paused: AtomicBool::new(false),
        }
    }

    /// Holds every worker back until `d` from now (never shortens a longer pause).
    pub fn pause_for(&self, d: Duration) {
        let until = Instant::now() + d;
        let mut p = self.paused_until.lock().expect("pacer lock");
        if p.is_none_or(|old| old < until) {
            *p = Some(until);
        }
        self.ever_paused.store(true, Ordering::Release);
    }

    /// Waits for this request's turn. `false` when `stop` fired first.
    pub async fn ready(&self, stop: &CancellationToken) -> bool {
        if self.limiter.is_none() && !self.ever_paused.load(Ordering::Acquire) {
            return !stop.is_cancelled();
        }
        loop {
            let paused = *self.paused_until.lock().expect("pacer lock");
            if let Some(until) = paused.filter(|u| *u > Instant::now()) {
                tokio::select! {
                    _ = tokio::time::sleep_until(until) => continue,
                    _ = stop.cancelled() => return false,
                }
            }
            if let Some(limiter) = &self.limiter {
                tokio::select! {
                    _ = limiter.until_ready() => {}
                    _ = stop.cancelled() => return false,
                }
            }
            // A pause may have begun while we waited for the limiter.
            let paused = *self.paused_until.lock().expect("pacer lock");
            if paused.is_none_or(|u| u <= Instant::now()) {
                return !stop.is_cancelled();
            }
        }
    }
}

/// Exponential backoff with full jitter (a uniform draw below the capped exponential), so
/// workers that failed together do not retry together.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Backoff {
    /// The wait after the `attempt`-th failure (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(self.cap);
        exp.mul_f64(rand::random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stays_under_the_capped_exponential() {
        let b = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
        };
        for attempt in 1..30 {
            let limit = Duration::from_millis(100 * (1u64 << (attempt - 1).min(20))).min(b.cap);
            assert!(b.delay(attempt) <= limit);
        }
    }

    // The pause runs on tokio's clock (the limiter is off at rate 0), so a paused clock
    // checks it exactly.
    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_back_ready_until_it_ends() {
        let pacer = Pacer::new(0.0);
        let stop = CancellationToken::new();
        let start = Instant::now();
        assert!(pacer.ready(&stop).await);
        assert_eq!(Instant::now(), start, "no pause, no wait");

        pacer.pause_for(Duration::from_secs(10));
        // A shorter pause never shortens a longer one.
        pacer.pause_for(Duration::from_secs(1));
        let early = tokio::time::timeout(Duration::from_secs(9), pacer.ready(&stop)).await;
        assert!(early.is_err(), "ready returned during the pause");
        assert!(pacer.ready(&stop).await);
        assert!(Instant::now() - start >= Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn stop_releases_a_paused_wait() {
        let pacer = Pacer::new(0.0);
        let stop = CancellationToken::new();
        pacer.pause_for(Duration::from_secs(3600));
        let start = Instant::now();
        let stopper = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            stopper.cancel();
        });
        assert!(!pacer.ready(&stop).await);
        assert_eq!(Instant::now() - start, Duration::from_secs(5));
    }
}
