//! `reconcile` against a wiremock server (every branch) and, end to end, against the sandbox.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;
use crate::api::{ApiConfig, Credentials};
use crate::journal::writer::{self, Command as JournalCommand};

const HEADER: &str = "reference,first_name,last_name,email,country,street,city,state,postal_code,\
country_iso_code,country_phone_code,phone_number,identification_number,id_document_type,\
date_of_birth,id_document_front_url,id_document_back_url";

/// The CSV line of person `i`.
fn line(i: u32) -> String {
    format!(
        "P-{i},Ada{i},Lovelace,Ada{i}@Example.com,Cameroon,{i} Main Street,Yaoundé,Centre,00237,\
         CM,+237,6{i:08},ID{i:05},NIN,1990-01-{d:02},https://cdn.example.com/{i}/f.jpg,\
         https://cdn.example.com/{i}/b.jpg",
        d = i % 28 + 1
    )
}

/// What Cartevo holds for person `i`, as `GET /customers/{id}` returns it.
fn remote(i: u32, id: &str) -> Value {
    json!({
        "id": id, "first_name": format!("Ada{i}"), "last_name": "Lovelace",
        "email": format!("ada{i}@example.com"), "country": "Cameroon",
        "street": format!("{i} Main Street"), "city": "Yaoundé", "state": "Centre",
        "postal_code": "00237", "phone_country_code": "+237",
        "phone_number": format!("6{i:08}"), "identification_number": format!("ID{i:05}"),
        "type": "NIN", "number": format!("ID{i:05}"),
        "date_of_birth": format!("1990-01-{:02}T00:00:00.000Z", i % 28 + 1),
        "is_active": true
    })
}

fn ok(data: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "success": true, "statusCode": 200, "message": "Data retrieved successfully", "data": data
    }))
}

fn not_found() -> ResponseTemplate {
    ResponseTemplate::new(404).set_body_json(json!({
        "success": false, "statusCode": 404, "message": "Customer not found"
    }))
}

fn paged(data: Value, block: &str, page: u64, total: u64, total_pages: u64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "success": true, "statusCode": 200, "message": "ok", "data": data,
        block: {"page": page, "limit": 100, "total": total, "totalPages": total_pages}
    }))
}

/// A folder with a CSV of persons 1..=n and a journal that has each row as given.
struct Fixture {
    dir: tempfile::TempDir,
    csv: PathBuf,
    journal: PathBuf,
}

impl Fixture {
    fn new(rows: &[(Status, Option<&str>)]) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("partner.csv");
        let mut text = format!("{HEADER}\n");
        for i in 1..=rows.len() as u32 {
            text.push_str(&line(i));
            text.push('\n');
        }
        std::fs::write(&csv, text).unwrap();
        let journal = dir.path().join("journal.db");
        let f = Fixture { dir, csv, journal };
        f.record(&f.csv, rows);
        f
    }

    /// Journals `rows` for the file at `csv`, as a run would have (on a thread of its own:
    /// the writer's blocking handle may not be used on a runtime thread).
    fn record(&self, csv: &Path, rows: &[(Status, Option<&str>)]) {
        std::thread::scope(|s| s.spawn(|| self.record_blocking(csv, rows)).join().unwrap());
    }

    fn record_blocking(&self, csv: &Path, rows: &[(Status, Option<&str>)]) {
        let (sha, n) = crate::input::scan(csv, &Reading::csv(b',')).unwrap();
        let mut journal = Journal::open(&self.journal).unwrap();
        let entry = journal.file(&sha, &csv.display().to_string(), n).unwrap();
        let run = journal.start_run(&entry, "run").unwrap();
        let (handle, thread) = writer::spawn(
            &self.journal,
            entry,
            run,
            writer::OnFailure::new(|_| {}, std::io::stderr()),
        )
        .unwrap();
        for (i, (status, id)) in rows.iter().enumerate() {
            handle
                .blocking_send(JournalCommand::Local {
                    row: i as u64 + 1,
                    status: *status,
                    customer_id: id.map(str::to_owned),
                    message: String::new(),
                    warnings: String::new(),
                })
                .unwrap();
        }
        drop(handle);
        thread.join().unwrap().unwrap();
    }

    fn settings(&self) -> Settings {
        Settings {
            files: Vec::new(),
            journal: self.journal.clone(),
            report_dir: Some(self.out()),
            reading: crate::input::Reading::default(),
            date_format: None,
            cards: false,
            transactions: false,
            resolve_duplicates: false,
            progress_interval: None,
            send: Policy {
                rate: crate::executor::Rate::Unlimited,
                auto_rate: None,
                concurrency: 3,
                auto_concurrency: false,
                max_attempts: 3,
                backoff: crate::executor::Backoff {
                    base: Duration::from_millis(1),
                    cap: Duration::from_millis(5),
                },
                grace: Duration::from_secs(5),
            },
        }
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    /// reconcile.csv's lines after the header.
    fn lines(&self) -> Vec<String> {
        let text = std::fs::read_to_string(self.out().join("reconcile.csv")).unwrap();
        let mut lines = text.lines().map(str::to_owned);
        assert_eq!(lines.next().unwrap(), output::COLUMNS.join(","));
        lines.collect()
    }

    /// reconcile-summary.json, checked against its committed schema.
    fn summary(&self) -> Value {
        read_summary(&self.out().join("reconcile-summary.json"))
    }
}

fn read_summary(path: &Path) -> Value {
    let value: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let schema: Value =
        serde_json::from_str(include_str!("../../schemas/reconcile-summary.schema.json")).unwrap();
    if let Err(e) = jsonschema::validate(&schema, &value) {
        panic!(
            "{} does not follow its schema: {e}\n{value:#}",
            path.display()
        );
    }
    value
}

fn client(server: &MockServer) -> Client {
    Client::new(ApiConfig {
        base_url: format!("{}/api/v1", server.uri()),
        credentials: Credentials::Token("test-token".into()),
        timeout: Duration::from_secs(5),
        provider_enroll: true,
        ca_certs: Vec::new(),
    })
    .unwrap()
}

async fn customer(server: &MockServer, id: &str, answer: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path(format!("/api/v1/customers/{id}")))
        .respond_with(answer)
        .mount(server)
        .await;
}

async fn run(settings: &Settings, server: &MockServer) -> Result<i32> {
    Ok(reconcile(settings, client(server), Stop::new())
        .await?
        .code())
}

#[tokio::test]
async fn match_mismatch_inactive_and_missing() {
    let server = MockServer::start().await;
    let f = Fixture::new(&[
        (Status::Created, Some("c1")),
        (Status::Created, Some("c2")),
        (Status::AlreadyEnrolled, Some("c3")),
        (Status::Created, Some("c4")),
        (Status::Invalid, None),
        (Status::Duplicate, None),
    ]);
    customer(&server, "c1", ok(remote(1, "c1"))).await;
    let mut changed = remote(2, "c2");
    changed["city"] = json!("Douala");
    changed["email"] = json!("someone.else@example.com");
    changed["street"] = Value::Null; // not returned: not a mismatch
    customer(&server, "c2", ok(changed)).await;
    let mut inactive = remote(3, "c3");
    inactive["is_active"] = json!(false);
    customer(&server, "c3", ok(inactive)).await;
    customer(&server, "c4", not_found()).await;

    assert_eq!(run(&f.settings(), &server).await.unwrap(), 2);
    assert_eq!(
        f.lines(),
        [
            "1,P-1,c1,match,,true,,,",
            "2,P-2,c2,mismatch,email;city,true,,,",
            "3,P-3,c3,inactive,,false,,,",
            "4,P-4,c4,missing,,,,,",
        ]
    );
    let s = f.summary();
    assert_eq!(
        s["counts"],
        json!({"match": 1, "mismatch": 1, "inactive": 1, "missing": 1})
    );
    assert_eq!(s["exit_code"], 2);
    assert!(s.get("cards").is_none());
    // No personal value reaches the report.
    let text = std::fs::read_to_string(f.out().join("reconcile.csv")).unwrap();
    assert!(!text.contains("Douala") && !text.to_lowercase().contains("example.com"));
}

#[tokio::test]
async fn every_customer_matching_exits_0_and_a_retry_is_counted() {
    let server = MockServer::start().await;
    let f = Fixture::new(&[(Status::Created, Some("c1")), (Status::Created, Some("c2"))]);
    // c1 answers 503 once, then 200.
    Mock::given(method("GET"))
        .and(path("/api/v1/customers/c1"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    customer(&server, "c1", ok(remote(1, "c1"))).await;
    customer(&server, "c2", ok(remote(2, "c2"))).await;
    assert_eq!(run(&f.settings(), &server).await.unwrap(), 0);
    let s = f.summary();
    assert_eq!(s["counts"]["match"], 2);
    assert_eq!(
        (s["requests_sent"].as_u64(), s["retries"].as_u64()),
        (Some(3), Some(1))
    );
}

/// `--rate auto`: reconcile starts from the limit the journal learned against the API (as
/// `run` does), and keeps what it learned for the next run.
#[tokio::test]
async fn rate_auto_starts_from_the_learned_limit_and_keeps_what_it_learns() {
    let server = MockServer::start().await;
    let f = Fixture::new(&[(Status::Created, Some("c1")), (Status::Created, Some("c2"))]);
    customer(&server, "c1", ok(remote(1, "c1"))).await;
    customer(&server, "c2", ok(remote(2, "c2"))).await;
    let base_url = format!("{}/api/v1", server.uri());
    let mut settings = f.settings();
    settings.send.auto_rate = Some(crate::executor::AutoRate {
        learned: None,
        max: 100.0,
    });
    settings.send.rate = crate::executor::Rate::PerSecond(crate::executor::AutoRate::FIRST);
    let learned = || {
        JournalRead::open(&f.journal)
            .unwrap()
            .learned_rate(&base_url)
            .unwrap()
    };
    // Cold, with no 429: nothing was learned, nothing is kept (a rate merely reached is not
    // a limit).
    assert_eq!(run(&settings, &server).await.unwrap(), 0);
    assert_eq!(f.summary()["counts"]["match"], 2);
    assert_eq!(learned(), None);
    // Warm: a limit learned by a run is where reconcile starts, and with no 429 it stands.
    Journal::open(&f.journal)
        .unwrap()
        .set_learned_rate(&base_url, 42.0)
        .unwrap();
    assert_eq!(run(&settings, &server).await.unwrap(), 0);
    assert_eq!(learned(), Some(42.0));
    // A 429: what the server let through before it (a read or two) is the limit now kept.
    Mock::given(method("GET"))
        .and(path("/api/v1/customers/c2"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "0"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    assert_eq!(run(&settings, &server).await.unwrap(), 0);
    let kept = learned().expect("a limit kept");
    assert!(kept < 42.0, "{kept}");
}

#[tokio::test]
async fn a_fatal_answer_exits_1() {
    let server = MockServer::start().await;
    let f = Fixture::new(&[(Status::Created, Some("c1"))]);
    customer(&server, "c1", ResponseTemplate::new(403)).await;
    assert_eq!(run(&f.settings(), &server).await.unwrap(), 1);
    assert!(f.summary()["stopped"].as_str().unwrap().contains("403"));
}

/// Nothing listens where the API should be: ten attempts in a row stop the command, which
/// exits 3 (run it again), not 1.
#[tokio::test]
async fn an_unreachable_api_stops_reconcile_to_be_run_again() {
    let f = Fixture::new(&[(Status::Created, Some("c1")), (Status::Created, Some("c2"))]);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base_url = format!("http://{}/api/v1", listener.local_addr().unwrap());
    drop(listener);
    let client = Client::new(ApiConfig {
        base_url,
        credentials: Credentials::Token("test-token".into()),
        timeout: Duration::from_secs(5),
        provider_enroll: true,
        ca_certs: Vec::new(),
    })
    .unwrap();
    let mut settings = f.settings();
    // More attempts per read than the ten in a row that stop the command.
    settings.send.max_attempts = 20;
    let code = reconcile(&settings, client, Stop::new()).await.unwrap();
    assert_eq!(code, Exit::Resume);
    let summary = f.summary();
    assert_eq!(summary["exit_code"], 3);
    let stopped = summary["stopped"].as_str().unwrap();
    assert!(
        stopped.starts_with("the API is unreachable: could not connect"),
        "{stopped}"
    );
}

#[tokio::test]
async fn cards_404_means_no_cards_for_a_customer_that_exists_and_missing_otherwise() {
    let server = MockServer::start().await;
    let f = Fixture::new(&[
        (Status::Created, Some("c1")),
        (Status::Created, Some("c2")),
        (Status::Created, Some("c3")),
    ]);
    customer(&server, "c1", ok(remote(1, "c1"))).await;
    Mock::given(method("GET"))
        .and(path("/api/v1/customers/c1/cards"))
        .respond_with(not_found())
        .expect(1)
        .mount(&server)
        .await;
    customer(&server, "c2", not_found()).await;
    Mock::given(method("GET"))
        .and(path("/api/v1/customers/c2/cards"))
        .respond_with(not_found())
        .expect(0)
        .mount(&server)
        .await;
    customer(&server, "c3", ok(remote(3, "c3"))).await;
    Mock::given(method("GET"))
        .and(path("/api/v1/customers/c3/cards"))
        .respond_with(ok(json!([
            {"id": "k1", "status": "ACTIVE", "balance": 25, "currency": "USD"},
            {"id": "k2", "status": "FROZEN", "balance": 1000, "currency": "XAF"},
            {"id": "k3", "status": "ACTIVE", "balance": 0.5, "currency": "USD"}
        ])))
        .mount(&server)
        .await;
    let mut settings = f.settings();
    settings.cards = true;
    assert_eq!(run(&settings, &server).await.unwrap(), 2);
    assert_eq!(
        f.lines(),
        [
            "1,P-1,c1,match,,true,0,,",
            "2,P-2,c2,missing,,,,,",
            "3,P-3,c3,match,,true,3,USD 25.50;XAF 1000.00,",
        ]
    );
    let cards = &f.summary()["cards"];
    assert_eq!(cards["count"], 3);
    assert_eq!(cards["statuses"], json!({"ACTIVE": 2, "FROZEN": 1}));
    assert_eq!(cards["balance"], json!({"USD": "25.50", "XAF": "1000.00"}));
}

#[tokio::test]
async fn every_page_of_transactions_whatever_its_page_block_is_called() {
    let server = MockServer::start().await;
    let f = Fixture::new(&[(Status::Created, Some("c1"))]);
    customer(&server, "c1", ok(remote(1, "c1"))).await;
    let tx = |id: &str, kind: &str, amount: f64| json!({"id": id, "type": kind, "amount": amount, "currency": "USD", "status": "SUCCESS"});
    let pages = [
        (
            "1",
            "meta",
            json!([tx("t1", "FUND", 50.0), tx("t2", "AUTHORIZATION", 12.5)]),
        ),
        (
            "2",
            "pagination",
            json!([tx("t3", "AUTHORIZATION", 7.25),
            {"id": "t4", "type": "FUND", "amount": 1000, "card": {"currency": "XAF"}}]),
        ),
        ("3", "meta", json!([tx("t5", "WITHDRAWAL", 10.0)])),
    ];
    for (n, block, data) in pages {
        Mock::given(method("GET"))
            .and(path("/api/v1/customers/c1/transactions"))
            .and(query_param("page", n))
            .respond_with(paged(data, block, n.parse().unwrap(), 5, 3))
            .expect(1)
            .mount(&server)
            .await;
    }
    let mut settings = f.settings();
    settings.transactions = true;
    assert_eq!(run(&settings, &server).await.unwrap(), 0);
    assert_eq!(f.lines(), ["1,P-1,c1,match,,true,,,5"]);
    let t = &f.summary()["transactions"];
    assert_eq!(t["count"], 5);
    assert_eq!(
        t["totals"],
        json!({
            "AUTHORIZATION": {"USD": "19.75"},
            "FUND": {"USD": "50.00", "XAF": "1000.00"},
            "WITHDRAWAL": {"USD": "10.00"}
        })
    );
}

#[tokio::test]
async fn a_transactions_404_for_a_customer_that_exists_is_no_transactions() {
    let server = MockServer::start().await;
    let f = Fixture::new(&[(Status::Created, Some("c1"))]);
    customer(&server, "c1", ok(remote(1, "c1"))).await;
    Mock::given(method("GET"))
        .and(path("/api/v1/customers/c1/transactions"))
        .respond_with(not_found())
        .expect(1)
        .mount(&server)
        .await;
    let mut settings = f.settings();
    settings.transactions = true;
    assert_eq!(run(&settings, &server).await.unwrap(), 0);
    assert_eq!(f.lines(), ["1,P-1,c1,match,,true,,,0"]);
}

#[tokio::test]
async fn an_interrupted_reconcile_exits_130() {
    let server = MockServer::start().await;
    let f = Fixture::new(&[(Status::Created, Some("c1"))]);
    customer(&server, "c1", ok(remote(1, "c1"))).await;
    let stop = Stop::new();
    stop.trigger(StopReason::Signal(crate::exit::Signal::Interrupt));
    let code = reconcile(&f.settings(), client(&server), stop)
        .await
        .unwrap();
    assert_eq!(code, Exit::Stopped(crate::exit::Signal::Interrupt));
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_duplicate_is_resolved_through_the_second_page_of_the_customer_list() {
    let server = MockServer::start().await;
    let f = Fixture::new(&[
        (Status::Created, Some("c1")),
        (Status::Duplicate, None),
        (Status::Duplicate, None),
    ]);
    customer(&server, "c1", ok(remote(1, "c1"))).await;
    let others: Vec<Value> = (100..200).map(|i| remote(i, &format!("x{i}"))).collect();
    Mock::given(method("GET"))
        .and(path("/api/v1/customers"))
        .and(query_param("page", "1"))
        .and(query_param("limit", "100"))
        .respond_with(paged(json!(others), "meta", 1, 102, 2))
        .expect(1)
        .mount(&server)
        .await;
    // Row 2 is found by its email in another case; row 3 by its identification number.
    let mut by_email = remote(2, "dup-2");
    by_email["email"] = json!("ADA2@EXAMPLE.COM");
    by_email["identification_number"] = Value::Null;
    by_email["number"] = Value::Null;
    let mut by_id = remote(3, "dup-3");
    by_id["email"] = json!("changed@example.org");
    Mock::given(method("GET"))
        .and(path("/api/v1/customers"))
        .and(query_param("page", "2"))
        .respond_with(paged(
            json!([by_email.clone(), by_id.clone()]),
            "meta",
            2,
            102,
            2,
        ))
        .expect(1)
        .mount(&server)
        .await;
    customer(&server, "dup-2", ok(by_email)).await;
    customer(&server, "dup-3", ok(by_id)).await;

    let mut settings = f.settings();
    settings.resolve_duplicates = true;
    assert_eq!(run(&settings, &server).await.unwrap(), 2);
    assert_eq!(
        f.lines(),
        [
            "1,P-1,c1,match,,true,,,",
            "2,P-2,dup-2,match,,true,,,",
            "3,P-3,dup-3,mismatch,email,true,,,",
        ]
    );
    assert_eq!(f.summary()["duplicates_resolved"], 2);
    let journal = JournalRead::open(&f.journal).unwrap();
    let entry = &journal.files().unwrap()[0];
    let row = journal.row(entry, 2).unwrap().unwrap();
    assert_eq!(row.customer_id.as_deref(), Some("dup-2"));
    assert_eq!(row.status, JournalStatus::Row(Status::Duplicate));
    // Later runs know the customer through the index.
    let keys = journal.keyer().unwrap().keys("ada3@example.com", "ID00003");
    let known = journal.lookup().unwrap().known(&keys).unwrap().unwrap();
    assert_eq!(known.customer_id.as_deref(), Some("dup-3"));
}

#[tokio::test]
async fn a_changed_file_is_refused_before_anything_is_sent() {
    let server = MockServer::start().await;
    let f = Fixture::new(&[(Status::Created, Some("c1"))]);
    let mut text = std::fs::read_to_string(&f.csv).unwrap();
    text = text.replace("Ada1,", "Adb1,");
    std::fs::write(&f.csv, text).unwrap();

    let err = run(&f.settings(), &server).await.unwrap_err();
    assert!(
        format!("{err:#}").contains("has changed since it was run"),
        "{err:#}"
    );
    let mut settings = f.settings();
    settings.files = vec![f.csv.clone()];
    let err = run(&settings, &server).await.unwrap_err();
    assert!(format!("{err:#}").contains("knows no run of"), "{err:#}");
    assert!(server.received_requests().await.unwrap().is_empty());
    assert!(!f.out().exists());
}

#[tokio::test]
async fn several_files_get_a_folder_each() {
    let server = MockServer::start().await;
    let f = Fixture::new(&[(Status::Created, Some("c1"))]);
    let second = f.dir.path().join("second.csv");
    std::fs::write(&second, format!("{HEADER}\n{}\n{}\n", line(1), line(2))).unwrap();
    f.record(
        &second,
        &[
            (Status::AlreadyEnrolled, Some("c1")),
            (Status::Created, Some("c2")),
        ],
    );
    customer(&server, "c1", ok(remote(1, "c1"))).await;
    customer(&server, "c2", not_found()).await;
    let mut settings = f.settings();
    settings.files = vec![f.csv.clone(), second.clone()];
    assert_eq!(run(&settings, &server).await.unwrap(), 2);
    let partner = std::fs::read_to_string(f.out().join("partner/reconcile.csv")).unwrap();
    assert_eq!(partner.lines().count(), 2);
    let s = read_summary(&f.out().join("second/reconcile-summary.json"));
    assert_eq!(s["counts"]["missing"], 1);
    assert_eq!(s["exit_code"], 2);
}

/// Enrolls a small file through `run` against the sandbox, then reconciles it with cards and
/// transactions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_to_end_against_the_sandbox() {
    use crate::sandbox::{Sandbox, SandboxConfig};
    let sandbox = Sandbox::new(SandboxConfig {
        seed_cards: true,
        ..Default::default()
    })
    .unwrap()
    .start()
    .await
    .unwrap();
    let f = Fixture::new(&[]);
    let csv = f.dir.path().join("nightly.csv");
    std::fs::write(
        &csv,
        format!("{HEADER}\n{}\n{}\n{}\n", line(1), line(2), line(3)),
    )
    .unwrap();
    let client = Client::new(ApiConfig {
        base_url: sandbox.url().to_owned(),
        credentials: Credentials::Token("sandbox".into()),
        timeout: Duration::from_secs(10),
        provider_enroll: true,
        ca_certs: Vec::new(),
    })
    .unwrap();
    let input = crate::config::InputSettings {
        report_dir: None,
        as_of: chrono::NaiveDate::from_ymd_opt(2026, 1, 1),
        documents_dir: None,
        strict: false,
        reading: crate::input::Reading::default(),
        date_format: None,
        keep_phone_format: false,
    };
    let mut send = f.settings().send;
    send.concurrency = 2;
    let mut journal = Journal::open(&f.journal).unwrap();
    let exit = crate::commands::run::run_file(
        &input,
        &send,
        &csv,
        &f.dir.path().join("run-report"),
        &client,
        &mut journal,
        &Stop::new(),
    )
    .await
    .unwrap();
    assert_eq!(exit, Exit::Done);
    drop(journal);

    let mut settings = f.settings();
    settings.files = vec![csv.clone()];
    settings.cards = true;
    settings.transactions = true;
    assert_eq!(
        reconcile(&settings, client, Stop::new()).await.unwrap(),
        Exit::Done
    );
    let lines = f.lines();
    assert_eq!(lines.len(), 3);
    for (i, l) in lines.iter().enumerate() {
        let cols: Vec<&str> = l.split(',').collect();
        assert_eq!(cols[0], (i + 1).to_string());
        assert_eq!(cols[3], "match", "{l}");
        assert_eq!(cols[6], "1", "{l}");
        assert!(cols[8].parse::<u64>().unwrap() > 0, "{l}");
    }
    let s = f.summary();
    assert_eq!(s["counts"]["match"], 3);
    assert_eq!(s["cards"]["count"], 3);
    sandbox.stop().await.unwrap();
}

/// A measurement, not a check: `cargo test --release --lib reconcile::tests::throughput --
/// --ignored --nocapture`. Enrolls `ROWS` customers in the sandbox, then reconciles them with
/// cards and transactions at `--rate 0`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn throughput() {
    use crate::sandbox::{Sandbox, SandboxConfig};
    const ROWS: u32 = 2000;
    let sandbox = Sandbox::new(SandboxConfig {
        seed_cards: true,
        ..Default::default()
    })
    .unwrap()
    .start()
    .await
    .unwrap();
    let f = Fixture::new(&[]);
    let csv = f.dir.path().join("big.csv");
    let mut text = format!("{HEADER}\n");
    for i in 1..=ROWS {
        text.push_str(&line(i));
        text.push('\n');
    }
    std::fs::write(&csv, text).unwrap();
    let client = Client::new(ApiConfig {
        base_url: sandbox.url().to_owned(),
        credentials: Credentials::Token("sandbox".into()),
        timeout: Duration::from_secs(10),
        provider_enroll: true,
        ca_certs: Vec::new(),
    })
    .unwrap();
    let input = crate::config::InputSettings {
        report_dir: None,
        as_of: chrono::NaiveDate::from_ymd_opt(2026, 1, 1),
        documents_dir: None,
        strict: false,
        reading: crate::input::Reading::default(),
        date_format: None,
        keep_phone_format: false,
    };
    let mut send = f.settings().send;
    send.concurrency = 8;
    let mut journal = Journal::open(&f.journal).unwrap();
    let exit = crate::commands::run::run_file(
        &input,
        &send,
        &csv,
        &f.dir.path().join("run-report"),
        &client,
        &mut journal,
        &Stop::new(),
    )
    .await
    .unwrap();
    assert_eq!(exit, Exit::Done);
    drop(journal);
    for (cards, transactions) in [(false, false), (true, true)] {
        let mut settings = f.settings();
        settings.files = vec![csv.clone()];
        settings.send.concurrency = 8;
        settings.cards = cards;
        settings.transactions = transactions;
        let started = std::time::Instant::now();
        assert_eq!(
            reconcile(&settings, client.clone(), Stop::new())
                .await
                .unwrap(),
            Exit::Done
        );
        let took = started.elapsed();
        eprintln!(
            "reconcile {ROWS} customers (cards {cards}, transactions {transactions}): {:?}, \
             {:.0} customers/s, {} requests",
            took,
            f64::from(ROWS) / took.as_secs_f64(),
            f.summary()["requests_sent"]
        );
    }
    sandbox.stop().await.unwrap();
}

/// The command line, end to end: `run` then `reconcile --cards --transactions` through
/// `app::main`, against the sandbox on its own runtime.
#[test]
fn the_command_line_runs_then_reconciles() {
    use crate::sandbox::{Sandbox, SandboxConfig};
    use clap::Parser;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sandbox = runtime.block_on(async {
        Sandbox::new(SandboxConfig {
            seed_cards: true,
            ..Default::default()
        })
        .unwrap()
        .start()
        .await
        .unwrap()
    });
    let f = Fixture::new(&[]);
    let csv = f.dir.path().join("cli.csv");
    std::fs::write(&csv, format!("{HEADER}\n{}\n{}\n", line(1), line(2))).unwrap();
    let token = f.dir.path().join("token");
    std::fs::write(&token, "sandbox\n").unwrap();
    let arg = |p: &Path| p.display().to_string();
    let common = [
        "--journal".to_owned(),
        arg(&f.journal),
        "--base-url".to_owned(),
        sandbox.url().to_owned(),
        "--token-file".to_owned(),
        arg(&token),
        "--rate".to_owned(),
        "0".to_owned(),
    ];
    let cli = |args: Vec<String>| {
        let mut all = vec!["cartevo-enroll".to_owned()];
        all.extend(args);
        all.extend(common.iter().cloned());
        crate::app::main(crate::cli::Cli::parse_from(all))
            .unwrap()
            .code()
    };
    let run_dir = f.dir.path().join("run-report");
    let code = cli(vec![
        "run".into(),
        arg(&csv),
        "--as-of".into(),
        "2026-01-01".into(),
        "--report-dir".into(),
        arg(&run_dir),
    ]);
    assert_eq!(code, 0);
    let code = cli(vec![
        "reconcile".into(),
        "--cards".into(),
        "--transactions".into(),
        "--resolve-duplicates".into(),
        "--report-dir".into(),
        arg(&f.out()),
    ]);
    // The journal knows partner.csv (no rows) and cli.csv: a folder each.
    assert_eq!(code, 0);
    let text = std::fs::read_to_string(f.out().join("cli/reconcile.csv")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[1].starts_with("1,P-1,") && lines[1].contains(",match,,true,1,USD "));
    let s = read_summary(&f.out().join("cli/reconcile-summary.json"));
    assert_eq!(s["counts"]["match"], 2);
    assert_eq!(s["duplicates_resolved"], 0);
    runtime.block_on(sandbox.stop()).unwrap();
}
