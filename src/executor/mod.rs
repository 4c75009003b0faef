//! Sending the planned rows: pacing, a bounded number of requests in flight, retries, and a
//! clean stop.
//!
//! Jobs arrive from the planner in batches. The claimer records each batch in flight in the
//! journal in one commit (every row durably "in flight" before its request leaves), then
//! hands it out in shares of at most `SHARE` rows, each to the next sender shard in turn that
//! has room. A shard is a fixed pool of `concurrency / shards` workers on its own thread.
//! Each worker asks the pacer for a turn before every attempt and sends its outcome to the
//! journal writer without waiting. Nothing here touches SQLite.
//!
//! Claiming in batches is what lets the journal keep up with a fast server: one commit per
//! row would cap a run at a few thousand rows a second. The batch is about half a second's
//! worth of requests at the configured rate (256 when unlimited). The price is paid only on a
//! crash: the rows claimed ahead (up to about a second's worth at a rate, several hundred when
//! unlimited) stay marked in flight though most were never sent, and the next run sends them,
//! a 409 among them carrying the note that an earlier request may have created the customer.
//! On a clean stop they are released. Moving batches rather than single jobs between threads
//! also means one wake-up per batch, not per row.

mod attempt;
pub mod limits;
mod pacer;

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Result;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::api::{ApiError, Client};
use crate::journal::writer::{Command, WriterHandle};
use crate::plan::Job;
use crate::status::Status;
pub use attempt::{Attempted, Attempts};
pub use limits::{AutoRate, Limits};
pub use pacer::{Backoff, Pacer, Rate};

/// Why sending stopped before the planner ran dry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// A signal (Ctrl-C, SIGTERM, SIGHUP): finish what is in flight, write the report.
    Signal(crate::exit::Signal),
    /// The run cannot go on: the API refuses our requests (a 401 that survived renewal, or a
    /// 403), its TLS certificate is not trusted, or an internal error. Says which, with the
    /// API's message if any.
    Fatal(String),
    /// No attempt could connect to the API for a while ("the API is unreachable: <the last
    /// error>"). Nothing is wrong with the rows: the run can resume once the API answers.
    Unreachable(String),
}

impl StopReason {
    /// How a command stopped for this reason ends.
    pub fn exit(&self) -> crate::exit::Exit {
        match self {
            StopReason::Signal(signal) => crate::exit::Exit::Stopped(*signal),
            StopReason::Fatal(_) => crate::exit::Exit::Fatal,
            // Nothing is wrong with the rows: they wait for the next run.
            StopReason::Unreachable(_) => crate::exit::Exit::Resume,
        }
    }

    /// Why, in a few words: for summary.json's `stopped` and the terminal.
    pub fn describe(&self) -> &str {
        match self {
            StopReason::Signal(signal) => signal.describe(),
            StopReason::Fatal(why) | StopReason::Unreachable(why) => why,
        }
    }
}

/// The run's stop switch, shared by the signal handler, the planner, the dispatcher and every
/// task.
#[derive(Clone, Default)]
pub struct Stop {
    token: CancellationToken,
    reason: Arc<std::sync::Mutex<Option<StopReason>>>,
}

impl Stop {
    pub fn new() -> Stop {
        Stop::default()
    }

    pub fn trigger(&self, reason: StopReason) {
        let mut r = self.reason.lock().expect("stop lock");
        if r.is_none() {
            *r = Some(reason);
        }
        self.token.cancel();
    }

    pub fn is_stopped(&self) -> bool {
        self.token.is_cancelled()
    }

    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    pub fn reason(&self) -> Option<StopReason> {
        self.reason.lock().expect("stop lock").clone()
    }
}

/// Request figures for the summaries, counted by [`Attempts::call`]. (Row counts come from
/// the journal, which is the truth.)
#[derive(Debug, Default)]
pub struct Stats {
    pub sent: AtomicU64,
    pub retries: AtomicU64,
    pub http_429: AtomicU64,
    /// The rate paced at now (`f64` bits; 0 when unlimited): the progress line and
    /// summary.json's `rate_final` read it.
    rate: AtomicU64,
    /// With `--rate auto`, the limit learned (`f64` bits; 0 before anything was), which the
    /// journal keeps for the next run.
    learned: AtomicU64,
}

impl Stats {
    pub fn set_rate(&self, rate: Option<f64>) {
        self.rate
            .store(rate.unwrap_or(0.0).to_bits(), Ordering::Relaxed);
    }

    /// The rate paced at now; `None` when unlimited.
    pub fn rate(&self) -> Option<f64> {
        Some(f64::from_bits(self.rate.load(Ordering::Relaxed))).filter(|r| *r > 0.0)
    }

    pub fn set_learned(&self, rate: f64) {
        self.learned.store(rate.to_bits(), Ordering::Relaxed);
    }

    /// With `--rate auto`, the limit learned; `None` otherwise.
    pub fn learned(&self) -> Option<f64> {
        Some(f64::from_bits(self.learned.load(Ordering::Relaxed))).filter(|r| *r > 0.0)
    }

    /// Requests sent, retries, 429s seen, as they are now.
    pub fn snapshot(&self) -> Tally {
        Tally {
            sent: self.sent.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            http_429: self.http_429.load(Ordering::Relaxed),
        }
    }
}

/// A reading of [`Stats`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub sent: u64,
    pub retries: u64,
    pub http_429: u64,
}

impl std::ops::Sub for Tally {
    type Output = Tally;
    fn sub(self, earlier: Tally) -> Tally {
        Tally {
            sent: self.sent - earlier.sent,
            retries: self.retries - earlier.retries,
            http_429: self.http_429 - earlier.http_429,
        }
    }
}

/// How requests are sent, the same for `run` and `reconcile`: checked from the flags.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The rate paced at (with `--rate auto`, the first one).
    pub rate: Rate,
    /// `--rate auto`: the rate follows the answers (see `limits`).
    pub auto_rate: Option<AutoRate>,
    /// Requests in flight at most (with `--concurrency auto`, `--max-concurrency`).
    pub concurrency: usize,
    /// `--concurrency auto`: the requests in flight follow the rate and the answer time.
    pub auto_concurrency: bool,
    /// Attempts per row (or read) per run at most.
    pub max_attempts: u32,
    pub backoff: Backoff,
    /// How long requests in flight may take to finish once a stop is asked for.
    pub grace: Duration,
}

impl Policy {
    /// The attempt loop of one command under this policy.
    pub fn attempts(&self, stop: &Stop, stats: &Arc<Stats>) -> Attempts {
        let limits = Limits::new(
            self.auto_rate,
            self.rate.per_second(),
            self.concurrency,
            self.auto_concurrency,
        );
        let rate = limits.rate().map_or(self.rate, Rate::PerSecond);
        stats.set_rate(rate.per_second());
        if let Some(learned) = self.auto_rate.and_then(|a| a.learned) {
            stats.set_learned(learned);
        }
        Attempts {
            pacer: Arc::new(Pacer::new(rate)),
            limits: Arc::new(limits),
            stop: stop.clone(),
            stats: stats.clone(),
            max_attempts: self.max_attempts,
            backoff: self.backoff,
            unanswered: Arc::default(),
        }
    }

    /// Rows claimed per journal commit: about half a second of requests at the rate, at most
    /// `MAX_CLAIM` (also when the rate is unlimited, where that is a few milliseconds' worth).
    pub fn claim_batch(&self) -> usize {
        const MAX_CLAIM: usize = 256;
        match (self.auto_rate, self.rate) {
            // The rate may climb to the most allowed.
            (Some(auto), _) => ((auto.max / 2.0).ceil() as usize).clamp(1, MAX_CLAIM),
            (None, Rate::Unlimited) => MAX_CLAIM,
            (None, Rate::PerSecond(r)) => ((r / 2.0).ceil() as usize).clamp(1, MAX_CLAIM),
        }
    }

    /// Runtime threads that send requests, each with its own connections and a share of the
    /// concurrency: one when pacing keeps the run slow anyway, one per core (at most four)
    /// when the rate is unlimited or high, where a run against a fast server is bound by the
    /// CPU of the thread that drives the connections.
    pub fn shards(&self) -> usize {
        let most = self.auto_rate.map_or(self.rate, |a| Rate::PerSecond(a.max));
        if matches!(most, Rate::PerSecond(r) if r < 500.0) {
            return 1;
        }
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(4)
            .clamp(1, self.concurrency.max(1))
    }
}

/// Everything a row task needs. One per shard: only the client (its connection pool)
/// differs between them.
struct Ctx {
    client: Client,
    attempts: Attempts,
    writer: WriterHandle,
    /// Called once per finished row (progress).
    on_done: Arc<dyn Fn(Status) + Send + Sync>,
}

/// Sends every job until the channel closes or `stop` fires, then waits at most
/// `policy.grace` for requests in flight. A task still running after that is abandoned: its
/// row stays in flight in the journal, and the next run retries it.
pub async fn execute(
    client: Client,
    policy: &Policy,
    writer: WriterHandle,
    jobs: mpsc::Receiver<Vec<Job>>,
    stop: &Stop,
    stats: &Arc<Stats>,
    on_done: impl Fn(Status) + Send + Sync + 'static,
) -> Result<()> {
    let shards = policy.shards();
    let attempts = policy.attempts(stop, stats);
    let on_done: Arc<dyn Fn(Status) + Send + Sync> = Arc::new(on_done);
    let mut senders = Vec::with_capacity(shards);
    let mut extra = Vec::new();
    let mut first = None;
    for shard in 0..shards {
        let ctx = Arc::new(Ctx {
            client: if shard == 0 {
                client.clone()
            } else {
                client.with_own_connections()?
            },
            attempts: attempts.clone(),
            writer: writer.clone(),
            on_done: on_done.clone(),
        });
        let concurrency =
            policy.concurrency / shards + usize::from(shard < policy.concurrency % shards);
        // Shares queued per shard: the next claim's commit overlaps these requests.
        let (tx, rx) = mpsc::channel::<Vec<Job>>(QUEUED_SHARES);
        senders.push(tx);
        let grace = policy.grace;
        if shard == 0 {
            first = Some(dispatch(ctx, rx, concurrency, grace));
        } else {
            // Its own thread and current-thread runtime: its connections' tasks never
            // cross threads.
            let thread = std::thread::Builder::new()
                .name(format!("sender-{shard}"))
                .spawn(move || -> Result<()> {
                    // No signal driver here: Ctrl-C is watched on the main runtime.
                    tokio::runtime::Builder::new_current_thread()
                        .enable_io()
                        .enable_time()
                        .build()?
                        .block_on(dispatch(ctx, rx, concurrency, grace))
                })?;
            extra.push(thread);
        }
    }
    // Claiming runs ahead of dispatching through channels of claimed jobs, so the next
    // batch's commit overlaps the current batch's requests instead of stalling them.
    let claimer = tokio::spawn(claim_ahead(jobs, senders, writer.clone(), stop.clone()));
    let mut result = first.expect("one shard at least").await;
    for thread in extra {
        let joined = tokio::task::spawn_blocking(move || thread.join())
            .await
            .map_err(|e| anyhow::anyhow!("a sender thread failed: {e}"))?
            .map_err(|_| anyhow::anyhow!("a sender thread panicked"))?;
        result = result.and(joined);
    }
    claimer
        .await
        .map_err(|e| anyhow::anyhow!("the claimer failed: {e}"))??;
    result?;
    writer.flush().await
}

/// The longest message kept of an answer, in characters.
const MAX_MESSAGE: usize = 500;

/// Rows in one hand-over to a shard at most, and how many hand-overs a shard queues.
const SHARE: usize = 64;
const QUEUED_SHARES: usize = 4;

/// A shard's claimed jobs: the batch being worked through and the channel of the next ones.
struct Queue<T = Job> {
    current: VecDeque<T>,
    next: mpsc::Receiver<Vec<T>>,
}

impl<T> Queue<T> {
    /// The next job, or `None` once the claimer is done or the run stops.
    async fn take(&mut self, stop: &Stop) -> Option<T> {
        loop {
            if let Some(job) = self.current.pop_front() {
                return Some(job);
            }
            let batch = tokio::select! {
                b = self.next.recv() => b?,
                _ = stop.token().cancelled() => return None,
            };
            self.current.extend(batch);
        }
    }

    /// Everything handed over but not started. Closing the channel refuses new hand-overs,
    /// but a place the claimer reserved before the close can still be filled: `recv` (unlike
    /// `try_recv`) waits for those, and ends only when none is left. The claimer fills a
    /// reserved place at once, with nothing to wait for in between, so this never waits long.
    async fn drain(&mut self) -> Vec<T> {
        self.next.close();
        let mut unsent: Vec<T> = self.current.drain(..).collect();
        while let Some(batch) = self.next.recv().await {
            unsent.extend(batch);
        }
        unsent
    }
}

/// One shard: `concurrency` workers, each taking the next claimed job and sending it, so at
/// most that many rows are in flight here. On stop, the jobs handed over but not started go
/// back to what the journal had, and requests in flight get `grace` to finish.
async fn dispatch(
    ctx: Arc<Ctx>,
    claimed: mpsc::Receiver<Vec<Job>>,
    concurrency: usize,
    grace: Duration,
) -> Result<()> {
    // The workers share the queue; on this single-threaded runtime the lock is never
    // contended across threads, and a worker holds it only while it waits for a batch.
    let queue = Arc::new(tokio::sync::Mutex::new(Queue {
        current: VecDeque::new(),
        next: claimed,
    }));
    let stop = ctx.attempts.stop.clone();
    let mut workers = JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (ctx, queue) = (ctx.clone(), queue.clone());
        workers.spawn(async move {
            loop {
                let job = queue.lock().await.take(&ctx.attempts.stop).await;
                let Some(job) = job else { break };
                send_row(&ctx, job).await;
            }
        });
    }
    let stopped = loop {
        tokio::select! {
            r = workers.join_next() => match r {
                None => break false,
                // A bug, not an answer: stop rather than carry on short of a worker. The
                // row it held stays in flight, and the next run sends it again.
                Some(Err(e)) if e.is_panic() => stop.trigger(StopReason::Fatal(format!(
                    "internal error: a sender failed ({e})"
                ))),
                Some(_) => {}
            },
            _ = stop.token().cancelled() => break true,
        }
    };
    if stopped {
        let deadline = tokio::time::sleep(grace);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                r = workers.join_next() => if r.is_none() { break },
                _ = &mut deadline => {
                    tracing::warn!(
                        "requests still in flight after {grace:?}; their rows stay in flight \
                         in the journal and the next run retries them"
                    );
                    workers.abort_all();
                    break;
                }
            }
        }
    }
    // Claimed but never started: back to what the journal had. The claimer releases what it
    // could not hand over once the channel is closed.
    let unsent: Vec<_> = queue
        .lock()
        .await
        .drain()
        .await
        .into_iter()
        .map(|job| (job.row, job.prior))
        .collect();
    if !unsent.is_empty() {
        ctx.writer.send(Command::Release { rows: unsent }).await?;
    }
    Ok(())
}

/// Takes the planner's batches, records each in flight in one journal commit, and shares it
/// out between the shards.
async fn claim_ahead(
    mut jobs: mpsc::Receiver<Vec<Job>>,
    shards: Vec<mpsc::Sender<Vec<Job>>>,
    writer: WriterHandle,
    stop: Stop,
) -> Result<()> {
    let mut turn = 0;
    loop {
        let batch = tokio::select! {
            b = jobs.recv() => b,
            _ = stop.token().cancelled() => return Ok(()),
        };
        let Some(mut batch) = batch else {
            return Ok(());
        };
        if batch.is_empty() {
            continue;
        }
        // The warnings go to the journal with the claim; nothing reads them from the job after.
        writer
            .claim(
                batch
                    .iter_mut()
                    .map(|j| (j.row, std::mem::take(&mut j.warnings)))
                    .collect(),
            )
            .await?;
        // Shares of a few dozen rows (a small batch still goes to every shard), each to the
        // next shard in turn that has room: a shard slowed by other work on its thread takes
        // fewer, instead of the others waiting on it.
        let share = SHARE.min(batch.len().div_ceil(shards.len()));
        let mut jobs = batch.into_iter();
        loop {
            let part: Vec<Job> = jobs.by_ref().take(share).collect();
            if part.is_empty() {
                break;
            }
            turn = (turn + 1) % shards.len();
            let Some(room) = room_in_any(&shards, turn).await else {
                // A dispatcher stopped: these were claimed for nothing.
                let rows = part
                    .into_iter()
                    .chain(jobs)
                    .map(|j| (j.row, j.prior))
                    .collect();
                writer.send(Command::Release { rows }).await?;
                return Ok(());
            };
            // Filled at once: `Queue::drain` counts on a reserved place not staying empty.
            room.send(part);
        }
    }
}

/// A reserved place in the first shard queue with room, from shard `first` on, waiting for
/// one if all are full; `None` if a stopped shard comes first (shards stop when the run
/// stops).
async fn room_in_any<T>(shards: &[mpsc::Sender<T>], first: usize) -> Option<mpsc::Permit<'_, T>> {
    let (earlier, from_first) = shards.split_at(first);
    for shard in from_first.iter().chain(earlier) {
        match shard.try_reserve() {
            Ok(room) => return Some(room),
            Err(mpsc::error::TrySendError::Closed(())) => return None,
            Err(mpsc::error::TrySendError::Full(())) => {}
        }
    }
    let waits = shards.iter().map(|s| Box::pin(s.reserve()));
    futures_util::future::select_all(waits).await.0.ok()
}

/// One row, from claim to outcome.
async fn send_row(ctx: &Ctx, job: Job) {
    let scrub = |m: &str| job.customer.scrub(m).into_owned();
    let attempted = ctx
        .attempts
        .call_scrubbed(|| ctx.client.create_customer(&job.customer), &scrub)
        .await;
    // An answer's own text, as results.csv and the journal keep it: without the row's own
    // personal values, and short enough that what we add after it (why the row failed)
    // stays within the 500 characters kept.
    let api = |m: &str| crate::text::cut(job.customer.scrub(m).into_owned(), 440);
    let (status, attempts, http_status, customer_id, message) = match attempted {
        Attempted::Done { value, attempts } => (
            Status::Created,
            attempts,
            Some(value.http_status),
            Some(value.id),
            String::new(),
        ),
        Attempted::Stopped { attempts: 0, .. } => {
            // Never sent in this run: the row goes back to what the journal had.
            let _ = ctx
                .writer
                .send(Command::Release {
                    rows: vec![(job.row, job.prior)],
                })
                .await;
            return;
        }
        Attempted::Stopped { attempts, last, .. } => {
            let stopped = ctx.attempts.stopped_message(attempts);
            let (status, message) = match last {
                Some(e) => (e.http_status(), format!("{} ({stopped})", api(e.message()))),
                None => (None, stopped),
            };
            (Status::Failed, attempts, status, None, message)
        }
        Attempted::Failed {
            error,
            attempts,
            maybe_sent,
        } => {
            let message = api(error.message());
            let (status, http_status, message) = match error {
                ApiError::Duplicate { .. } => {
                    let message = if maybe_sent || job.attempted_before() {
                        format!(
                            "{message} (an earlier request for this row got no answer: it may \
                             have created this customer)"
                        )
                    } else {
                        message
                    };
                    (Status::Duplicate, Some(409), message)
                }
                ApiError::Rejected { status, .. } => (Status::Rejected, Some(status), message),
                ApiError::Fatal {
                    status: Some(code), ..
                } => (
                    Status::Failed,
                    Some(code),
                    format!("{message} (run stopped: the API refuses our requests)"),
                ),
                ApiError::Fatal { status: None, .. } => {
                    (Status::Failed, None, format!("{message} (run stopped)"))
                }
                // A document that vanished since validation: not sent; the next run
                // validates the row again and says what is wrong with it.
                ApiError::Local { .. } => (Status::Failed, None, message),
                // A document that is not the one validated: never sent.
                ApiError::Refused { .. } => (Status::Rejected, None, message),
                ApiError::Retryable { status, .. } => (
                    Status::Failed,
                    status,
                    format!("{message} (gave up after {attempts} attempts)"),
                ),
                ApiError::Unreachable { .. } => (
                    Status::Failed,
                    None,
                    format!("{message} (gave up after {attempts} attempts)"),
                ),
            };
            (status, attempts, http_status, None, message)
        }
    };
    let keys = (status == Status::Created).then_some(job.keys).flatten();
    // The API's part was scrubbed and cut above (`api`); what we added is ours: the whole
    // stays within what is kept.
    let message = crate::text::cut(message, MAX_MESSAGE);
    let _ = ctx
        .writer
        .send(Command::Outcome {
            row: job.row,
            status,
            attempts,
            http_status,
            customer_id,
            message,
            keys,
        })
        .await;
    (ctx.on_done)(status);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn room_is_taken_in_turn_and_a_full_shard_is_skipped() {
        let (a, mut ra) = mpsc::channel::<u32>(1);
        let (b, mut rb) = mpsc::channel::<u32>(1);
        let shards = [a, b];
        room_in_any(&shards, 1).await.unwrap().send(1);
        assert_eq!(rb.try_recv(), Ok(1));
        room_in_any(&shards, 0).await.unwrap().send(2);
        assert_eq!(ra.try_recv(), Ok(2));
        // Shard 0 full: its turn goes to shard 1.
        room_in_any(&shards, 0).await.unwrap().send(3);
        room_in_any(&shards, 0).await.unwrap().send(4);
        assert_eq!((ra.try_recv(), rb.try_recv()), (Ok(3), Ok(4)));
    }

    #[tokio::test]
    async fn with_every_shard_full_it_waits_for_the_first_to_have_room() {
        let (a, mut ra) = mpsc::channel::<u32>(1);
        let (b, _rb) = mpsc::channel::<u32>(1);
        a.try_send(0).unwrap();
        b.try_send(0).unwrap();
        let shards = [a, b];
        let freed = async {
            tokio::task::yield_now().await;
            ra.recv().await
        };
        let (room, first) = tokio::join!(room_in_any(&shards, 1), freed);
        assert_eq!(first, Some(0));
        room.unwrap().send(5);
        assert_eq!(ra.try_recv(), Ok(5));
    }

    #[tokio::test]
    async fn a_stopped_shard_means_no_room() {
        let (a, _ra) = mpsc::channel::<u32>(1);
        let (b, rb) = mpsc::channel::<u32>(1);
        drop(rb);
        assert!(room_in_any(&[a, b], 1).await.is_none());
    }

    /// The claimer reserved a place before the shard stopped and fills it after: the drain
    /// still gets those jobs (they go back to the journal instead of staying in flight).
    #[tokio::test]
    async fn a_drain_waits_for_a_place_reserved_before_it_closed() {
        let (tx, rx) = mpsc::channel::<Vec<u32>>(4);
        let mut queue = Queue {
            current: VecDeque::from([1]),
            next: rx,
        };
        tx.try_send(vec![2]).unwrap();
        let reserved = tx.clone().try_reserve_owned().unwrap();
        // The drain runs first (it closes the channel and waits), then the place is filled.
        let fill = async {
            tokio::task::yield_now().await;
            reserved.send(vec![3, 4]);
        };
        let (unsent, _) = tokio::join!(queue.drain(), fill);
        assert_eq!(unsent, vec![1, 2, 3, 4]);
        assert!(tx.try_send(vec![5]).is_err(), "closed to new hand-overs");
    }
}
