//! The journal's read handle: `status`, `report`, `reconcile`, and the report a run writes
//! beside its merge. It opens the file read-only, never migrates it and never writes, so it
//! can read while a run writes (WAL mode) and can never change a journal by looking at it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::{
    CustomerKeys, FileEntry, FileStatus, JournalStatus, KeyKind, KeySource, Keyer, RowState,
    RunTotals, key, schema,
};
use crate::input::{CsvInput, Record};
use crate::status::Status;

pub struct JournalRead {
    pub(super) conn: Connection,
    path: PathBuf,
    /// `None` when the key is neither kept nor given: `status` and `report` need none.
    keyer: Option<Keyer>,
}

impl JournalRead {
    /// Opens an existing journal for reading, its key (if any) from `<journal>.key` or
    /// `CARTEVO_JOURNAL_KEY`.
    pub fn open(path: &Path) -> Result<JournalRead> {
        JournalRead::open_with(path, &KeySource::from_env())
    }

    /// As [`JournalRead::open`], the key given by `source` rather than the environment.
    pub fn open_with(path: &Path, source: &KeySource) -> Result<JournalRead> {
        if !path.exists() {
            bail!("no journal at '{}'", path.display());
        }
        let conn = open_read_only(path)?;
        // A scan gains nothing from a large page cache, and a run's memory would grow by it.
        conn.pragma_update(None, "cache_size", -2_000)?;
        let version = crate::sqlite::version(&conn)
            .with_context(|| format!("journal '{}' is unusable", path.display()))?;
        if version != schema::VERSION {
            bail!(
                "journal '{}' has schema version {version}, this program reads {}: {}",
                path.display(),
                schema::VERSION,
                if version < schema::VERSION {
                    "a `run` with this program upgrades it"
                } else {
                    "use a newer cartevo-enroll"
                }
            );
        }
        let key = key::load(&conn, path, source)?;
        Ok(JournalRead::from_parts(conn, path, key))
    }

    pub(super) fn from_parts(conn: Connection, path: &Path, key: Option<[u8; 32]>) -> JournalRead {
        JournalRead {
            conn,
            path: path.to_path_buf(),
            keyer: key.map(|key| Keyer { key }),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The keyed hashes of this journal's customer index; an error when its key is missing
    /// (never for a [`super::Journal`], which has its key or does not open).
    pub fn keyer(&self) -> Result<Keyer> {
        self.keyer.clone().ok_or_else(|| key::missing(&self.path))
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

    /// One row's state (tests look rows up one by one; the program streams them).
    #[cfg(test)]
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

    /// Walks a file's records beside the journal's rows of it, in row order: `each` gets
    /// every record with the journal's state of its row, `None` where the journal has none.
    /// A journal row past the file's end means the file is not the one that was run.
    /// (The journal holds no personal data; the values come from the file.)
    pub fn beside(
        &self,
        file: &FileEntry,
        input: &mut CsvInput,
        mut each: impl FnMut(u64, &csv::StringRecord, Option<RowState>) -> Result<()>,
    ) -> Result<()> {
        let path = input.path().to_owned();
        self.for_each_row(file, |state| {
            loop {
                let Some(Record {
                    row,
                    fields: record,
                    ..
                }) = input.next_record()?
                else {
                    bail!(
                        "the journal has row {} but '{path}' ends before it",
                        state.row
                    );
                };
                if row < state.row {
                    each(row, record, None)?;
                    continue;
                }
                return each(row, record, Some(state));
            }
        })?;
        while let Some(Record {
            row,
            fields: record,
            ..
        }) = input.next_record()?
        {
            each(row, record, None)?;
        }
        Ok(())
    }

    /// The rate limit `--rate auto` learned against `base_url` on an earlier run.
    pub fn learned_rate(&self, base_url: &str) -> Result<Option<f64>> {
        Ok(self
            .conn
            .query_row(
                "SELECT rate FROM learned_rates WHERE base_url = ?1",
                [base_url],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Every learned rate limit: base URL, requests a second, when (for `status`).
    pub fn learned_rates(&self) -> Result<Vec<(String, f64, String)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT base_url, rate, learned_at FROM learned_rates ORDER BY base_url")?;
        let rates = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        Ok(rates)
    }

    /// Counts per status and the last run of every file, for `status`.
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

    /// A lookup into the customer index on its own read-only connection, usable from another
    /// thread while the writer writes.
    pub fn lookup(&self) -> Result<Lookup> {
        Ok(Lookup {
            conn: open_read_only(&self.path)?,
        })
    }
}

fn open_read_only(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("could not open journal '{}'", path.display()))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(conn)
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

pub(super) fn file_entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<FileEntry> {
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
