//! The controller on tokio's paused clock against a fake server: a sliding-window rate limit
//! (fixed or scheduled), a limit of requests in flight, a fixed answer time, and
//! `Retry-After: 1` on every 429, as the sandbox answers. Deterministic: no sockets, no real
//! time, no randomness (429s carry Retry-After, so no jittered backoff is drawn).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::*;
use crate::api::ApiError;
use crate::executor::{Backoff, Policy, Rate, Stats, Stop};

/// The fake server's limits.
#[derive(Clone)]
struct Server {
    /// (seconds from the start, requests a second): a sliding window as the sandbox's.
    schedule: Vec<(u64, usize)>,
    max_in_flight: Option<usize>,
    answer_time: Duration,
    /// How far into the schedule the run starts.
    offset: Duration,
}

struct Serving {
    server: Server,
    start: Instant,
    admitted: Mutex<VecDeque<Instant>>,
    in_flight: AtomicUsize,
    created: AtomicU64,
    refused: AtomicU64,
    /// Created per second since the start.
    seconds: Mutex<Vec<u32>>,
}

impl Serving {
    async fn create(&self) -> Result<(), ApiError> {
        let now = Instant::now();
        let limit = self
            .server
            .schedule
            .iter()
            .take_while(|(at, _)| now - self.start >= Duration::from_secs(*at))
            .last()
            .map_or(usize::MAX, |(_, l)| *l);
        let refused = || ApiError::Retryable {
            status: Some(429),
            message: "Too many requests".into(),
            retry_after: Some(Duration::from_secs(1)),
            maybe_sent: false,
        };
        let n = self.in_flight.fetch_add(1, Ordering::SeqCst);
        if self.server.max_in_flight.is_some_and(|most| n >= most) {
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            self.refused.fetch_add(1, Ordering::SeqCst);
            return Err(refused());
        }
        {
            let mut admitted = self.admitted.lock().unwrap();
            while admitted
                .front()
                .is_some_and(|t| now - *t >= Duration::from_secs(1))
            {
                admitted.pop_front();
            }
            if admitted.len() >= limit {
                drop(admitted);
                self.in_flight.fetch_sub(1, Ordering::SeqCst);
                self.refused.fetch_add(1, Ordering::SeqCst);
                return Err(refused());
            }
            admitted.push_back(now);
        }
        tokio::time::sleep(self.server.answer_time).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.created.fetch_add(1, Ordering::SeqCst);
        let second = (Instant::now() - self.start).as_secs() as usize;
        let mut seconds = self.seconds.lock().unwrap();
        if seconds.len() <= second {
            seconds.resize(second + 1, 0);
        }
        seconds[second] += 1;
        Ok(())
    }
}

/// What a simulated run did.
#[derive(Debug)]
struct Ran {
    seconds: f64,
    created: u64,
    refused: u64,
    requests: u64,
    rate_final: Option<f64>,
    learned: Option<f64>,
    /// Created in the first ten seconds.
    first_ten: u64,
    /// The gate's limit at the end.
    concurrency: Option<usize>,
    /// Created in each second (printed by `figures`).
    #[allow(dead_code)]
    per_second: Vec<u32>,
}

impl Ran {
    fn per_second(&self) -> f64 {
        self.created as f64 / self.seconds
    }

    fn refused_share(&self) -> f64 {
        self.refused as f64 / self.requests as f64
    }
}

fn policy(rate: Option<f64>, learned: Option<f64>, max_rate: f64, concurrency: usize) -> Policy {
    Policy {
        rate: Rate::PerSecond(rate.unwrap_or(AutoRate::FIRST)),
        auto_rate: rate.is_none().then_some(AutoRate {
            learned,
            max: max_rate,
        }),
        concurrency,
        auto_concurrency: true,
        max_attempts: 100,
        backoff: Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
        },
        grace: Duration::from_secs(5),
    }
}

/// Sends `rows` creates through the attempt loop under `policy` with one worker per allowed
/// request in flight, as `execute` does.
async fn simulate(server: Server, policy: Policy, rows: u64) -> Ran {
    let serving = Arc::new(Serving {
        start: Instant::now() - server.offset,
        server,
        admitted: Mutex::new(VecDeque::new()),
        in_flight: AtomicUsize::new(0),
        created: AtomicU64::new(0),
        refused: AtomicU64::new(0),
        seconds: Mutex::new(Vec::new()),
    });
    let stats = Arc::new(Stats::default());
    let attempts = policy.attempts(&Stop::new(), &stats);
    let next = Arc::new(AtomicU64::new(0));
    let first_ten = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..policy.concurrency {
        let (attempts, serving, next, first_ten) = (
            attempts.clone(),
            serving.clone(),
            next.clone(),
            first_ten.clone(),
        );
        workers.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::SeqCst) < rows {
                let done = attempts.call(|| serving.create()).await;
                assert!(matches!(done, crate::executor::Attempted::Done { .. }));
                if Instant::now() - start <= Duration::from_secs(10) {
                    first_ten.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }
    let tally = stats.snapshot();
    Ran {
        seconds: (Instant::now() - start).as_secs_f64(),
        created: serving.created.load(Ordering::SeqCst),
        refused: serving.refused.load(Ordering::SeqCst),
        requests: tally.sent,
        rate_final: stats.rate(),
        learned: stats.learned(),
        first_ten: first_ten.load(Ordering::SeqCst),
        concurrency: attempts.limits.gate().map(Gate::limit),
        per_second: serving.seconds.lock().unwrap().clone(),
    }
}

fn limit(per_second: usize) -> Server {
    Server {
        schedule: vec![(0, per_second)],
        max_in_flight: None,
        answer_time: Duration::from_millis(20),
        offset: Duration::ZERO,
    }
}

#[tokio::test(start_paused = true)]
async fn converges_to_a_fixed_limit_with_few_429s() {
    let ran = simulate(limit(60), policy(None, None, 100.0, 64), 3600).await;
    assert_eq!(ran.created, 3600);
    assert!(ran.per_second() >= 0.85 * 60.0, "{ran:?}");
    assert!(ran.refused_share() <= 0.05, "{ran:?}");
    let learned = ran.learned.expect("a limit learned");
    assert!((54.0..=66.0).contains(&learned), "{ran:?}");
}

#[tokio::test(start_paused = true)]
async fn never_above_the_most_allowed() {
    let ran = simulate(limit(1000), policy(None, None, 40.0, 64), 1200).await;
    assert!(ran.per_second() <= 40.0, "{ran:?}");
    assert!(ran.per_second() >= 0.85 * 40.0, "{ran:?}");
    assert_eq!(ran.refused, 0);
    assert_eq!(ran.rate_final, Some(40.0));
}

#[tokio::test(start_paused = true)]
async fn starts_warm_from_the_learned_limit() {
    let ran = simulate(limit(60), policy(None, Some(60.0), 100.0, 64), 900).await;
    assert!(ran.first_ten as f64 >= 0.8 * 60.0 * 10.0, "{ran:?}");
    let cold = simulate(limit(60), policy(None, None, 100.0, 64), 900).await;
    assert!(cold.first_ten < ran.first_ten, "{cold:?} {ran:?}");
}

/// A limit of 80/s, then 30/s, each for 15 s, over and over; the run starts `offset` seconds
/// into it.
fn moving_80_30(offset: f64) -> Server {
    Server {
        schedule: (0..40)
            .map(|i| (15 * i, if i % 2 == 0 { 80 } else { 30 }))
            .collect(),
        offset: Duration::from_secs_f64(offset),
        ..limit(0)
    }
}

/// The moving limit's mean over a run that started `offset` seconds into it, by tenths of a
/// second.
fn moving_mean(ran: &Ran, offset: f64) -> f64 {
    let tenths = (ran.seconds * 10.0) as u64;
    (0..tenths)
        .map(|t| {
            if (((offset + t as f64 / 10.0) / 15.0) as u64).is_multiple_of(2) {
                80.0
            } else {
                30.0
            }
        })
        .sum::<f64>()
        / tenths as f64
}

#[tokio::test(start_paused = true)]
async fn follows_a_limit_that_moves() {
    // Wherever in the schedule the run starts (a cold start that ends as the limit drops is
    // the worst: the first limit learned is neither level).
    for offset in [0.0, 4.0, 8.0, 12.0] {
        let ran = simulate(moving_80_30(offset), policy(None, None, 100.0, 64), 6000).await;
        let mean = moving_mean(&ran, offset);
        assert!(
            ran.per_second() >= 0.75 * mean,
            "offset {offset}: {ran:?} mean limit {mean}"
        );
        assert!(ran.refused_share() <= 0.08, "offset {offset}: {ran:?}");
    }
}

/// Answers that take most of a second: the rate still climbs (it once counted only answers to
/// requests sent in the last second, and stayed at 5/s), and a moving limit is still
/// followed with many requests in flight (where a rate limit's 429 comes with more in flight
/// than usual, and is not a limit of requests in flight).
#[tokio::test(start_paused = true)]
async fn slow_answers_do_not_hold_the_rate_back() {
    let slow = Server {
        answer_time: Duration::from_millis(600),
        ..limit(60)
    };
    let ran = simulate(slow, policy(None, None, 100.0, 64), 1800).await;
    assert!(ran.per_second() >= 0.75 * 60.0, "{ran:?}");
    let slow = Server {
        answer_time: Duration::from_millis(300),
        ..moving_80_30(0.0)
    };
    let ran = simulate(slow, policy(None, None, 100.0, 64), 6000).await;
    let mean = moving_mean(&ran, 0.0);
    assert!(ran.per_second() >= 0.7 * mean, "{ran:?} mean limit {mean}");
}

#[tokio::test(start_paused = true)]
async fn a_throttle_lowers_the_rate_and_a_second_one_of_the_episode_does_not() {
    let t0 = Instant::now();
    let s = Duration::from_secs;
    let mut c = RateControl::new(
        AutoRate {
            learned: None,
            max: 100.0,
        },
        t0,
    );
    // Answers every 10 ms for a second and a half: the rate doubles every half second from 5.
    let mut at = t0;
    for _ in 0..150 {
        at += Duration::from_millis(10);
        c.answered(at, at, None);
    }
    assert!((38.0..=41.0).contains(&c.rate()), "{}", c.rate());
    let before = c.rate();
    let (after, new) = c.throttled(at - Duration::from_millis(5), at, 0.0, None);
    assert!(new && after < before);
    // The answers of the last second (100) are more than the rate: the rate is the limit
    // (2% under it).
    assert_eq!(c.learned(), Some(before * MARGIN));
    let (again, new) = c.throttled(
        at - Duration::from_millis(1),
        at + Duration::from_millis(2),
        0.0,
        None,
    );
    assert!(!new);
    assert_eq!(again, after);
    // Sent after the reduction: a new episode.
    assert!(
        c.throttled(at + Duration::from_millis(3), at + s(1), 0.0, None)
            .1
    );
}

/// Answers to requests sent at `per_second` for `seconds` from `*at` (each answered as it
/// leaves), moving `*at` on.
fn answer_at(c: &mut RateControl, at: &mut Instant, per_second: f64, seconds: f64) {
    let step = Duration::from_secs_f64(1.0 / per_second);
    for _ in 0..(per_second * seconds) as u32 {
        *at += step;
        c.answered(*at, *at, None);
    }
}

#[tokio::test(start_paused = true)]
async fn a_limit_that_moves_between_levels_is_returned_to_and_left_for_the_lower_one() {
    let t0 = Instant::now();
    let mut c = RateControl::new(
        AutoRate {
            learned: Some(80.0),
            max: 100.0,
        },
        t0,
    );
    let mut at = t0;
    answer_at(&mut c, &mut at, 80.0, 2.0);
    // The limit drops to 30: the first 429 still counts the old limit's traffic...
    assert!(c.throttled(at, at, 0.0, None).1);
    assert!(c.learned() > Some(70.0), "{:?}", c.learned());
    answer_at(&mut c, &mut at, 30.0, 2.0);
    // ... the next one measures the new limit.
    let refused = at + Duration::from_millis(1);
    c.throttled(refused, refused, 0.0, None);
    assert_eq!(c.learned(), Some(30.0 * MARGIN));
    // After the hold under a higher limit seen lately, the probe is that limit at once.
    answer_at(&mut c, &mut at, 29.0, 4.1);
    assert_eq!(c.rate(), 80.0);
    // No 429 for a second there: the higher limit is back.
    answer_at(&mut c, &mut at, 80.0, 1.1);
    assert_eq!(c.learned(), Some(80.0));
    // Refused while holding it: the limit went down, to the lower level seen lately, not to
    // just under the old one.
    answer_at(&mut c, &mut at, 80.0, 1.0);
    assert!(c.throttled(at, at, 0.0, None).1);
    assert_eq!(c.learned(), Some(30.0 * MARGIN));
}

#[test]
fn little_s_law_with_headroom() {
    // 50 a second at 200 ms: 10 in flight on average, 15 with headroom, and one more.
    assert_eq!(
        ConcurrencyControl::little(50.0, Duration::from_millis(200)),
        16
    );
    assert_eq!(ConcurrencyControl::little(60.0, Duration::ZERO), 1);
    assert_eq!(unreachable(50.0, 4, Duration::from_millis(200)), Some(15));
    assert_eq!(unreachable(50.0, 16, Duration::from_millis(200)), None);
}

#[tokio::test(start_paused = true)]
async fn concurrency_follows_the_rate_and_the_answer_time() {
    let server = Server {
        schedule: vec![],
        max_in_flight: None,
        answer_time: Duration::from_millis(200),
        offset: Duration::ZERO,
    };
    // A fixed rate, `--concurrency auto`: enough in flight for 50 a second at 200 ms.
    let ran = simulate(server, policy(Some(50.0), None, 100.0, 64), 1000).await;
    assert!(ran.per_second() >= 0.9 * 50.0, "{ran:?}");
    assert_eq!(ran.concurrency, Some(16), "{ran:?}");
}

#[tokio::test(start_paused = true)]
async fn concurrency_backs_off_under_a_server_limit_of_requests_in_flight() {
    let server = Server {
        schedule: vec![],
        max_in_flight: Some(6),
        answer_time: Duration::from_millis(100),
        offset: Duration::ZERO,
    };
    let ran = simulate(server, policy(None, None, 100.0, 64), 2400).await;
    assert!(ran.per_second() >= 0.7 * 60.0, "{ran:?}");
    assert!(ran.refused_share() <= 0.10, "{ran:?}");
}

#[test]
fn a_concurrency_limit_lowers_the_ceiling_which_then_rises_slowly() {
    let t0 = Instant::now();
    let mut c = ConcurrencyControl::new(64, t0);
    let ms100 = Duration::from_millis(100);
    assert_eq!(c.limit(Some(60.0), ms100, t0), 10);
    c.limited(7, t0);
    assert_eq!(c.limit(Some(60.0), ms100, t0), 6);
    assert_eq!(c.carries(ms100), Some(60.0));
    assert_eq!(c.limit(Some(60.0), ms100, t0 + CEILING_STEP), 7);
    assert_eq!(c.limit(Some(60.0), ms100, t0 + CEILING_STEP * 4), 8);
}

#[tokio::test(start_paused = true)]
async fn a_raised_gate_lets_waiters_in() {
    let gate = Arc::new(Gate::new(1));
    let stop = CancellationToken::new();
    let first = gate.enter(&stop).await.unwrap();
    let (g, s) = (gate.clone(), stop.clone());
    let waiter = tokio::spawn(async move { g.enter(&s).await.is_some() });
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert!(!waiter.is_finished());
    gate.set_limit(2);
    assert!(waiter.await.unwrap());
    assert_eq!(gate.in_flight(), 1, "the waiter's place was given back");
    drop(first);
    assert_eq!(gate.in_flight(), 0);
    stop.cancel();
    gate.set_limit(0);
    let _held = gate.enter(&CancellationToken::new()).await.unwrap();
    assert!(gate.enter(&stop).await.is_none(), "a stop releases a wait");
}

/// Prints the figures of every scenario (`cargo test figures -- --ignored --nocapture`),
/// for tuning the constants.
#[tokio::test(start_paused = true)]
#[ignore]
async fn figures() {
    let ran = simulate(limit(60), policy(None, None, 100.0, 64), 3600).await;
    println!("fixed 60: {:.1}/s {ran:?}", ran.per_second());
    let warm = simulate(limit(60), policy(None, ran.learned, 100.0, 64), 3600).await;
    println!(
        "warm: first ten {:.1}/s {warm:?}",
        warm.first_ten as f64 / 10.0
    );
    for offset in [0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0] {
        let ran = simulate(moving_80_30(offset), policy(None, None, 100.0, 64), 6000).await;
        println!(
            "moving from {offset} s: {:.1}/s = {:.3} x the mean limit; {:.1}% 429s {:?}",
            ran.per_second(),
            ran.per_second() / moving_mean(&ran, offset),
            100.0 * ran.refused_share(),
            ran.per_second
        );
    }
    let server = Server {
        schedule: vec![],
        max_in_flight: Some(6),
        answer_time: Duration::from_millis(100),
        offset: Duration::ZERO,
    };
    let ran = simulate(server, policy(None, None, 100.0, 64), 3600).await;
    println!("6 in flight: {:.1}/s {ran:?}", ran.per_second());
    for ms in [300, 600, 1200] {
        let slow = Server {
            answer_time: Duration::from_millis(ms),
            ..limit(60)
        };
        let ran = simulate(slow, policy(None, None, 100.0, 64), 3600).await;
        println!(
            "fixed 60 at {ms} ms: {:.1}/s, {:.1}% 429s",
            ran.per_second(),
            100.0 * ran.refused_share()
        );
        let slow = Server {
            answer_time: Duration::from_millis(ms),
            ..moving_80_30(0.0)
        };
        let ran = simulate(slow, policy(None, None, 100.0, 64), 6000).await;
        println!(
            "moving at {ms} ms: {:.3} x the mean limit, {:.1}% 429s",
            ran.per_second() / moving_mean(&ran, 0.0),
            100.0 * ran.refused_share()
        );
    }
}
