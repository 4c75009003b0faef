//! Ordered schema migrations, tracked in `PRAGMA user_version`. A released migration is never
//! edited: a change is a new entry at the end.

use anyhow::{Context, Result, bail};
use rusqlite::Connection;

const MIGRATIONS: &[&str] = &[
    // 1: files known by their content, runs, one line per row, and the keyed customer index.
    "CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value BLOB NOT NULL
    );
    CREATE TABLE files (
        id INTEGER PRIMARY KEY,
        sha256 TEXT NOT NULL UNIQUE,
        path TEXT NOT NULL,
        rows INTEGER NOT NULL,
        first_seen TEXT NOT NULL
    );
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        file_id INTEGER NOT NULL REFERENCES files(id),
        command TEXT NOT NULL,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        exit_code INTEGER,
        requests_sent INTEGER NOT NULL DEFAULT 0,
        retries INTEGER NOT NULL DEFAULT 0,
        http_429_seen INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE rows (
        file_id INTEGER NOT NULL REFERENCES files(id),
        row INTEGER NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        http_status INTEGER,
        customer_id TEXT,
        message TEXT NOT NULL DEFAULT '',
        warnings TEXT NOT NULL DEFAULT '',
        run_id INTEGER,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (file_id, row)
    ) WITHOUT ROWID;
    CREATE TABLE customers (
        kind INTEGER NOT NULL,
        key BLOB NOT NULL,
        customer_id TEXT,
        file_id INTEGER NOT NULL,
        row INTEGER NOT NULL,
        PRIMARY KEY (kind, key)
    ) WITHOUT ROWID;",
    // 2: a created row keeps its keyed hashes beside its outcome; they join the customer
    // index in key order when the run ends (random inserts per row made the index the run's
    // bottleneck). `unindexed` lists files whose runs since `since_run` have not been merged.
    "ALTER TABLE rows ADD COLUMN email_key BLOB;
    ALTER TABLE rows ADD COLUMN id_key BLOB;
    CREATE TABLE unindexed (
        file_id INTEGER PRIMARY KEY REFERENCES files(id),
        since_run INTEGER NOT NULL
    );",
];

/// Brings a journal to the latest schema; a journal from a newer program is refused.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let version = version as usize;
    if version > MIGRATIONS.len() {
        bail!(
            "the journal has schema version {version}, newer than this program knows ({}): \
             use a newer cartevo-enroll",
            MIGRATIONS.len()
        );
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)
            .with_context(|| format!("journal migration {} failed", i + 1))?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrating_twice_is_a_no_op() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v as usize, MIGRATIONS.len());
    }

    #[test]
    fn a_newer_journal_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        assert!(
            migrate(&mut conn)
                .unwrap_err()
                .to_string()
                .contains("newer")
        );
    }
}
