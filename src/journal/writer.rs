//! The journal's single writer: one thread owns the connection during a run and commits what
//! the planner and the workers send it, in small batches.
//!
//! Batching is group commit: the thread blocks for the first command, then takes whatever else
//! is already queued (up to `BATCH`) into the same transaction. Under load a commit carries
//! many rows; when the run is slow, each command is committed at once. A `Claim` (a batch of
//! rows) is acknowledged only after its transaction commits, so a row is durably "in flight"
//! before its request leaves.

use anyhow::{Context, Result};
use rusqlite::{Transaction, params};
use tokio::sync::{mpsc, oneshot};

use super::{CustomerKeys, FileEntry, JournalStatus, now, open_conn};
use crate::status::Status;

const BATCH: usize = 4096;
const GATHER: std::time::Duration = std::time::Duration::from_millis(10);

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

/// Starts the writer thread for one file's run, on a connection of its own to the journal
/// at `path` (which the command's `Journal` has opened, locked and migrated). The thread ends
/// when every handle is dropped.
pub fn spawn(
    path: &std::path::Path,
    file: FileEntry,
    run_id: i64,
) -> Result<(WriterHandle, std::thread::JoinHandle<Result<()>>)> {
    let mut conn = open_conn(path)?;
    let (tx, mut rx) = mpsc::channel::<Command>(BATCH);
    let thread = std::thread::Builder::new()
        .name("journal-writer".into())
        .spawn(move || {
            let mut acks = Vec::new();
            let mut batch = Vec::with_capacity(BATCH);
            while let Some(first) = rx.blocking_recv() {
                batch.push(first);
                while batch.len() < BATCH {
                    match rx.try_recv() {
                        Ok(cmd) => batch.push(cmd),
                        Err(_) => break,
                    }
                }
                let tx = conn.transaction()?;
                let now = now();
                for cmd in batch.drain(..) {
                    if let Some(ack) = apply(&tx, file.id, run_id, &now, cmd)? {
                        acks.push(ack);
                    }
                }
                tx.commit().context("could not commit to the journal")?;
                for ack in acks.drain(..) {
                    let _ = ack.send(());
                }
                // Under load, let outcomes gather for a moment rather than committing a few
                // at a time: a commit rewrites every page it touched, so fewer, larger
                // commits cost less per row. A claim or a flush, which someone is waiting
                // for, ends the pause at once (`unpark`).
                if rx.is_empty() && !rx.is_closed() {
                    std::thread::park_timeout(GATHER);
                }
            }
            Ok(())
        })
        .context("could not start the journal writer thread")?;
    let handle = WriterHandle {
        tx,
        thread: thread.thread().clone(),
    };
    Ok((handle, thread))
}

fn apply(
    tx: &Transaction<'_>,
    file_id: i64,
    run_id: i64,
    now: &str,
    cmd: Command,
) -> Result<Option<oneshot::Sender<()>>> {
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
                row as i64,
                status.as_str(),
                customer_id,
                message,
                warnings,
                run_id,
                now
            ])?;
            Ok(None)
        }
        Command::Claim { rows, ack } => {
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
                    row as i64,
                    JournalStatus::InFlight.as_str(),
                    warnings,
                    run_id,
                    now
                ])?;
            }
            Ok(Some(ack))
        }
        Command::Release { rows } => {
            for (row, prior) in rows {
                match prior {
                    None => tx
                        .prepare_cached("DELETE FROM rows WHERE file_id = ?1 AND row = ?2")?
                        .execute(params![file_id, row as i64])?,
                    Some(status) => tx
                        .prepare_cached(
                            "UPDATE rows SET status = ?3 WHERE file_id = ?1 AND row = ?2",
                        )?
                        .execute(params![file_id, row as i64, status.as_str()])?,
                };
            }
            Ok(None)
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
                row as i64,
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
            Ok(None)
        }
        Command::Flush(ack) => Ok(Some(ack)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{Journal, JournalRead, KeyKind};

    #[tokio::test]
    async fn claims_and_outcomes_are_committed_and_the_customer_is_indexed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.db");
        let mut journal = Journal::open(&path).unwrap();
        let file = journal.file(&"a".repeat(64), "in.csv", 3).unwrap();
        let run = journal.start_run(&file, "run").unwrap();
        let keyer = journal.keyer().unwrap();
        let (handle, thread) = spawn(&path, file.clone(), run).unwrap();

        handle
            .claim(vec![(1, String::new()), (3, String::new())])
            .await
            .unwrap();
        // Committed before the claim returned: a second connection sees it.
        let reader = rusqlite::Connection::open(&path).unwrap();
        let status: String = reader
            .query_row("SELECT status FROM rows WHERE row = 1", [], |r| r.get(0))
            .unwrap();
        assert_eq!(status, "in_flight");

        handle
            .send(Command::Outcome {
                row: 1,
                status: Status::Created,
                attempts: 2,
                http_status: Some(201),
                customer_id: Some("cust-1".into()),
                message: String::new(),
                keys: Some(keyer.keys("Ann@Example.com", "ID-1")),
            })
            .await
            .unwrap();
        handle
            .send(Command::Local {
                row: 2,
                status: Status::Invalid,
                customer_id: None,
                message: "email: not a valid email address".into(),
                warnings: String::new(),
            })
            .await
            .unwrap();
        handle
            .send(Command::Release {
                rows: vec![(3, None)],
            })
            .await
            .unwrap();
        handle.flush().await.unwrap();
        drop(handle);
        thread.join().unwrap().unwrap();
        journal.index_file(&file).unwrap();

        let states = journal.statuses(&file).unwrap();
        assert_eq!(states[1], Some(JournalStatus::Row(Status::Created)));
        assert_eq!(states[2], Some(JournalStatus::Row(Status::Invalid)));
        assert_eq!(states[3], None);
        let row1 = journal.row(&file, 1).unwrap().unwrap();
        assert_eq!(row1.attempts, 2);
        assert_eq!(row1.customer_id.as_deref(), Some("cust-1"));

        let lookup = journal.lookup().unwrap();
        let by_email = lookup
            .known(&keyer.keys("ann@example.COM", "other"))
            .unwrap();
        assert_eq!(by_email.unwrap().customer_id.as_deref(), Some("cust-1"));
        let by_id = lookup
            .known(&keyer.keys("x@y.co", "ID-1"))
            .unwrap()
            .unwrap();
        assert_eq!(by_id.kind, KeyKind::IdNumber);
        assert!(
            lookup
                .known(&keyer.keys("x@y.co", "ID-2"))
                .unwrap()
                .is_none()
        );

        // No raw personal data anywhere in the file.
        drop(journal);
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes).to_lowercase();
        assert!(!text.contains("ann@example.com") && !text.contains("id-1"));
    }

    /// A run killed before its index merge: the next run, of another file, merges it when it
    /// starts, and finds the customer (the contract's "from an earlier file or run").
    #[tokio::test]
    async fn a_killed_runs_customers_are_known_to_the_next_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.db");
        let mut journal = Journal::open(&path).unwrap();
        let first = journal.file(&"a".repeat(64), "first.csv", 1).unwrap();
        let run = journal.start_run(&first, "run").unwrap();
        let keyer = journal.keyer().unwrap();
        let (handle, thread) = spawn(&path, first.clone(), run).unwrap();
        handle.claim(vec![(1, String::new())]).await.unwrap();
        handle
            .send(Command::Outcome {
                row: 1,
                status: Status::Created,
                attempts: 1,
                http_status: Some(201),
                customer_id: Some("cust-1".into()),
                message: String::new(),
                keys: Some(keyer.keys("ann@example.com", "ID-1")),
            })
            .await
            .unwrap();
        handle.flush().await.unwrap();
        drop(handle);
        // The process dies here: no index merge, and the lock goes with it.
        thread.join().unwrap().unwrap();
        drop(journal);

        let mut journal = Journal::open(&path).unwrap();
        assert!(!journal.has_customers().unwrap(), "not merged yet");
        let second = journal.file(&"b".repeat(64), "second.csv", 1).unwrap();
        journal.start_run(&second, "run").unwrap();
        assert!(journal.has_customers().unwrap());
        let known = journal
            .lookup()
            .unwrap()
            .known(&keyer.keys("other@example.com", "ID-1"))
            .unwrap()
            .expect("the first file's customer");
        assert_eq!(
            (known.customer_id.as_deref(), known.file_id, known.row),
            (Some("cust-1"), first.id, 1)
        );
    }

    #[test]
    fn a_second_writer_on_the_same_journal_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.db");
        let _first = Journal::open(&path).unwrap();
        let err = Journal::open(&path).err().unwrap().to_string();
        assert!(err.contains("in use by another"), "{err}");
        assert!(JournalRead::open(&path).is_ok());
    }

    /// A reader opens the file read-only: it neither creates a journal nor migrates one, and
    /// reads while a run holds the lock and writes.
    #[tokio::test]
    async fn a_reader_never_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.db");
        let err = JournalRead::open(&path).err().unwrap().to_string();
        assert!(err.contains("no journal"), "{err}");
        assert!(!path.exists());

        let mut journal = Journal::open(&path).unwrap();
        let file = journal.file(&"a".repeat(64), "in.csv", 1).unwrap();
        let run = journal.start_run(&file, "run").unwrap();
        let (handle, thread) = spawn(&path, file.clone(), run).unwrap();
        handle.claim(vec![(1, String::new())]).await.unwrap();
        let reader = JournalRead::open(&path).unwrap();
        assert_eq!(
            reader.statuses(&file).unwrap()[1],
            Some(JournalStatus::InFlight)
        );
        drop(reader);
        drop(handle);
        thread.join().unwrap().unwrap();
        drop(journal);
        // With every connection gone, SQLite removed the -wal and -shm files; a read-only
        // open still reads (and makes no journal of its own).
        let wal = dir.path().join("j.db-wal");
        assert!(
            !wal.exists(),
            "the last connection checkpoints and removes the WAL"
        );
        let reader = JournalRead::open(&path).unwrap();
        assert_eq!(reader.files().unwrap().len(), 1);
        drop(reader);

        // An older schema is not upgraded by a reader.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        drop(conn);
        let err = JournalRead::open(&path).err().unwrap().to_string();
        assert!(
            err.contains("a `run` with this program upgrades it"),
            "{err}"
        );
        let conn = rusqlite::Connection::open(&path).unwrap();
        assert_eq!(crate::sqlite::version(&conn).unwrap(), 1);
    }
}
