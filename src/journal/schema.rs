//! Ordered schema migrations, tracked in `PRAGMA user_version`. A released migration is never
//! edited: a change is a new entry at the end.

use anyhow::Result;
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
    // 3: the customer-index key leaves the journal, which keeps a check value instead
    // (`key_check`, written by `key::load_or_create`). `Journal::open` has written the key to
    // `<journal>.key` and synced it before this step runs (`key::move_out_of_journal`), and
    // deletes with `secure_delete` so the key's bytes do not stay in the file.
    "DELETE FROM meta WHERE key = 'hmac_key';",
    // 4: the rate limit `--rate auto` learned against each base URL, which the next run
    // against it starts from.
    "CREATE TABLE learned_rates (
        base_url TEXT PRIMARY KEY,
        rate REAL NOT NULL,
        learned_at TEXT NOT NULL
    ) WITHOUT ROWID;",
];

/// Brings a journal to the latest schema; a journal from a newer program is refused.
pub(super) fn migrate(conn: &mut Connection) -> Result<()> {
    crate::sqlite::migrate(conn, MIGRATIONS)
}

/// Brings a journal to an earlier version: an older program's journal, for the tests of the
/// upgrade.
#[cfg(test)]
pub(super) fn migrate_to(conn: &mut Connection, version: usize) -> Result<()> {
    crate::sqlite::migrate(conn, &MIGRATIONS[..version])
}

/// The schema version this program writes.
pub(super) const VERSION: usize = MIGRATIONS.len();

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_applies_to_an_empty_journal() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(crate::sqlite::version(&conn).unwrap(), VERSION);
        conn.prepare("SELECT email_key, id_key FROM rows").unwrap();
        conn.prepare("SELECT base_url, rate, learned_at FROM learned_rates")
            .unwrap();
    }
}
