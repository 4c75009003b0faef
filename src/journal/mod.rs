//! The SQLite journal: which file (by SHA-256) had which row end how, and which customers
//! are already enrolled.
//!
//! It keeps no personal data. Customers are indexed by HMAC-SHA-256 of their lower-cased email
//! and of their identification number, under a random key created with the journal and kept
//! out of it (`key`: in `<journal>.key` or `CARTEVO_JOURNAL_KEY`), so the index answers "have
//! we enrolled this person?" without holding who they are, and the journal alone cannot be
//! searched for a person. The journal and its files are readable by their owner only.
//!
//! Three kinds of connection, each with one job, which WAL mode lets run side by side:
//! - [`Journal`]: the command's handle. It holds the run lock (one `run` per journal),
//!   migrates the schema, creates the customer-index key, and records files, runs and the
//!   index merge. It reads through [`JournalRead`]'s methods.
//! - the writer thread (`writer`), which opens its own connection and is the only one to
//!   write rows during a run;
//! - [`JournalRead`]: read-only, never migrates or writes (`status`, `report`, `reconcile`,
//!   the report written beside the merge), and the planner's [`Lookup`].

mod key;
mod read;
mod schema;
pub mod writer;

use std::fs::File;
use std::path::Path;

use anyhow::{Context, Result, anyhow};
use hmac::{KeyInit, Mac};
use rusqlite::{Connection, OptionalExtension, params};

pub use key::KeySource;
pub use read::{JournalRead, Lookup};

use crate::status::Status;

/// Which identity a customer-index key was made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Email = 0,
    IdNumber = 1,
}

/// Keyed hashes of a customer's email and identification number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerKeys {
    pub email: [u8; 32],
    pub id_number: [u8; 32],
}

/// Makes `CustomerKeys` with the journal's secret key.
#[derive(Clone)]
pub struct Keyer {
    key: [u8; 32],
}

impl Keyer {
    pub fn keys(&self, email: &str, identification_number: &str) -> CustomerKeys {
        CustomerKeys {
            email: self.hash(b"email\0", email.to_lowercase().as_bytes()),
            id_number: self.hash(b"id\0", identification_number.as_bytes()),
        }
    }

    fn hash(&self, domain: &[u8], value: &[u8]) -> [u8; 32] {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.key).expect("any key size");
        mac.update(domain);
        mac.update(value);
        mac.finalize().into_bytes().into()
    }
}

/// What the journal knows of one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowState {
    pub row: u64,
    pub status: JournalStatus,
    pub attempts: u32,
    pub http_status: Option<u16>,
    pub customer_id: Option<String>,
    pub message: String,
    pub warnings: String,
}

/// A row's status in the journal: a contract status, or `InFlight` for a row claimed for
/// sending whose answer was never recorded (the process died or was stopped first): its
/// request may or may not have left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalStatus {
    Row(Status),
    InFlight,
}

impl JournalStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            JournalStatus::Row(s) => s.as_str(),
            JournalStatus::InFlight => "in_flight",
        }
    }

    fn parse(s: &str) -> Option<JournalStatus> {
        if s == "in_flight" {
            Some(JournalStatus::InFlight)
        } else {
            Status::parse(s).map(JournalStatus::Row)
        }
    }

    /// The contract status a report shows: a request whose answer never came is `failed`,
    /// sent and not final, so the next run retries it.
    pub fn reported(self) -> Status {
        match self {
            JournalStatus::Row(s) => s,
            JournalStatus::InFlight => Status::Failed,
        }
    }
}

/// A file the journal knows.
#[derive(Debug, Clone)]
pub struct FileEntry {
    pub id: i64,
    pub sha256: String,
    pub path: String,
    pub rows: u64,
}

/// Counts and last run of one file, for `status`.
#[derive(Debug, Clone)]
pub struct FileStatus {
    pub file: FileEntry,
    pub runs: u64,
    pub last_run: Option<(String, Option<String>, Option<i32>)>,
    pub counts: Vec<(String, u64)>,
}

/// How a run ended, as its summary.json says.
#[derive(Debug, Clone)]
pub struct RunEnd {
    pub started_at: String,
    pub ended_at: String,
    pub exit_code: i32,
    pub requests_sent: u64,
    pub retries: u64,
    pub http_429_seen: u64,
}

/// The sum of a file's runs, for a report written again from the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunTotals {
    pub first_started: String,
    pub last_ended: Option<String>,
    pub requests_sent: u64,
    pub retries: u64,
    pub http_429_seen: u64,
}

/// The command's handle on the journal: see the module's documentation.
pub struct Journal {
    read: JournalRead,
    /// Held for the journal's lifetime: a second `run` on the same journal refuses to start.
    _lock: File,
}

impl std::ops::Deref for Journal {
    type Target = JournalRead;
    fn deref(&self) -> &JournalRead {
        &self.read
    }
}

/// A read-write connection with the journal's settings.
fn open_conn(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)
        .with_context(|| format!("could not open journal '{}'", path.display()))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // WAL lets `status` and the planner's lookups read while the writer writes; NORMAL
    // synchronisation survives a killed process, which is the failure we design for.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Fewer, larger checkpoints: each one syncs the database file.
    conn.pragma_update(None, "wal_autocheckpoint", 10_000)?;
    conn.pragma_update(None, "cache_size", -16_000)?;
    Ok(conn)
}

impl Journal {
    /// Opens (creating if needed) the journal for writing, holding its lock: for `run`, and
    /// for `reconcile --resolve-duplicates`, which records customer ids.
    pub fn open(path: &Path) -> Result<Journal> {
        Journal::open_with(path, &KeySource::from_env())
    }

    /// As [`Journal::open`], the key given by `source` rather than the environment.
    pub fn open_with(path: &Path, source: &KeySource) -> Result<Journal> {
        // Created 0600 here, before SQLite opens it: SQLite gives the -wal and -shm files it
        // creates the database file's mode.
        let file = crate::files::open_private(path)
            .with_context(|| format!("could not open journal '{}'", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(anyhow!(
                    "journal '{}' is in use by another cartevo-enroll run; wait for it to \
                     finish, or give this run its own --journal",
                    path.display()
                ));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e)
                    .with_context(|| format!("could not lock journal '{}'", path.display()));
            }
        }
        // Left by a killed run of an older version, readable by others: SQLite reuses them.
        for side in ["-wal", "-shm"] {
            let mut name = path.as_os_str().to_owned();
            name.push(side);
            if let Ok(f) = File::open(&name) {
                crate::files::narrow(&f, Path::new(&name));
            }
        }
        let unusable = || format!("journal '{}' is unusable", path.display());
        let mut conn = open_conn(path).with_context(unusable)?;
        upgrade(&mut conn, path, source).with_context(unusable)?;
        let key = key::load_or_create(&conn, path, source)?;
        Ok(Journal {
            read: JournalRead::from_parts(conn, path, Some(key)),
            _lock: file,
        })
    }

    fn conn(&mut self) -> &mut Connection {
        &mut self.read.conn
    }

    /// Gives back the page cache this connection filled, while the writer thread's own
    /// connection does the run's writing: a run's memory holds one cache, not two.
    pub fn shrink(&mut self) -> Result<()> {
        self.conn().execute_batch("PRAGMA shrink_memory")?;
        Ok(())
    }

    /// Whether any row of the file is a 409 duplicate with no customer id yet.
    pub fn has_unresolved_duplicates(&self, file: &FileEntry) -> Result<bool> {
        Ok(self.read.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM rows WHERE file_id = ?1 AND status = ?2
               AND (customer_id IS NULL OR trim(customer_id) = ''))",
            params![file.id, Status::Duplicate.as_str()],
            |r| r.get(0),
        )?)
    }

    /// The file with this content, registering it on first sight.
    pub fn file(&mut self, sha256: &str, path: &str, rows: u64) -> Result<FileEntry> {
        if let Some(f) = self.find_file(sha256)? {
            return Ok(f);
        }
        let conn = self.conn();
        conn.execute(
            "INSERT INTO files (sha256, path, rows, first_seen) VALUES (?1, ?2, ?3, ?4)",
            params![sha256, path, rows as i64, now()],
        )?;
        Ok(FileEntry {
            id: conn.last_insert_rowid(),
            sha256: sha256.to_string(),
            path: path.to_string(),
            rows,
        })
    }

    /// Records a run's start. Customers created by runs that ended without merging their
    /// keys (killed) join the index first, so this run's lookups see them.
    pub fn start_run(&mut self, file: &FileEntry, command: &str) -> Result<i64> {
        self.index_unindexed()?;
        let tx = self.conn().transaction()?;
        tx.execute(
            "INSERT INTO runs (file_id, command, started_at) VALUES (?1, ?2, ?3)",
            params![file.id, command, now()],
        )?;
        let id = tx.last_insert_rowid();
        // Keeps the earliest unmerged run when a killed run left one.
        tx.execute(
            "INSERT OR IGNORE INTO unindexed (file_id, since_run) VALUES (?1, ?2)",
            params![file.id, id],
        )?;
        tx.commit()?;
        Ok(id)
    }

    /// Merges the keys of the rows that a file's unmerged runs created into the customer
    /// index, in key order (so the B-tree is written page by page, not at random), and marks
    /// the file indexed.
    pub fn index_file(&mut self, file: &FileEntry) -> Result<()> {
        let tx = self.conn().transaction()?;
        let since: Option<i64> = tx
            .query_row(
                "SELECT since_run FROM unindexed WHERE file_id = ?1",
                [file.id],
                |r| r.get(0),
            )
            .optional()?;
        let Some(since) = since else {
            return Ok(());
        };
        for (kind, column) in [(KeyKind::Email, "email_key"), (KeyKind::IdNumber, "id_key")] {
            tx.execute(
                &format!(
                    "INSERT INTO customers (kind, key, customer_id, file_id, row)
                     SELECT ?1, {column}, customer_id, file_id, row FROM rows
                     WHERE file_id = ?2 AND run_id >= ?3 AND {column} IS NOT NULL
                       AND customer_id IS NOT NULL
                     ORDER BY {column}
                     ON CONFLICT (kind, key) DO UPDATE
                       SET customer_id = coalesce(customers.customer_id, excluded.customer_id)"
                ),
                params![kind as i64, file.id, since],
            )?;
        }
        tx.execute("DELETE FROM unindexed WHERE file_id = ?1", [file.id])?;
        tx.commit()?;
        Ok(())
    }

    fn index_unindexed(&mut self) -> Result<()> {
        let files: Vec<FileEntry> = {
            let mut stmt = self.read.conn.prepare(
                "SELECT f.id, f.sha256, f.path, f.rows FROM files f
                 JOIN unindexed u ON u.file_id = f.id",
            )?;
            stmt.query_map([], read::file_entry)?
                .collect::<Result<_, _>>()?
        };
        for file in files {
            self.index_file(&file)?;
        }
        Ok(())
    }

    /// Records how a run ended, with the start and end times its summary.json gives (the
    /// start recorded by `start_run` is when the journal learnt of it, a little later).
    pub fn finish_run(&mut self, run_id: i64, end: &RunEnd) -> Result<()> {
        self.conn().execute(
            "UPDATE runs SET started_at = ?2, ended_at = ?3, exit_code = ?4, requests_sent = ?5,
             retries = ?6, http_429_seen = ?7 WHERE id = ?1",
            params![
                run_id,
                end.started_at,
                end.ended_at,
                end.exit_code,
                end.requests_sent as i64,
                end.retries as i64,
                end.http_429_seen as i64
            ],
        )?;
        Ok(())
    }

    /// Keeps the rate limit `--rate auto` learned against `base_url`, for the next run.
    pub fn set_learned_rate(&mut self, base_url: &str, rate: f64) -> Result<()> {
        self.conn().execute(
            "INSERT INTO learned_rates (base_url, rate, learned_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (base_url) DO UPDATE SET rate = ?2, learned_at = ?3",
            params![
                base_url,
                rate,
                chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ],
        )?;
        Ok(())
    }

    /// Records the customer id found for a row (a 409 duplicate resolved through the customer
    /// list) and indexes the customer under it.
    pub fn resolve_customer(
        &mut self,
        file: &FileEntry,
        row: u64,
        customer_id: &str,
        keys: &CustomerKeys,
    ) -> Result<()> {
        let tx = self.conn().transaction()?;
        tx.execute(
            "UPDATE rows SET customer_id = ?3, updated_at = ?4 WHERE file_id = ?1 AND row = ?2",
            params![file.id, row as i64, customer_id, now()],
        )?;
        index_customer(&tx, file.id, row, customer_id, keys)?;
        tx.commit()?;
        Ok(())
    }
}

/// Indexes one customer under both keys; an existing entry keeps its id unless it had none.
fn index_customer(
    tx: &rusqlite::Transaction<'_>,
    file_id: i64,
    row: u64,
    customer_id: &str,
    keys: &CustomerKeys,
) -> Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO customers (kind, key, customer_id, file_id, row) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (kind, key) DO UPDATE SET customer_id = coalesce(customer_id, ?3)",
    )?;
    for (kind, key) in [
        (KeyKind::Email, &keys.email),
        (KeyKind::IdNumber, &keys.id_number),
    ] {
        stmt.execute(params![
            kind as i64,
            &key[..],
            customer_id,
            file_id,
            row as i64
        ])?;
    }
    Ok(())
}

/// Brings the journal to this program's schema. A journal that still holds its key has it
/// written to `<journal>.key` first, and then deleted by the migration: a crash in between
/// leaves the key in both places, never in neither.
fn upgrade(conn: &mut Connection, path: &Path, source: &KeySource) -> Result<()> {
    let before = crate::sqlite::version(conn)?;
    key::move_out_of_journal(conn, path, source)?;
    // A deleted row's bytes otherwise stay in the page's free space: the old key would still
    // be in the file. (This connection deletes little else, so it keeps the setting.)
    conn.pragma_update(None, "secure_delete", "ON")?;
    schema::migrate(conn)?;
    if before > 0 && before < schema::VERSION {
        // Copies the pages the migration overwrote into the file and empties the WAL, which
        // may hold earlier copies of them. A reader at that moment only delays it to the
        // last connection's close, which checkpoints too.
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    }
    Ok(())
}

pub(crate) fn now() -> String {
    crate::report::stamp(chrono::Utc::now())
}
