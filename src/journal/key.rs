//! The customer-index key: where it lives, and how it moved out of the journal.
//!
//! The journal indexes customers by HMAC-SHA-256 of their email and ID number. With the key
//! beside the hashes, anyone holding the journal could hash every possible ID number (there
//! are few enough) and read who was enrolled. So the key is kept out of the journal: in
//! `<journal>.key` (64 hex digits, 0600, created with the journal), or given by
//! `CARTEVO_JOURNAL_KEY` (the same 64 hex digits) for who keeps it elsewhere.
//!
//! The journal keeps only a check value (`meta.key_check`, an HMAC of a constant under the
//! key), which tells a wrong key from the right one and says nothing of the key. A journal
//! that holds customers and has no key is refused: a new key would find none of them, and
//! every one would be sent again.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use rusqlite::{Connection, OptionalExtension};

use super::Keyer;
use crate::files;

/// The environment variable that gives the key instead of `<journal>.key`.
pub const ENV: &str = "CARTEVO_JOURNAL_KEY";

/// The schema version from which the key is no longer in the journal.
const KEY_OUT_OF_JOURNAL: usize = 3;

/// Where the key may come from besides the key file: the environment variable's value, as
/// given (the program reads it once; the tests pass their own).
#[derive(Clone, Default)]
pub struct KeySource {
    env: Option<String>,
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is a secret: only whether it is set.
        f.debug_struct("KeySource")
            .field("env", &self.env.as_ref().map(|_| "set"))
            .finish()
    }
}

impl KeySource {
    /// `CARTEVO_JOURNAL_KEY` from the environment; unset or empty means none.
    pub fn from_env() -> KeySource {
        KeySource {
            env: std::env::var(ENV).ok().filter(|v| !v.trim().is_empty()),
        }
    }

    #[cfg(test)]
    pub fn env(value: &str) -> KeySource {
        KeySource {
            env: Some(value.to_string()),
        }
    }

    /// The key the environment gives, checked for form.
    fn given(&self) -> Result<Option<[u8; 32]>> {
        self.env
            .as_deref()
            .map(|v| parse(v).map_err(|why| anyhow!("{ENV} {why}")))
            .transpose()
    }
}

/// `<journal>.key`, beside the journal.
pub fn key_path(journal: &Path) -> PathBuf {
    let mut name = journal.as_os_str().to_owned();
    name.push(".key");
    PathBuf::from(name)
}

/// 64 hex digits (a line break around them is fine). The message never shows the value.
fn parse(text: &str) -> Result<[u8; 32], String> {
    let text = text.trim();
    if text.len() != 64 {
        return Err(format!(
            "must be 64 hexadecimal digits (a 32-byte key), not {} characters",
            text.chars().count()
        ));
    }
    let mut key = [0u8; 32];
    hex::decode_to_slice(text, &mut key)
        .map_err(|_| "must be 64 hexadecimal digits (0-9, a-f)".to_string())?;
    Ok(key)
}

/// The key in `<journal>.key`, if the file is there.
fn read_file(journal: &Path) -> Result<Option<[u8; 32]>> {
    let path = key_path(journal);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            // A key file others can read (copied in under a loose umask) is narrowed to its
            // owner, or said, like the journal itself.
            if let Ok(file) = std::fs::File::open(&path) {
                files::narrow(&file, &path);
            }
            parse(&text)
                .map(Some)
                .map_err(|why| anyhow!("the key file '{}' {why}", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("could not read '{}'", path.display())),
    }
}

/// Creates `<journal>.key` holding `key`, durably: written beside, synced, renamed into place
/// without replacing a key file that appeared meanwhile, and the folder synced. 0600.
fn write_file(journal: &Path, key: &[u8; 32]) -> Result<()> {
    let path = key_path(journal);
    let could_not = || format!("could not write the journal's key to '{}'", path.display());
    let mut staged = files::Staged::create(&path).with_context(could_not)?;
    writeln!(staged, "{}", hex::encode(key)).with_context(could_not)?;
    staged.finish()?.put_in_place_new().with_context(could_not)
}

/// The key given (environment) or kept (key file), the two agreeing when both are there.
fn find(journal: &Path, source: &KeySource) -> Result<Option<[u8; 32]>> {
    let given = source.given()?;
    let kept = read_file(journal)?;
    match (given, kept) {
        (Some(g), Some(k)) if g != k => bail!(
            "{ENV} and '{}' hold different keys: keep one of them",
            key_path(journal).display()
        ),
        (g, k) => Ok(g.or(k)),
    }
}

/// What the journal stores to recognise its key.
fn check_value(key: &[u8; 32]) -> [u8; 32] {
    Keyer { key: *key }.hash(b"key check\0", b"cartevo-enroll journal")
}

fn stored_check(conn: &Connection) -> Result<Option<Vec<u8>>> {
    Ok(conn
        .query_row("SELECT value FROM meta WHERE key = 'key_check'", [], |r| {
            r.get(0)
        })
        .optional()?)
}

/// Refuses a key that is not the one the journal's customers were indexed with.
fn verify(conn: &Connection, journal: &Path, key: &[u8; 32]) -> Result<()> {
    match stored_check(conn)? {
        Some(check) if check != check_value(key) => bail!(
            "the key given ({}) is not the key of journal '{}': with it no earlier customer \
             would be found. Give the journal's own key",
            origin(journal),
            journal.display()
        ),
        _ => Ok(()),
    }
}

/// Where the key was looked for, for messages.
fn origin(journal: &Path) -> String {
    format!("'{}' or {ENV}", key_path(journal).display())
}

/// Before the migration that deletes the key from the journal (`schema`, step 3): writes the
/// key held in `meta` to `<journal>.key` and syncs it, so that whatever the moment of a crash,
/// the key is in the journal, in the key file, or both. Called by `Journal::open`, which holds
/// the run lock, before it migrates.
pub(super) fn move_out_of_journal(
    conn: &Connection,
    journal: &Path,
    source: &KeySource,
) -> Result<()> {
    let version = crate::sqlite::version(conn)?;
    if version == 0 || version >= KEY_OUT_OF_JOURNAL {
        return Ok(());
    }
    let held: Option<Vec<u8>> = conn
        .query_row("SELECT value FROM meta WHERE key = 'hmac_key'", [], |r| {
            r.get(0)
        })
        .optional()?;
    let Some(held) = held else {
        return Ok(());
    };
    let held: [u8; 32] = held
        .try_into()
        .map_err(|_| anyhow!("the journal's customer-index key is damaged"))?;
    match find(journal, source)? {
        Some(found) if found == held => Ok(()),
        Some(_) => bail!(
            "journal '{}' holds its own key, and {} gives another: move that away and run \
             again, and the journal's key is written to '{}'",
            journal.display(),
            origin(journal),
            key_path(journal).display()
        ),
        None => write_file(journal, &held),
    }
}

/// The key of a journal opened for writing, after its migrations: the one given or kept,
/// checked against the journal; for a journal that has never indexed anyone, a new one,
/// written to `<journal>.key` before the journal records its check value.
pub(super) fn load_or_create(
    conn: &Connection,
    journal: &Path,
    source: &KeySource,
) -> Result<[u8; 32]> {
    let key = match find(journal, source)? {
        Some(key) => {
            verify(conn, journal, &key)?;
            key
        }
        None => {
            if holds_customers(conn)? {
                bail!(
                    "the key of journal '{}' is missing: no '{}' beside it and {ENV} is not set. \
                     Without its key the journal cannot tell whom it enrolled, and they would \
                     be sent again: put the key file back or set {ENV} (or use a new journal)",
                    journal.display(),
                    key_path(journal).display()
                );
            }
            let key: [u8; 32] = rand::random();
            write_file(journal, &key)?;
            key
        }
    };
    conn.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES ('key_check', ?1)",
        [&check_value(&key)[..]],
    )?;
    Ok(key)
}

/// The key of a journal opened for reading, if it is given or kept: `status` and `report` do
/// without one; what looks customers up asks for it.
pub(super) fn load(
    conn: &Connection,
    journal: &Path,
    source: &KeySource,
) -> Result<Option<[u8; 32]>> {
    let Some(key) = find(journal, source)? else {
        return Ok(None);
    };
    verify(conn, journal, &key)?;
    Ok(Some(key))
}

/// The error when a reader needs the key and has none.
pub(super) fn missing(journal: &Path) -> anyhow::Error {
    anyhow!(
        "the key of journal '{}' is missing: no '{}' beside it and {ENV} is not set",
        journal.display(),
        key_path(journal).display()
    )
}

/// Whether a key was ever made for this journal, or anything was keyed with one.
fn holds_customers(conn: &Connection) -> Result<bool> {
    Ok(stored_check(conn)?.is_some()
        || conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM runs) OR EXISTS (SELECT 1 FROM customers)",
            [],
            |r| r.get(0),
        )?)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::journal::{Journal, JournalRead, schema};

    const KEY: [u8; 32] = [0x5a; 32];

    /// A journal as the previous version left it: schema 2, its key in `meta`, a file, a run
    /// and one customer indexed under that key.
    fn old_journal(path: &Path) {
        let mut conn = Connection::open(path).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        schema::migrate_to(&mut conn, 2).unwrap();
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('hmac_key', ?1)",
            [&KEY[..]],
        )
        .unwrap();
        conn.execute_batch(
            "INSERT INTO files VALUES (1, 'aa', 'monday.csv', 1, '2026-01-01T00:00:00.000Z');
             INSERT INTO runs (file_id, command, started_at) VALUES (1, 'run', 'x');",
        )
        .unwrap();
        let keys = Keyer { key: KEY }.keys("ann@example.com", "ID-1");
        for (kind, k) in [(0, keys.email), (1, keys.id_number)] {
            conn.execute(
                "INSERT INTO customers VALUES (?1, ?2, 'cust-1', 1, 1)",
                rusqlite::params![kind, &k[..]],
            )
            .unwrap();
        }
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    /// A key file copied in readable by others (a restore under a loose umask) is narrowed
    /// to its owner when the journal is opened, by a run or a reader.
    #[test]
    fn a_key_file_readable_by_others_is_narrowed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.db");
        drop(Journal::open(&path).unwrap());
        let key = key_path(&path);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&key), 0o600);
        for open in [
            (|p: &Path| drop(Journal::open(p).unwrap())) as fn(&Path),
            |p: &Path| drop(JournalRead::open(p).unwrap()),
        ] {
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
            open(&path);
            assert_eq!(mode(&key), 0o600);
        }
    }

    #[test]
    fn an_old_journal_moves_its_key_to_the_key_file_and_still_finds_its_customers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.db");
        old_journal(&path);
        assert!(contains(&std::fs::read(&path).unwrap(), &KEY));

        let journal = Journal::open_with(&path, &KeySource::default()).unwrap();
        let kept = key_path(&path);
        assert_eq!(
            std::fs::read_to_string(&kept).unwrap(),
            format!("{}\n", hex::encode(KEY))
        );
        let mode = std::fs::metadata(&kept).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let held: bool = journal
            .conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM meta WHERE key = 'hmac_key')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(!held);
        let keys = journal.keyer().unwrap().keys("ANN@example.com", "other");
        let known = journal.lookup().unwrap().known(&keys).unwrap().unwrap();
        assert_eq!(known.customer_id.as_deref(), Some("cust-1"));
        // Not in the database file's bytes, nor in its WAL, now or once closed.
        for side in ["", "-wal"] {
            let bytes = std::fs::read(format!("{}{side}", path.display())).unwrap_or_default();
            assert!(!contains(&bytes, &KEY), "the key is still in j.db{side}");
        }
        drop(journal);
        assert!(!contains(&std::fs::read(&path).unwrap(), &KEY));
        // Opened again: the key file serves; a reader finds it too.
        drop(Journal::open_with(&path, &KeySource::default()).unwrap());
        let reader = JournalRead::open_with(&path, &KeySource::default()).unwrap();
        assert!(reader.lookup().unwrap().known(&keys).unwrap().is_some());
        assert!(reader.keyer().is_ok());
    }

    /// Killed after the key file was written and before the row was deleted: the next open
    /// finds the key in both and finishes. A key file holding another key stops the upgrade
    /// with the row still in the journal.
    #[test]
    fn an_upgrade_cut_short_loses_no_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.db");
        old_journal(&path);
        std::fs::write(key_path(&path), format!("{}\n", hex::encode([7u8; 32]))).unwrap();
        let err = Journal::open_with(&path, &KeySource::default())
            .err()
            .unwrap();
        assert!(format!("{err:#}").contains("gives another"), "{err:#}");
        let conn = Connection::open(&path).unwrap();
        assert_eq!(crate::sqlite::version(&conn).unwrap(), 2);
        drop(conn);

        std::fs::write(key_path(&path), hex::encode(KEY)).unwrap();
        let journal = Journal::open_with(&path, &KeySource::default()).unwrap();
        let keys = journal.keyer().unwrap().keys("x@example.com", "ID-1");
        assert!(journal.lookup().unwrap().known(&keys).unwrap().is_some());
    }

    #[test]
    fn a_journal_whose_key_is_missing_is_refused_and_never_gets_a_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.db");
        let mut journal = Journal::open_with(&path, &KeySource::default()).unwrap();
        let file = journal.file(&"a".repeat(64), "in.csv", 1).unwrap();
        journal.start_run(&file, "run").unwrap();
        drop(journal);
        std::fs::remove_file(key_path(&path)).unwrap();

        let err = Journal::open_with(&path, &KeySource::default())
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("key of journal") && err.contains("is missing") && err.contains(ENV),
            "{err}"
        );
        assert!(!key_path(&path).exists(), "no new key was made");
        // Reading needs no key, until something looks a customer up.
        let reader = JournalRead::open_with(&path, &KeySource::default()).unwrap();
        assert_eq!(reader.files().unwrap().len(), 1);
        let err = reader.keyer().err().unwrap().to_string();
        assert!(err.contains("is missing"), "{err}");
    }

    #[test]
    fn the_key_can_come_from_the_environment_and_a_wrong_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.db");
        let given = KeySource::env(&format!(" {}\n", hex::encode(KEY)));
        let mut journal = Journal::open_with(&path, &given).unwrap();
        assert!(
            !key_path(&path).exists(),
            "the key stays where it was given"
        );
        let keys = journal.keyer().unwrap().keys("ann@example.com", "ID-1");
        assert_eq!(keys, Keyer { key: KEY }.keys("ann@example.com", "ID-1"));
        let file = journal.file(&"a".repeat(64), "in.csv", 1).unwrap();
        journal.start_run(&file, "run").unwrap();
        drop(journal);
        drop(Journal::open_with(&path, &given).unwrap());

        let err =
            |source: &KeySource| format!("{:#}", Journal::open_with(&path, source).err().unwrap());
        assert!(err(&KeySource::default()).contains("is missing"));
        let other = KeySource::env(&hex::encode([1u8; 32]));
        assert!(err(&other).contains("is not the key of journal"));
        assert!(JournalRead::open_with(&path, &other).is_err());
        let secret = "not-a-key-but-a-secret";
        let bad = err(&KeySource::env(secret));
        assert!(
            bad.contains("CARTEVO_JOURNAL_KEY must be 64 hexadecimal digits"),
            "{bad}"
        );
        assert!(!bad.contains(secret), "{bad}");
        // A key file that disagrees with the environment is not silently ignored.
        std::fs::write(key_path(&path), hex::encode([1u8; 32])).unwrap();
        assert!(err(&given).contains("hold different keys"));
    }
}
