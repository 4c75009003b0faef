//! `run` through the binary against wiremock: every class of answer, retries with
//! Retry-After, token renewal mid-run, the 401 and 403 stops, a lost answer resolved by a 409,
//! resume without sending a row twice, already_enrolled across files, Ctrl-C, and an API that
//! cannot be reached or whose certificate is not trusted.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::util::emails_sent;

const BIN: &str = env!("CARGO_BIN_EXE_cartevo-enroll");
const HEADER: &str = "reference,first_name,last_name,email,country,street,city,state,postal_code,\
country_iso_code,country_phone_code,phone_number,identification_number,id_document_type,\
date_of_birth,id_document_front_url,id_document_back_url";

/// A valid adult row with URL documents; `i` makes the email and ID number unique.
fn row(i: usize) -> String {
    format!(
        "R-{i},Amina,Okafor,customer{i}@example.com,Nigeria,14 Awolowo Road,Lagos,Lagos State,\
         101233,NG,+234,8031234567,ID{i:08},NIN,1991-04-12,https://cdn.example.com/{i}/f.jpg,\
         https://cdn.example.com/{i}/b.jpg"
    )
}

struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new() -> Case {
        Case {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn csv(&self, name: &str, rows: impl IntoIterator<Item = String>) -> PathBuf {
        let mut text = format!("{HEADER}\n");
        for r in rows {
            text.push_str(&r);
            text.push('\n');
        }
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// `status` of this case's journal, with `extra` flags.
    fn status(&self, extra: &[&str]) -> Output {
        Command::new(BIN)
            .current_dir(self.dir.path())
            .args(["status", "--journal", "journal.db"])
            .args(extra)
            .output()
            .unwrap()
    }

    fn command(&self, server: &str, file: &Path, report: &str, extra: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.current_dir(self.dir.path())
            .env_remove("CARTEVO_CLIENT_ID")
            .env_remove("CARTEVO_CLIENT_KEY")
            .env("CARTEVO_API_TOKEN", "test-token")
            .env("NO_COLOR", "1")
            .args(["run", file.to_str().unwrap(), "--base-url", server])
            .args(["--report-dir", report, "--as-of", "2026-11-21"])
            .args(["--journal", "journal.db", "--backoff-ms", "10"])
            .args(extra);
        if !extra.contains(&"--rate") {
            cmd.args(["--rate", "0"]);
        }
        cmd
    }

    fn run(&self, server: &str, file: &Path, report: &str, extra: &[&str]) -> Output {
        self.command(server, file, report, extra).output().unwrap()
    }

    fn results(&self, report: &str) -> Vec<csv::StringRecord> {
        let mut r =
            csv::Reader::from_path(self.dir.path().join(report).join("results.csv")).unwrap();
        r.records().map(Result::unwrap).collect()
    }

    fn summary(&self, report: &str) -> Value {
        let text = std::fs::read(self.dir.path().join(report).join("summary.json")).unwrap();
        serde_json::from_slice(&text).unwrap()
    }
}

fn created(id: &str) -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(serde_json::json!({
        "success": true, "statusCode": 201, "message": "Customer enrolled successfully",
        "data": {"id": id, "is_active": true}
    }))
}

fn error(status: u16, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(serde_json::json!({
        "success": false, "statusCode": status, "message": message, "data": null
    }))
}

/// Answers 201 with an id derived from the row's email, so tests can check which row got
/// which id.
struct CreateById;

impl Respond for CreateById {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        let email = body["email"].as_str().unwrap();
        created(&format!("id-{}", email.split('@').next().unwrap()))
    }
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_class_of_answer_lands_in_the_report() {
    let server = MockServer::start().await;
    let answers = [
        ("customer1@", created("c-1")),
        (
            "customer2@",
            ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "success": true, "statusCode": 200, "message": "Data retrieved successfully",
            "data": {"id": "c-2"}})),
        ),
        (
            "customer3@",
            error(409, "Customer with this email or ID already exists"),
        ),
        (
            "customer4@",
            error(400, "first_name must be at least 3 characters"),
        ),
        ("customer5@", error(422, "KYC document unreadable")),
        (
            "customer6@",
            ResponseTemplate::new(502).set_body_string("<html>bad gateway</html>"),
        ),
    ];
    for (email, answer) in answers {
        Mock::given(method("POST"))
            .and(path("/api/v1/customers/enroll"))
            .and(header("authorization", "Bearer test-token"))
            .and(body_string_contains(email))
            .respond_with(answer)
            .mount(&server)
            .await;
    }
    let case = Case::new();
    let file = case.csv("in.csv", (1..=6).map(row));
    let url = format!("{}/api/v1", server.uri());
    let out = case.run(&url, &file, "r", &["--max-attempts", "2"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));

    let rows = case.results("r");
    let got: Vec<(&str, &str, &str, &str)> =
        rows.iter().map(|r| (&r[2], &r[3], &r[4], &r[5])).collect();
    assert_eq!(
        got,
        vec![
            ("created", "c-1", "201", "1"),
            ("created", "c-2", "200", "1"),
            ("duplicate", "", "409", "1"),
            ("rejected", "", "400", "1"),
            ("rejected", "", "422", "1"),
            ("failed", "", "502", "2"),
        ]
    );
    assert_eq!(&rows[2][6], "Customer with this email or ID already exists");
    assert_eq!(&rows[4][6], "KYC document unreadable");
    let summary = case.summary("r");
    assert_eq!(summary["requests_sent"], 7);
    assert_eq!(summary["retries"], 1);
    assert_eq!(summary["exit_code"], 3);
    let rejects = std::fs::read_to_string(case.dir.path().join("r/rejects.csv")).unwrap();
    assert_eq!(rejects.lines().count(), 3, "{rejects}");

    // The failed row is retried by the next run; nothing final is sent again.
    server.reset().await;
    Mock::given(method("POST"))
        .respond_with(CreateById)
        .mount(&server)
        .await;
    let out = case.run(&url, &file, "r2", &[]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert_eq!(emails_sent(&server).await, vec!["customer6@example.com"]);
    let rows = case.results("r2");
    assert_eq!(rows.len(), 6);
    assert_eq!(&rows[0][3], "c-1");
    assert_eq!((&rows[5][2], &rows[5][5]), ("created", "3"));
}

/// With a proxy named in the environment, every request goes through it (reqwest applies
/// it; the direct bulk path stands aside). Nothing listens at the API's own address here.
#[tokio::test(flavor = "multi_thread")]
async fn a_proxy_from_the_environment_carries_every_request() {
    let proxy = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/customers/enroll"))
        .and(header("authorization", "Bearer test-token"))
        .respond_with(CreateById)
        .mount(&proxy)
        .await;
    let case = Case::new();
    let file = case.csv("in.csv", (1..=5).map(row));
    let out = case
        .command(
            "http://localhost:1/api/v1",
            &file,
            "r",
            &["--max-attempts", "1"],
        )
        .env("HTTP_PROXY", proxy.uri())
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let requests = proxy.received_requests().await.unwrap();
    assert_eq!(requests.len(), 5);
    for r in &requests {
        assert_eq!(r.url.authority(), "localhost:1", "{}", r.url);
    }
    let ids: Vec<String> = case.results("r").iter().map(|r| r[3].to_string()).collect();
    assert_eq!(
        ids,
        (1..=5)
            .map(|i| format!("id-customer{i}"))
            .collect::<Vec<_>>()
    );
}

/// A server whose first answer is 429 with `Retry-After: 1`, then creates every customer.
async fn throttled_once() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(error(429, "Too many requests").insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(CreateById)
        .mount(&server)
        .await;
    server
}

#[tokio::test(flavor = "multi_thread")]
async fn retry_after_is_honoured_and_counted() {
    let server = throttled_once().await;
    let case = Case::new();
    let file = case.csv("in.csv", (1..=3).map(row));
    let started = std::time::Instant::now();
    let out = case.run(
        &format!("{}/api/v1", server.uri()),
        &file,
        "r",
        &["--concurrency", "1"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was not waited"
    );
    let summary = case.summary("r");
    assert_eq!(summary["http_429_seen"], 1);
    assert_eq!(summary["requests_sent"], 4);
    assert_eq!(summary["counts"]["created"], 3);
}

/// `--rate auto --concurrency auto`: a 429 teaches a limit, which summary.json's rates,
/// `status` and the next run (through the journal) all see.
#[tokio::test(flavor = "multi_thread")]
async fn rate_auto_learns_a_limit_that_status_shows_and_the_next_run_uses() {
    let server = throttled_once().await;
    let case = Case::new();
    let url = format!("{}/api/v1", server.uri());
    let auto = [
        "--rate",
        "auto",
        "--concurrency",
        "auto",
        "--max-rate",
        "50",
    ];
    let out = case.run(&url, &case.csv("a.csv", (1..=6).map(row)), "r1", &auto);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let summary = case.summary("r1");
    crate::util::assert_schema_valid(&summary);
    assert_eq!(summary["http_429_seen"], 1);
    assert!(summary["rate_final"].as_f64().unwrap() > 0.0, "{summary}");
    assert!(summary["rate_mean"].as_f64().unwrap() > 0.0, "{summary}");
    let text = String::from_utf8_lossy(&case.status(&[]).stdout).into_owned();
    assert!(
        text.contains("learned rate:") && text.contains(&url),
        "{text}"
    );
    let json: serde_json::Value = serde_json::from_slice(&case.status(&["--json"]).stdout).unwrap();
    let problems = crate::util::schema_problems("schemas/status.schema.json", &json);
    assert!(problems.is_empty(), "{problems:?}\n{json:#}");
    assert_eq!(json["learned_rates"][0]["base_url"], url.as_str(), "{json}");
    assert!(
        json["learned_rates"][0]["rate"].as_f64().unwrap() > 0.0,
        "{json}"
    );
    // The next file starts from what was learned, and learns again.
    let out = case.run(&url, &case.csv("b.csv", (7..=9).map(row)), "r2", &auto);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(case.summary("r2")["rate_final"].as_f64().unwrap() <= 50.0);
    // A fixed rate is the rate reported.
    let out = case.run(
        &url,
        &case.csv("c.csv", (10..=11).map(row)),
        "r3",
        &["--rate", "7"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(case.summary("r3")["rate_final"], 7.0);
}

/// `--rate 50` at answers of 200 ms cannot be reached with `--concurrency 2`: said once,
/// with the concurrency that would reach it.
#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_rate_is_said_with_the_concurrency_that_would_reach_it() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(CreateByIdAfter(Duration::from_millis(200)))
        .mount(&server)
        .await;
    let case = Case::new();
    let out = case.run(
        &format!("{}/api/v1", server.uri()),
        &case.csv("in.csv", (1..=24).map(row)),
        "r",
        &["--rate", "50", "--concurrency", "2"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.matches("is out of reach").count(), 1, "{err}");
    // 50 a second at 200 ms and more: 10 in flight on average, 15 or more with headroom.
    let needed: u32 = err
        .split(" would reach it")
        .next()
        .and_then(|before| before.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!((15..=20).contains(&needed), "{err}");
}

/// The first request is throttled; three more, already in flight, answer 400 ms later. Their
/// workers come back for more rows while the pause runs, and must wait it out too.
struct ThrottleFirst {
    arrivals: Arc<std::sync::Mutex<Vec<std::time::Instant>>>,
}

impl Respond for ThrottleFirst {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut arrivals = self.arrivals.lock().unwrap();
        arrivals.push(std::time::Instant::now());
        match arrivals.len() {
            1 => error(429, "Too many requests").insert_header("retry-after", "1"),
            2..=4 => CreateById
                .respond(req)
                .set_delay(Duration::from_millis(400)),
            _ => CreateById.respond(req),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn retry_after_pauses_every_worker_not_only_the_throttled_one() {
    let server = MockServer::start().await;
    let arrivals = Arc::new(std::sync::Mutex::new(Vec::new()));
    Mock::given(method("POST"))
        .respond_with(ThrottleFirst {
            arrivals: arrivals.clone(),
        })
        .mount(&server)
        .await;
    let case = Case::new();
    let file = case.csv("in.csv", (1..=10).map(row));
    let url = format!("{}/api/v1", server.uri());
    let out = case.run(&url, &file, "r", &["--concurrency", "4"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(case.summary("r")["http_429_seen"], 1);
    let arrivals = arrivals.lock().unwrap();
    assert_eq!(arrivals.len(), 11, "ten rows and one retry");
    // Everything sent after the first four waited for the pause (a lower bound: a slow
    // machine only makes the gap longer).
    for (i, at) in arrivals.iter().enumerate().skip(4) {
        let gap = *at - arrivals[0];
        assert!(
            gap >= Duration::from_millis(950),
            "request {} left {gap:?} after the 429, inside the Retry-After pause",
            i + 1
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn client_credentials_are_renewed_after_a_401_mid_run() {
    let server = MockServer::start().await;
    let token = |t: &str| {
        ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "success": true, "statusCode": 200, "message": "ok",
            "data": {"access_token": t, "token_type": "Bearer", "expires_in": 3600}
        }))
    };
    Mock::given(method("POST"))
        .and(path("/api/v1/auth/token"))
        .and(body_string_contains("\"client_key\":\"key-1\""))
        .respond_with(token("first"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/auth/token"))
        .respond_with(token("tok-2-secret"))
        .expect(1)
        .mount(&server)
        .await;
    // The first token works for two requests, then the server revokes it.
    Mock::given(method("POST"))
        .and(path("/api/v1/customers/enroll"))
        .and(header("authorization", "Bearer first"))
        .respond_with(CreateById)
        .up_to_n_times(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/customers/enroll"))
        .and(header("authorization", "Bearer first"))
        .respond_with(error(401, "Unauthorized"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/customers/enroll"))
        .and(header("authorization", "Bearer tok-2-secret"))
        .respond_with(CreateById)
        .mount(&server)
        .await;
    let case = Case::new();
    let file = case.csv("in.csv", (1..=5).map(row));
    let out = case
        .command(
            &format!("{}/api/v1", server.uri()),
            &file,
            "r",
            &["--concurrency", "1"],
        )
        .env_remove("CARTEVO_API_TOKEN")
        .env("CARTEVO_CLIENT_ID", "client")
        .env("CARTEVO_CLIENT_KEY", "key-1")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(case.summary("r")["counts"]["created"], 5);
    // No secret reaches the output, the journal or the report.
    let mut places = vec![
        ("stderr".to_string(), stderr(&out)),
        (
            "stdout".to_string(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        ),
    ];
    let journal = std::fs::read(case.dir.path().join("journal.db")).unwrap();
    places.push((
        "journal".into(),
        String::from_utf8_lossy(&journal).into_owned(),
    ));
    for entry in std::fs::read_dir(case.dir.path().join("r")).unwrap() {
        let path = entry.unwrap().path();
        places.push((
            path.display().to_string(),
            std::fs::read_to_string(&path).unwrap(),
        ));
    }
    assert!(
        places.len() >= 6,
        "results, rejects and summary were written"
    );
    for (place, text) in places {
        assert!(
            !text.contains("key-1") && !text.contains("tok-2-secret"),
            "{place}: {text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_403_stops_the_run_and_the_rest_stays_pending_until_resumed() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(CreateById)
        .up_to_n_times(3)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(error(
            403,
            "Cannot create more than 3 customers in preproduction mode",
        ))
        .mount(&server)
        .await;
    let case = Case::new();
    let file = case.csv("in.csv", (1..=8).map(row));
    let url = format!("{}/api/v1", server.uri());
    let out = case.run(&url, &file, "r", &["--concurrency", "1"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("Cannot create more than 3 customers"),
        "{}",
        stderr(&out)
    );
    // Nothing is sent after the refusal.
    assert_eq!(emails_sent(&server).await.len(), 4);
    let summary = case.summary("r");
    assert_eq!(summary["counts"]["created"], 3);
    assert_eq!(summary["counts"]["failed"], 1);
    assert_eq!(summary["counts"]["pending"], 4);
    assert_eq!(summary["exit_code"], 1);

    // Resume against a server that accepts: only the five unfinished rows are sent, once each.
    server.reset().await;
    Mock::given(method("POST"))
        .respond_with(CreateById)
        .mount(&server)
        .await;
    let out = case.run(&url, &file, "r2", &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let mut sent = emails_sent(&server).await;
    sent.sort();
    assert_eq!(
        sent,
        (4..=8)
            .map(|i| format!("customer{i}@example.com"))
            .collect::<Vec<_>>()
    );
    let rows = case.results("r2");
    assert!(rows.iter().all(|r| &r[2] == "created"));
    assert_eq!(rows.len(), 8);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_401_with_a_static_token_stops_the_run() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(error(401, "Invalid token"))
        .mount(&server)
        .await;
    let case = Case::new();
    let file = case.csv("in.csv", (1..=3).map(row));
    let out = case.run(
        &format!("{}/api/v1", server.uri()),
        &file,
        "r",
        &["--concurrency", "1"],
    );
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("Invalid token"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("test-token"));
    assert_eq!(emails_sent(&server).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_answer_then_409_is_a_duplicate_that_says_so() {
    let server = MockServer::start().await;
    // The server creates the customer but the answer arrives after our timeout.
    Mock::given(method("POST"))
        .respond_with(created("c-1").set_delay(Duration::from_secs(3)))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(error(409, "Customer with this email or ID already exists"))
        .mount(&server)
        .await;
    let case = Case::new();
    let file = case.csv("in.csv", [row(1)]);
    let out = case.run(
        &format!("{}/api/v1", server.uri()),
        &file,
        "r",
        &["--timeout", "0.5"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let rows = case.results("r");
    assert_eq!(&rows[0][2], "duplicate");
    assert_eq!(&rows[0][5], "2");
    assert!(rows[0][6].contains("may have created"), "{}", &rows[0][6]);
}

/// "josé" typed with a precomposed é and with e + U+0301, or with a zero-width space or a
/// byte-order mark stuck to a value, is one customer: within a file, across files, and in
/// what reaches the server (NFC, trimmed).
#[tokio::test(flavor = "multi_thread")]
async fn one_customer_however_its_text_is_encoded() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(CreateById)
        .mount(&server)
        .await;
    let case = Case::new();
    let url = format!("{}/api/v1", server.uri());
    let composed = row(1).replace("customer1@", "jos\u{e9}1@");
    // Same email decomposed, another ID number: a duplicate in the file by email.
    let decomposed = row(2).replace("customer2@", "jose\u{301}1@");
    // A zero-width space before the email and a BOM after the ID number.
    let junk = row(3)
        .replace("customer3@", "\u{200b}customer3@")
        .replace("ID00000003", "ID00000003\u{feff}");
    let first = case.csv("monday.csv", [composed, decomposed, junk]);
    let out = case.run(&url, &first, "r1", &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let rows = case.results("r1");
    let statuses: Vec<&str> = rows.iter().map(|r| &r[2]).collect();
    assert_eq!(statuses, ["created", "duplicate_in_file", "created"]);
    assert!(rows[1][6].contains("row 1"), "{:?}", rows[1]);
    let mut sent = emails_sent(&server).await;
    sent.sort();
    assert_eq!(sent, ["customer3@example.com", "jos\u{e9}1@example.com"]);
    let bodies = server.received_requests().await.unwrap();
    let ids: Vec<Value> = bodies
        .iter()
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap()["identification_number"].clone())
        .collect();
    assert!(ids.contains(&Value::from("ID00000003")), "{ids:?}");

    // The next night: the decomposed email, and the ID number with junk the other way.
    let again = row(4).replace("customer4@", "jose\u{301}1@");
    let id_again = row(5).replace("ID00000005", "\u{feff}ID00000003\u{200b}");
    let second = case.csv("tuesday.csv", [again, id_again]);
    let out = case.run(&url, &second, "r2", &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let rows = case.results("r2");
    assert_eq!(
        (&rows[0][2], &rows[0][3]),
        ("already_enrolled", "id-jos\u{e9}1")
    );
    assert_eq!(
        (&rows[1][2], &rows[1][3]),
        ("already_enrolled", "id-customer3")
    );
    assert_eq!(emails_sent(&server).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_customer_of_an_earlier_file_is_already_enrolled_and_not_sent() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(CreateById)
        .mount(&server)
        .await;
    let case = Case::new();
    let url = format!("{}/api/v1", server.uri());
    let first = case.csv("monday.csv", (1..=2).map(row));
    assert_eq!(code(&case.run(&url, &first, "r1", &[])), 0);
    // Same person as row 2 of monday (email in another case), and a new one.
    let again = row(2).replace("customer2@", "CUSTOMER2@");
    let second = case.csv("tuesday.csv", [again, row(3)]);
    let out = case.run(&url, &second, "r2", &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let rows = case.results("r2");
    assert_eq!(
        (&rows[0][2], &rows[0][3]),
        ("already_enrolled", "id-customer2")
    );
    // The message names the earlier file and its row (columns: row, reference, status,
    // customer_id, http_status, attempts, message, warnings).
    assert!(
        rows[0][6].starts_with("already enrolled: same email as row 2 of ")
            && rows[0][6].ends_with("monday.csv"),
        "{:?}",
        rows[0]
    );
    assert_eq!(&rows[1][2], "created");
    assert_eq!(emails_sent(&server).await.len(), 3);

    // A finished file run again sends nothing and reports everything. This time with no
    // flags: the base URL and journal come from the environment, the report goes to the
    // default folder.
    let out = Command::new(BIN)
        .current_dir(case.dir.path())
        .env("CARTEVO_API_TOKEN", "test-token")
        .env("CARTEVO_BASE_URL", &url)
        .env("CARTEVO_JOURNAL", "journal.db")
        .args(["run", "tuesday.csv"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(emails_sent(&server).await.len(), 3);
    let folders: Vec<String> = std::fs::read_dir(case.dir.path().join("reports"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(folders.len(), 1, "{folders:?}");
    let folder = &folders[0];
    // reports/<file stem>-<UTC timestamp>/, e.g. tuesday-20261121T062137Z
    assert!(
        folder.starts_with("tuesday-") && folder.len() == "tuesday-".len() + 16,
        "{folder}"
    );
    assert_eq!(case.results(&format!("reports/{folder}")).len(), 2);

    // status and report read the journal.
    let text = String::from_utf8_lossy(&case.status(&[]).stdout).into_owned();
    assert!(
        text.contains("monday.csv") && text.contains("already_enrolled"),
        "{text}"
    );
    let report = Command::new(BIN)
        .current_dir(case.dir.path())
        .args([
            "report",
            "tuesday.csv",
            "--journal",
            "journal.db",
            "--report-dir",
            "again",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&report), 0, "{}", stderr(&report));
    assert_eq!(case.results("again"), case.results("r2"));
    // Its summary gives the figures of the file's two runs, not of the report command.
    let summary = |dir: &str| -> serde_json::Value {
        let path = case.dir.path().join(dir).join("summary.json");
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    };
    let (first, second, again) = (
        summary("r2"),
        summary(&format!("reports/{folder}")),
        summary("again"),
    );
    let sent = |s: &serde_json::Value| s["requests_sent"].as_u64().unwrap();
    assert_eq!(sent(&again), sent(&first) + sent(&second));
    assert!(sent(&again) > 0);
    assert_eq!(again["started_at"], first["started_at"]);
    assert_eq!(again["ended_at"], second["ended_at"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_run_on_the_same_journal_refuses_to_start() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(created("c").set_delay(Duration::from_millis(300)))
        .mount(&server)
        .await;
    let case = Case::new();
    let url = format!("{}/api/v1", server.uri());
    let file = case.csv("in.csv", (1..=20).map(row));
    let mut first = case
        .command(&url, &file, "r1", &["--concurrency", "1"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for_requests(&server, 1).await;
    let out = case.run(&url, &file, "r2", &[]);
    first.kill().unwrap();
    first.wait().unwrap();
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("in use by another"),
        "{}",
        stderr(&out)
    );
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_finishes_what_is_in_flight_exits_130_and_resumes() {
    signal_then_resume(
        "INT",
        130,
        &["--rate", "20", "--concurrency", "2"],
        Duration::ZERO,
    )
    .await;
}

/// systemd, `kill` and `timeout` send SIGTERM; a closed SSH session SIGHUP: each stops the
/// run as gracefully as Ctrl-C, with its own exit code.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_and_sighup_stop_as_gracefully_as_ctrl_c() {
    let args = ["--rate", "20", "--concurrency", "2"];
    signal_then_resume("TERM", 143, &args, Duration::ZERO).await;
    signal_then_resume("HUP", 129, &args, Duration::ZERO).await;
}

/// Unpaced, with one sender thread per core: the stop reaches every one of them.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_stops_every_sender_of_an_unpaced_run() {
    signal_then_resume(
        "INT",
        130,
        &["--concurrency", "4"],
        Duration::from_millis(150),
    )
    .await;
}

/// Sends `signal` to a run with requests in flight: it exits `expected`, every answer is
/// journaled, nothing is left in flight, and the next run sends exactly the rest.
async fn signal_then_resume(signal: &str, expected: i32, args: &[&str], delay: Duration) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(CreateByIdAfter(delay))
        .mount(&server)
        .await;
    let case = Case::new();
    let url = format!("{}/api/v1", server.uri());
    let file = case.csv("in.csv", (1..=40).map(row));
    let child = case
        .command(&url, &file, "r1", args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_requests(&server, 3).await;
    let kill = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), expected, "{}", stderr(&out));
    let summary = case.summary("r1");
    assert_eq!(summary["exit_code"], expected);
    crate::util::assert_schema_valid(&summary);
    let first_sent = emails_sent(&server).await;
    assert!(first_sent.len() < 40);
    let created = summary["counts"]["created"].as_u64().unwrap();
    assert_eq!(
        created as usize,
        first_sent.len(),
        "every answer was journaled"
    );
    // Every claimed row was either answered or given back: none is left marked in flight
    // (which would make the next run take it for one that may have been sent).
    let journal = rusqlite::Connection::open(case.dir.path().join("journal.db")).unwrap();
    let in_flight: i64 = journal
        .query_row(
            "SELECT count(*) FROM rows WHERE status = 'in_flight'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(in_flight, 0);
    drop(journal);

    let out = case.run(&url, &file, "r2", &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let mut all = emails_sent(&server).await;
    assert_eq!(all.len(), 40, "each row sent exactly once across both runs");
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 40);
}

/// `CreateById`, answering after a delay.
struct CreateByIdAfter(Duration);

impl Respond for CreateByIdAfter {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        CreateById.respond(req).set_delay(self.0)
    }
}

/// Waits (on real time, bounded) until the server has seen `n` create requests.
async fn wait_for_requests(server: &MockServer, n: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while emails_sent(server).await.len() < n {
        assert!(
            std::time::Instant::now() < deadline,
            "server never saw {n} requests"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An address nothing listens on: every connection is refused.
fn nothing_listens() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/api/v1", listener.local_addr().unwrap());
    drop(listener);
    url
}

/// Connection refused on every request: the run stops after ten attempts in a row instead of
/// trying every row five times, exits 3, and a later run sends every row.
#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_api_stops_the_run_and_the_rows_wait_for_the_next() {
    let case = Case::new();
    let file = case.csv("in.csv", (1..=40).map(row));
    let out = case.run(&nothing_listens(), &file, "r", &["--concurrency", "2"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the API is unreachable: could not connect (not sent)"),
        "{}",
        stderr(&out)
    );
    let summary = case.summary("r");
    assert_eq!(summary["exit_code"], 3);
    let stopped = summary["stopped"].as_str().unwrap();
    assert!(
        stopped.starts_with("the API is unreachable: could not connect"),
        "{stopped}"
    );
    // Ten in a row, and what the other worker had in flight: not 40 rows × 5 attempts.
    let sent = summary["requests_sent"].as_u64().unwrap();
    assert!((10..=12).contains(&sent), "{sent} requests");
    assert_eq!(summary["counts"]["created"], 0);
    let (failed, pending) = (
        summary["counts"]["failed"].as_u64().unwrap(),
        summary["counts"]["pending"].as_u64().unwrap(),
    );
    assert_eq!(failed + pending, 40, "{summary}");
    assert!(pending >= 36, "{summary}");

    // Once the API answers, the next run sends every row.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(CreateById)
        .mount(&server)
        .await;
    let out = case.run(&format!("{}/api/v1", server.uri()), &file, "r2", &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(emails_sent(&server).await.len(), 40);
}

/// A TLS server on 127.0.0.1:0 with a self-signed certificate (a committed test fixture, for
/// `localhost` and 127.0.0.1 until 2126) that no client trusts.
fn untrusted_tls_server() -> String {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let fixture = |name: &str| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/tls")
            .join(name)
    };
    let cert = CertificateDer::from_pem_file(fixture("self-signed.crt.pem")).unwrap();
    let key = PrivateKeyDer::from_pem_file(fixture("self-signed.key.pem")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("https://{}/api/v1", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move { acceptor.accept(stream).await.map(drop) });
        }
    });
    url
}

/// A certificate this machine does not trust fails every request the same way: the run stops
/// at the first, exit 1, saying how to trust a private authority.
#[tokio::test(flavor = "multi_thread")]
async fn an_untrusted_certificate_is_fatal_and_says_how_to_trust_it() {
    let case = Case::new();
    let file = case.csv("in.csv", (1..=5).map(row));
    let out = case.run(&untrusted_tls_server(), &file, "r", &["--concurrency", "1"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let err = stderr(&out);
    for needle in ["TLS certificate was refused", "--ca-cert", "SSL_CERT_FILE"] {
        assert!(err.contains(needle), "{needle:?} in {err}");
    }
    let summary = case.summary("r");
    assert_eq!(summary["exit_code"], 1);
    assert_eq!(summary["requests_sent"], 1);
    assert!(
        summary["stopped"].as_str().unwrap().contains("--ca-cert"),
        "{summary}"
    );
}

#[test]
fn bad_arguments_and_an_unusable_journal_exit_1() {
    let case = Case::new();
    let file = case.csv("in.csv", [row(1)]);
    let bad = Command::new(BIN)
        .args(["run", file.to_str().unwrap(), "--rate", "fast"])
        .output()
        .unwrap();
    assert_eq!(code(&bad), 1, "{}", stderr(&bad));
    assert!(stderr(&bad).contains("--rate"), "{}", stderr(&bad));
    let help = Command::new(BIN).args(["run", "--help"]).output().unwrap();
    assert_eq!(code(&help), 0);

    std::fs::write(case.dir.path().join("journal.db"), "not a database at all").unwrap();
    // Nothing listens here: the journal is refused before any request.
    let out = case.run("http://127.0.0.1:9/api/v1", &file, "r", &[]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("journal"), "{}", stderr(&out));
}

/// `status | head -1`: a reader that goes away after the first line is not an error, and
/// nothing panics on the closed pipe.
#[tokio::test(flavor = "multi_thread")]
async fn status_survives_a_closed_pipe() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(CreateById)
        .mount(&server)
        .await;
    let case = Case::new();
    let url = format!("{}/api/v1", server.uri());
    let file = case.csv("in.csv", (1..=3).map(row));
    assert_eq!(code(&case.run(&url, &file, "r1", &[])), 0);
    for _ in 0..3 {
        let mut child = Command::new(BIN)
            .current_dir(case.dir.path())
            .args(["status", "--journal", "journal.db"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The reader closes before the program writes anything.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{err}");
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "{err}"
        );
    }
}

/// `run` with --report-dir on the folder holding its own input (a rejects.csv sent back):
/// refused before anything is sent, the input untouched.
#[tokio::test(flavor = "multi_thread")]
async fn run_refuses_a_report_over_its_own_input() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(CreateById)
        .mount(&server)
        .await;
    let case = Case::new();
    let url = format!("{}/api/v1", server.uri());
    std::fs::create_dir_all(case.dir.path().join("back")).unwrap();
    let file = case.csv("back/rejects.csv", (1..=2).map(row));
    let before = std::fs::read(&file).unwrap();
    let out = case.run(&url, &file, "back", &[]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("would be written over the input"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(&file).unwrap(), before);
    assert!(emails_sent(&server).await.is_empty());
}

/// A 400 whose message echoes the whole request (as some validation layers do): results.csv
/// and the journal keep the message without the row's names, email, ID number, phone and
/// birth date, and at most 500 characters of it.
#[tokio::test(flavor = "multi_thread")]
async fn an_echoing_answer_leaves_no_personal_data_in_the_report_or_journal() {
    struct Echo;
    impl Respond for Echo {
        fn respond(&self, req: &Request) -> ResponseTemplate {
            let body = String::from_utf8_lossy(&req.body).repeat(20);
            ResponseTemplate::new(400).set_body_json(serde_json::json!({
                "success": false, "statusCode": 400, "message": format!("invalid: {body}")
            }))
        }
    }
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(Echo)
        .mount(&server)
        .await;
    let case = Case::new();
    let url = format!("{}/api/v1", server.uri());
    let file = case.csv("in.csv", [row(1)]);
    let out = case.run(&url, &file, "r1", &[]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let rows = case.results("r1");
    let message = &rows[0][6];
    assert_eq!(&rows[0][2], "rejected");
    assert!(
        message.contains("<email>") && message.contains("<last_name>"),
        "{message}"
    );
    assert!(message.chars().count() <= 500, "{}", message.len());
    let journal = std::fs::read(case.dir.path().join("journal.db")).unwrap();
    let journal = String::from_utf8_lossy(&journal).to_lowercase();
    for personal in [
        "customer1@example.com",
        "okafor",
        "id00000001",
        "8031234567",
        "1991-04-12",
    ] {
        assert!(
            !message.to_lowercase().contains(personal),
            "{personal} in {message}"
        );
        assert!(!journal.contains(personal), "{personal} in the journal");
    }
}

/// A 403 that echoes the request stops the run: its reason (summary.json, stderr, and every
/// row still in flight) carries none of the failing row's personal values, in any form the
/// server may write them (a trailing full stop, a JavaScript timestamp, the number with its
/// country code).
#[tokio::test(flavor = "multi_thread")]
async fn a_refusal_that_echoes_the_row_stops_the_run_without_its_personal_data() {
    struct Echo403;
    impl Respond for Echo403 {
        fn respond(&self, req: &Request) -> ResponseTemplate {
            let body: Value = serde_json::from_slice(&req.body).unwrap();
            let message = format!(
                "Forbidden for {}. Born {}T00:00:00.000Z, phone +234{}, id {}.",
                body["email"].as_str().unwrap(),
                body["date_of_birth"].as_str().unwrap(),
                body["phone_number"].as_str().unwrap(),
                body["identification_number"].as_str().unwrap(),
            );
            ResponseTemplate::new(403)
                .set_body_json(
                    serde_json::json!({"success": false, "statusCode": 403, "message": message}),
                )
                .set_delay(Duration::from_millis(50))
        }
    }
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(Echo403)
        .mount(&server)
        .await;
    let case = Case::new();
    let url = format!("{}/api/v1", server.uri());
    let file = case.csv("in.csv", (1..=4).map(row));
    let out = case.run(&url, &file, "r1", &["--concurrency", "2"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let summary = case.summary("r1");
    let stopped = summary["stopped"].as_str().unwrap().to_owned();
    let mut shown = vec![stopped, stderr(&out)];
    shown.extend(case.results("r1").iter().map(|r| r[6].to_string()));
    for text in &shown {
        for i in 1..=4 {
            for personal in [
                format!("customer{i}@example.com"),
                format!("ID{i:08}"),
                "1991-04-12".to_string(),
                "8031234567".to_string(),
            ] {
                assert!(!text.contains(&personal), "{personal} in {text}");
            }
        }
    }
    assert!(shown[0].contains("<email>"), "{}", shown[0]);
}

/// `-` reads standard input, spooled to a private file, so a run can hash it, read it again
/// and resume it like any file (a second run of the same input sends nothing).
#[tokio::test(flavor = "multi_thread")]
async fn standard_input_is_a_file_like_any_other() {
    use std::io::Write;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(CreateById)
        .mount(&server)
        .await;
    let case = Case::new();
    let url = format!("{}/api/v1", server.uri());
    let file = case.csv("in.csv", (1..=3).map(row));
    let text = std::fs::read(&file).unwrap();
    // `/dev/stdin` on a pipe cannot be read twice either: it is spooled like `-`.
    for (input, report, sent) in [("-", "r1", 3), ("-", "r2", 3), ("/dev/stdin", "r4", 3)] {
        let mut child = case
            .command(&url, Path::new(input), report, &[])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&text).unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert_eq!(case.results(report).len(), 3);
        assert_eq!(emails_sent(&server).await.len(), sent);
    }
    // Twice in one command is refused: the stream can be read once.
    let out = case
        .command(&url, Path::new("-"), "r3", &["-"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("can be read once"),
        "{}",
        stderr(&out)
    );
}

/// The lines under a file's counts on stderr, in order: its problems and ambiguous dates.
fn problem_lines(out: &Output) -> Vec<String> {
    stderr(out)
        .lines()
        .filter(|l| l.starts_with("  "))
        .map(str::to_string)
        .collect()
}

/// `run` names the commonest problems as `validate` does, the API's reasons for rejected
/// rows among them; `report` names the same ones from the journal, without dates.
#[tokio::test(flavor = "multi_thread")]
async fn run_and_report_name_the_commonest_problems_and_ambiguous_dates() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_string_contains("customer30@"))
        .respond_with(error(422, "KYC document unreadable"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(CreateById)
        .mount(&server)
        .await;
    let case = Case::new();
    // With --date-format DD/MM/YYYY: 20 dates in YYYY.MM.DD that it does not read (a
    // YYYY-MM-DD would read: a workbook's date cells give that), 10 dates that read both ways
    // (3 of them in rows whose country does not match its code), one rejected.
    let rows = (1..=30).map(|i| {
        let r = row(i);
        if i <= 20 {
            r.replace("1991-04-12", "1991.04.12")
        } else {
            let r = r.replace("1991-04-12", &format!("{:02}/04/1991", i - 20));
            if i <= 23 {
                r.replace(",Nigeria,", ",Ghana,")
            } else {
                r
            }
        }
    });
    let file = case.csv("in.csv", rows);
    let url = format!("{}/api/v1", server.uri());
    let out = case.run(&url, &file, "r", &["--date-format", "DD/MM/YYYY"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let expected = [
        "  invalid: date_of_birth: not a real date in the form --date-format gives (20 rows)",
        "  rejected: KYC document unreadable (1 row)",
        "  warning: country: does not match the country of country_iso_code (3 rows)",
    ];
    let mut with_dates = expected.map(str::to_string).to_vec();
    with_dates.push(
        "  date_of_birth: 9 of 10 dates could also be read as MM/DD/YYYY (day and month both \
         12 or less): check the partner's format"
            .to_string(),
    );
    assert_eq!(problem_lines(&out), with_dates, "{}", stderr(&out));
    let summary = case.summary("r");
    crate::util::assert_schema_valid(&summary);
    assert_eq!(summary["ambiguous_dates"], 9);
    assert_eq!(
        summary["problems"]["invalid"],
        serde_json::json!([{
            "problem": "date_of_birth: not a real date in the form --date-format gives",
            "rows": 20
        }])
    );
    assert_eq!(
        summary["problems"]["rejected"],
        serde_json::json!([{"problem": "KYC document unreadable", "rows": 1}])
    );
    assert_eq!(summary["problems"]["warnings"][0]["rows"], 3);

    // report rebuilds the same problems from the journal; it has no dates to count.
    let report = Command::new(BIN)
        .current_dir(case.dir.path())
        .args(["report", "in.csv", "--journal", "journal.db"])
        .args(["--report-dir", "again"])
        .output()
        .unwrap();
    assert_eq!(code(&report), 2, "{}", stderr(&report));
    assert_eq!(problem_lines(&report), expected, "{}", stderr(&report));
    let again = case.summary("again");
    crate::util::assert_schema_valid(&again);
    assert_eq!(again["problems"], summary["problems"]);
    assert!(again.get("ambiguous_dates").is_none(), "{again}");
}
