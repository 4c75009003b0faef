//! The SQLite journal: which file (by SHA-256) had which row end how, and which customers
//! are already enrolled.
//!
//! It keeps no personal data. Customers are indexed by HMAC-SHA-256 of their lower-cased email
//! and of their identification number, under a random key created with the journal, so the
//! index answers "have we enrolled this person?" without holding who they are.
//!
//! One `Journal` owns the write connection. During a run it moves into the writer thread
//! (`writer`), and comes back when the run ends; the planner reads the customer index through
//! its own read-only connection (`Lookup`), which WAL mode lets run beside the writer.

mod schema;
pub mod writer;

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use hmac::{KeyInit, Mac};
use rusqlite::{Connection, OptionalExtension, params};

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
    fn as_str(self) -> &'static str {
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

pub struct Journal {
    conn: Connection,
    path: PathBuf,
    /// Held for the journal's lifetime: a second `run` on the same journal refuses to start.
    _lock: Option<File>,
    keyer: Keyer,
}

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
    /// Opens (creating if needed) the journal for writing, holding its lock.
    pub fn open(path: &Path) -> Result<Journal> {
        Self::open_inner(path, true)
    }

    /// Opens without the run lock, for `status`, `report` and `reconcile`, which may read while
    /// a run writes.
    pub fn open_shared(path: &Path) -> Result<Journal> {
        if !path.exists() {
            return Err(anyhow!("no journal at '{}'", path.display()));
        }
        Self::open_inner(path, false)
    }

    /// A second, read-only-in-practice connection to this journal for a sequential scan
    /// (the report) while this one writes; its page cache is kept small, since a scan
    /// gains nothing from it and the run's memory would grow by the whole cache.
    /// The schema and key are this journal's: nothing is migrated or loaded again.
    pub fn scan_reader(&self) -> Result<Journal> {
        let conn = open_conn(&self.path)?;
        conn.pragma_update(None, "cache_size", -1_000)?;
        Ok(Journal {
            conn,
            path: self.path.clone(),
            _lock: None,
            keyer: self.keyer.clone(),
        })
    }

    fn open_inner(path: &Path, exclusive: bool) -> Result<Journal> {
        let lock = if exclusive {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .read(true)
                .write(true)
                .open(path)
                .with_context(|| format!("could not open journal '{}'", path.display()))?;
            match file.try_lock() {
                Ok(()) => Some(file),
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
        } else {
            None
        };
        let mut conn =
            open_conn(path).with_context(|| format!("journal '{}' is unusable", path.display()))?;
        schema::migrate(&mut conn)
            .with_context(|| format!("journal '{}' is unusable", path.display()))?;
        let key = load_or_create_key(&conn)?;
        Ok(Journal {
            conn,
            path: path.to_path_buf(),
            _lock: lock,
            keyer: Keyer { key },
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn keyer(&self) -> Keyer {
        self.keyer.clone()
    }

    /// The file with this content, registering it on first sight.
    pub fn file(&mut self, sha256: &str, path: &str, rows: u64) -> Result<FileEntry> {
        if let Some(f) = self.find_file(sha256)? {
            return Ok(f);
        }
        self.conn.execute(
            "INSERT INTO files (sha256, path, rows, first_seen) VALUES (?1, ?2, ?3, ?4)",
            params![sha256, path, rows as i64, now()],
        )?;
        Ok(FileEntry {
            id: self.conn.last_insert_rowid(),
            sha256: sha256.to_string(),
            path: path.to_string(),
            rows,
        })
    }

    pub fn find_file(&self, sha256: &str) -> Result<Option<FileEntry>> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, sha256, path, rows FROM files WHERE sha256 = ?1",
                [sha256],
                file_entry,
            )
            .optional()?)
    }

    pub fn files(&self) -> Result<Vec<FileEntry>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, sha256, path, rows FROM files ORDER BY id")?;
        let files = stmt.query_map([], file_entry)?.collect::<Result<_, _>>()?;
        Ok(files)
    }

    /// Records a run's start. Customers created by runs that ended without merging their
    /// keys (killed) join the index first, so this run's lookups see them.
    pub fn start_run(&mut self, file: &FileEntry, command: &str) -> Result<i64> {
        self.index_unindexed()?;
        let tx = self.conn.transaction()?;
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
        let tx = self.conn.transaction()?;
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
            let mut stmt = self.conn.prepare(
                "SELECT f.id, f.sha256, f.path, f.rows FROM files f
                 JOIN unindexed u ON u.file_id = f.id",
            )?;
            stmt.query_map([], file_entry)?.collect::<Result<_, _>>()?
        };
        for file in files {
            self.index_file(&file)?;
        }
        Ok(())
    }

    /// What every `run` of a file added up to: the first start, the last end (`None` while
    /// one has not ended), and the requests, retries and 429s of them all. `None` when the
    /// file was never run.
    pub fn run_totals(&self, file: &FileEntry) -> Result<Option<RunTotals>> {
        let totals = self.conn.query_row(
            "SELECT min(started_at), max(ended_at), count(*) - count(ended_at),
                    coalesce(sum(requests_sent), 0), coalesce(sum(retries), 0),
                    coalesce(sum(http_429_seen), 0)
             FROM runs WHERE file_id = ?1 AND command = 'run'",
            [file.id],
            |r| {
                Ok((
                    r.get::<_, Option<String>>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, i64>(5)?,
                ))
            },
        )?;
        let (Some(first_started), last_ended, unfinished, requests, retries, http_429) = totals
        else {
            return Ok(None);
        };
        Ok(Some(RunTotals {
            first_started,
            last_ended: last_ended.filter(|_| unfinished == 0),
            requests_sent: requests as u64,
            retries: retries as u64,
            http_429_seen: http_429 as u64,
        }))
    }

    /// Records how a run ended, with the start and end times its summary.json gives (the
    /// start recorded by `start_run` is when the journal learnt of it, a little later).
    pub fn finish_run(&mut self, run_id: i64, end: &RunEnd) -> Result<()> {
        self.conn.execute(
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

    /// Each row's journal status, indexed by row number (index 0 unused): one byte a row, so
    /// a million-row file costs a megabyte.
    pub fn statuses(&self, file: &FileEntry) -> Result<Vec<Option<JournalStatus>>> {
        let mut out = vec![None; file.rows as usize + 1];
        let mut stmt = self
            .conn
            .prepare("SELECT row, status FROM rows WHERE file_id = ?1")?;
        let mut rows = stmt.query([file.id])?;
        while let Some(r) = rows.next()? {
            let row: i64 = r.get(0)?;
            let status: String = r.get(1)?;
            if let Some(slot) = out.get_mut(row as usize) {
                *slot = JournalStatus::parse(&status);
            }
        }
        Ok(out)
    }

    /// Streams every journaled row of a file in row order to `f`.
    pub fn for_each_row(
        &self,
        file: &FileEntry,
        mut f: impl FnMut(RowState) -> Result<()>,
    ) -> Result<()> {
        let mut stmt = self.conn.prepare(
            "SELECT row, status, attempts, http_status, customer_id, message, warnings
             FROM rows WHERE file_id = ?1 ORDER BY row",
        )?;
        let mut rows = stmt.query([file.id])?;
        while let Some(r) = rows.next()? {
            f(row_state(r)?)?;
        }
        Ok(())
    }

    pub fn row(&self, file: &FileEntry, row: u64) -> Result<Option<RowState>> {
        Ok(self
            .conn
            .query_row(
                "SELECT row, status, attempts, http_status, customer_id, message, warnings
                 FROM rows WHERE file_id = ?1 AND row = ?2",
                params![file.id, row as i64],
                row_state,
            )
            .optional()?)
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
        let tx = self.conn.transaction()?;
        tx.execute(
            "UPDATE rows SET customer_id = ?3, updated_at = ?4 WHERE file_id = ?1 AND row = ?2",
            params![file.id, row as i64, customer_id, now()],
        )?;
        index_customer(&tx, file.id, row, customer_id, keys)?;
        tx.commit()?;
        Ok(())
    }

    pub fn status(&self) -> Result<Vec<FileStatus>> {
        let mut out = Vec::new();
        for file in self.files()? {
            let runs: i64 = self.conn.query_row(
                "SELECT COUNT(*) FROM runs WHERE file_id = ?1",
                [file.id],
                |r| r.get(0),
            )?;
            let last_run = self
                .conn
                .query_row(
                    "SELECT started_at, ended_at, exit_code FROM runs WHERE file_id = ?1
                     ORDER BY id DESC LIMIT 1",
                    [file.id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            let mut stmt = self.conn.prepare(
                "SELECT status, COUNT(*) FROM rows WHERE file_id = ?1 GROUP BY status ORDER BY status",
            )?;
            let mut counts: Vec<(String, u64)> = stmt
                .query_map([file.id], |r| {
                    let s: String = r.get(0)?;
                    let n: i64 = r.get(1)?;
                    Ok((s, n as u64))
                })?
                .collect::<Result<_, _>>()?;
            let journaled: u64 = counts.iter().map(|(_, n)| n).sum();
            if file.rows > journaled {
                counts.push(("pending".to_string(), file.rows - journaled));
            }
            out.push(FileStatus {
                file,
                runs: runs as u64,
                last_run,
                counts,
            });
        }
        Ok(out)
    }

    /// Whether any customer is indexed yet (a first run has nothing to look up).
    pub fn has_customers(&self) -> Result<bool> {
        Ok(self
            .conn
            .query_row("SELECT EXISTS (SELECT 1 FROM customers)", [], |r| r.get(0))?)
    }

    /// A read-only lookup into the customer index, usable from another thread while the
    /// writer writes.
    pub fn lookup(&self) -> Result<Lookup> {
        let conn = Connection::open_with_flags(
            &self.path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("could not open journal '{}'", self.path.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        Ok(Lookup { conn })
    }

    pub(crate) fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

/// Reads the customer index from its own connection.
pub struct Lookup {
    conn: Connection,
}

/// A customer the journal already holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    pub customer_id: Option<String>,
    pub kind: KeyKind,
    pub file_id: i64,
    pub row: u64,
}

impl Lookup {
    /// The enrolled customer with this email or identification number, if any.
    pub fn known(&self, keys: &CustomerKeys) -> Result<Option<Known>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT kind, customer_id, file_id, row FROM customers
             WHERE (kind = 0 AND key = ?1) OR (kind = 1 AND key = ?2) LIMIT 1",
        )?;
        Ok(stmt
            .query_row(params![&keys.email[..], &keys.id_number[..]], |r| {
                let kind: i64 = r.get(0)?;
                let row: i64 = r.get(3)?;
                Ok(Known {
                    kind: if kind == 0 {
                        KeyKind::Email
                    } else {
                        KeyKind::IdNumber
                    },
                    customer_id: r.get(1)?,
                    file_id: r.get(2)?,
                    row: row as u64,
                })
            })
            .optional()?)
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

fn load_or_create_key(conn: &Connection) -> Result<[u8; 32]> {
    let existing: Option<Vec<u8>> = conn
        .query_row("SELECT value FROM meta WHERE key = 'hmac_key'", [], |r| {
            r.get(0)
        })
        .optional()?;
    if let Some(v) = existing {
        return v
            .try_into()
            .map_err(|_| anyhow!("the journal's customer-index key is damaged"));
    }
    let key: [u8; 32] = rand::random();
    conn.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES ('hmac_key', ?1)",
        [&key[..]],
    )?;
    // Another process may have raced us to it: read back the one that won.
    let v: Vec<u8> = conn.query_row("SELECT value FROM meta WHERE key = 'hmac_key'", [], |r| {
        r.get(0)
    })?;
    v.try_into()
        .map_err(|_| anyhow!("the journal's customer-index key is damaged"))
}

fn file_entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<FileEntry> {
    let rows: i64 = r.get(3)?;
    Ok(FileEntry {
        id: r.get(0)?,
        sha256: r.get(1)?,
        path: r.get(2)?,
        rows: rows as u64,
    })
}

fn row_state(r: &rusqlite::Row<'_>) -> rusqlite::Result<RowState> {
    let row: i64 = r.get(0)?;
    let status: String = r.get(1)?;
    let attempts: i64 = r.get(2)?;
    let http: Option<i64> = r.get(3)?;
    Ok(RowState {
        row: row as u64,
        status: JournalStatus::parse(&status).unwrap_or(JournalStatus::Row(Status::Failed)),
        attempts: attempts as u32,
        http_status: http.map(|h| h as u16),
        customer_id: r.get(4)?,
        message: r.get(5)?,
        warnings: r.get(6)?,
    })
}

pub(crate) fn now() -> String {
    crate::report::stamp(chrono::Utc::now())
}
