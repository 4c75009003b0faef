//! Limits nobody told us: `--rate auto` and `--concurrency auto`.
//!
//! What it owns: the rate the pacer paces at when it is `auto` ([`RateControl`]), the number
//! of requests in flight when that is `auto` ([`Gate`]), the measured answer time both depend
//! on, and the one warning a fixed `--rate` gets when `--concurrency` cannot reach it. It sees
//! every answer through [`Limits::answered`] and [`Limits::throttled`], called by the attempt
//! loop; it never sends, sleeps or pauses (a `Retry-After` is still the pacer's pause of
//! every worker).
//!
//! ## The rate: CUBIC's shape, a measured limit, and a hold that grows
//!
//! What decides between AIMD and CUBIC here is the price of a 429: the server's `Retry-After`
//! (a second in the sandbox, often more in the wild) stops every worker, so each probe past
//! the limit costs a whole second of sending, whatever the size of the step. An AIMD that
//! adds a request a second every second after halving would spend most of its time well
//! under the limit (half of it after each cut, 30 s to climb back to 60/s); a larger additive
//! step probes (and pays a `Retry-After`) every few seconds, and a smaller one takes most of a
//! minute to follow a limit that rises from 30 to 80. CUBIC's curve is the way out of that
//! trade (concave up to the rate where the last 429 came, flat near it, then accelerating),
//! so we chose its shape, with these changes, each measured in the simulation of
//! `limits/tests.rs` (`cargo test figures -- --ignored --nocapture`) and against the sandbox
//! (`examples/bench_run.rs limits`, figures in the README):
//! - **The limit is measured, not guessed from our rate.** On a 429 or 503 the limit is taken
//!   as what the server let through in the second before the refused request left: the
//!   answers to requests sent in that second, and those sent before it still in flight
//!   (requests that left, not places waiting for their turn: counting those measured 32 for
//!   a limit of 30 and cost a second 429 at every level). A server that counts a second's
//!   requests refused it because that second was full. Our own rate at the time says little:
//!   in slow start it may be twice the limit. (AWS's adaptive retry mode also cuts from its
//!   measured send rate.) The rate is held `MARGIN` (2%) under the count, restarts at `BETA`
//!   (0.9) of it and climbs back along a concave cubic in `RECOVER` (0.95 and 1 s were tried:
//!   more 429s, less throughput).
//! - **The flat part is a hold whose length is learned.** Near the limit the rate holds; each
//!   429 that finds the limit where the last one did (within 15%) doubles the hold, up to
//!   `HOLD_MAX`; under a higher limit seen in the last minute the hold is at most
//!   `HOLD_UNDER`, so a limit that moves is followed closely and a fixed one is probed a few
//!   times a minute.
//! - **The probe is exponential** (doubling every second; every half second in a cold start)
//!   rather than cubic.
//! - **Limits that move do so between levels.** Under a higher limit seen lately the probe is
//!   a return to it at once (`Return`): if no 429 comes in `CONFIRM` that limit is back, and
//!   held as long as it earned before; if one comes, it cost what a doubling probe would. A
//!   429 while holding a limit that held so far means it went down, and the last second's
//!   count is still the old limit's traffic: a lower limit seen lately is where it went. (A
//!   limit moving 80 -> 30 -> 80 every 15 s: 0.67 of its mean before these two, 0.75-0.78 in
//!   short runs and about 0.82 in long ones after.)
//!
//! One reduction per episode: a throttled answer to a request sent before the last reduction
//! says nothing new. Never above `--max-rate`, nor above twice the answers of the last second
//! (a rate nobody uses is not learned), nor above what the requests in flight can carry at
//! the measured answer time.
//!
//! ## The concurrency: Little's law
//!
//! Requests in flight = rate × answer time. The gate lets `HEADROOM` (1.5) times that, plus
//! one, so that answers slower than the mean do not hold the rate back, at most
//! `--max-concurrency`. A server that limits requests in flight rather than requests per
//! second refuses at one number in flight, more than any answer came back with: a 429 for a
//! request that left with more in flight than that (or than the last such limit found), and
//! at least `FEWEST_IN_FLIGHT_SEEN`, drops the gate's ceiling to one below it. The ceiling
//! rises by one after `CEILING_STEP` without a 429, a wait that doubles each time the limit
//! is found in the same place. Such a 429 while holding under the rate learned teaches the
//! rate nothing (it only goes a little lower, as after any `Retry-After`); while probing, once
//! the server refused twice at that number, the rate's limit is at least what those requests
//! in flight carried at the answer time, since the last second's answers lag behind a probe
//! (6 in flight at 100 ms: 0.69 of 60/s without that, 0.83 with it). Once only, it may be a
//! rate limit met with many requests in flight: at 300 ms answers what they carried was our
//! own probe's rate, 88/s for a limit of 80.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long the rate takes to double before the first 429 of a cold start.
const START_DOUBLING: Duration = Duration::from_millis(500);
/// The rate held near a limit measured, as a share of it.
const MARGIN: f64 = 0.98;
/// The rate after a 429, as a share of the limit measured then.
const BETA: f64 = 0.9;
/// How long the rate takes to climb back to the limit after a reduction.
const RECOVER: Duration = Duration::from_millis(1500);
/// The hold near the limit before probing past it: the first, the shortest and the longest.
const HOLD_START: Duration = Duration::from_secs(4);
const HOLD_MIN: Duration = Duration::from_secs(1);
const HOLD_MAX: Duration = Duration::from_secs(16);
/// The hold under a higher limit seen lately: that limit may come back. Each probe past a
/// limit that did not move costs a `Retry-After`; each second of hold, the difference when it
/// did. Against a limit moving between 30 and 80 every 15 s, 2.5 s and 4 s measured the same.
const HOLD_UNDER: Duration = Duration::from_millis(2500);
/// How long a return to a limit seen lately goes without a 429 before that limit is taken
/// as back.
const CONFIRM: Duration = Duration::from_secs(1);
/// A limit measured within this share of the last one is the same limit.
const SAME_LIMIT: f64 = 0.15;
/// How long a limit seen counts as "lately" (a lower limit under it is probed soon).
const LATELY: Duration = Duration::from_secs(60);
/// Requests in flight allowed over what the rate needs at the mean answer time.
const HEADROOM: f64 = 1.5;
/// Without a 429 for this long, a concurrency ceiling rises by one; the longest that wait
/// grows to when the server's limit is found in the same place again and again.
const CEILING_STEP: Duration = Duration::from_secs(3);
const CEILING_STEP_MAX: Duration = Duration::from_secs(24);
/// Fewer requests in flight than this say nothing of a server's limit of them: one or two
/// more in flight than usual is chance at a few requests in flight.
const FEWEST_IN_FLIGHT_SEEN: usize = 4;
/// The most requests in flight an answer came back with is kept over two buckets of this.
const ANSWERED_BUCKET: Duration = Duration::from_secs(5);
/// The slowest rate `auto` goes down to.
const SLOWEST_AUTO: f64 = 0.5;
/// Answers timed before a fixed rate is judged reachable or not.
const ANSWERS_BEFORE_JUDGING: u32 = 20;

/// `--rate auto`'s bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AutoRate {
    /// The limit the journal learned for this base URL on an earlier run: the run starts
    /// just under it. Without one it starts at [`AutoRate::FIRST`] and doubles every half
    /// second until the first 429.
    pub learned: Option<f64>,
    /// `--max-rate`.
    pub max: f64,
}

impl AutoRate {
    /// The first rate with nothing learned.
    pub const FIRST: f64 = 5.0;
}

/// Where the rate is on its curve.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// Nothing learned yet: doubling every `START_DOUBLING` from `from`.
    Start,
    /// Back from `from` (after a reduction) to the limit, concave.
    Recover,
    /// At the limit, for `hold`.
    Hold,
    /// Past the limit, doubling every second from it.
    Probe,
    /// At a higher limit seen lately (`from`), for `CONFIRM`: the probe under a limit that
    /// moves, which finds it came back without a 429.
    Return,
}

/// The rate of `--rate auto`. Plain state and arithmetic on the times given: the tests drive
/// it with made-up answers at made-up times.
#[derive(Debug)]
pub struct RateControl {
    max: f64,
    phase: Phase,
    /// When the current phase began and the rate then.
    epoch: Instant,
    from: f64,
    /// The limit learned (`None` before the first 429 of a cold start).
    limit: Option<f64>,
    /// The highest limit measured lately, and when.
    highest: Option<(f64, Instant)>,
    /// The lowest limit measured lately, and when.
    lowest: Option<(f64, Instant)>,
    /// The hold the highest limit earned (longer each time it was found again).
    highest_hold: Duration,
    hold: Duration,
    /// Requests sent before this got their 429 in the episode it began.
    last_cut: Option<Instant>,
    /// When the request whose 429 began the episode was sent.
    first_refused: Option<Instant>,
    /// Whether the episode's limit is a count of what the server let through (which a
    /// refused request counted in it corrects).
    counted: bool,
    /// When the requests answered in the last two seconds were sent (not throttled ones), in
    /// the order their answers came.
    answers: VecDeque<Instant>,
    /// When those answers came, in order: the throughput of the last second.
    arrivals: VecDeque<Instant>,
    /// The rate now, as last computed.
    rate: f64,
}

impl RateControl {
    pub fn new(auto: AutoRate, now: Instant) -> RateControl {
        // `--max-rate` is never passed, even under the slowest rate `auto` goes down to.
        let max = auto.max;
        let mut control = RateControl {
            max,
            phase: Phase::Start,
            epoch: now,
            from: AutoRate::FIRST.min(max),
            limit: None,
            highest: None,
            lowest: None,
            highest_hold: HOLD_START,
            hold: HOLD_START,
            last_cut: None,
            first_refused: None,
            counted: false,
            answers: VecDeque::new(),
            arrivals: VecDeque::new(),
            rate: AutoRate::FIRST.min(max),
        };
        if let Some(learned) = auto.learned {
            // Warm: what the last run learned is the limit; begin just under it and climb.
            let limit = learned.max(SLOWEST_AUTO).min(max);
            control.limit = Some(limit);
            control.highest = Some((limit, now));
            control.phase = Phase::Recover;
            control.from = BETA * limit;
            control.rate = control.from;
        }
        control
    }

    /// The rate now.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// The limit learned (from a 429, or by an earlier run): what the next run starts from.
    /// A rate merely reached is not kept: a cold start doubles every half second, faster than
    /// a warm one climbs past a limit it believes in.
    pub fn learned(&self) -> Option<f64> {
        self.limit
    }

    /// An answer (not a 429 or 503) came at `now`. `ceiling`: the most the requests in flight
    /// can carry at the answer time. Gives the rate from now on.
    pub fn answered(&mut self, sent: Instant, now: Instant, ceiling: Option<f64>) -> f64 {
        self.answers.push_back(sent);
        self.arrivals.push_back(now);
        self.forget_old(now);
        self.advance(now, ceiling)
    }

    /// A 429 or 503 came at `now` for a request sent at `sent`, when `earlier` requests sent
    /// before it were still in flight. Gives the rate from now on and whether this began a
    /// new episode (`false`: the episode's reduction was already made).
    pub fn throttled(
        &mut self,
        sent: Instant,
        now: Instant,
        earlier: f64,
        carried: Option<f64>,
    ) -> (f64, bool) {
        self.forget_old(now);
        if self.last_cut.is_some_and(|cut| sent < cut) {
            // Sent before the request that began the episode and refused too: it was counted
            // as let through (in flight then), and was not.
            if let (Some(first), Some(limit)) = (self.first_refused, self.limit)
                && sent < first
                && first - sent < Duration::from_secs(1)
                && self.phase == Phase::Recover
                && self.counted
            {
                let fewer = (limit - MARGIN).max(SLOWEST_AUTO);
                if self.highest.is_some_and(|(h, _)| h == limit) {
                    self.highest = self.highest.map(|(_, at)| (fewer, at));
                }
                if self.lowest.is_some_and(|(l, _)| l == limit) {
                    self.lowest = self.lowest.map(|(_, at)| (fewer, at));
                }
                self.limit = Some(fewer);
                self.from = self.from.min(BETA * fewer).max(SLOWEST_AUTO);
                self.rate = self.rate.min(self.from.max(self.rate * fewer / limit));
            }
            return (self.rate, false);
        }
        // What the server let through in the second before this request is its limit (a
        // server that counts a second's requests refused it because that second was full):
        // the answers to requests sent in that second, and those still in flight. Never more
        // than our rate, which may be less than the curve's rate when it was not used.
        let let_through = self
            .answers
            .iter()
            .filter(|t| **t <= sent && sent - **t < Duration::from_secs(1))
            .count() as f64
            + earlier;
        // 2% less: a hold just over the limit costs a 429 (and its Retry-After) each time,
        // and answers that cross the network unevenly make a few seconds hold one more.
        let counted = let_through.min(self.rate.max(self.from));
        // Refused for the requests in flight (a limit of them found twice at one number):
        // what they carry is the most the server allows (the last second's answers lag
        // behind a probe). Not a rate seen, though: it never becomes the highest limit.
        let by_carried = carried.is_some_and(|c| c > counted);
        let measured = counted.max(carried.unwrap_or(0.0));
        let mut measured = (MARGIN * measured).max(SLOWEST_AUTO).min(self.max);
        let recent = self.highest.filter(|(_, at)| now - *at < LATELY);
        let mut same = self
            .limit
            .is_some_and(|l| (measured - l).abs() <= SAME_LIMIT * l);
        // Refused while holding a limit that held so far: it moved down, and what the last
        // second let through is still the old limit's traffic. A lower limit seen lately is
        // where it likely went (limits that move tend to move between a few levels); without
        // one, the next 429 will tell.
        let lower = self
            .lowest
            .filter(|(l, at)| now - *at < LATELY && *l < (1.0 - SAME_LIMIT) * measured);
        let jumped = matches!((self.phase, same, lower), (Phase::Hold, true, Some(_)));
        if let (true, Some((l, _))) = (jumped, lower) {
            measured = l;
            same = false;
        }
        // Measured, not jumped to: a level keeps the time it was last measured, and ages.
        if !jumped
            && self
                .lowest
                .is_none_or(|(l, at)| measured <= l || now - at >= LATELY)
        {
            self.lowest = Some((measured, now));
        }
        // What a refused request sent before this one, and in flight then, says of the
        // count: only a count (not a jump, not what requests in flight carried) is corrected.
        self.counted = !jumped && !by_carried && let_through <= self.rate.max(self.from);
        let under_recent = recent.is_some_and(|(h, _)| measured < (1.0 - SAME_LIMIT) * h);
        let higher = self.limit.is_some_and(|l| measured > l);
        self.hold = if same {
            (self.hold * 2).min(HOLD_MAX)
        } else if under_recent {
            HOLD_UNDER
        } else if higher {
            HOLD_START
        } else {
            HOLD_MIN
        };
        if under_recent {
            self.hold = self.hold.min(HOLD_UNDER);
        }
        if self.limit.is_none() {
            self.hold = HOLD_START;
        }
        if !by_carried && recent.is_none_or(|(h, _)| measured >= h) {
            self.highest = Some((measured, now));
        }
        // The hold a return to the highest limit gets: what that limit earned.
        if recent.is_none_or(|(h, _)| measured >= (1.0 - SAME_LIMIT) * h) {
            self.highest_hold = self.hold;
        }
        self.limit = Some(measured);
        self.phase = Phase::Recover;
        self.epoch = now;
        // Lower than before, whatever was measured.
        self.from = (BETA * measured)
            .min(BETA * self.rate)
            .max(SLOWEST_AUTO)
            .min(self.max);
        self.rate = self.from;
        tracing::debug!(
            let_through,
            limit = measured,
            hold_seconds = self.hold.as_secs_f64(),
            rate = self.rate,
            "rate limit reached"
        );
        self.last_cut = Some(now);
        self.first_refused = Some(sent);
        (self.rate, true)
    }

    /// A 429 or 503 that a limit of requests in flight explains came for a request sent at
    /// `sent`: the rate goes a little lower (as after any `Retry-After`) and climbs back to the
    /// limit it had, learning nothing about the rate. Gives the rate from now on and whether
    /// this began a new episode.
    pub fn slowed(&mut self, sent: Instant, now: Instant) -> (f64, bool) {
        if self.last_cut.is_some_and(|cut| sent < cut) {
            return (self.rate, false);
        }
        self.from = (BETA * self.rate).max(SLOWEST_AUTO).min(self.max);
        self.rate = self.from;
        self.phase = match self.limit {
            Some(_) => Phase::Recover,
            None => Phase::Start,
        };
        self.epoch = now;
        self.last_cut = Some(now);
        self.first_refused = Some(sent);
        self.counted = false;
        (self.rate, true)
    }

    /// The highest limit measured lately.
    pub fn highest_lately(&self, now: Instant) -> Option<f64> {
        self.highest
            .filter(|(_, at)| now - *at < LATELY)
            .map(|(h, _)| h)
    }

    /// Answers that came in the last second.
    pub fn last_second(&self, now: Instant) -> f64 {
        self.arrivals
            .iter()
            .rev()
            .take_while(|t| now - **t < Duration::from_secs(1))
            .count() as f64
    }

    /// Whether the rate is now past any limit learned (starting, probing): a 429 then is
    /// first of all the limit of the rate.
    pub fn probing(&self) -> bool {
        matches!(self.phase, Phase::Start | Phase::Probe | Phase::Return)
    }

    /// The highest limit seen lately, when it is well above the limit now.
    fn higher_lately(&self, now: Instant) -> Option<f64> {
        let limit = self.limit?;
        self.highest_lately(now)
            .filter(|h| *h > (1.0 + SAME_LIMIT) * limit)
    }

    fn forget_old(&mut self, now: Instant) {
        // Kept two seconds: a 429 looks at the second before its request left. (Send times
        // come in the order of their answers: one slow answer keeps a few newer ones behind
        // it a little longer, which the count by time does not mind.)
        while self
            .answers
            .front()
            .is_some_and(|t| now - *t >= Duration::from_secs(2))
        {
            self.answers.pop_front();
        }
        while self
            .arrivals
            .front()
            .is_some_and(|t| now - *t >= Duration::from_secs(1))
        {
            self.arrivals.pop_front();
        }
    }

    /// Moves along the curve to `now`.
    fn advance(&mut self, now: Instant, ceiling: Option<f64>) -> f64 {
        loop {
            let t = now.saturating_duration_since(self.epoch);
            match self.phase {
                Phase::Recover if t >= RECOVER => {
                    self.phase = Phase::Hold;
                    self.epoch += RECOVER;
                }
                Phase::Hold if t >= self.hold => {
                    self.epoch += self.hold;
                    // Under a higher limit seen lately, the probe tries that limit at once:
                    // a limit that came back is found without a 429 (and one that did not
                    // costs the same 429 as a doubling probe).
                    match self.higher_lately(now) {
                        Some(higher) => {
                            self.phase = Phase::Return;
                            self.from = higher;
                        }
                        None => self.phase = Phase::Probe,
                    }
                }
                // Back only once answers come at that limit (requests already paced at the
                // old rate, or a ceiling on requests in flight, may hold them under it).
                Phase::Return if t >= CONFIRM && self.last_second(now) >= BETA * self.from => {
                    self.limit = Some(self.from);
                    // Answers came at it: measured again, as good as a 429 there.
                    self.highest = Some((self.from, now));
                    self.hold = self.highest_hold;
                    self.phase = Phase::Hold;
                    self.epoch = now;
                }
                _ => break,
            }
        }
        let t = now.saturating_duration_since(self.epoch).as_secs_f64();
        let limit = self.limit.unwrap_or(self.from);
        let curve = match self.phase {
            Phase::Start => self.from * 2f64.powf(t / START_DOUBLING.as_secs_f64()),
            Phase::Recover => {
                let left = 1.0 - t / RECOVER.as_secs_f64();
                limit - (limit - self.from) * left.powi(3)
            }
            Phase::Hold => limit,
            Phase::Probe => limit * 2f64.powf(t),
            Phase::Return => self.from,
        };
        // Not above twice what came back in the last second: a rate nobody uses (too few
        // rows, or too few in flight) is not learned. The curve's own start is always allowed.
        let used = (2.0 * self.last_second(now)).max(self.from);
        let mut rate = curve.min(used).min(self.max);
        if let Some(c) = ceiling {
            rate = rate.min(c.max(SLOWEST_AUTO));
        }
        self.rate = rate.max(SLOWEST_AUTO).min(self.max);
        self.rate
    }
}

/// Requests in flight under a limit that changes (`--concurrency auto`). Workers are started
/// for `--max-concurrency`; each enters the gate before its turn from the pacer and leaves
/// when its answer is in, so the requests in flight never exceed the limit of the moment.
///
/// Two atomics and a `Notify`, not a semaphore: the limit moves both ways, and a semaphore
/// cannot take back permits held by requests in flight. A lowered limit takes effect as
/// requests end; a raised one wakes the waiters at once.
#[derive(Debug)]
pub struct Gate {
    limit: AtomicUsize,
    in_flight: AtomicUsize,
    /// Places whose request has left (the others wait for their turn from the pacer).
    sent: AtomicUsize,
    freed: Notify,
}

/// A place in the gate, given back when dropped.
pub struct Slot<'a> {
    gate: &'a Gate,
    sent: bool,
}

impl Slot<'_> {
    /// This place's request leaves now: gives the requests sent and not answered yet, itself
    /// included.
    pub fn send(&mut self) -> usize {
        if self.sent {
            return self.gate.sent.load(Ordering::Acquire);
        }
        self.sent = true;
        self.gate.sent.fetch_add(1, Ordering::AcqRel) + 1
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if self.sent {
            self.gate.sent.fetch_sub(1, Ordering::AcqRel);
        }
        self.gate.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.gate.freed.notify_waiters();
    }
}

impl Gate {
    pub fn new(limit: usize) -> Gate {
        Gate {
            limit: AtomicUsize::new(limit.max(1)),
            in_flight: AtomicUsize::new(0),
            sent: AtomicUsize::new(0),
            freed: Notify::new(),
        }
    }

    /// Waits for a place; `None` when `stop` fired first.
    pub async fn enter(&self, stop: &CancellationToken) -> Option<Slot<'_>> {
        loop {
            // Registered before the check, so a place freed in between still wakes us.
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            let now = self.in_flight.load(Ordering::Acquire);
            if now < self.limit.load(Ordering::Acquire) {
                if self
                    .in_flight
                    .compare_exchange(now, now + 1, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    return Some(Slot {
                        gate: self,
                        sent: false,
                    });
                }
                continue;
            }
            tokio::select! {
                _ = freed => {}
                _ = stop.cancelled() => return None,
            }
        }
    }

    pub fn set_limit(&self, limit: usize) {
        let old = self.limit.swap(limit.max(1), Ordering::AcqRel);
        if limit > old {
            self.freed.notify_waiters();
        }
    }

    #[cfg(test)]
    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::Acquire)
    }

    /// Places taken (requests in flight and those waiting for their turn).
    #[cfg(test)]
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }
}

/// The concurrency of `--concurrency auto`: Little's law under a ceiling that a server's own
/// limit of requests in flight lowers.
#[derive(Debug)]
pub struct ConcurrencyControl {
    max: usize,
    /// At most this many, below `max` after a concurrency limit was seen.
    ceiling: usize,
    /// When the ceiling last moved.
    moved: Instant,
    /// How long the ceiling waits without a 429 before rising by one: doubled each time a
    /// server's limit is found where it was last time.
    step: Duration,
    /// The ceiling the last 429 set.
    found: Option<usize>,
    /// The most requests in flight any answer came back with: in the bucket begun at the
    /// instant, and in the bucket before it (a maximum over the last 5 to 10 s).
    most_answered: (Instant, usize, usize),
}

impl ConcurrencyControl {
    pub fn new(max: usize, now: Instant) -> ConcurrencyControl {
        ConcurrencyControl {
            max: max.max(1),
            ceiling: max.max(1),
            moved: now,
            step: CEILING_STEP,
            found: None,
            most_answered: (now, 0, 0),
        }
    }

    /// Requests in flight for `rate` at `answer_time`: Little's law with headroom, plus one.
    pub fn little(rate: f64, answer_time: Duration) -> usize {
        (rate * answer_time.as_secs_f64() * HEADROOM).ceil() as usize + 1
    }

    /// The limit now for `rate` at `answer_time`.
    pub fn limit(&mut self, rate: Option<f64>, answer_time: Duration, now: Instant) -> usize {
        if self.ceiling < self.max && now - self.moved >= self.step {
            self.ceiling += 1;
            self.moved = now;
            if self.ceiling == self.max {
                // Back to the most allowed: the limit found is forgotten.
                self.found = None;
            }
        }
        match rate {
            Some(r) => Self::little(r, answer_time).clamp(1, self.ceiling),
            None => self.ceiling,
        }
    }

    /// A 429 that a limit of requests in flight explains (or may: at a fixed rate, or while
    /// probing) came for a request that left with `in_flight` requests in flight (itself
    /// included).
    pub fn limited(&mut self, in_flight: usize, now: Instant) {
        let ceiling = in_flight.saturating_sub(1).clamp(1, self.max);
        // The same limit found again: probe it less often (as the rate's hold grows).
        self.step = if self.found == Some(ceiling) {
            (self.step * 2).min(CEILING_STEP_MAX)
        } else {
            CEILING_STEP
        };
        self.found = Some(ceiling);
        self.ceiling = ceiling;
        self.moved = now;
    }

    /// An answer came back for a request that left with `in_flight` requests in flight.
    pub fn answered_with(&mut self, in_flight: usize, now: Instant) {
        self.age_answered(now);
        let (_, ref mut current, _) = self.most_answered;
        *current = (*current).max(in_flight);
    }

    /// Starts a new bucket of the most in flight answered when the current one is
    /// `ANSWERED_BUCKET` old.
    fn age_answered(&mut self, now: Instant) {
        let (begun, current, _) = self.most_answered;
        let age = now - begun;
        if age >= ANSWERED_BUCKET {
            let previous = if age >= 2 * ANSWERED_BUCKET {
                0
            } else {
                current
            };
            self.most_answered = (now, 0, previous);
        }
    }

    /// Whether `in_flight` is more than any answer came back with lately, or than the last
    /// limit of requests in flight found.
    pub fn beyond(&self, in_flight: usize, now: Instant) -> bool {
        let (begun, current, previous) = self.most_answered;
        let age = now - begun;
        let most = if age >= 2 * ANSWERED_BUCKET {
            0
        } else if age >= ANSWERED_BUCKET {
            current
        } else {
            current.max(previous)
        };
        in_flight > most || self.found.is_some_and(|f| in_flight > f)
    }

    /// The limit of requests in flight found last, if any.
    pub fn found(&self) -> Option<usize> {
        self.found
    }

    /// The most the ceiling lets through at `answer_time`, in requests a second.
    pub fn carries(&self, answer_time: Duration) -> Option<f64> {
        (self.ceiling < self.max && !answer_time.is_zero())
            .then(|| self.ceiling as f64 / answer_time.as_secs_f64())
    }
}

/// A mean of answer times that follows change: each new time weighs 1/8.
#[derive(Debug, Default, Clone, Copy)]
struct AnswerTime {
    mean: Option<f64>,
    count: u32,
}

impl AnswerTime {
    fn add(&mut self, took: Duration) {
        let t = took.as_secs_f64();
        self.mean = Some(match self.mean {
            None => t,
            Some(m) => m + (t - m) / 8.0,
        });
        self.count = self.count.saturating_add(1);
    }

    fn get(&self) -> Duration {
        Duration::from_secs_f64(self.mean.unwrap_or(0.0))
    }
}

/// Everything the limits know, behind one lock (a few arithmetic steps per answer).
#[derive(Debug)]
struct State {
    rate: Option<RateControl>,
    concurrency: Option<ConcurrencyControl>,
    answer_time: AnswerTime,
}

/// The limits of one command's requests: shared by every worker, told about every answer.
#[derive(Debug)]
pub struct Limits {
    state: Mutex<State>,
    gate: Option<Gate>,
    /// A fixed rate and concurrency, for the warning when the one cannot reach the other.
    fixed: Option<(f64, usize)>,
    /// The rate when it is not `auto` (`None`: unlimited).
    fixed_rate: Option<f64>,
    warned: AtomicBool,
}

/// What an answer changed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Change {
    /// The rate to pace at from now on (only with `--rate auto`).
    pub rate: Option<f64>,
    /// The limit learned so far (only with `--rate auto`).
    pub learned: Option<f64>,
}

impl Limits {
    /// `auto_rate`: `--rate auto`; `fixed_rate`: the rate otherwise (`None`: unlimited);
    /// `concurrency`: `--concurrency`, or `--max-concurrency` when `auto_concurrency`.
    pub fn new(
        auto_rate: Option<AutoRate>,
        fixed_rate: Option<f64>,
        concurrency: usize,
        auto_concurrency: bool,
    ) -> Limits {
        let now = Instant::now();
        let rate = auto_rate.map(|a| RateControl::new(a, now));
        let (gate, concurrency_control) = if auto_concurrency {
            let start = rate
                .as_ref()
                .map(|r| r.rate())
                .or(fixed_rate)
                .map_or(concurrency, |r| {
                    // Nothing measured yet: as if answers took a tenth of a second.
                    ConcurrencyControl::little(r, Duration::from_millis(100)).min(concurrency)
                });
            (
                Some(Gate::new(start)),
                Some(ConcurrencyControl::new(concurrency, now)),
            )
        } else {
            (None, None)
        };
        Limits {
            fixed: match (auto_rate, fixed_rate, auto_concurrency) {
                (None, Some(r), false) => Some((r, concurrency)),
                _ => None,
            },
            state: Mutex::new(State {
                rate,
                concurrency: concurrency_control,
                answer_time: AnswerTime::default(),
            }),
            gate,
            fixed_rate,
            warned: AtomicBool::new(false),
        }
    }

    /// The gate of `--concurrency auto`, if that is the setting.
    pub fn gate(&self) -> Option<&Gate> {
        self.gate.as_ref()
    }

    /// The rate `--rate auto` paces at now; `None` for a fixed rate.
    pub fn rate(&self) -> Option<f64> {
        let state = self.state.lock().expect("limits lock");
        state.rate.as_ref().map(RateControl::rate)
    }

    /// An answer that was not a 429 or 503, for a request sent at `sent` with `in_flight`
    /// requests in flight (itself included; `None` when the gate does not count them).
    pub fn answered(&self, sent: Instant, now: Instant, in_flight: Option<usize>) -> Change {
        let mut state = self.state.lock().expect("limits lock");
        let state = &mut *state;
        state.answer_time.add(now - sent);
        if let (Some(c), Some(n)) = (state.concurrency.as_mut(), in_flight) {
            c.answered_with(n, now);
        }
        let answer_time = state.answer_time.get();
        let ceiling = state
            .concurrency
            .as_ref()
            .and_then(|c| c.carries(answer_time));
        let rate = state.rate.as_mut().map(|r| r.answered(sent, now, ceiling));
        if let (Some(c), Some(gate)) = (state.concurrency.as_mut(), &self.gate) {
            gate.set_limit(c.limit(rate.or(self.fixed_rate), answer_time, now));
        }
        if state.answer_time.count == ANSWERS_BEFORE_JUDGING {
            self.judge_fixed(answer_time);
        }
        Change {
            rate,
            learned: state.rate.as_ref().and_then(RateControl::learned),
        }
    }

    /// A 429 or 503 for a request sent at `sent` with `in_flight` requests in flight (itself
    /// included; `None` when the gate does not count them).
    pub fn throttled(&self, sent: Instant, now: Instant, in_flight: Option<usize>) -> Change {
        let mut state = self.state.lock().expect("limits lock");
        let state = &mut *state;
        let answer_time = state.answer_time.get();
        let probing = state.rate.as_ref().is_some_and(RateControl::probing);
        // Sent before it and not answered yet: counted by the gate, or by Little's law.
        let earlier = match (in_flight, &state.rate) {
            (Some(n), _) => n.saturating_sub(1) as f64,
            (None, Some(r)) => (r.rate() * answer_time.as_secs_f64()).floor(),
            (None, None) => 0.0,
        };
        let throughput = state.rate.as_ref().map(|r| r.last_second(now));
        // Refused with more requests in flight than any answer came back with lately: the
        // server may count requests in flight. (A server that counts a second's requests
        // refuses at any number in flight, and answers have come back with as many.) While
        // probing past the rate learned, it is the rate's limit too.
        let beyond = match (&state.concurrency, in_flight) {
            (Some(c), Some(n)) => n >= FEWEST_IN_FLIGHT_SEEN && c.beyond(n, now),
            _ => false,
        };
        let by_concurrency = beyond && !probing;
        // The most requests a second seen lately: what the ceiling must carry.
        let carried = state
            .rate
            .as_ref()
            .and_then(|r| r.highest_lately(now))
            .unwrap_or(0.0)
            .max(throughput.unwrap_or(0.0));
        let rate = state.rate.as_mut().map(|r| {
            if by_concurrency {
                r.slowed(sent, now)
            } else {
                // What the requests in flight before it carried at the answer time, once the
                // server refused twice at that number (once, it may be the rate's limit met
                // with many requests in flight).
                let twice = match (&state.concurrency, in_flight) {
                    (Some(c), Some(n)) => c.found() == Some(n.saturating_sub(1)),
                    _ => false,
                };
                let carried = (beyond && twice && !answer_time.is_zero())
                    .then(|| earlier / answer_time.as_secs_f64());
                r.throttled(sent, now, earlier, carried)
            }
        });
        if let (Some(c), Some(gate), Some(n)) = (state.concurrency.as_mut(), &self.gate, in_flight)
        {
            let new_episode = rate.is_none_or(|(_, new)| new);
            // At a fixed rate, any 429 may be the server's limit of requests in flight. Never
            // below what the rate seen lately needs, though: a rate limit looks the same.
            if (beyond || (rate.is_none() && n > 1)) && new_episode {
                let needed = (carried * answer_time.as_secs_f64()).ceil() as usize + 1;
                c.limited(n.max(needed), now);
            }
            tracing::debug!(
                in_flight = n,
                beyond,
                ceiling = c.ceiling,
                "refused with requests in flight"
            );
            gate.set_limit(c.limit(rate.map(|(r, _)| r).or(self.fixed_rate), answer_time, now));
        }
        Change {
            rate: rate.map(|(r, _)| r),
            learned: state.rate.as_ref().and_then(RateControl::learned),
        }
    }

    /// A fixed rate out of reach of a fixed concurrency at the measured answer time: said
    /// once.
    fn judge_fixed(&self, answer_time: Duration) {
        let Some((rate, concurrency)) = self.fixed else {
            return;
        };
        if let Some(needed) = unreachable(rate, concurrency, answer_time)
            && !self.warned.swap(true, Ordering::AcqRel)
        {
            tracing::warn!(
                "--rate {rate} is out of reach: answers take {} ms, so --concurrency \
                 {concurrency} sends at most {:.1} a second; --concurrency {needed} would reach \
                 it (or --concurrency auto)",
                answer_time.as_millis(),
                concurrency as f64 / answer_time.as_secs_f64()
            );
        }
    }
}

/// The concurrency that would reach `rate` at `answer_time`, when `concurrency` cannot (it
/// carries less than 95% of the rate).
pub fn unreachable(rate: f64, concurrency: usize, answer_time: Duration) -> Option<usize> {
    let carried = concurrency as f64 / answer_time.as_secs_f64().max(1e-9);
    (carried < 0.95 * rate).then(|| ConcurrencyControl::little(rate, answer_time) - 1)
}

#[cfg(test)]
mod tests;
