//! The writer thread against a real journal: commits, claims and releases, the index merge,
//! the run lock, read-only readers, and a journal that fails to commit.

use rusqlite::OptionalExtension;

use super::*;
use crate::journal::{Journal, JournalRead, KeyKind};

/// For runs whose journal never fails.
fn quiet() -> OnFailure {
    OnFailure::new(|why| panic!("the journal failed: {why}"), std::io::sink())
}

#[tokio::test]
async fn claims_and_outcomes_are_committed_and_the_customer_is_indexed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    let mut journal = Journal::open(&path).unwrap();
    let file = journal.file(&"a".repeat(64), "in.csv", 3).unwrap();
    let run = journal.start_run(&file, "run").unwrap();
    let keyer = journal.keyer().unwrap();
    let (handle, thread) = spawn(&path, file.clone(), run, quiet()).unwrap();

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
    let (handle, thread) = spawn(&path, first.clone(), run, quiet()).unwrap();
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

/// What a failing writer wrote out, shared with the test.
#[derive(Clone, Default)]
struct Lines(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Lines {
    fn json(&self) -> Vec<serde_json::Value> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// A writer whose journal takes claims but, from `fail()` on, no answer: a trigger makes
/// every update of a row fail, as a full disk makes a commit fail. Gives the writer, the
/// reason the run was stopped with, and the lines written out.
struct Failing {
    path: std::path::PathBuf,
    file: FileEntry,
    handle: Option<WriterHandle>,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
    stopped: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    lost: Lines,
    _journal: Journal,
    _dir: tempfile::TempDir,
}

impl Failing {
    fn start() -> Failing {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.db");
        let mut journal = Journal::open(&path).unwrap();
        let file = journal.file(&"a".repeat(64), "in.csv", 9).unwrap();
        let run = journal.start_run(&file, "run").unwrap();
        let stopped = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let lost = Lines::default();
        let on_failure = {
            let stopped = stopped.clone();
            OnFailure::new(move |why| stopped.lock().unwrap().push(why), lost.clone())
        };
        let (handle, thread) = spawn(&path, file.clone(), run, on_failure).unwrap();
        Failing {
            path,
            file,
            handle: Some(handle),
            thread: Some(thread),
            stopped,
            lost,
            _journal: journal,
            _dir: dir,
        }
    }

    fn handle(&self) -> &WriterHandle {
        self.handle.as_ref().unwrap()
    }

    /// Every handle dropped (the run has stopped): how the writer ended.
    fn end(&mut self) -> String {
        drop(self.handle.take());
        let ended = self.thread.take().unwrap().join().unwrap();
        format!("{:#}", ended.unwrap_err())
    }

    fn set_full(&self, full: bool) {
        let conn = rusqlite::Connection::open(&self.path).unwrap();
        conn.execute_batch(if full {
            "CREATE TRIGGER full BEFORE UPDATE ON rows
             BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END;"
        } else {
            "DROP TRIGGER full;"
        })
        .unwrap();
    }

    async fn answer(&self, row: u64, status: Status, customer_id: Option<&str>) {
        self.handle()
            .send(Command::Outcome {
                row,
                status,
                attempts: 1,
                http_status: Some(if status == Status::Created { 201 } else { 422 }),
                customer_id: customer_id.map(str::to_string),
                message: "first_name: too short".into(),
                keys: None,
            })
            .await
            .unwrap();
    }

    fn status(&self, row: u64) -> Option<String> {
        let conn = rusqlite::Connection::open(&self.path).unwrap();
        conn.query_row(
            "SELECT status || ' ' || coalesce(customer_id, '-') FROM rows
             WHERE file_id = ?1 AND row = ?2",
            params![self.file.id, row as i64],
            |r| r.get(0),
        )
        .optional()
        .unwrap()
    }
}

/// The journal fails: the run is stopped at that commit, claims are refused from then
/// on (no request leaves), answers still arriving are held, and what the journal never
/// takes is written out as JSON lines, without the message (which may quote the row).
#[tokio::test]
async fn a_journal_that_cannot_commit_stops_the_run_and_writes_out_what_it_lost() {
    let mut f = Failing::start();
    let rows = (1..=4).map(|r| (r, String::new())).collect();
    f.handle().claim(rows).await.unwrap();
    f.set_full(true);
    f.answer(1, Status::Created, Some("cust-1")).await;
    // The commit of that answer fails: whoever waits on the journal hears it.
    assert!(f.handle().flush().await.is_err());
    let stopped = f.stopped.lock().unwrap().clone();
    assert_eq!(stopped.len(), 1);
    assert!(
        stopped[0].contains("could not record to the journal")
            && stopped[0].contains("disk is full"),
        "{stopped:?}"
    );
    assert!(f.handle().claim(vec![(5, String::new())]).await.is_err());
    // Requests that were in flight answer after the failure.
    f.answer(2, Status::Created, Some("cust-2")).await;
    f.answer(3, Status::Rejected, None).await;
    let err = f.end();
    assert!(
        err.contains("3 answers received could not be recorded"),
        "{err}"
    );

    let lines = f.lost.json();
    let got: Vec<(u64, &str, Option<&str>)> = lines
        .iter()
        .map(|l| {
            (
                l["row"].as_u64().unwrap(),
                l["status"].as_str().unwrap(),
                l["customer_id"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (1, "created", Some("cust-1")),
            (2, "created", Some("cust-2")),
            (3, "rejected", None)
        ]
    );
    assert_eq!(lines[0]["file"], "in.csv");
    assert!(lines.iter().all(|l| l.get("message").is_none()));
    // Nothing of it reached the journal; the refused claim left no row.
    assert_eq!(f.status(1).as_deref(), Some("in_flight -"));
    assert_eq!(f.status(5), None);
}

/// The journal takes again what it refused (space was freed): the answers held back are
/// recorded, none is written out, and the run still ends stopped.
#[tokio::test]
async fn answers_held_back_are_recorded_once_the_journal_takes_them() {
    let mut f = Failing::start();
    f.handle()
        .claim(vec![(1, String::new()), (2, String::new())])
        .await
        .unwrap();
    f.set_full(true);
    f.answer(1, Status::Created, Some("cust-1")).await;
    assert!(f.handle().flush().await.is_err());
    f.set_full(false);
    f.answer(2, Status::Created, Some("cust-2")).await;
    let err = f.end();
    assert!(err.contains("every answer received was recorded"), "{err}");
    assert_eq!(f.stopped.lock().unwrap().len(), 1);
    assert!(f.lost.json().is_empty());
    assert_eq!(f.status(1).as_deref(), Some("created cust-1"));
    assert_eq!(f.status(2).as_deref(), Some("created cust-2"));
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
    let (handle, thread) = spawn(&path, file.clone(), run, quiet()).unwrap();
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
