//! Pacing: requests evenly spaced on a fixed timeline, never more than the rate in any one
//! second, and a pause every worker honours when the API says Retry-After.
//!
//! Why not governor (used before): its GCRA with no burst judges each request at the moment
//! its waiter wakes, and a wake-up is late by a tenth of a millisecond or more, so every request pushed the whole schedule back by its lateness:
//! `--rate 100` took 1.8% longer than N/R, `--rate 500` 5.7%. Here each turn is a slot
//! `1/rate` after the previous one, reserved before the wait (in line, one waiter at a time,
//! so that a rate `--rate auto` changes applies to the very next turn; every waiter at once
//! above 500 a second), so lateness does not add up; and
//! a turn is given only if the turn `rate` turns earlier was given at least a second (and a
//! millisecond) before, so a late turn followed by an on-time one can never put `rate + 1`
//! requests in a second. The timeline runs 0.2% slower than the rate (`rate` turns span a
//! second and 2 ms), so that check is a safety net that rarely waits, and a request that
//! leaves a little after its turn still lands in the right second. A fractional rate allows
//! it rounded up in a second: evenly spaced at 2.5 a second, some seconds hold 3.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long `rate` turns take on the timeline, and the least time between a turn and the one
/// `rate` turns later.
const SPAN: Duration = Duration::from_millis(1002);
const WINDOW: Duration = Duration::from_millis(1001);

/// Turns closer than this are reserved ahead by every waiter rather than in line: the timer
/// wakes a task once a millisecond at most, and in line that allowed about 900 turns a second.
const SLOTS_AHEAD_ABOVE: Duration = Duration::from_millis(2);

/// The longest pause a Retry-After can ask for; a longer one is cut to this (and said).
pub const LONGEST_PAUSE: Duration = Duration::from_secs(3600);

/// How fast requests may leave: a number a second, or as fast as they come.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    /// No pacing (`--rate 0`: benchmarks, a local server).
    Unlimited,
    /// Requests per second, at least [`Rate::SLOWEST`].
    PerSecond(f64),
}

impl Rate {
    /// The slowest rate there is: one request a day.
    pub const SLOWEST: f64 = 1.0 / 86_400.0;

    /// Requests per second; `None` when unlimited.
    pub fn per_second(self) -> Option<f64> {
        match self {
            Rate::Unlimited => None,
            Rate::PerSecond(r) => Some(r),
        }
    }
}

pub struct Pacer {
    /// `None` when the rate is unlimited (`--rate 0`, benchmarks against a local server).
    turns: Option<Mutex<Turns>>,
    /// Held by the one waiter whose turn is next, from reserving its slot to being given the
    /// turn: the others queue behind it (in order, on any runtime) instead of all waking
    /// together, and each slot is reserved at the rate of the moment (`--rate auto` changes
    /// it; slots reserved ahead by many waiters would keep the old rate for as long as they
    /// take: at 128 waiters, 26 s at 5/s).
    cap_line: tokio::sync::Mutex<()>,
    /// When set in the future, nobody sends before it: a 429 or 503 with Retry-After from one
    /// worker's request holds back every worker, since they share the limit it reports.
    paused_until: Mutex<Option<Instant>>,
    /// Whether a pause was ever asked for: until then an unlimited run skips the lock.
    ever_paused: AtomicBool,
}

/// The timeline of turns at a fixed rate.
struct Turns {
    period: Duration,
    /// The next slot nobody has reserved; `None` before the first.
    next: Option<Instant>,
    /// When the latest turns were given, oldest first, at most `per_second` of them.
    given: VecDeque<Instant>,
    /// Most turns in any one second: the rate, rounded up (`None` above a rate where counting
    /// each second's turns would take more memory than it is worth).
    per_second: Option<usize>,
}

/// Rates above this are not counted per second (only spaced): no real API allows them.
const MOST_COUNTED: f64 = 100_000.0;

impl Turns {
    fn at(rate: f64) -> Turns {
        let per_second = rate.ceil();
        Turns {
            // `rate` turns take `SPAN`; a fractional rate, its rounded-up number of turns.
            period: Duration::from_secs_f64((1.0 / rate).max(SPAN.as_secs_f64() / per_second)),
            next: None,
            given: VecDeque::new(),
            per_second: (rate <= MOST_COUNTED).then_some(per_second as usize),
        }
    }

    /// Paces at `rate` from the next slot on; the turns given in the last second still count
    /// against the new rate's cap.
    fn set(&mut self, rate: f64) {
        let fresh = Turns::at(rate);
        // The next slot is one new period after the last one reserved.
        self.next = self.next.map(|next| {
            next.checked_sub(self.period)
                .map_or(next, |last| last + fresh.period)
        });
        self.period = fresh.period;
        self.per_second = fresh.per_second;
    }

    /// The slot for a waiter asking now: the next one on the timeline, or now if the timeline
    /// has fallen behind (nobody asked for a while).
    fn reserve(&mut self, now: Instant) -> Instant {
        let slot = self.next.map_or(now, |next| next.max(now));
        self.next = Some(slot + self.period);
        slot
    }

    /// Gives a turn at `now` unless that would make more than `per_second` in one second
    /// (`WINDOW`); otherwise the time to ask again.
    fn give(&mut self, now: Instant) -> Result<(), Instant> {
        if let Some(most) = self.per_second {
            // A rate just lowered: the newest turns are the ones that count.
            while self.given.len() > most {
                self.given.pop_front();
            }
            if self.given.len() == most {
                let oldest = self.given[0];
                if now < oldest + WINDOW {
                    return Err(oldest + WINDOW);
                }
                self.given.pop_front();
            }
            self.given.push_back(now);
        }
        Ok(())
    }
}

impl Pacer {
    pub fn new(rate: Rate) -> Pacer {
        let turns = rate.per_second().map(|r| Mutex::new(Turns::at(r)));
        Pacer {
            turns,
            cap_line: tokio::sync::Mutex::new(()),
            paused_until: Mutex::new(None),
            ever_paused: AtomicBool::new(false),
        }
    }

    /// Paces at `rate` from now on (`--rate auto`); nothing changes for an unlimited pacer.
    pub fn set_rate(&self, rate: f64) {
        if let Some(turns) = &self.turns {
            turns
                .lock()
                .expect("pacer lock")
                .set(rate.max(Rate::SLOWEST));
        }
    }

    /// Holds every worker back until `d` from now (never shortens a longer pause), at most
    /// `LONGEST_PAUSE`.
    pub fn pause_for(&self, d: Duration) {
        if d > LONGEST_PAUSE {
            tracing::warn!(
                "the API asks to wait {}s (Retry-After); pausing {}s, then trying again",
                d.as_secs(),
                LONGEST_PAUSE.as_secs()
            );
        }
        let until = Instant::now() + d.min(LONGEST_PAUSE);
        let mut p = self.paused_until.lock().expect("pacer lock");
        if p.is_none_or(|old| old < until) {
            *p = Some(until);
        }
        self.ever_paused.store(true, Ordering::Release);
    }

    /// Waits for this request's turn. `false` when `stop` fired first.
    pub async fn ready(&self, stop: &CancellationToken) -> bool {
        if self.turns.is_none() && !self.ever_paused.load(Ordering::Acquire) {
            return !stop.is_cancelled();
        }
        loop {
            let paused = *self.paused_until.lock().expect("pacer lock");
            if let Some(until) = paused.filter(|u| *u > Instant::now()) {
                if !wait_until(until, stop).await {
                    return false;
                }
                continue;
            }
            if let Some(turns) = &self.turns {
                // In line first, then the slot: reserved at the rate of the moment. Above
                // `SLOTS_AHEAD_ABOVE` a turn a tick of the timer is too few, and slots are
                // reserved ahead (the lag they make is short at such rates).
                let ahead = turns.lock().expect("pacer lock").period < SLOTS_AHEAD_ABOVE;
                let early =
                    ahead.then(|| turns.lock().expect("pacer lock").reserve(Instant::now()));
                if let Some(slot) = early
                    && !wait_until(slot, stop).await
                {
                    return false;
                }
                let _line = tokio::select! {
                    line = self.cap_line.lock() => line,
                    _ = stop.cancelled() => return false,
                };
                if early.is_none() {
                    let slot = turns.lock().expect("pacer lock").reserve(Instant::now());
                    if !wait_until(slot, stop).await {
                        return false;
                    }
                }
                loop {
                    let given = turns.lock().expect("pacer lock").give(Instant::now());
                    match given {
                        Ok(()) => break,
                        Err(later) if !wait_until(later, stop).await => return false,
                        Err(_) => {}
                    }
                }
            }
            // A pause may have begun while we waited for our turn.
            let paused = *self.paused_until.lock().expect("pacer lock");
            if paused.is_none_or(|u| u <= Instant::now()) {
                return !stop.is_cancelled();
            }
        }
    }
}

/// Sleeps until `t`; `false` if `stop` fired first.
async fn wait_until(t: Instant, stop: &CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep_until(t) => true,
        _ = stop.cancelled() => false,
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

    #[test]
    fn a_late_turn_does_not_push_back_the_next_slot() {
        let ms = Duration::from_millis;
        let mut t = Turns::at(10.0);
        // Ten turns span a second and 2 ms.
        let period = Duration::from_micros(100_200);
        assert_eq!(t.period, period);
        let t0 = Instant::now();
        assert_eq!(t.reserve(t0), t0);
        assert_eq!(t.give(t0), Ok(()));
        // Asked before its slot, woken 30 ms late: the slot after it stays on the timeline.
        assert_eq!(t.reserve(t0 + ms(1)), t0 + period);
        assert_eq!(t.give(t0 + ms(130)), Ok(()));
        assert_eq!(t.reserve(t0 + ms(131)), t0 + 2 * period);
        // Nobody asked for a while: the timeline starts again from now, no catching up.
        assert_eq!(t.reserve(t0 + ms(5000)), t0 + ms(5000));
    }

    #[test]
    fn never_more_turns_in_a_second_than_the_rate() {
        let ms = Duration::from_millis;
        let mut t = Turns::at(2.0);
        let t0 = Instant::now();
        assert_eq!(t.give(t0 + ms(300)), Ok(())); // late for its slot at 0
        assert_eq!(t.give(t0 + ms(500)), Ok(()));
        // The slot at 1002 ms would be the third turn within a second of the one at 300 ms.
        assert_eq!(t.give(t0 + ms(1002)), Err(t0 + ms(1301)));
        assert_eq!(t.give(t0 + ms(1301)), Ok(()));
        // A fractional rate allows the rate rounded up, spaced so that it fits.
        let mut t = Turns::at(2.5);
        assert_eq!(t.period, ms(400));
        for i in 0..3 {
            assert_eq!(t.give(t0 + ms(400 * i)), Ok(()));
        }
        assert_eq!(t.give(t0 + ms(999)), Err(t0 + ms(1001)));
        assert_eq!(Turns::at(3.0).period, ms(334));
    }

    /// Starts `workers` tasks that each take `turns` turns, with a request of 30 ms and
    /// more between them; gives the times of the turns since the start, in order.
    async fn take_turns(
        pacer: &std::sync::Arc<Pacer>,
        workers: u64,
        turns: usize,
    ) -> Vec<Duration> {
        let start = Instant::now();
        let times = std::sync::Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for w in 0..workers {
            let (pacer, times) = (pacer.clone(), times.clone());
            tasks.push(tokio::spawn(async move {
                let stop = CancellationToken::new();
                for _ in 0..turns {
                    assert!(pacer.ready(&stop).await);
                    times.lock().unwrap().push(Instant::now() - start);
                    tokio::time::sleep(Duration::from_millis(30 + 10 * (w % 4))).await;
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let mut times = times.lock().unwrap().clone();
        times.sort();
        times
    }

    fn most_in_a_second(times: &[Duration]) -> usize {
        (0..times.len())
            .map(|i| {
                times[i..]
                    .iter()
                    .take_while(|u| **u < times[i] + Duration::from_secs(1))
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    /// Four workers at 20 turns a second: 60 turns take 59 periods (each turn woken at the
    /// timer's next millisecond, none later), and no second holds more than 20.
    #[tokio::test(start_paused = true)]
    async fn workers_share_an_even_timeline() {
        let pacer = std::sync::Arc::new(Pacer::new(Rate::PerSecond(20.0)));
        let times = take_turns(&pacer, 4, 15).await;
        assert_eq!(times.len(), 60);
        let last = Duration::from_micros(59 * 50_100);
        let end = *times.last().unwrap();
        assert!(
            end >= last && end <= last + Duration::from_millis(1),
            "{end:?}"
        );
        assert!(most_in_a_second(&times) <= 20);
    }

    /// 128 workers waiting at 5 turns a second, then the rate raised to 100 (`--rate auto`
    /// found more room): the turns follow the new rate at once, not after the slots the
    /// waiters had at the old one (128 of them took 26 s).
    #[tokio::test(start_paused = true)]
    async fn a_raised_rate_applies_to_every_waiter_at_once() {
        let pacer = std::sync::Arc::new(Pacer::new(Rate::PerSecond(5.0)));
        let raiser = pacer.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1100)).await;
            raiser.set_rate(100.0);
        });
        let times = take_turns(&pacer, 128, 1).await;
        assert_eq!(times.len(), 128);
        // Six turns at 5/s in the first 1.1 s, then 122 at 100/s: about 2.3 s in all.
        let end = *times.last().unwrap();
        assert!(end < Duration::from_millis(2500), "{end:?}");
        assert!(most_in_a_second(&times) <= 100);
    }

    /// More workers than the rate, and a Retry-After in the middle: nothing leaves during
    /// the pause, the run takes that much longer, and no second holds more than the rate.
    #[tokio::test(start_paused = true)]
    async fn a_pause_at_a_rate_holds_every_worker_and_keeps_the_cap() {
        let pacer = std::sync::Arc::new(Pacer::new(Rate::PerSecond(10.0)));
        let pauser = pacer.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(2050)).await;
            pauser.pause_for(Duration::from_secs(3));
        });
        let times = take_turns(&pacer, 50, 1).await;
        assert_eq!(times.len(), 50);
        let (pause_start, pause_end) = (Duration::from_millis(2050), Duration::from_millis(5050));
        assert!(
            !times.iter().any(|t| *t >= pause_start && *t < pause_end),
            "{times:?}"
        );
        assert!(most_in_a_second(&times) <= 10, "{times:?}");
        // 21 turns before the pause; the other 29 from its end, one period apart.
        assert_eq!(times.iter().filter(|t| **t < pause_start).count(), 21);
        let last = pause_end + 28 * Duration::from_micros(100_200);
        let end = *times.last().unwrap();
        assert!(
            end >= last && end <= last + Duration::from_millis(1),
            "{end:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn stop_releases_a_wait_for_a_slot() {
        let pacer = std::sync::Arc::new(Pacer::new(Rate::PerSecond(0.001)));
        let stop = CancellationToken::new();
        assert!(pacer.ready(&stop).await, "the first turn is now");
        let stopper = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            stopper.cancel();
        });
        let start = Instant::now();
        assert!(!pacer.ready(&stop).await);
        assert_eq!(Instant::now() - start, Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn an_endless_retry_after_is_cut_to_the_longest_pause() {
        let pacer = Pacer::new(Rate::Unlimited);
        let start = Instant::now();
        pacer.pause_for(Duration::MAX);
        assert!(pacer.ready(&CancellationToken::new()).await);
        assert_eq!(Instant::now() - start, LONGEST_PAUSE);
    }

    // The pause runs on tokio's clock, so a paused clock checks it exactly.
    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_back_ready_until_it_ends() {
        let pacer = Pacer::new(Rate::Unlimited);
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
        let pacer = Pacer::new(Rate::Unlimited);
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
