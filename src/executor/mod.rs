//! Sending the planned rows: pacing, a bounded number of requests in flight, retries, and a
//! clean stop.
//!
//! The dispatcher takes jobs from the planner's channel and starts one task per row while it
//! holds a semaphore permit, so at most `concurrency` rows are being worked on. Each task
//! claims its row in the journal (committed before the request leaves), asks the pacer for a
//! turn before every attempt, and sends its outcome to the journal writer. Nothing here
//! touches SQLite.

pub mod pacer;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Result;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::api::{ApiError, Client};
use crate::journal::writer::{Command, WriterHandle};
use crate::plan::Job;
use crate::status::Status;
pub use pacer::{Backoff, Pacer};

/// Why sending stopped before the planner ran dry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    Interrupted,
    /// Credentials refused (a 401 that survived renewal, or a 403): the API's message.
    Fatal(String),
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

/// Request figures for summary.json and the progress line.
#[derive(Debug, Default)]
pub struct Stats {
    pub sent: AtomicU64,
    pub retries: AtomicU64,
    pub http_429: AtomicU64,
    pub created: AtomicU64,
    pub duplicate: AtomicU64,
    pub failed: AtomicU64,
    pub rejected: AtomicU64,
}

pub struct Settings {
    pub concurrency: usize,
    pub max_attempts: u32,
    pub backoff: Backoff,
    /// How long requests in flight may take to finish once a stop is asked for.
    pub grace: Duration,
}

/// Everything a row task needs.
struct Ctx {
    client: Client,
    pacer: Pacer,
    writer: WriterHandle,
    stop: Stop,
    stats: Arc<Stats>,
    max_attempts: u32,
    backoff: Backoff,
    /// Called once per finished row (progress).
    on_done: Box<dyn Fn(Status) + Send + Sync>,
}

#[allow(clippy::too_many_arguments)] // each is a distinct stage's handle; a struct would only rename them
/// Sends every job until the channel closes or `stop` fires, then waits at most
/// `settings.grace` for requests in flight. A task still running after that is abandoned: its
/// row stays in flight in the journal, and the next run retries it.
pub async fn execute(
    client: Client,
    pacer: Pacer,
    writer: WriterHandle,
    mut jobs: mpsc::Receiver<Job>,
    stop: Stop,
    stats: Arc<Stats>,
    settings: Settings,
    on_done: impl Fn(Status) + Send + Sync + 'static,
) -> Result<()> {
    let ctx = Arc::new(Ctx {
        client,
        pacer,
        writer,
        stop: stop.clone(),
        stats,
        max_attempts: settings.max_attempts.max(1),
        backoff: settings.backoff,
        on_done: Box::new(on_done),
    });
    // A permit is a row being worked on; its task drops it when the outcome is queued.
    let permits = Arc::new(Semaphore::new(settings.concurrency.max(1)));
    let mut tasks = JoinSet::new();
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p.expect("semaphore never closed"),
            _ = stop.token().cancelled() => break,
        };
        let job = tokio::select! {
            j = jobs.recv() => j,
            _ = stop.token().cancelled() => break,
        };
        let Some(job) = job else { break };
        let ctx = ctx.clone();
        tasks.spawn(async move {
            send_row(&ctx, job).await;
            drop(permit);
        });
        // Reap finished tasks so the set stays as small as the concurrency.
        while tasks.try_join_next().is_some() {}
    }
    drop(jobs);
    let drain = async { while tasks.join_next().await.is_some() {} };
    if stop.is_stopped() {
        if tokio::time::timeout(settings.grace, drain).await.is_err() {
            tracing::warn!(
                "requests still in flight after {:?}; their rows stay in flight in the journal \
                 and the next run retries them",
                settings.grace
            );
            tasks.abort_all();
        }
    } else {
        drain.await;
    }
    ctx.writer.flush().await
}

/// One row, from claim to outcome.
async fn send_row(ctx: &Ctx, job: Job) {
    if ctx.stop.is_stopped() {
        return;
    }
    let mut attempts = 0u32;
    let mut maybe_sent = job.attempted_before;
    let (status, http_status, customer_id, message) = loop {
        if !ctx.pacer.ready(ctx.stop.token()).await {
            if attempts == 0 {
                // Never sent in this run: the row stays as the journal had it.
                return;
            }
            break (Status::Failed, None, None, stopped_message(ctx, attempts));
        }
        // In flight, durably, before the first request leaves: if we die waiting for the
        // answer, the next run knows this row may have been created.
        if attempts == 0
            && ctx
                .writer
                .claim(job.row, job.warnings.clone())
                .await
                .is_err()
        {
            return;
        }
        attempts += 1;
        ctx.stats.sent.fetch_add(1, Ordering::Relaxed);
        if attempts > 1 {
            ctx.stats.retries.fetch_add(1, Ordering::Relaxed);
        }
        match ctx.client.create_customer(&job.customer).await {
            Ok(created) => {
                break (
                    Status::Created,
                    Some(created.http_status),
                    Some(created.id),
                    String::new(),
                );
            }
            Err(ApiError::Duplicate { message }) => {
                let message = if maybe_sent {
                    format!(
                        "{message} (an earlier request for this row got no answer: it may have \
                         created this customer)"
                    )
                } else {
                    message
                };
                break (Status::Duplicate, Some(409), None, message);
            }
            Err(ApiError::Rejected { status, message }) => {
                break (Status::Rejected, Some(status), None, message);
            }
            Err(ApiError::Fatal { status, message }) => {
                let shown = match status {
                    Some(code) => format!("HTTP {code}: {message}"),
                    None => message.clone(),
                };
                ctx.stop.trigger(StopReason::Fatal(shown));
                break (
                    Status::Failed,
                    status,
                    None,
                    format!("{message} (run stopped: credentials refused)"),
                );
            }
            Err(ApiError::Local { message }) => {
                // A document that vanished since validation: not sent; the next run
                // validates the row again and says what is wrong with it.
                break (Status::Failed, None, None, message);
            }
            Err(ApiError::Retryable {
                status,
                message,
                retry_after,
                maybe_sent: sent,
            }) => {
                maybe_sent |= sent;
                if status == Some(429) {
                    ctx.stats.http_429.fetch_add(1, Ordering::Relaxed);
                }
                if let Some(wait) = retry_after {
                    ctx.pacer.pause_for(wait);
                }
                if attempts >= ctx.max_attempts {
                    break (
                        Status::Failed,
                        status,
                        None,
                        format!("{message} (gave up after {attempts} attempts)"),
                    );
                }
                if retry_after.is_none() {
                    let wait = ctx.backoff.delay(attempts);
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = ctx.stop.token().cancelled() => {
                            break (Status::Failed, status, None,
                                   format!("{message} ({})", stopped_message(ctx, attempts)));
                        }
                    }
                }
            }
        }
    };
    let counter = match status {
        Status::Created => &ctx.stats.created,
        Status::Duplicate => &ctx.stats.duplicate,
        Status::Rejected => &ctx.stats.rejected,
        _ => &ctx.stats.failed,
    };
    counter.fetch_add(1, Ordering::Relaxed);
    let keys = (status == Status::Created).then_some(job.keys).flatten();
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

fn stopped_message(ctx: &Ctx, attempts: u32) -> String {
    let why = match ctx.stop.reason() {
        Some(StopReason::Fatal(_)) => "run stopped: credentials refused",
        _ => "run interrupted",
    };
    format!("{why} after {attempts} attempts; run again to resume")
}
