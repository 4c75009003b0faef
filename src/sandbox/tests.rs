//! The sandbox over real HTTP: each test starts its own sandbox on 127.0.0.1:0 and talks to
//! it with reqwest, as the client will.

use std::time::{Duration, Instant};

use chrono::{Months, Utc};
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use uuid::Uuid;

use super::*;

const TOKEN: &str = "sandbox";

async fn start(cfg: SandboxConfig) -> (Sandbox, RunningSandbox) {
    let sandbox = Sandbox::new(cfg).unwrap();
    let running = sandbox.clone().start().await.unwrap();
    (sandbox, running)
}

async fn start_default() -> (Sandbox, RunningSandbox) {
    start(SandboxConfig::default()).await
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A valid enroll body; `i` makes the email and identification number unique.
fn person(i: usize) -> Value {
    json!({
        "first_name": "John",
        "last_name": "Doe",
        "email": format!("john.doe{i}@example.com"),
        "country": "Cameroon",
        "street": "123 Main Street",
        "city": "Yaoundé",
        "state": "Centre",
        "postal_code": "00237",
        "country_iso_code": "CM",
        "country_phone_code": "+237",
        "phone_number": "600000000",
        "identification_number": format!("ID{i:09}"),
        "id_document_type": "NIN",
        "date_of_birth": "1990-01-15",
        "id_document_front_url": "https://cdn.example.com/kyc/front.jpg",
        "id_document_back_url": "https://cdn.example.com/kyc/back.jpg",
    })
}

async fn send(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    (status, body)
}

async fn enroll(run: &RunningSandbox, body: &Value) -> (StatusCode, Value) {
    send(
        client()
            .post(format!("{}/customers/enroll", run.url()))
            .bearer_auth(TOKEN)
            .json(body),
    )
    .await
}

async fn get(run: &RunningSandbox, path: &str) -> (StatusCode, Value) {
    send(
        client()
            .get(format!("{}{path}", run.url()))
            .bearer_auth(TOKEN),
    )
    .await
}

fn assert_envelope(status: StatusCode, body: &Value, expected: StatusCode, message: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["statusCode"], expected.as_u16(), "{body}");
    assert_eq!(body["success"], expected.is_success(), "{body}");
    let actual = body["message"].as_str().unwrap();
    assert!(
        actual.contains(message),
        "{actual:?} should contain {message:?}"
    );
}

fn jpeg(len: usize) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
    bytes.resize(len.max(4), 0);
    bytes
}

/// A multipart form for person `i` with the given text overrides and document parts.
fn form(i: usize, overrides: &[(&str, &str)], front: Option<Part>, back: Option<Part>) -> Form {
    let mut form = Form::new();
    let person = person(i);
    for (name, value) in person.as_object().unwrap() {
        if name.ends_with("_url") || overrides.iter().any(|(n, _)| n == name) {
            continue;
        }
        form = form.text(name.clone(), value.as_str().unwrap().to_owned());
    }
    for (name, value) in overrides {
        form = form.text(name.to_string(), value.to_string());
    }
    if let Some(front) = front {
        form = form.part("id_document_front", front);
    }
    if let Some(back) = back {
        form = form.part("id_document_back", back);
    }
    form
}

fn jpeg_part(name: &str) -> Part {
    Part::bytes(jpeg(2048))
        .file_name(name.to_owned())
        .mime_str("image/jpeg")
        .unwrap()
}

async fn register(run: &RunningSandbox, query: &str, form: Form) -> (StatusCode, Value) {
    send(
        client()
            .post(format!("{}/customers{query}", run.url()))
            .bearer_auth(TOKEN)
            .multipart(form),
    )
    .await
}

#[tokio::test]
async fn enroll_answers_201_with_the_full_customer() {
    let (sandbox, run) = start_default().await;
    let (status, body) = enroll(&run, &person(1)).await;
    assert_envelope(
        status,
        &body,
        StatusCode::CREATED,
        "Customer enrolled successfully",
    );
    let data = &body["data"];
    let id: Uuid = data["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(id.get_version_num(), 4);
    assert_eq!(data["first_name"], "John");
    assert_eq!(data["email"], "john.doe1@example.com");
    assert_eq!(data["phone_country_code"], "+237");
    assert_eq!(data["phone_number"], "600000000");
    assert_eq!(data["identification_number"], "ID000000001");
    assert_eq!(data["type"], "NIN");
    assert_eq!(data["number"], "ID000000001");
    assert_eq!(data["image"], "https://cdn.example.com/kyc/front.jpg");
    assert_eq!(data["photo"], "https://cdn.example.com/kyc/back.jpg");
    assert_eq!(data["date_of_birth"], "1990-01-15T00:00:00.000Z");
    assert_eq!(data["is_active"], true);
    let created = data["created_at"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(created).is_ok(),
        "{created}"
    );
    assert_eq!(created.len(), "2026-05-09T10:15:00.000Z".len());
    assert_eq!(data["updated_at"], data["created_at"]);

    assert_eq!(sandbox.customer_count(), 1);
    assert_eq!(sandbox.create_requests(), 1);
    assert_eq!(sandbox.customers()[0].id, id);
    // Read back.
    let (status, body) = get(&run, &format!("/customers/{id}")).await;
    assert_envelope(status, &body, StatusCode::OK, "Data retrieved successfully");
    assert_eq!(body["data"], *data);
    run.stop().await.unwrap();
}

#[tokio::test]
async fn multipart_answers_201_with_hosted_document_urls() {
    let (sandbox, run) = start_default().await;
    let (status, body) = register(
        &run,
        "?enroll=true",
        form(
            1,
            &[],
            Some(jpeg_part("front.jpg")),
            Some(jpeg_part("back.jpg")),
        ),
    )
    .await;
    assert_envelope(
        status,
        &body,
        StatusCode::CREATED,
        "Customer created successfully",
    );
    let data = &body["data"];
    let image = data["image"].as_str().unwrap();
    assert!(
        image.starts_with("https://") && image.ends_with("/front.jpg"),
        "{image}"
    );
    assert!(data["photo"].as_str().unwrap().ends_with("/back.jpg"));

    // A passport needs no back; a PDF front is fine.
    let pdf = Part::bytes(b"%PDF-1.7\n...".to_vec()).file_name("front.pdf");
    let (status, body) = register(
        &run,
        "",
        form(2, &[("id_document_type", "PASSPORT")], Some(pdf), None),
    )
    .await;
    assert_envelope(status, &body, StatusCode::CREATED, "created");
    assert!(body["data"]["image"].as_str().unwrap().ends_with(".pdf"));
    assert_eq!(body["data"]["photo"], Value::Null);
    assert_eq!(sandbox.customer_count(), 2);

    let (status, body) = register(
        &run,
        "?enroll=maybe",
        form(3, &[], Some(jpeg_part("f.jpg")), Some(jpeg_part("b.jpg"))),
    )
    .await;
    assert_envelope(status, &body, StatusCode::BAD_REQUEST, "enroll");
}

#[tokio::test]
async fn each_documented_constraint_answers_400_naming_the_field() {
    let (sandbox, run) = start_default().await;
    let seventeen = (Utc::now().date_naive() - Months::new(17 * 12))
        .format("%Y-%m-%d")
        .to_string();
    let eighteen_today = (Utc::now().date_naive() - Months::new(18 * 12))
        .format("%Y-%m-%d")
        .to_string();
    let long = "x".repeat(256);
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "first_name",
            json!("Jo"),
            "first_name must be at least 3 characters",
        ),
        (
            "first_name",
            json!("Zé"),
            "first_name must be at least 3 characters",
        ),
        (
            "last_name",
            json!(long),
            "last_name must be at most 255 characters",
        ),
        ("country", json!("N"), "country must be at least 2"),
        ("street", json!("1"), "street must be at least 2"),
        ("city", json!("L"), "city must be at least 2"),
        ("state", json!("L"), "state must be at least 2"),
        ("postal_code", json!("12"), "postal_code must be at least 3"),
        (
            "phone_number",
            json!("12"),
            "phone_number must be at least 3",
        ),
        (
            "phone_number",
            json!(long),
            "phone_number must be at most 255",
        ),
        (
            "identification_number",
            json!(""),
            "identification_number is required",
        ),
        (
            "identification_number",
            json!(long),
            "identification_number must be at most 255",
        ),
        (
            "email",
            json!("not-an-email"),
            "email must be a valid email",
        ),
        ("country_iso_code", json!("CMR"), "country_iso_code"),
        ("country_iso_code", json!("C1"), "country_iso_code"),
        ("country_phone_code", json!("237"), "country_phone_code"),
        ("country_phone_code", json!("+2a7"), "country_phone_code"),
        (
            "id_document_type",
            json!("ID_CARD"),
            "id_document_type must be one of",
        ),
        (
            "id_document_type",
            json!("nin"),
            "id_document_type must be one of",
        ),
        (
            "date_of_birth",
            json!("1990-02-30"),
            "date_of_birth must be a valid date",
        ),
        (
            "date_of_birth",
            json!("15/01/1990"),
            "date_of_birth must be a valid date",
        ),
        (
            "date_of_birth",
            json!(seventeen),
            "Customer must be 18 or older",
        ),
        (
            "id_document_front_url",
            json!("http://cdn.example.com/f.jpg"),
            "id_document_front_url must be HTTPS",
        ),
        (
            "id_document_back_url",
            json!("http://cdn.example.com/b.jpg"),
            "id_document_back_url must be HTTPS",
        ),
        (
            "id_document_back_url",
            json!("back.jpg"),
            "id_document_back_url must be a valid URL",
        ),
        ("first_name", json!(42), "first_name must be a string"),
        ("email", Value::Null, "email is required"),
        // As the server's ValidationPipe: undeclared properties, isLength, isEmail.
        (
            "reference",
            json!("R-1"),
            "property reference should not exist",
        ),
        ("notes", json!(""), "property notes should not exist"),
        (
            "first_name",
            json!("J\u{270c}\u{fe0f}"),
            "first_name must be at least 3 characters",
        ),
        (
            "email",
            json!("\u{1d423}\u{1d428}\u{1d421}\u{1d427}@example.com"),
            "email must be a valid email",
        ),
        (
            "email",
            json!("a@\u{ff45}\u{ff58}\u{ff41}\u{ff4d}\u{ff50}\u{ff4c}\u{ff45}.com"),
            "email must be a valid email",
        ),
    ];
    for (i, (field, value, expected)) in cases.into_iter().enumerate() {
        let mut body = person(i);
        body[field] = value;
        let (status, answer) = enroll(&run, &body).await;
        assert_envelope(status, &answer, StatusCode::BAD_REQUEST, expected);
        assert_eq!(answer["data"], Value::Null);
    }
    // A missing key, and every failing field named at once.
    let mut body = person(100);
    body.as_object_mut().unwrap().remove("id_document_back_url");
    body["city"] = json!("L");
    let (status, answer) = enroll(&run, &body).await;
    assert_envelope(
        status,
        &answer,
        StatusCode::BAD_REQUEST,
        "city must be at least 2",
    );
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("id_document_back_url is required")
    );
    // Lengths count characters, not bytes; 18 today is old enough.
    let mut body = person(101);
    body["first_name"] = json!("Zoë");
    body["date_of_birth"] = json!(eighteen_today);
    let (status, answer) = enroll(&run, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    // An address with a non-ASCII top-level label, which the server's isEmail accepts.
    let mut body = person(102);
    body["email"] = json!("a@\u{4f8b}\u{5b50}.\u{4e2d}\u{56fd}");
    let (status, answer) = enroll(&run, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    // Not JSON at all.
    let (status, answer) = send(
        client()
            .post(format!("{}/customers/enroll", run.url()))
            .bearer_auth(TOKEN)
            .body("nope"),
    )
    .await;
    assert_envelope(status, &answer, StatusCode::BAD_REQUEST, "JSON");
    assert_eq!(sandbox.customer_count(), 2);
}

#[tokio::test]
async fn multipart_checks_fields_and_document_parts() {
    let (sandbox, run) = start_default().await;
    let cases: Vec<(Form, &str)> = vec![
        (
            form(
                1,
                &[("first_name", "Jo")],
                Some(jpeg_part("f.jpg")),
                Some(jpeg_part("b.jpg")),
            ),
            "first_name must be at least 3 characters",
        ),
        (
            form(2, &[], Some(jpeg_part("f.jpg")), None),
            "id_document_back is required",
        ),
        (
            form(
                3,
                &[("id_document_type", "DRIVERS_LICENSE")],
                Some(jpeg_part("f.jpg")),
                None,
            ),
            "id_document_back is required",
        ),
        (
            form(4, &[], None, Some(jpeg_part("b.jpg"))),
            "id_document_front is required",
        ),
        (
            form(
                5,
                &[("date_of_birth", "2020-01-01")],
                Some(jpeg_part("f.jpg")),
                Some(jpeg_part("b.jpg")),
            ),
            "Customer must be 18 or older",
        ),
    ];
    for (form, expected) in cases {
        let (status, body) = register(&run, "", form).await;
        assert_envelope(status, &body, StatusCode::BAD_REQUEST, expected);
    }
    // A document sent as a text part, and a text part the DTO does not declare.
    let as_text = form(7, &[("reference", "R-7")], Some(jpeg_part("f.jpg")), None)
        .text("id_document_back", "b.jpg");
    let (status, body) = register(&run, "", as_text).await;
    assert_envelope(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "property id_document_back should not exist",
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("property reference should not exist"),
        "{body}"
    );
    // VOTERS_CARD without a back is accepted.
    let (status, body) = register(
        &run,
        "",
        form(
            6,
            &[("id_document_type", "VOTERS_CARD")],
            Some(jpeg_part("f.jpg")),
            None,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(sandbox.customer_count(), 1);
}

#[tokio::test]
async fn duplicates_answer_409_with_each_endpoints_message() {
    let (sandbox, run) = start_default().await;
    assert_eq!(enroll(&run, &person(1)).await.0, StatusCode::CREATED);

    let mut same_email = person(2);
    same_email["email"] = json!("JOHN.DOE1@Example.com");
    let (status, body) = enroll(&run, &same_email).await;
    assert_envelope(
        status,
        &body,
        StatusCode::CONFLICT,
        "Customer with this email or ID already exists",
    );
    let mut same_id = person(3);
    same_id["identification_number"] = json!("ID000000001");
    let (status, body) = enroll(&run, &same_id).await;
    assert_envelope(
        status,
        &body,
        StatusCode::CONFLICT,
        "Customer with this email or ID already exists",
    );

    let parts = || (Some(jpeg_part("f.jpg")), Some(jpeg_part("b.jpg")));
    let (f, b) = parts();
    let (status, body) = register(
        &run,
        "",
        form(4, &[("email", "John.Doe1@example.com")], f, b),
    )
    .await;
    assert_envelope(
        status,
        &body,
        StatusCode::CONFLICT,
        "Customer with this email already exists",
    );
    let (f, b) = parts();
    let (status, body) = register(
        &run,
        "",
        form(5, &[("identification_number", "ID000000001")], f, b),
    )
    .await;
    assert_envelope(
        status,
        &body,
        StatusCode::CONFLICT,
        "Customer with this identification_number already exists",
    );
    assert_eq!(sandbox.customer_count(), 1);
    assert_eq!(sandbox.create_requests(), 5);
}

#[tokio::test]
async fn duplicate_detection_holds_under_concurrency() {
    let (sandbox, run) = start_default().await;
    let url = format!("{}/customers/enroll", run.url());
    let client = client();
    let requests = (0..16).map(|_| {
        let request = client.post(&url).bearer_auth(TOKEN).json(&person(7));
        async move { request.send().await.unwrap().status() }
    });
    let statuses = futures_util::future::join_all(requests).await;
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let conflicts = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, conflicts), (1, 15));
    assert_eq!(sandbox.customer_count(), 1);
}

#[tokio::test]
async fn oversized_and_foreign_documents_answer_413_and_415() {
    let (sandbox, run) = start_default().await;
    let big = Part::bytes(jpeg(super::routes::MAX_DOCUMENT_BYTES + 1)).file_name("big.jpg");
    let (status, body) =
        register(&run, "", form(1, &[], Some(big), Some(jpeg_part("b.jpg")))).await;
    assert_envelope(
        status,
        &body,
        StatusCode::PAYLOAD_TOO_LARGE,
        "File too large",
    );

    let exactly = Part::bytes(jpeg(super::routes::MAX_DOCUMENT_BYTES)).file_name("max.jpg");
    let (status, body) = register(
        &run,
        "",
        form(2, &[], Some(exactly), Some(jpeg_part("b.jpg"))),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // The name and declared type say JPEG; the bytes say GIF.
    let gif = Part::bytes(b"GIF89a........".to_vec())
        .file_name("back.jpg")
        .mime_str("image/jpeg")
        .unwrap();
    let (status, body) =
        register(&run, "", form(3, &[], Some(jpeg_part("f.jpg")), Some(gif))).await;
    assert_envelope(
        status,
        &body,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "Unsupported file type",
    );
    assert_eq!(sandbox.customer_count(), 1);
}

#[tokio::test]
async fn unreadable_documents_answer_422() {
    let (sandbox, run) = start_default().await;
    let mut body = person(1);
    body["id_document_front_url"] = json!("https://cdn.example.com/unreadable/front.jpg");
    let (status, answer) = enroll(&run, &body).await;
    assert_envelope(
        status,
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "KYC document unreadable",
    );

    let mut body = person(2);
    body["id_document_back_url"] = json!("https://unreachable.example.com/back.jpg");
    let (status, answer) = enroll(&run, &body).await;
    assert_envelope(
        status,
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "Could not fetch id_document_back_url",
    );

    let (status, answer) = register(
        &run,
        "",
        form(
            3,
            &[],
            Some(jpeg_part("unreadable-front.jpg")),
            Some(jpeg_part("b.jpg")),
        ),
    )
    .await;
    assert_envelope(
        status,
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "KYC document unreadable",
    );
    assert_eq!(sandbox.customer_count(), 0);
}

#[tokio::test]
async fn requests_without_a_valid_token_answer_401() {
    let (sandbox, run) = start_default().await;
    let url = format!("{}/customers", run.url());
    let (status, body) = send(client().get(&url)).await;
    assert_envelope(
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "Missing bearer token",
    );
    let (status, body) = send(client().get(&url).bearer_auth("wrong")).await;
    assert_envelope(status, &body, StatusCode::UNAUTHORIZED, "Invalid token");
    let (status, body) = send(
        client()
            .post(format!("{}/customers/enroll", run.url()))
            .json(&person(1)),
    )
    .await;
    assert_envelope(status, &body, StatusCode::UNAUTHORIZED, "");
    assert_eq!(sandbox.customer_count(), 0);
    let (status, _) = send(client().get(&url).bearer_auth(TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
}

async fn ask_token(run: &RunningSandbox, id: &str, key: &str) -> (StatusCode, Value) {
    send(
        client()
            .post(format!("{}/auth/token", run.url()))
            .json(&json!({"client_id": id, "client_key": key})),
    )
    .await
}

#[tokio::test]
async fn client_credentials_buy_a_bearer_token() {
    let (_sandbox, run) = start(SandboxConfig {
        token: "static-secret".to_owned(),
        client_id: "acme".to_owned(),
        client_key: "k3y".to_owned(),
        ..SandboxConfig::default()
    })
    .await;
    let (status, body) = ask_token(&run, "acme", "wrong").await;
    assert_envelope(
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "Invalid client credentials",
    );
    let (status, body) = ask_token(&run, "acme", "").await;
    assert_envelope(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "client_key is required",
    );

    let (status, body) = ask_token(&run, "acme", "k3y").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["data"]["token_type"], "Bearer");
    assert_eq!(body["data"]["expires_in"], 3600);
    let token = body["data"]["access_token"].as_str().unwrap().to_owned();
    let (_, again) = ask_token(&run, "acme", "k3y").await;
    assert_ne!(again["data"]["access_token"], token, "tokens are random");

    let url = format!("{}/customers", run.url());
    let (status, _) = send(client().get(&url).bearer_auth(&token)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = send(client().get(&url).bearer_auth("static-secret")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = send(client().get(&url).bearer_auth("sandbox")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn issued_tokens_expire_after_the_ttl_but_the_static_token_does_not() {
    // A zero lifetime: the token is expired the moment it is issued.
    let (_sandbox, run) = start(SandboxConfig {
        token_ttl: Duration::ZERO,
        ..SandboxConfig::default()
    })
    .await;
    let (_, body) = ask_token(&run, "sandbox", "sandbox").await;
    assert_eq!(body["data"]["expires_in"], 0);
    let token = body["data"]["access_token"].as_str().unwrap();
    let url = format!("{}/customers", run.url());
    let (status, body) = send(client().get(&url).bearer_auth(token)).await;
    assert_envelope(status, &body, StatusCode::UNAUTHORIZED, "Token expired");
    let (status, _) = send(client().get(&url).bearer_auth(TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn the_preproduction_cap_answers_403() {
    let (sandbox, run) = start(SandboxConfig {
        max_customers: Some(2),
        ..SandboxConfig::default()
    })
    .await;
    assert_eq!(enroll(&run, &person(1)).await.0, StatusCode::CREATED);
    assert_eq!(enroll(&run, &person(2)).await.0, StatusCode::CREATED);
    let (status, body) = enroll(&run, &person(3)).await;
    assert_envelope(
        status,
        &body,
        StatusCode::FORBIDDEN,
        "Cannot create more than 2 customers in preproduction mode",
    );
    // A duplicate is still reported as such.
    assert_eq!(enroll(&run, &person(1)).await.0, StatusCode::CONFLICT);
    assert_eq!(sandbox.customer_count(), 2);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_envelope() {
    let (_sandbox, run) = start_default().await;
    let (status, body) = get(&run, "/nothing/here").await;
    assert_envelope(status, &body, StatusCode::NOT_FOUND, "Route not found");
    let root = run.url().trim_end_matches("/api/v1").to_owned();
    let (status, body) = send(client().get(format!("{root}/elsewhere"))).await;
    assert_envelope(status, &body, StatusCode::NOT_FOUND, "Route not found");
    let (status, body) = send(
        client()
            .delete(format!("{}/customers", run.url()))
            .bearer_auth(TOKEN),
    )
    .await;
    assert_envelope(
        status,
        &body,
        StatusCode::METHOD_NOT_ALLOWED,
        "Method not allowed",
    );
    let (status, body) = get(&run, &format!("/customers/{}", Uuid::new_v4())).await;
    assert_envelope(status, &body, StatusCode::NOT_FOUND, "Customer not found");
    let (status, body) = get(&run, "/customers/not-a-uuid").await;
    assert_envelope(status, &body, StatusCode::NOT_FOUND, "Customer not found");
}

#[tokio::test]
async fn customers_list_pages_in_creation_order_with_meta() {
    let (sandbox, run) = start_default().await;
    for i in 0..23 {
        assert_eq!(enroll(&run, &person(i)).await.0, StatusCode::CREATED);
    }
    let ids: Vec<Value> = sandbox.customers().iter().map(|c| json!(c.id)).collect();

    let (status, body) = get(&run, "/customers").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["meta"],
        json!({"page": 1, "limit": 10, "total": 23, "totalPages": 3})
    );
    let page_ids = |body: &Value| -> Vec<Value> {
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].clone())
            .collect()
    };
    assert_eq!(page_ids(&body), ids[..10]);

    let (_, body) = get(&run, "/customers?page=3&limit=10").await;
    assert_eq!(page_ids(&body), ids[20..]);
    assert_eq!(body["meta"]["page"], 3);

    let (_, body) = get(&run, "/customers?page=2&limit=100").await;
    assert_eq!(page_ids(&body), Vec::<Value>::new());
    assert_eq!(
        body["meta"],
        json!({"page": 2, "limit": 100, "total": 23, "totalPages": 1})
    );

    for bad in ["limit=101", "limit=0", "page=0", "page=x"] {
        let (status, body) = get(&run, &format!("/customers?{bad}")).await;
        let field = bad.split('=').next().unwrap();
        assert_envelope(status, &body, StatusCode::BAD_REQUEST, field);
    }
}

#[tokio::test]
async fn cards_are_404_until_seeded_and_transactions_paginate() {
    let (sandbox, run) = start_default().await;
    let (_, body) = enroll(&run, &person(1)).await;
    let id: Uuid = body["data"]["id"].as_str().unwrap().parse().unwrap();

    let (status, body) = get(&run, &format!("/customers/{id}/cards")).await;
    assert_envelope(status, &body, StatusCode::NOT_FOUND, "No cards found");
    let (status, body) = get(&run, &format!("/customers/{}/cards", Uuid::new_v4())).await;
    assert_envelope(status, &body, StatusCode::NOT_FOUND, "Customer not found");
    let (status, body) = get(&run, &format!("/customers/{id}/transactions")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["pagination"]["total"], 0);
    let (status, _) = get(&run, &format!("/customers/{}/transactions", Uuid::new_v4())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let card = Card::virtual_usd(id, 42.5);
    sandbox.seed_card(id, card.clone()).unwrap();
    assert!(sandbox.seed_card(Uuid::new_v4(), card.clone()).is_err());
    for n in 0..15 {
        let tx = Transaction::on_card(&card, "AUTHORIZATION", n as f64, &format!("purchase {n}"));
        sandbox.seed_transaction(id, tx).unwrap();
    }

    let (status, body) = get(&run, &format!("/customers/{id}/cards")).await;
    assert_envelope(status, &body, StatusCode::OK, "Data retrieved successfully");
    let cards = body["data"].as_array().unwrap();
    assert_eq!(cards.len(), 1);
    assert_eq!(cards[0]["id"], json!(card.id));
    assert_eq!(cards[0]["customer_id"], json!(id));
    assert_eq!(cards[0]["balance"], 42.5);
    assert_eq!(cards[0]["status"], "ACTIVE");
    assert!(
        cards[0]["masked_pan"]
            .as_str()
            .unwrap()
            .starts_with("**** ")
    );

    let (_, body) = get(
        &run,
        &format!("/customers/{id}/transactions?page=2&limit=10"),
    )
    .await;
    assert_eq!(
        body["pagination"],
        json!({"page": 2, "limit": 10, "total": 15, "totalPages": 2})
    );
    let txs = body["data"].as_array().unwrap();
    assert_eq!(txs.len(), 5);
    assert_eq!(txs[0]["description"], "purchase 10");
    assert_eq!(txs[0]["type"], "AUTHORIZATION");
    assert_eq!(txs[0]["card"]["id"], json!(card.id));
    assert_eq!(txs[0]["card"]["balance"], 42.5);
}

#[tokio::test]
async fn seed_cards_gives_every_new_customer_a_card_with_transactions() {
    let (sandbox, run) = start(SandboxConfig {
        seed_cards: true,
        ..SandboxConfig::default()
    })
    .await;
    let (_, body) = enroll(&run, &person(1)).await;
    let id = body["data"]["id"].as_str().unwrap().to_owned();
    let (status, body) = get(&run, &format!("/customers/{id}/cards")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"][0]["balance"], 25.0);
    let (_, body) = get(&run, &format!("/customers/{id}/transactions")).await;
    assert_eq!(body["pagination"]["total"], 3);
    assert_eq!(sandbox.cards(id.parse().unwrap()).unwrap().len(), 1);
}

/// What a client saw for one request.
#[derive(Debug, PartialEq)]
enum Seen {
    Status(StatusCode),
    /// The connection failed or the answer was cut off.
    Broken,
}

async fn try_enroll(run: &RunningSandbox, body: &Value) -> Seen {
    let sent = client()
        .post(format!("{}/customers/enroll", run.url()))
        .bearer_auth(TOKEN)
        .json(body)
        .send()
        .await;
    match sent {
        Err(_) => Seen::Broken,
        Ok(response) => {
            let status = response.status();
            match response.bytes().await {
                Ok(_) => Seen::Status(status),
                Err(_) => Seen::Broken,
            }
        }
    }
}

#[tokio::test]
async fn fail_rate_one_fails_every_create_some_after_storing() {
    let (sandbox, run) = start(SandboxConfig {
        fail_rate: 1.0,
        ..SandboxConfig::default()
    })
    .await;
    let mut seen = Vec::new();
    for i in 0..8 {
        seen.push(try_enroll(&run, &person(i)).await);
    }
    assert!(
        !seen.contains(&Seen::Status(StatusCode::CREATED)),
        "{seen:?}"
    );
    let server_errors = seen
        .iter()
        .filter(|s| matches!(s, Seen::Status(code) if code.is_server_error()))
        .count();
    let broken = seen.iter().filter(|s| **s == Seen::Broken).count();
    assert_eq!((server_errors, broken), (4, 4), "{seen:?}");
    // Half of the failures came after the store.
    assert_eq!(sandbox.customer_count(), 4);
    assert_eq!(sandbox.stats().injected_failures, 8);
    assert_eq!(sandbox.create_requests(), 8);

    // A client retrying a stored-then-failed customer eventually learns it exists: a failure
    // planned for after the store lets the 409 through.
    let stored = &sandbox.customers()[0];
    let index: usize = stored.identification_number[2..].parse().unwrap();
    let mut retries = Vec::new();
    for _ in 0..4 {
        let outcome = try_enroll(&run, &person(index)).await;
        let done = outcome == Seen::Status(StatusCode::CONFLICT);
        retries.push(outcome);
        if done {
            break;
        }
    }
    assert_eq!(
        retries.last(),
        Some(&Seen::Status(StatusCode::CONFLICT)),
        "{retries:?}"
    );
    assert_eq!(sandbox.customer_count(), 4);
}

#[tokio::test]
async fn a_dropped_connection_is_an_error_for_reqwest() {
    let (_sandbox, run) = start(SandboxConfig {
        fail_rate: 1.0,
        ..SandboxConfig::default()
    })
    .await;
    // The cycle starts with store-then-500, then a drop.
    assert_eq!(
        try_enroll(&run, &person(1)).await,
        Seen::Status(StatusCode::INTERNAL_SERVER_ERROR)
    );
    let error = client()
        .post(format!("{}/customers/enroll", run.url()))
        .bearer_auth(TOKEN)
        .json(&person(2))
        .send()
        .await
        .expect_err("the connection should drop before any answer");
    assert!(!error.is_status(), "{error:?}");
}

#[tokio::test]
async fn over_the_rate_limit_answers_429_with_retry_after() {
    let (sandbox, run) = start(SandboxConfig {
        rate_limit: Some(super::Schedule::fixed(2)),
        ..SandboxConfig::default()
    })
    .await;
    let mut limited = None;
    for _ in 0..6 {
        let response = client()
            .get(format!("{}/customers", run.url()))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(response);
            break;
        }
    }
    let response = limited.expect("a burst of 6 at 2/s must be limited");
    assert_eq!(response.headers()["retry-after"], "1");
    let body: Value = response.json().await.unwrap();
    assert_envelope(
        StatusCode::TOO_MANY_REQUESTS,
        &body,
        StatusCode::TOO_MANY_REQUESTS,
        "Too many requests",
    );
    assert!(sandbox.stats().rate_limited >= 1);
}

#[tokio::test]
async fn latency_delays_every_answer() {
    let (_sandbox, run) = start(SandboxConfig {
        latency: Duration::from_millis(30),
        jitter: Duration::from_millis(10),
        ..SandboxConfig::default()
    })
    .await;
    let started = Instant::now();
    let (status, _) = get(&run, "/customers").await;
    assert_eq!(status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(30));
}

#[tokio::test]
async fn a_state_file_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = SandboxConfig {
        state: Some(dir.path().join("sandbox.db")),
        seed_cards: true,
        ..SandboxConfig::default()
    };
    let (_, run) = start(cfg.clone()).await;
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("sandbox.db"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the state file is its owner's only");
    }
    let (_, body) = enroll(&run, &person(1)).await;
    let id = body["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(enroll(&run, &person(2)).await.0, StatusCode::CREATED);
    run.stop().await.unwrap();

    let (sandbox, run) = start(cfg).await;
    assert_eq!(sandbox.customer_count(), 2);
    let (status, again) = get(&run, &format!("/customers/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["data"], body["data"]);
    let (_, list) = get(&run, "/customers").await;
    assert_eq!(list["data"][0]["id"], json!(id));
    let (status, _) = get(&run, &format!("/customers/{id}/cards")).await;
    assert_eq!(status, StatusCode::OK);
    let (_, txs) = get(&run, &format!("/customers/{id}/transactions")).await;
    assert_eq!(txs["pagination"]["total"], 3);
    assert_eq!(enroll(&run, &person(1)).await.0, StatusCode::CONFLICT);
}

#[tokio::test]
async fn serve_refuses_a_non_loopback_listener() {
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let sandbox = Sandbox::new(SandboxConfig::default()).unwrap();
    let error = sandbox.serve(listener, async {}).await.unwrap_err();
    assert!(error.to_string().contains("loopback"), "{error}");
}

#[test]
fn bad_knobs_are_refused() {
    for cfg in [
        SandboxConfig {
            fail_rate: 1.5,
            ..SandboxConfig::default()
        },
        SandboxConfig {
            rate_limit: Some(super::Schedule::fixed(0)),
            ..SandboxConfig::default()
        },
    ] {
        assert!(Sandbox::new(cfg).is_err());
    }
}
