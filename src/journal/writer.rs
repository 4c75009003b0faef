//! The journal's single writer: one thread owns the connection during a run and commits what
//! the planner and the workers send it, in small batches.
//!
//! Batching is group commit: the thread blocks for the first command, then takes whatever else
//! is already queued (up to `BATCH`) into the same transaction. Under load a commit carries
//! many rows; when the run is slow, each command is committed at once. A `Claim` (a batch of
//! rows) is acknowledged only after its transaction commits, so a row is durably "in flight"
//! before its request leaves.
//!
//! When a commit fails (a full disk, an I/O error), the requests it was recording answers for
//! have been sent, and customers may have been created: the writer stops the run at once
//! ([`OnFailure::stop`]), refuses every claim and flush after it (so no new request leaves),
//! and keeps the commands it could not commit. Answers still in flight keep arriving; each
//! batch tries the journal again with everything held back. What is still not recorded when
//! the run has stopped is written out as JSON lines ([`OnFailure::lost`], stderr): row,
//! status and customer id, no personal data, so no created customer's id is lost.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use rusqlite::{Connection, Transaction, params};
use tokio::sync::{mpsc, oneshot};

use super::{CustomerKeys, FileEntry, JournalStatus, now, open_conn};
use crate::status::Status;

const BATCH: usize = 4096;
const GATHER: Duration = Duration::from_millis(10);
/// Once every handle is gone, how often and how far apart the journal is tried again before
/// what it could not take is written out.
const LAST_TRIES: u32 = 3;
const LAST_TRIES_PAUSE: Duration = Duration::from_millis(200);

/// What the writer is asked to record.
#[derive(Debug)]
pub enum Command {
    /// A row decided without sending: invalid, duplicate_in_file or already_enrolled.
    Local {
        row: u64,
        status: Status,
        customer_id: Option<String>,
        message: String,
        warnings: String,
    },
    /// Rows about to be sent (row, warnings): recorded in flight, acknowledged once
    /// committed.
    Claim {
        rows: Vec<(u64, String)>,
        ack: oneshot::Sender<()>,
    },
    /// Claimed rows that were never sent (the run stopped first): back to what the journal
    /// had before the claim, `None` meaning nothing.
    Release {
        rows: Vec<(u64, Option<JournalStatus>)>,
    },
    /// The end of a claimed row in this run: an answer, or the last failure.
    Outcome {
        row: u64,
        status: Status,
        /// Requests made for this row in this run; added to the journal's total.
        attempts: u32,
        http_status: Option<u16>,
        customer_id: Option<String>,
        message: String,
        /// Set for `created`: indexes the customer for later files.
        keys: Option<CustomerKeys>,
    },
    /// Commits everything before it, then answers.
    Flush(oneshot::Sender<()>),
}

/// The sending side, cloned into the planner and every worker.
#[derive(Clone)]
pub struct WriterHandle {
    tx: mpsc::Sender<Command>,
    /// The writer thread, woken from its gathering pause when someone waits for a commit.
    thread: std::thread::Thread,
}

impl WriterHandle {
    pub async fn send(&self, cmd: Command) -> Result<()> {
        self.tx
            .send(cmd)
            .await
            .map_err(|_| anyhow::anyhow!("the journal writer stopped"))
    }

    /// For the planner's blocking thread.
    pub fn blocking_send(&self, cmd: Command) -> Result<()> {
        self.tx
            .blocking_send(cmd)
            .map_err(|_| anyhow::anyhow!("the journal writer stopped"))
    }

    /// Records the rows in flight and waits until that is committed.
    pub async fn claim(&self, rows: Vec<(u64, String)>) -> Result<()> {
        let (ack, done) = oneshot::channel();
        self.send(Command::Claim { rows, ack }).await?;
        self.thread.unpark();
        done.await
            .map_err(|_| anyhow::anyhow!("the journal writer stopped"))
    }

    pub async fn flush(&self) -> Result<()> {
        let (ack, done) = oneshot::channel();
        self.send(Command::Flush(ack)).await?;
        self.thread.unpark();
        done.await
            .map_err(|_| anyhow::anyhow!("the journal writer stopped"))
    }
}

/// What the writer does when the journal cannot commit.
pub struct OnFailure {
    /// Stops the run, with why: called once, at the first failed commit.
    pub stop: Box<dyn Fn(String) + Send>,
    /// Where answers the journal could not take go, one JSON line each (stderr).
    pub lost: Box<dyn Write + Send>,
}

impl OnFailure {
    pub fn new(stop: impl Fn(String) + Send + 'static, lost: impl Write + Send + 'static) -> Self {
        OnFailure {
            stop: Box::new(stop),
            lost: Box::new(lost),
        }
    }
}

/// Starts the writer thread for one file's run, on a connection of its own to the journal
/// at `path` (which the command's `Journal` has opened, locked and migrated). The thread ends
/// when every handle is dropped; it ends in an error if the journal failed to commit at any
/// point (the run was stopped then).
pub fn spawn(
    path: &Path,
    file: FileEntry,
    run_id: i64,
    on_failure: OnFailure,
) -> Result<(WriterHandle, std::thread::JoinHandle<Result<()>>)> {
    let mut writer = Writer {
        conn: open_conn(path)?,
        path: path.to_path_buf(),
        file,
        run_id,
        failed: None,
        held: Vec::new(),
        on_failure,
    };
    let (tx, mut rx) = mpsc::channel::<Command>(BATCH);
    let thread = std::thread::Builder::new()
        .name("journal-writer".into())
        .spawn(move || {
            let mut batch = Vec::with_capacity(BATCH);
            while let Some(first) = rx.blocking_recv() {
                batch.push(first);
                while batch.len() < BATCH {
                    match rx.try_recv() {
                        Ok(cmd) => batch.push(cmd),
                        Err(_) => break,
                    }
                }
                writer.record(&mut batch);
                // Under load, let outcomes gather for a moment rather than committing a few
                // at a time: a commit rewrites every page it touched, so fewer, larger
                // commits cost less per row. A claim or a flush, which someone is waiting
                // for, ends the pause at once (`unpark`).
                if rx.is_empty() && !rx.is_closed() {
                    std::thread::park_timeout(GATHER);
                }
            }
            writer.close()
        })
        .context("could not start the journal writer thread")?;
    let handle = WriterHandle {
        tx,
        thread: thread.thread().clone(),
    };
    Ok((handle, thread))
}

/// The writer thread's state.
struct Writer {
    conn: Connection,
    path: PathBuf,
    file: FileEntry,
    run_id: i64,
    /// Why the journal first failed to commit; from then on the run is stopping.
    failed: Option<String>,
    /// Commands not committed since the failure (claims and flushes are refused, not held).
    held: Vec<Command>,
    on_failure: OnFailure,
}

impl Writer {
    /// Commits a batch and answers who waits for it; after a failure, holds it back with
    /// what came before and tries them all again.
    fn record(&mut self, batch: &mut Vec<Command>) {
        if self.failed.is_none() {
            match self.commit(batch) {
                Ok(()) => {
                    for cmd in batch.drain(..) {
                        match cmd {
                            Command::Claim { ack, .. } | Command::Flush(ack) => {
                                let _ = ack.send(());
                            }
                            _ => {}
                        }
                    }
                    return;
                }
                Err(e) => {
                    let why = format!(
                        "could not record to the journal '{}': {e:#}",
                        self.path.display()
                    );
                    tracing::error!("{why}; stopping the run");
                    (self.on_failure.stop)(why.clone());
                    self.failed = Some(why);
                    self.hold(batch);
                    return;
                }
            }
        }
        self.hold(batch);
        self.try_held();
    }

    /// Keeps a batch's commands for the next try. A claim or a flush is refused (its answer
    /// dropped): no row is claimed, so no request leaves, once the journal has failed.
    fn hold(&mut self, batch: &mut Vec<Command>) {
        self.held.extend(
            batch
                .drain(..)
                .filter(|cmd| !matches!(cmd, Command::Claim { .. } | Command::Flush(_))),
        );
    }

    /// Commits what was held back, if the journal takes it now.
    fn try_held(&mut self) -> bool {
        let held = std::mem::take(&mut self.held);
        let done = self.commit(&held).is_ok();
        if !done {
            self.held = held;
        }
        done
    }

    fn commit(&mut self, cmds: &[Command]) -> Result<()> {
        if cmds.is_empty() {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
        let now = now();
        for cmd in cmds {
            apply(&tx, self.file.id, self.run_id, &now, cmd)?;
        }
        tx.commit().context("could not commit")
    }

    /// Every handle is gone. After a failure: tries the journal a last few times, then writes
    /// out the answers it still could not take, and ends in the error that stopped the run.
    fn close(mut self) -> Result<()> {
        let Some(why) = self.failed.take() else {
            return Ok(());
        };
        for i in 0..LAST_TRIES {
            if self.try_held() {
                break;
            }
            if i + 1 < LAST_TRIES {
                std::thread::sleep(LAST_TRIES_PAUSE);
            }
        }
        let mut lost = 0;
        for cmd in &self.held {
            if let Command::Outcome {
                row,
                status,
                http_status,
                customer_id,
                ..
            } = cmd
            {
                let line = serde_json::json!({
                    "unrecorded": "journal",
                    "file": self.file.path,
                    "sha256": self.file.sha256,
                    "row": row,
                    "status": status.as_str(),
                    "customer_id": customer_id,
                    "http_status": http_status,
                });
                let _ = writeln!(self.on_failure.lost, "{line}");
                lost += 1;
            }
        }
        let _ = self.on_failure.lost.flush();
        if lost == 0 {
            return Err(anyhow!(
                "{why}. The run stopped; every answer received was recorded after all"
            ));
        }
        Err(anyhow!(
            "{why}. The run stopped; {lost} answers received could not be recorded and are \
             written above as JSON lines (\"unrecorded\": row, status, customer_id): keep \
             them. Those rows stay in flight in the journal; the next run sends them again, \
             and a 409 there means the customer exists with the id given"
        ))
    }
}

fn apply(tx: &Transaction<'_>, file_id: i64, run_id: i64, now: &str, cmd: &Command) -> Result<()> {
    match cmd {
        Command::Local {
            row,
            status,
            customer_id,
            message,
            warnings,
        } => {
            tx.prepare_cached(
                "INSERT INTO rows (file_id, row, status, attempts, http_status, customer_id,
                                   message, warnings, run_id, created_at, updated_at)
                 VALUES (?1, ?2, ?3, 0, NULL, ?4, ?5, ?6, ?7, ?8, ?8)
                 ON CONFLICT (file_id, row) DO UPDATE SET status = ?3, customer_id = ?4,
                   http_status = NULL, message = ?5, warnings = ?6, run_id = ?7, updated_at = ?8",
            )?
            .execute(params![
                file_id,
                *row as i64,
                status.as_str(),
                customer_id,
                message,
                warnings,
                run_id,
                now
            ])?;
            Ok(())
        }
        Command::Claim { rows, .. } => {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO rows (file_id, row, status, attempts, warnings, run_id,
                                   created_at, updated_at)
                 VALUES (?1, ?2, ?3, 0, ?4, ?5, ?6, ?6)
                 ON CONFLICT (file_id, row) DO UPDATE SET status = ?3, warnings = ?4,
                   run_id = ?5, updated_at = ?6",
            )?;
            for (row, warnings) in rows {
                stmt.execute(params![
                    file_id,
                    *row as i64,
                    JournalStatus::InFlight.as_str(),
                    warnings,
                    run_id,
                    now
                ])?;
            }
            Ok(())
        }
        Command::Release { rows } => {
            for (row, prior) in rows {
                match prior {
                    None => tx
                        .prepare_cached("DELETE FROM rows WHERE file_id = ?1 AND row = ?2")?
                        .execute(params![file_id, *row as i64])?,
                    Some(status) => tx
                        .prepare_cached(
                            "UPDATE rows SET status = ?3 WHERE file_id = ?1 AND row = ?2",
                        )?
                        .execute(params![file_id, *row as i64, status.as_str()])?,
                };
            }
            Ok(())
        }
        Command::Outcome {
            row,
            status,
            attempts,
            http_status,
            customer_id,
            message,
            keys,
        } => {
            // The keys stay on the row; `Journal::index_file` merges them into the customer
            // index, in key order, when the run ends.
            tx.prepare_cached(
                "UPDATE rows SET status = ?3, attempts = attempts + ?4, http_status = ?5,
                   customer_id = ?6, message = ?7, run_id = ?8, updated_at = ?9,
                   email_key = ?10, id_key = ?11
                 WHERE file_id = ?1 AND row = ?2",
            )?
            .execute(params![
                file_id,
                *row as i64,
                status.as_str(),
                attempts,
                http_status,
                customer_id,
                message,
                run_id,
                now,
                keys.as_ref().map(|k| &k.email[..]),
                keys.as_ref().map(|k| &k.id_number[..]),
            ])?;
            Ok(())
        }
        Command::Flush(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests;
