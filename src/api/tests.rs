//! The client against a wiremock server: every class of answer, the bodies we send, token
//! handling under concurrency, and secrets kept out of messages. Real time, short timeouts.

use std::path::Path;
use std::time::Duration;

use chrono::NaiveDate;
use serde_json::{Value, json};
use wiremock::matchers::{
    bearer_token, body_json, header, method, path, query_param, query_param_is_missing,
};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;
use crate::customer::{Customer, DocumentFile, DocumentType, Documents};

pub(super) const TOKEN: &str = "tok-static-1234567890";
pub(super) const KEY: &str = "client-key-abcdefghij";

pub(super) fn customer(documents: Documents) -> Customer {
    Customer {
        first_name: "John".into(),
        last_name: "Doe".into(),
        email: "john.doe@example.com".into(),
        country: "Cameroon".into(),
        street: "123 Main Street".into(),
        city: "Yaoundé".into(),
        state: "Centre".into(),
        postal_code: "00237".into(),
        country_iso_code: "CM".into(),
        country_phone_code: "+237".into(),
        phone_number: "600000000".into(),
        identification_number: "12345678901".into(),
        id_document_type: DocumentType::Nin,
        date_of_birth: NaiveDate::from_ymd_opt(1990, 1, 15).unwrap(),
        documents,
    }
}

pub(super) fn url_customer() -> Customer {
    customer(Documents::Urls {
        front: "https://cdn.your-app.com/kyc/abc123/front.jpg".into(),
        back: "https://cdn.your-app.com/kyc/abc123/back.jpg".into(),
    })
}

/// The example body of the enroll reference page, field for field.
fn page_example_body() -> Value {
    json!({
        "first_name": "John",
        "last_name": "Doe",
        "email": "john.doe@example.com",
        "country": "Cameroon",
        "country_iso_code": "CM",
        "country_phone_code": "+237",
        "phone_number": "600000000",
        "street": "123 Main Street",
        "city": "Yaoundé",
        "state": "Centre",
        "postal_code": "00237",
        "identification_number": "12345678901",
        "id_document_type": "NIN",
        "date_of_birth": "1990-01-15",
        "id_document_front_url": "https://cdn.your-app.com/kyc/abc123/front.jpg",
        "id_document_back_url": "https://cdn.your-app.com/kyc/abc123/back.jpg"
    })
}

pub(super) fn config(base: &str, credentials: Credentials) -> ApiConfig {
    ApiConfig {
        base_url: base.to_owned(),
        credentials,
        timeout: Duration::from_secs(5),
        provider_enroll: true,
        ca_certs: Vec::new(),
    }
}

fn client(server: &MockServer) -> Client {
    Client::new(config(
        &format!("{}/api/v1", server.uri()),
        Credentials::Token(TOKEN.into()),
    ))
    .unwrap()
}

fn client_creds(server: &MockServer) -> Client {
    Client::new(config(
        &format!("{}/api/v1/", server.uri()),
        Credentials::Client {
            id: "company-1".into(),
            key: KEY.into(),
        },
    ))
    .unwrap()
}

fn envelope(status: u16, message: &str, data: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "success": (200..300).contains(&status),
        "statusCode": status,
        "message": message,
        "data": data,
    }))
}

pub(super) fn created(status: u16, id: &str) -> ResponseTemplate {
    envelope(
        status,
        "Customer enrolled successfully",
        json!({"id": id, "first_name": "John"}),
    )
}

pub(super) fn token_answer(token: &str, expires_in: u64) -> ResponseTemplate {
    envelope(
        200,
        "ok",
        json!({"access_token": token, "token_type": "Bearer", "expires_in": expires_in}),
    )
}

/// Mounts one answer for the JSON create and returns what `create_customer` made of it.
async fn create_answer(answer: ResponseTemplate) -> Result<Created, ApiError> {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/customers/enroll"))
        .respond_with(answer)
        .mount(&server)
        .await;
    client(&server).create_customer(&url_customer()).await
}

#[tokio::test]
async fn created_on_200_and_201_with_the_page_body_and_headers() {
    for status in [200, 201] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/api/v1/customers/enroll"))
            .and(bearer_token(TOKEN))
            .and(header("user-agent", USER_AGENT))
            .and(body_json(page_example_body()))
            .respond_with(created(status, "8d4f2a1b"))
            .expect(1)
            .mount(&server)
            .await;
        let got = client(&server).create_customer(&url_customer()).await;
        assert_eq!(
            got,
            Ok(Created {
                id: "8d4f2a1b".into(),
                http_status: status
            })
        );
    }
    assert!(USER_AGENT.starts_with("cartevo-enroll/"));
}

#[tokio::test]
async fn duplicate_keeps_the_api_message() {
    for message in [
        "Customer with this email or ID already exists",
        "Customer with this identification_number already exists",
    ] {
        let got = create_answer(envelope(409, message, Value::Null)).await;
        assert_eq!(
            got,
            Err(ApiError::Duplicate {
                message: message.into()
            })
        );
    }
}

#[tokio::test]
async fn client_errors_are_rejected_with_the_api_message() {
    for (status, message) in [
        (400, "Customer must be 18 or older"),
        (413, "File too large"),
        (415, "Unsupported file type"),
        (422, "KYC document unreadable"),
        (404, "Cannot POST /customers/enroll"),
    ] {
        let err = create_answer(envelope(status, message, Value::Null))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            ApiError::Rejected {
                status,
                message: message.into()
            }
        );
        assert!(!matches!(err, ApiError::Retryable { .. }));
    }
    // Framework validation errors carry a list of messages.
    let err = create_answer(ResponseTemplate::new(400).set_body_json(
        json!({"statusCode": 400, "message": ["first_name must be at least 3 characters", "email must be an email"], "error": "Bad Request"}),
    ))
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "rejected by the API (HTTP 400): first_name must be at least 3 characters; email must be an email"
    );
}

#[tokio::test]
async fn rate_limited_with_retry_after_seconds_or_date() {
    let err = create_answer(
        envelope(429, "Too Many Requests", Value::Null).insert_header("Retry-After", "7"),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        ApiError::Retryable {
            status: Some(429),
            message: "Too Many Requests".into(),
            retry_after: Some(Duration::from_secs(7)),
            maybe_sent: false,
        }
    );
    assert!(matches!(err, ApiError::Retryable { .. }));

    let when = std::time::SystemTime::now() + Duration::from_secs(60);
    let err = create_answer(
        envelope(429, "Too Many Requests", Value::Null)
            .insert_header("Retry-After", httpdate::fmt_http_date(when).as_str()),
    )
    .await
    .unwrap_err();
    let ApiError::Retryable {
        retry_after: Some(d),
        ..
    } = err
    else {
        panic!("{err:?}")
    };
    assert!(
        d > Duration::from_secs(50) && d <= Duration::from_secs(60),
        "{d:?}"
    );
}

#[tokio::test]
async fn server_errors_are_retryable_and_maybe_sent() {
    let err = create_answer(
        envelope(503, "Service Unavailable", Value::Null).insert_header("Retry-After", "2"),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        ApiError::Retryable {
            status: Some(503),
            message: "Service Unavailable".into(),
            retry_after: Some(Duration::from_secs(2)),
            maybe_sent: true,
        }
    );

    let html = ResponseTemplate::new(502)
        .set_body_raw("<html><body>502 Bad Gateway</body></html>", "text/html");
    let err = create_answer(html).await.unwrap_err();
    assert_eq!(
        err,
        ApiError::Retryable {
            status: Some(502),
            message: "HTTP 502 with a non-JSON body".into(),
            retry_after: None,
            maybe_sent: true,
        }
    );
    assert_eq!(err.to_string(), "HTTP 502: HTTP 502 with a non-JSON body");

    let err = create_answer(ResponseTemplate::new(500)).await.unwrap_err();
    assert!(
        matches!(&err, ApiError::Retryable { status: Some(500), message, maybe_sent: true, .. }
            if message == "HTTP 500 with an empty body"),
        "{err:?}"
    );

    let err = create_answer(ResponseTemplate::new(408)).await.unwrap_err();
    assert!(
        matches!(
            err,
            ApiError::Retryable {
                maybe_sent: false,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn success_without_an_id_is_retryable_and_maybe_sent() {
    for answer in [
        envelope(201, "ok", json!({"first_name": "John"})),
        ResponseTemplate::new(200).set_body_raw("<html>ok</html>", "text/html"),
        ResponseTemplate::new(201),
    ] {
        let err = create_answer(answer).await.unwrap_err();
        assert!(
            matches!(
                err,
                ApiError::Retryable {
                    maybe_sent: true,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("may have been created"), "{err}");
    }
}

#[tokio::test]
async fn connection_refused_was_not_sent() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let client = Client::new(config(
        &format!("http://127.0.0.1:{port}/api/v1"),
        Credentials::Token(TOKEN.into()),
    ))
    .unwrap();
    let err = client.create_customer(&url_customer()).await.unwrap_err();
    assert!(matches!(err, ApiError::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().contains("(not sent)"), "{err}");
    // The same on reqwest's way (a read), and for a token request.
    let err = client.get_customer("c-1").await.unwrap_err();
    assert!(matches!(err, ApiError::Unreachable { .. }), "{err:?}");
    let client = Client::new(config(
        &format!("http://127.0.0.1:{port}/api/v1"),
        Credentials::Client {
            id: "company-1".into(),
            key: KEY.into(),
        },
    ))
    .unwrap();
    let err = client.create_customer(&url_customer()).await.unwrap_err();
    assert!(
        matches!(&err, ApiError::Unreachable { message } if message.starts_with("could not obtain an access token")),
        "{err:?}"
    );
}

/// The error of a create against `base` with a timeout of `ms` milliseconds.
async fn create_failing_within(base: &str, ms: u64) -> ApiError {
    let mut cfg = config(base, Credentials::Token(TOKEN.into()));
    cfg.timeout = Duration::from_millis(ms);
    Client::new(cfg)
        .unwrap()
        .create_customer(&url_customer())
        .await
        .unwrap_err()
}

#[tokio::test]
async fn timeout_may_have_been_sent() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(created(201, "late").set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;
    let err = create_failing_within(&format!("{}/api/v1", server.uri()), 200).await;
    assert!(
        matches!(
            err,
            ApiError::Retryable {
                status: None,
                maybe_sent: true,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("timed out"), "{err}");
}

/// A bare HTTP/1.1 server on a thread: it keeps every request it reads, as text, counts the
/// connections it accepts, and answers each request with a created customer, closing the
/// connection after every answer when `close`.
#[allow(clippy::type_complexity)] // a test fixture's three handles, named at the call site
fn raw_server(
    close: bool,
) -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/api/v1", listener.local_addr().unwrap());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (kept, counted) = (seen.clone(), connections.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let kept = kept.clone();
            std::thread::spawn(move || {
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                loop {
                    let mut head = String::new();
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return; // the client closed the connection
                        }
                        head.push_str(&line);
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let length: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).unwrap();
                    kept.lock()
                        .unwrap()
                        .push(head + &String::from_utf8(body).unwrap());
                    let answer =
                        r#"{"success":true,"statusCode":201,"message":"ok","data":{"id":"c-1"}}"#;
                    let connection = if close { "close" } else { "keep-alive" };
                    write!(
                        stream,
                        "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\n\
                         content-length: {}\r\nconnection: {connection}\r\n\r\n{answer}",
                        answer.len()
                    )
                    .unwrap();
                    if close {
                        return;
                    }
                }
            });
        }
    });
    (url, seen, connections)
}

/// The bulk path (`direct`) builds its requests itself: what reaches the server must be what
/// reqwest would have sent, and connections the server closes must be replaced, not failed.
#[tokio::test]
async fn the_enroll_request_on_the_wire() {
    for close in [false, true] {
        let (url, seen, connections) = raw_server(close);
        let client = Client::new(config(&url, Credentials::Token(TOKEN.into()))).unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..3 {
            for _ in 0..4 {
                let client = client.clone();
                tasks.spawn(async move { client.create_customer(&url_customer()).await });
            }
            while let Some(got) = tasks.join_next().await {
                assert_eq!(got.unwrap().unwrap().id, "c-1", "close={close}");
            }
        }
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 12, "close={close}: each request sent once");
        // Kept alive, the four connections of the first round carry the other two rounds.
        let opened = connections.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(opened, if close { 12 } else { 4 }, "close={close}");
        let authority = url
            .trim_start_matches("http://")
            .trim_end_matches("/api/v1");
        for request in seen.iter() {
            let (head, body) = request.split_once("\r\n\r\n").unwrap();
            let mut lines = head.lines();
            assert_eq!(lines.next(), Some("POST /api/v1/customers/enroll HTTP/1.1"));
            let pairs: Vec<(String, String)> = lines
                .map(|l| {
                    let (k, v) = l.split_once(':').unwrap();
                    (k.to_ascii_lowercase(), v.trim().to_owned())
                })
                .collect();
            let headers: std::collections::BTreeMap<String, String> =
                pairs.iter().cloned().collect();
            assert_eq!(headers.len(), pairs.len(), "a header twice: {head}");
            assert_eq!(headers["accept"], "*/*");
            assert_eq!(headers["host"], authority);
            assert_eq!(headers["user-agent"], USER_AGENT);
            assert_eq!(headers["content-type"], "application/json");
            assert_eq!(headers["authorization"], format!("Bearer {TOKEN}"));
            assert_eq!(headers["content-length"], body.len().to_string());
            assert_eq!(
                serde_json::from_str::<Value>(body).unwrap(),
                page_example_body()
            );
        }
    }
}

/// The head of a 201 arrives, its body never does: the status is kept, and the customer may
/// exist.
#[tokio::test]
async fn an_answer_whose_body_stalls_keeps_its_status() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/api/v1", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = stream.read(&mut buf).unwrap();
        stream
            .write_all(b"HTTP/1.1 201 Created\r\ncontent-length: 100\r\n\r\n{\"succ")
            .unwrap();
        std::thread::sleep(Duration::from_secs(2));
    });
    let err = create_failing_within(&url, 300).await;
    assert!(
        matches!(
            err,
            ApiError::Retryable {
                status: Some(201),
                maybe_sent: true,
                ..
            }
        ),
        "{err:?}"
    );
}

/// A document as validation describes it (its identity read from the file just written).
pub(super) fn document(dir: &Path, name: &str, mime: &'static str, content: &[u8]) -> DocumentFile {
    use std::os::unix::fs::MetadataExt;
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    let meta = std::fs::metadata(&path).unwrap();
    DocumentFile {
        path,
        file_name: name.into(),
        mime,
        size: content.len() as u64,
        device: meta.dev(),
        inode: meta.ino(),
        head: content[..content.len().min(DocumentFile::HEAD)].to_vec(),
    }
}

#[tokio::test]
async fn multipart_parts_have_names_file_names_and_types() {
    let dir = tempfile::tempdir().unwrap();
    let front = document(
        dir.path(),
        "front.jpg",
        "image/jpeg",
        b"\xFF\xD8\xFFfront-bytes",
    );
    let back = document(
        dir.path(),
        "back.pdf",
        "application/pdf",
        b"%PDF-1.4 back-bytes",
    );
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/customers"))
        .and(query_param("enroll", "true"))
        .and(bearer_token(TOKEN))
        .respond_with(created(201, "c-1"))
        .expect(1)
        .mount(&server)
        .await;
    let c = customer(Documents::Files {
        front,
        back: Some(back),
    });
    assert_eq!(client(&server).create_customer(&c).await.unwrap().id, "c-1");

    let request = &server.received_requests().await.unwrap()[0];
    let content_type = request.headers["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("multipart/form-data; boundary="));
    let body = String::from_utf8_lossy(&request.body);
    for (name, value) in wire::text_fields(&c) {
        let part = format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n");
        assert!(body.contains(&part), "missing {part:?} in {body}");
    }
    assert!(body.contains(
        "Content-Disposition: form-data; name=\"id_document_front\"; filename=\"front.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n"
    ), "{body}");
    assert!(body.contains("front-bytes"));
    assert!(body.contains(
        "Content-Disposition: form-data; name=\"id_document_back\"; filename=\"back.pdf\"\r\nContent-Type: application/pdf\r\n\r\n%PDF-1.4 back-bytes\r\n"
    ), "{body}");
    assert!(body.contains("name=\"date_of_birth\"\r\n\r\n1990-01-15\r\n"));
    assert!(body.contains("name=\"id_document_type\"\r\n\r\nNIN\r\n"));
}

/// Documents of several read chunks each (`upload::CHUNK`), of sizes not a multiple of it,
/// arrive byte for byte in their parts, with the request's `Content-Length` exact.
#[tokio::test]
async fn large_documents_arrive_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let varied = |len: usize, seed: usize| -> Vec<u8> {
        let mut bytes: Vec<u8> = (0..len).map(|i| ((i * 7 + seed) % 253) as u8).collect();
        bytes[..4].copy_from_slice(b"\xFF\xD8\xFF\xE0");
        bytes
    };
    let front_bytes = varied(4 * super::upload::CHUNK + 12_345, 1);
    let back_bytes = varied(super::upload::CHUNK + 1, 2);
    let front = document(dir.path(), "front.jpg", "image/jpeg", &front_bytes);
    let back = document(dir.path(), "back.jpg", "image/jpeg", &back_bytes);
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/customers"))
        .respond_with(created(201, "c-big"))
        .expect(1)
        .mount(&server)
        .await;
    let c = customer(Documents::Files {
        front,
        back: Some(back),
    });
    client(&server).create_customer(&c).await.unwrap();

    let request = &server.received_requests().await.unwrap()[0];
    let content_type = request.headers["content-type"].to_str().unwrap();
    let boundary = content_type.split("boundary=").nth(1).unwrap();
    let length: usize = request.headers["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(length, request.body.len());
    let part = |name: &str| -> &[u8] {
        let header = format!("name=\"{name}\"; filename=");
        let body = &request.body[..];
        let at = find(body, header.as_bytes()).unwrap_or_else(|| panic!("no part {name}"));
        let start = at + find(&body[at..], b"\r\n\r\n").unwrap() + 4;
        let end = start + find(&body[start..], format!("\r\n--{boundary}").as_bytes()).unwrap();
        &body[start..end]
    };
    assert!(
        part("id_document_front") == front_bytes,
        "the front differs"
    );
    assert!(part("id_document_back") == back_bytes, "the back differs");
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A document whose name carries CR LF, quotes and a path: the raw multipart body gets one
/// clean `filename` and no extra header in the part.
#[tokio::test]
async fn a_hostile_document_name_adds_no_header_to_its_part() {
    let dir = tempfile::tempdir().unwrap();
    let front = document(
        dir.path(),
        "x.png\r\nX-Injected: 1",
        "image/png",
        b"\x89PNG front",
    );
    let mut back = document(dir.path(), "back.png", "image/png", b"\x89PNG back");
    back.file_name = "..\\..\\b\"ack\".png\r\nContent-Disposition: inline".into();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(created(201, "c-3"))
        .expect(1)
        .mount(&server)
        .await;
    let c = customer(Documents::Files {
        front,
        back: Some(back),
    });
    client(&server).create_customer(&c).await.unwrap();

    let request = &server.received_requests().await.unwrap()[0];
    let body = String::from_utf8_lossy(&request.body);
    assert!(
        body.contains(
            "Content-Disposition: form-data; name=\"id_document_front\"; \
             filename=\"x.pngX-Injected: 1\"\r\nContent-Type: image/png\r\n\r\n\u{FFFD}PNG front"
        ),
        "{body:?}"
    );
    assert!(
        body.contains(
            "name=\"id_document_back\"; filename=\"back.pngContent-Disposition: inline\"\r\n\
             Content-Type: image/png\r\n\r\n"
        ),
        "{body:?}"
    );
    for line in body.split("\r\n") {
        assert!(
            !line.starts_with("X-Injected") && !line.starts_with("Content-Disposition: inline"),
            "an injected header line: {line:?} in {body:?}"
        );
    }
}

#[tokio::test]
async fn multipart_without_back_and_without_provider_enroll() {
    let dir = tempfile::tempdir().unwrap();
    let front = document(dir.path(), "passport.png", "image/png", b"\x89PNG front");
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/customers"))
        .and(query_param_is_missing("enroll"))
        .respond_with(created(201, "c-2"))
        .expect(1)
        .mount(&server)
        .await;
    let mut cfg = config(
        &format!("{}/api/v1", server.uri()),
        Credentials::Token(TOKEN.into()),
    );
    cfg.provider_enroll = false;
    let mut c = customer(Documents::Files { front, back: None });
    c.id_document_type = DocumentType::Passport;
    Client::new(cfg).unwrap().create_customer(&c).await.unwrap();

    let request = &server.received_requests().await.unwrap()[0];
    assert_eq!(request.url.query(), None);
    let body = String::from_utf8_lossy(&request.body);
    assert!(body.contains(
        "name=\"id_document_front\"; filename=\"passport.png\"\r\nContent-Type: image/png"
    ));
    assert!(!body.contains("id_document_back"), "{body}");
}

#[tokio::test]
async fn a_vanished_document_is_a_local_error() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let front = document(dir.path(), "front.jpg", "image/jpeg", b"x");
    std::fs::remove_file(&front.path).unwrap();
    let err = client(&server)
        .create_customer(&customer(Documents::Files { front, back: None }))
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::Local { .. }), "{err:?}");
    assert!(server.received_requests().await.unwrap().is_empty());
}

/// Between validation and upload the file at the validated path is swapped: for a
/// same-size symbolic link to a file outside the folder, a FIFO (which must not hang the
/// upload), a hard link to another file, another file of the same size, or the same file
/// with other content. None is sent; each is refused for good, saying why.
#[tokio::test]
async fn a_document_swapped_since_validation_is_never_sent() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let content: &[u8] = b"\xFF\xD8\xFFvalidated-bytes!";
    let secret = outside.path().join("secret.jpg");
    std::fs::write(&secret, b"\xFF\xD8\xFFsecret-bytes-xx!").unwrap();
    type Swap = Box<dyn Fn(&Path)>;
    let secret_for_link = secret.clone();
    let secret_for_hard = secret.clone();
    let swaps: Vec<(&str, Swap, &str)> = vec![
        (
            "symlink",
            Box::new(move |p: &Path| std::os::unix::fs::symlink(&secret_for_link, p).unwrap()),
            "symbolic link",
        ),
        (
            "fifo",
            Box::new(|p: &Path| {
                let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
                assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
            }),
            "no longer a regular file",
        ),
        (
            "hard link",
            Box::new(move |p: &Path| std::fs::hard_link(&secret_for_hard, p).unwrap()),
            "another file",
        ),
        // A new file may get the freed inode number back: then its content tells.
        (
            "other file",
            Box::new(|p: &Path| std::fs::write(p, b"\xFF\xD8\xFFother---bytes!!!").unwrap()),
            "another file|content changed",
        ),
    ];
    for (what, swap, says) in swaps {
        let front = document(dir.path(), "front.jpg", "image/jpeg", content);
        std::fs::remove_file(&front.path).unwrap();
        swap(&front.path);
        let created = tokio::time::timeout(
            Duration::from_secs(10),
            client(&server).create_customer(&customer(Documents::Files { front, back: None })),
        )
        .await
        .unwrap_or_else(|_| panic!("{what}: the upload hung"));
        match created {
            Err(ApiError::Refused { message }) => assert!(
                says.split('|').any(|s| message.contains(s)),
                "{what}: {message}"
            ),
            other => panic!("{what}: {other:?}"),
        }
        std::fs::remove_file(dir.path().join("front.jpg")).unwrap();
    }
    // The same file, its content changed in place.
    let front = document(dir.path(), "front.jpg", "image/jpeg", content);
    std::fs::write(&front.path, b"\xFF\xD8\xFFchanged-bytes-x!").unwrap();
    let err = client(&server)
        .create_customer(&customer(Documents::Files { front, back: None }))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ApiError::Refused { message } if message.contains("content changed")),
        "{err:?}"
    );
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn one_token_request_for_many_concurrent_creates() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/auth/token"))
        .and(body_json(
            json!({"client_id": "company-1", "client_key": KEY}),
        ))
        .respond_with(token_answer("access-1", 3600).set_delay(Duration::from_millis(100)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/customers/enroll"))
        .and(bearer_token("access-1"))
        .respond_with(created(201, "c"))
        .expect(20)
        .mount(&server)
        .await;
    let client = client_creds(&server);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let client = client.clone();
        tasks.spawn(async move { client.create_customer(&url_customer()).await });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap().unwrap();
    }
    server.verify().await;
}

#[tokio::test]
async fn a_401_renews_the_token_once_and_retries() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v1/auth/token"))
        .respond_with(token_answer("access-1", 3600))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/api/v1/auth/token"))
        .respond_with(token_answer("access-2", 3600))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/api/v1/customers/enroll"))
        .and(bearer_token("access-1"))
        .respond_with(envelope(401, "Unauthorized", Value::Null))
        .expect(10)
        .mount(&server)
        .await;
    Mock::given(path("/api/v1/customers/enroll"))
        .and(bearer_token("access-2"))
        .respond_with(created(201, "c-9").set_delay(Duration::from_millis(20)))
        .expect(10..)
        .mount(&server)
        .await;
    let client = client_creds(&server);
    // Warm the cache with access-1, then send ten at once: all get a 401, one renews.
    client.inner.auth.current(&client.inner.http).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let client = client.clone();
        tasks.spawn(async move { client.create_customer(&url_customer()).await });
    }
    while let Some(result) = tasks.join_next().await {
        assert_eq!(result.unwrap().unwrap().id, "c-9");
    }
}

#[tokio::test]
async fn a_401_after_renewal_is_fatal_and_names_no_secret() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v1/auth/token"))
        .respond_with(token_answer("access-1", 3600))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(path("/api/v1/auth/token"))
        .respond_with(token_answer("access-2", 3600))
        .mount(&server)
        .await;
    Mock::given(path("/api/v1/customers/enroll"))
        .respond_with(envelope(
            401,
            "Invalid token access-1 / access-2",
            Value::Null,
        ))
        .expect(2)
        .mount(&server)
        .await;
    let err = client_creds(&server)
        .create_customer(&url_customer())
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::Fatal { .. }), "{err:?}");
    assert_eq!(err.http_status(), Some(401));
    let shown = format!("{err} {err:?}");
    for secret in ["access-1", "access-2", KEY] {
        assert!(!shown.contains(secret), "{shown}");
    }
}

#[tokio::test]
async fn a_403_is_fatal_with_the_api_message() {
    let message = "Cannot create more than 3 customers in preproduction mode";
    let err = create_answer(envelope(403, message, Value::Null))
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::Fatal { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("the API refused the request (HTTP 403): {message}")
    );
}

#[tokio::test]
async fn static_token_401_is_fatal_without_the_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(envelope(401, &format!("Bad token {TOKEN}"), Value::Null))
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server)
        .create_customer(&url_customer())
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::Fatal { .. }));
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(TOKEN), "{shown}");
    assert!(shown.contains("[redacted]"), "{shown}");
}

#[tokio::test]
async fn an_echoed_token_is_scrubbed_from_any_message() {
    let err = create_answer(envelope(
        400,
        &format!("header was Bearer {TOKEN}"),
        Value::Null,
    ))
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "rejected by the API (HTTP 400): header was Bearer [redacted]"
    );
}

/// An answer may echo the token URL-encoded or in base64 (a decoded header, a signed URL):
/// each whole form is scrubbed, and nothing else of the message.
#[tokio::test]
async fn an_echoed_token_is_scrubbed_in_every_form() {
    use base64::Engine;
    let forms = [
        percent_encoding::utf8_percent_encode(TOKEN, percent_encoding::NON_ALPHANUMERIC)
            .to_string(),
        base64::engine::general_purpose::STANDARD.encode(TOKEN),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(TOKEN),
    ];
    let forms = forms
        .into_iter()
        .chain([format!("access_token={TOKEN}"), format!("Bearer%20{TOKEN}")]);
    for form in forms {
        let err = create_answer(envelope(400, &format!("saw {form} here"), Value::Null))
            .await
            .unwrap_err();
        let shown = err.to_string();
        assert!(!shown.contains(TOKEN), "{form}: {shown}");
        assert!(
            shown.contains("[redacted]") && shown.ends_with(" here"),
            "{shown}"
        );
    }
}

#[tokio::test]
async fn token_endpoint_refusal_is_fatal() {
    for status in [400, 401, 403] {
        let server = MockServer::start().await;
        Mock::given(path("/api/v1/auth/token"))
            .respond_with(envelope(
                status,
                &format!("invalid client_key {KEY}"),
                Value::Null,
            ))
            .mount(&server)
            .await;
        let err = client_creds(&server)
            .create_customer(&url_customer())
            .await
            .unwrap_err();
        assert!(matches!(err, ApiError::Fatal { .. }), "{err:?}");
        assert!(!format!("{err} {err:?}").contains(KEY), "{err}");
        assert!(err.to_string().contains(&format!("HTTP {status}")), "{err}");
    }
    // A token endpoint in trouble is retryable, and the create was certainly not sent.
    let server = MockServer::start().await;
    Mock::given(path("/api/v1/auth/token"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let err = client_creds(&server)
        .create_customer(&url_customer())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ApiError::Retryable {
                maybe_sent: false,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn token_is_renewed_before_it_expires() {
    // A token that lives 0 s is due for renewal at once: every request asks for a new one.
    // One that lives an hour is reused.
    for (expires_in, token_requests) in [(0, 3), (3600, 1)] {
        let server = MockServer::start().await;
        Mock::given(path("/api/v1/auth/token"))
            .respond_with(token_answer("access", expires_in))
            .expect(token_requests)
            .mount(&server)
            .await;
        Mock::given(path("/api/v1/customers/enroll"))
            .respond_with(created(201, "c"))
            .expect(3)
            .mount(&server)
            .await;
        let client = client_creds(&server);
        for _ in 0..3 {
            client.create_customer(&url_customer()).await.unwrap();
        }
        server.verify().await;
    }
}

/// A JavaScript backend may write `expires_in` as a float: it is read all the same (0.0 makes
/// every request ask for a token; ignored, it would be the default hour and one request),
/// and an absurd lifetime does not overflow the renewal time.
#[tokio::test]
async fn token_lifetime_as_a_float_or_absurd() {
    let lifetimes = [
        (json!(0.0), 3),
        (json!(3600.0), 1),
        (json!(1e300), 1),
        (json!(u64::MAX), 1),
    ];
    for (expires_in, token_requests) in lifetimes {
        let server = MockServer::start().await;
        Mock::given(path("/api/v1/auth/token"))
            .respond_with(envelope(
                200,
                "ok",
                json!({"access_token": "access", "token_type": "Bearer", "expires_in": expires_in}),
            ))
            .expect(token_requests)
            .mount(&server)
            .await;
        Mock::given(path("/api/v1/customers/enroll"))
            .respond_with(created(201, "c"))
            .expect(3)
            .mount(&server)
            .await;
        let client = client_creds(&server);
        for _ in 0..3 {
            client.create_customer(&url_customer()).await.unwrap();
        }
        server.verify().await;
    }
}

#[tokio::test]
async fn token_expiry_by_real_time() {
    // expires_in 1 s: renewed at half its life.
    let server = MockServer::start().await;
    Mock::given(path("/api/v1/auth/token"))
        .respond_with(token_answer("access", 1))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(path("/api/v1/customers/enroll"))
        .respond_with(created(201, "c"))
        .mount(&server)
        .await;
    let client = client_creds(&server);
    client.create_customer(&url_customer()).await.unwrap();
    client.create_customer(&url_customer()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    client.create_customer(&url_customer()).await.unwrap();
    server.verify().await;
}

#[tokio::test]
async fn token_file_is_reread_after_a_401() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "file-token-1\n").unwrap();
    let server = MockServer::start().await;
    Mock::given(path("/api/v1/customers/enroll"))
        .and(bearer_token("file-token-2"))
        .respond_with(created(201, "c-f"))
        .mount(&server)
        .await;
    Mock::given(path("/api/v1/customers/enroll"))
        .respond_with(envelope(401, "Unauthorized", Value::Null))
        .mount(&server)
        .await;
    let client = Client::new(config(
        &format!("{}/api/v1", server.uri()),
        Credentials::TokenFile(file.clone()),
    ))
    .unwrap();
    // The file still holds the refused token: nothing to retry with.
    let err = client.create_customer(&url_customer()).await.unwrap_err();
    assert!(matches!(err, ApiError::Fatal { .. }), "{err:?}");
    assert!(!err.to_string().contains("file-token-1"), "{err}");
    // Someone rotates the file: the next 401 picks the new token up.
    std::fs::write(&file, "file-token-2").unwrap();
    assert_eq!(
        client.create_customer(&url_customer()).await.unwrap().id,
        "c-f"
    );
}

#[test]
fn a_missing_or_empty_token_file_stops_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "  \n").unwrap();
    for (file, expected) in [
        (dir.path().join("absent"), "could not read the token file"),
        (empty, "is empty"),
    ] {
        let err = Client::new(config(
            "https://api.cartevo.co/api/v1",
            Credentials::TokenFile(file),
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains(expected), "{err}");
    }
}

#[test]
fn debug_output_redacts_secrets() {
    let cfg = config(
        "https://api.cartevo.co/api/v1",
        Credentials::Client {
            id: "company-1".into(),
            key: KEY.into(),
        },
    );
    let shown = format!("{cfg:?} {:?}", Client::new(cfg.clone()).unwrap());
    assert!(!shown.contains(KEY), "{shown}");
    assert!(shown.contains("company-1"));
    let shown = format!("{:?}", Credentials::Token(TOKEN.into()));
    assert!(!shown.contains(TOKEN), "{shown}");
}

#[test]
fn base_url_rule() {
    let new = |url: &str| Client::new(config(url, Credentials::Token(TOKEN.into())));
    for refused in [
        "http://api.cartevo.co/api/v1",
        "http://10.0.0.1:8080/api/v1",
        "ftp://api.cartevo.co",
        "not a url",
    ] {
        let err = new(refused).unwrap_err();
        assert!(
            format!("{err:#}").contains("--base-url"),
            "{refused}: {err:#}"
        );
    }
    for accepted in [
        "https://api.cartevo.co/api/v1",
        "https://api.cartevo.co/api/v1/",
        "http://127.0.0.1:8080/api/v1",
        "http://127.1.2.3/api/v1",
        "http://localhost:3000/api/v1/",
        "http://[::1]:3000/api/v1",
    ] {
        new(accepted).unwrap_or_else(|e| panic!("{accepted}: {e:#}"));
    }
    let client = new("https://api.cartevo.co/api/v1/").unwrap();
    assert_eq!(
        client.url(&["customers", "a/b"]).as_str(),
        "https://api.cartevo.co/api/v1/customers/a%2Fb"
    );
}

#[test]
fn create_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let client = Client::new(config(
        "https://api.cartevo.co/api/v1",
        Credentials::Token(TOKEN.into()),
    ))
    .unwrap();
    let c = url_customer();
    let fut = client.create_customer(&c);
    assert_send(&fut);
    let fut = client.list_customers(1, 10);
    assert_send(&fut);
}

#[tokio::test]
async fn reads_customer_cards_transactions_and_list() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/customers/c-1"))
        .respond_with(envelope(
            200,
            "Data retrieved successfully",
            json!({"id": "c-1", "email": "john.doe@example.com", "date_of_birth": "1990-01-15T00:00:00.000Z", "is_active": true, "type": "NIN", "kyc": {}}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/customers/c-1/cards"))
        .respond_with(envelope(
            200,
            "ok",
            json!([{"id": "card-1", "balance": 5, "masked_pan": "**** 5407", "is_active": true}]),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/customers/c-1/transactions"))
        .and(query_param("page", "2"))
        .and(query_param("limit", "20"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "success": true, "statusCode": 200, "message": "ok",
            "data": [{"id": "t-1", "type": "FUND", "amount": 50, "card": {"id": "card-1", "cvv": "tk_x", "number": "tk_y"}}],
            "pagination": {"page": 2, "limit": 20, "total": 21, "totalPages": 2}
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/customers"))
        .and(query_param("page", "1"))
        .and(query_param("limit", "100"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "success": true, "statusCode": 200, "message": "ok",
            "data": [{"id": "c-1"}, {"id": "c-2", "email": null}],
            "meta": {"page": 1, "limit": 100, "total": 2, "totalPages": 1}
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(envelope(404, "Customer not found", Value::Null))
        .mount(&server)
        .await;
    let client = client(&server);

    let c = client.get_customer("c-1").await.unwrap().unwrap();
    assert_eq!(c.email.as_deref(), Some("john.doe@example.com"));
    assert_eq!(c.date_of_birth.as_deref(), Some("1990-01-15T00:00:00.000Z"));
    assert_eq!(client.get_customer("nope").await, Ok(None));

    let cards = client.customer_cards("c-1").await.unwrap().unwrap();
    assert_eq!(cards[0].balance, Some(5.0));
    assert_eq!(client.customer_cards("nope").await, Ok(None));

    let page = client.customer_transactions("c-1", 2, 20).await.unwrap();
    assert_eq!(
        (page.page, page.limit, page.total, page.total_pages),
        (2, 20, 21, 2)
    );
    assert_eq!(page.items[0].amount, Some(50.0));
    assert_eq!(page.items[0].kind.as_deref(), Some("FUND"));
    let err = client
        .customer_transactions("nope", 1, 10)
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), Some(404));

    let page = client.list_customers(1, 100).await.unwrap();
    assert_eq!(page.items.len(), 2);
    assert_eq!((page.total, page.total_pages), (2, 1));
}

#[tokio::test]
async fn reads_honour_403_and_401_renewal() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v1/auth/token"))
        .respond_with(token_answer("access-1", 3600))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(path("/api/v1/auth/token"))
        .respond_with(token_answer("access-2", 3600))
        .mount(&server)
        .await;
    Mock::given(path("/api/v1/customers/c-1"))
        .and(bearer_token("access-2"))
        .respond_with(envelope(200, "ok", json!({"id": "c-1"})))
        .mount(&server)
        .await;
    Mock::given(path("/api/v1/customers/c-1"))
        .respond_with(envelope(401, "Unauthorized", Value::Null))
        .mount(&server)
        .await;
    Mock::given(path("/api/v1/customers"))
        .respond_with(envelope(403, "Forbidden resource", Value::Null))
        .mount(&server)
        .await;
    let client = client_creds(&server);
    assert_eq!(client.get_customer("c-1").await.unwrap().unwrap().id, "c-1");
    let err = client.list_customers(1, 10).await.unwrap_err();
    assert!(
        matches!(err, ApiError::Fatal { .. }) && err.to_string().contains("Forbidden resource"),
        "{err}"
    );
}

#[test]
fn tokens_that_cannot_go_in_a_header_are_refused_up_front() {
    let new = |t: &str| {
        Client::new(config(
            "https://api.cartevo.co/api/v1",
            Credentials::Token(t.into()),
        ))
    };
    let err = new("abc\u{7}def").unwrap_err().to_string();
    assert!(
        err.contains("CARTEVO_API_TOKEN") && !err.contains("abc"),
        "{err}"
    );
    assert!(new("  ").unwrap_err().to_string().contains("empty"));
    new("  padded-token\n").unwrap();
}
