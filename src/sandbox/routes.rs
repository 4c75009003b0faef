//! The HTTP face of the sandbox: the router, the middleware (rate limit, latency, bearer
//! token) and one handler per documented route. Every answer, errors and unknown routes
//! included, is the Cartevo envelope `{success, statusCode, message, data}`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::multipart::{MultipartError, MultipartRejection};
use axum::extract::{DefaultBodyLimit, Multipart, Query, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde_json::{Value, json};
use uuid::Uuid;

use super::checks::{self, CheckedFields};
use super::faults::Failure;
use super::model::{self, SandboxCustomer};
use super::reads::{customer_cards, customer_transactions, get_customer, list_customers};
use super::store::InsertError;
use super::{API_PREFIX, Sandbox, TokenState};

/// Largest document part the sandbox accepts, as the multipart page says: 10 MB.
pub const MAX_DOCUMENT_BYTES: usize = 10 * 1024 * 1024;

/// axum's own body limit, well above two documents, so that an oversized document gets the
/// sandbox's "File too large" envelope rather than axum's plain-text 413.
const BODY_LIMIT: usize = 25 * 1024 * 1024;

/// An error answer: the envelope with `success: false` and `data: null`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub(super) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub(super) fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        envelope(self.status, &self.message, Value::Null)
    }
}

pub(super) fn envelope(status: StatusCode, message: &str, data: Value) -> Response {
    let body = json!({
        "success": status.is_success(),
        "statusCode": status.as_u16(),
        "message": message,
        "data": data,
    });
    (status, Json(body)).into_response()
}

pub(crate) fn router(sandbox: Sandbox) -> Router {
    let protected = Router::new()
        .route("/customers/enroll", post(create_json))
        .route("/customers", post(create_multipart).get(list_customers))
        .route("/customers/{id}", get(get_customer))
        .route("/customers/{id}/cards", get(customer_cards))
        .route("/customers/{id}/transactions", get(customer_transactions))
        // route_layer: unknown routes answer 404 without asking for a token.
        .route_layer(middleware::from_fn_with_state(
            sandbox.clone(),
            require_token,
        ));
    let api = Router::new()
        .route("/auth/token", post(issue_token))
        .merge(protected)
        .method_not_allowed_fallback(method_not_allowed);
    Router::new()
        .nest(API_PREFIX, api)
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(sandbox.clone(), rehearsal))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(sandbox)
}

async fn not_found() -> ApiError {
    ApiError::not_found("Route not found")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed")
}

/// Outermost layer: counts the request, applies the limits (in flight, rate), then the
/// latency. The request counts in flight until its answer is made.
async fn rehearsal(State(sandbox): State<Sandbox>, request: Request, next: Next) -> Response {
    let shared = &sandbox.shared;
    shared.counters.count_request(is_create(&request));
    let Some(_handling) = shared.faults.admit() else {
        shared.counters.count_rate_limited();
        let mut response =
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, "Too many requests").into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        return response;
    };
    let delay = shared.faults.delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    next.run(request).await
}

fn is_create(request: &Request) -> bool {
    let path = request.uri().path().trim_end_matches('/');
    request.method() == Method::POST
        && path
            .strip_prefix(API_PREFIX)
            .is_some_and(|rest| rest == "/customers" || rest == "/customers/enroll")
}

async fn require_token(State(sandbox): State<Sandbox>, request: Request, next: Next) -> Response {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let problem = match token {
        None => "Missing bearer token",
        Some(token) => match sandbox.token_state(token) {
            TokenState::Valid => return next.run(request).await,
            TokenState::Expired => "Token expired",
            TokenState::Unknown => "Invalid token",
        },
    };
    ApiError::new(StatusCode::UNAUTHORIZED, problem).into_response()
}

async fn issue_token(State(sandbox): State<Sandbox>, body: Bytes) -> Result<Response, ApiError> {
    let body: Value = serde_json::from_slice(&body)
        .map_err(|_| ApiError::bad_request("Request body must be JSON"))?;
    let field = |name: &str| body.get(name).and_then(Value::as_str).unwrap_or_default();
    let (client_id, client_key) = (field("client_id"), field("client_key"));
    for (name, value) in [("client_id", client_id), ("client_key", client_key)] {
        if value.is_empty() {
            return Err(ApiError::bad_request(format!("{name} is required")));
        }
    }
    let cfg = &sandbox.shared.cfg;
    if client_id != cfg.client_id || client_key != cfg.client_key {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Invalid client credentials",
        ));
    }
    let token = sandbox.issue_token();
    Ok(envelope(
        StatusCode::OK,
        "Token generated successfully",
        json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": cfg.token_ttl.as_secs(),
        }),
    ))
}

/// `POST /customers/enroll`: JSON with document URLs.
async fn create_json(State(sandbox): State<Sandbox>, body: Bytes) -> Response {
    let fault = sandbox.shared.faults.roll();
    if let Some(failure) = fault.filter(|f| !f.after_store()) {
        return failure.response();
    }
    let result = enroll(&sandbox, &body);
    answer_create(result, fault, "Customer enrolled successfully")
}

/// The created answer, unless a failure was planned for after the store.
fn answer_create(
    result: Result<SandboxCustomer, ApiError>,
    fault: Option<Failure>,
    message: &str,
) -> Response {
    match (result, fault) {
        (Ok(_stored), Some(failure)) => failure.response(),
        (Ok(customer), None) => envelope(StatusCode::CREATED, message, json!(customer)),
        (Err(error), _) => error.into_response(),
    }
}

fn enroll(sandbox: &Sandbox, body: &[u8]) -> Result<SandboxCustomer, ApiError> {
    let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(body) else {
        return Err(ApiError::bad_request("Request body must be a JSON object"));
    };
    let mut errors = Vec::new();
    let mut values = HashMap::new();
    for (name, value) in object {
        match value {
            Value::String(s) => {
                values.insert(name, s);
            }
            Value::Null => {}
            _ => errors.push(format!("{name} must be a string")),
        }
    }
    const URLS: [&str; 2] = ["id_document_front_url", "id_document_back_url"];
    let url_errors: Vec<String> = URLS
        .iter()
        .filter_map(|name| checks::check_document_url(name, values.get(*name).map(String::as_str)))
        .collect();
    let front = values.get(URLS[0]).cloned().unwrap_or_default();
    let back = values.get(URLS[1]).cloned().unwrap_or_default();
    let fields = all_or_400(
        checks::check_fields(values, &URLS),
        [errors, url_errors].concat(),
    )?;
    // The upstream verifier's verdicts, triggered by words in the URL.
    for (name, url) in URLS.iter().zip([&front, &back]) {
        if url.contains("unreadable") {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "KYC document unreadable",
            ));
        }
        if url.contains("unreachable") {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("Could not fetch {name}"),
            ));
        }
    }
    let customer = build_customer(Uuid::new_v4(), &fields, front, Some(back));
    store(
        sandbox,
        customer,
        |_| "Customer with this email or ID already exists",
    )
}

/// One 400 naming every failing field: the common field checks plus the endpoint's own
/// (`more`: document URLs or parts, JSON types).
fn all_or_400(
    checked: Result<CheckedFields, Vec<String>>,
    more: Vec<String>,
) -> Result<CheckedFields, ApiError> {
    match checked {
        Ok(fields) if more.is_empty() => Ok(fields),
        Ok(_) => Err(ApiError::bad_request(more.join("; "))),
        Err(errors) => Err(ApiError::bad_request([errors, more].concat().join("; "))),
    }
}

fn build_customer(
    id: Uuid,
    fields: &CheckedFields,
    image: String,
    photo: Option<String>,
) -> SandboxCustomer {
    let now = model::timestamp(Utc::now());
    SandboxCustomer {
        id,
        first_name: fields.get("first_name"),
        last_name: fields.get("last_name"),
        country: fields.get("country"),
        email: fields.get("email"),
        street: fields.get("street"),
        city: fields.get("city"),
        state: fields.get("state"),
        postal_code: fields.get("postal_code"),
        phone_country_code: fields.get("country_phone_code"),
        phone_number: fields.get("phone_number"),
        identification_number: fields.get("identification_number"),
        kind: fields.get("id_document_type"),
        number: fields.get("identification_number"),
        image,
        photo,
        date_of_birth: model::date_time(fields.date_of_birth),
        is_active: true,
        created_at: now.clone(),
        updated_at: now,
    }
}

/// Stores the customer; `duplicate_message` words the 409 for the field that clashed
/// (`true` for the email).
fn store(
    sandbox: &Sandbox,
    customer: SandboxCustomer,
    duplicate_message: impl Fn(bool) -> &'static str,
) -> Result<SandboxCustomer, ApiError> {
    let shared = &sandbox.shared;
    let card = shared.cfg.seed_cards.then(|| model::demo_card(customer.id));
    match shared
        .store
        .insert(customer.clone(), shared.cfg.max_customers, card)
    {
        Ok(()) => Ok(customer),
        Err(InsertError::DuplicateEmail) => {
            Err(ApiError::new(StatusCode::CONFLICT, duplicate_message(true)))
        }
        Err(InsertError::DuplicateIdNumber) => Err(ApiError::new(
            StatusCode::CONFLICT,
            duplicate_message(false),
        )),
        Err(InsertError::Cap(max)) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("Cannot create more than {max} customers in preproduction mode"),
        )),
        Err(InsertError::Storage(error)) => {
            tracing::error!("sandbox could not store a customer: {error:#}");
            Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal server error",
            ))
        }
    }
}

/// A document part as received: only its size, the first bytes (to sniff the type) and the
/// file name are kept.
struct Upload {
    file_name: String,
    size: usize,
    head: Vec<u8>,
}

const DOCUMENT_PARTS: [&str; 2] = ["id_document_front", "id_document_back"];

/// `POST /customers`: multipart with the document files.
async fn create_multipart(
    State(sandbox): State<Sandbox>,
    Query(query): Query<HashMap<String, String>>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let mut multipart = match multipart {
        Ok(multipart) => multipart,
        Err(rejection) => {
            return ApiError::bad_request(format!(
                "Request body must be multipart/form-data: {}",
                rejection.body_text()
            ))
            .into_response();
        }
    };
    // Read the whole body before answering anything, so that the client is not cut off
    // while it is still sending (it would see a reset instead of our answer).
    let (texts, uploads) = match read_parts(&mut multipart).await {
        Ok(parts) => parts,
        Err(error) => return error.into_response(),
    };
    let fault = sandbox.shared.faults.roll();
    if let Some(failure) = fault.filter(|f| !f.after_store()) {
        return failure.response();
    }
    let result = register(&sandbox, &query, texts, uploads);
    answer_create(result, fault, "Customer created successfully")
}

async fn read_parts(
    multipart: &mut Multipart,
) -> Result<(HashMap<String, String>, HashMap<String, Upload>), ApiError> {
    let mut texts = HashMap::new();
    let mut uploads = HashMap::new();
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        if DOCUMENT_PARTS.contains(&name.as_str()) && field.file_name().is_some() {
            let mut upload = Upload {
                file_name: field.file_name().unwrap_or_default().to_owned(),
                size: 0,
                head: Vec::new(),
            };
            while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                let wanted = 8usize.saturating_sub(upload.head.len()).min(chunk.len());
                upload.head.extend_from_slice(&chunk[..wanted]);
                upload.size += chunk.len();
            }
            if upload.size > 0 {
                uploads.insert(name, upload);
            }
        } else {
            let text = field.text().await.map_err(multipart_error)?;
            texts.insert(name, text);
        }
    }
    Ok((texts, uploads))
}

fn multipart_error(error: MultipartError) -> ApiError {
    if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "File too large")
    } else {
        ApiError::bad_request(format!("Invalid multipart body: {}", error.body_text()))
    }
}

/// The file extension for JPEG, PNG and PDF content, from its magic bytes.
fn sniff(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("jpg")
    } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("png")
    } else if head.starts_with(b"%PDF-") {
        Some("pdf")
    } else {
        None
    }
}

fn register(
    sandbox: &Sandbox,
    query: &HashMap<String, String>,
    texts: HashMap<String, String>,
    uploads: HashMap<String, Upload>,
) -> Result<SandboxCustomer, ApiError> {
    // File problems first, as the server's upload interceptor runs before field validation.
    if uploads.values().any(|u| u.size > MAX_DOCUMENT_BYTES) {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "File too large",
        ));
    }
    let mut extensions = HashMap::new();
    for (name, upload) in &uploads {
        let Some(ext) = sniff(&upload.head) else {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported file type",
            ));
        };
        extensions.insert(name.as_str(), ext);
    }
    if let Some(enroll) = query.get("enroll")
        && enroll != "true"
        && enroll != "false"
    {
        return Err(ApiError::bad_request("enroll must be true or false"));
    }
    let document_type = texts.get("id_document_type").cloned().unwrap_or_default();
    // The documents are file parts; a text part of either name is an undeclared property.
    let checked = checks::check_fields(texts, &[]);
    let mut document_errors = Vec::new();
    if !uploads.contains_key("id_document_front") {
        document_errors.push("id_document_front is required".to_owned());
    }
    if matches!(document_type.as_str(), "NIN" | "DRIVERS_LICENSE")
        && !uploads.contains_key("id_document_back")
    {
        document_errors.push(format!(
            "id_document_back is required for id_document_type {document_type}"
        ));
    }
    let fields = all_or_400(checked, document_errors)?;
    if uploads.values().any(|u| u.file_name.contains("unreadable")) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "KYC document unreadable",
        ));
    }
    let id = Uuid::new_v4();
    let hosted = |part: &str, side: &str| {
        extensions
            .get(part)
            .map(|ext| format!("https://sandbox.cartevo.local/kyc/{id}/{side}.{ext}"))
    };
    let image = hosted("id_document_front", "front").unwrap_or_default();
    let photo = hosted("id_document_back", "back");
    let customer = build_customer(id, &fields, image, photo);
    store(sandbox, customer, |email| {
        if email {
            "Customer with this email already exists"
        } else {
            "Customer with this identification_number already exists"
        }
    })
}
