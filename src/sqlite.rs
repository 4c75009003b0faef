//! Schema migrations for every SQLite file the program keeps (the journal, the sandbox's
//! state): an ordered list of steps, never edited once released, tracked in
//! `PRAGMA user_version`.
//!
//! As cargo's `util/sqlite.rs` does, the version is read inside the one exclusive transaction
//! that applies the missing steps, so two programs opening the same file at once cannot both
//! apply a step; and a failed step leaves the file as it was.

use anyhow::{Context, Result, bail};
use rusqlite::{Connection, TransactionBehavior};

/// Brings `conn` to the last of `steps`. A file from a newer program (a version past
/// `steps`) is refused. Callers add which file it is to the error.
pub(crate) fn migrate(conn: &mut Connection, steps: &[&str]) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Exclusive)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let Ok(version) = usize::try_from(version) else {
        bail!("schema version {version} is not one any cartevo-enroll writes");
    };
    if version > steps.len() {
        bail!(
            "schema version {version} is newer than this program knows ({}): use a newer \
             cartevo-enroll",
            steps.len()
        );
    }
    if version == steps.len() {
        return Ok(());
    }
    for (i, sql) in steps.iter().enumerate().skip(version) {
        tx.execute_batch(sql)
            .with_context(|| format!("schema migration {} failed", i + 1))?;
    }
    tx.pragma_update(None, "user_version", steps.len() as i64)?;
    tx.commit().context("could not commit the schema migration")
}

/// The schema version of an open database.
pub(crate) fn version(conn: &Connection) -> Result<usize> {
    let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    Ok(usize::try_from(v).unwrap_or(usize::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEPS: [&str; 3] = [
        "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL);",
        "ALTER TABLE people ADD COLUMN city TEXT;",
        "CREATE TABLE cards (person INTEGER REFERENCES people(id));",
    ];

    #[test]
    fn upgrading_a_database_that_holds_rows_keeps_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let mut conn = Connection::open(&path).unwrap();
        migrate(&mut conn, &STEPS[..1]).unwrap();
        conn.execute("INSERT INTO people (name) VALUES ('Ann')", [])
            .unwrap();
        drop(conn);
        let mut conn = Connection::open(&path).unwrap();
        migrate(&mut conn, &STEPS).unwrap();
        let (name, city): (String, Option<String>) = conn
            .query_row("SELECT name, city FROM people", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((name.as_str(), city), ("Ann", None));
        assert_eq!(version(&conn).unwrap(), 3);
        // Twice is nothing.
        migrate(&mut conn, &STEPS).unwrap();
        assert_eq!(version(&conn).unwrap(), 3);
    }

    #[test]
    fn a_failed_step_leaves_the_file_as_it_was() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, &STEPS[..1]).unwrap();
        let broken = [STEPS[0], STEPS[1], "CREATE TABLE nonsense (;"];
        let err = migrate(&mut conn, &broken).unwrap_err();
        assert!(format!("{err:#}").contains("migration 3"), "{err:#}");
        assert_eq!(version(&conn).unwrap(), 1);
        // Step 2 was rolled back with step 3: the column is not there.
        assert!(conn.prepare("SELECT city FROM people").is_err());
    }

    #[test]
    fn a_newer_file_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        let err = migrate(&mut conn, &STEPS).unwrap_err();
        assert!(err.to_string().contains("newer"), "{err}");
    }

    #[test]
    fn two_openers_at_once_apply_each_step_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let mut conn = Connection::open(&path).unwrap();
                    conn.busy_timeout(std::time::Duration::from_secs(10))
                        .unwrap();
                    migrate(&mut conn, &STEPS)
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap().unwrap();
        }
        let conn = Connection::open(&path).unwrap();
        assert_eq!(version(&conn).unwrap(), 3);
    }
}
