//! Sorting an HTTP answer into what it means: a created customer, a read's data, or an
//! `ApiError` class.

use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::auth::Secret;
use super::wire::{self, Envelope};
use super::{ApiError, Created, error};

/// An HTTP answer other than 401/403, with the tokens sent to obtain it (to scrub them from
/// any message built from the body).
pub(super) struct Answer {
    pub(super) status: StatusCode,
    pub(super) headers: reqwest::header::HeaderMap,
    pub(super) body: bytes::Bytes,
    pub(super) tokens: Vec<Secret>,
}

/// Sorts the answer to a create.
pub(super) fn created(answer: &Answer) -> Result<Created, ApiError> {
    let status = answer.status;
    if !status.is_success() {
        return Err(error::from_status(status, &answer.headers, &answer.body));
    }
    let code = status.as_u16();
    // Read without building the whole customer as a JSON tree.
    if let Some(id) = wire::created_id(&answer.body) {
        return Ok(Created {
            id,
            http_status: code,
        });
    }
    // A success without an id: the customer may exist now, but we cannot name it. Retrying
    // will either create it or get a 409 that settles it. The envelope only says why.
    let what = match Envelope::parse(&answer.body) {
        Some(env) if env.success == Some(false) => {
            format!(
                "success: false: {}",
                error::answer_message(status, &answer.body)
            )
        }
        Some(_) => "no customer id in data".to_owned(),
        None => error::answer_message(status, &answer.body),
    };
    Err(ApiError::retryable(
        Some(code),
        format!("HTTP {code} but not a created customer ({what}); it may have been created"),
        true,
    ))
}

/// Sorts the answer to a read: `None` on 404, the envelope on 2xx.
pub(super) fn read(answer: &Answer) -> Result<Option<Envelope>, ApiError> {
    let status = answer.status;
    if status == StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !status.is_success() {
        return Err(error::from_status(status, &answer.headers, &answer.body));
    }
    match Envelope::parse(&answer.body) {
        Some(env) => Ok(Some(env)),
        None => Err(ApiError::retryable(
            Some(status.as_u16()),
            error::answer_message(status, &answer.body),
            true,
        )),
    }
}

pub(super) fn data_as<T: DeserializeOwned>(
    answer: &Answer,
    data: Option<Value>,
) -> Result<T, ApiError> {
    serde_json::from_value(data.unwrap_or(Value::Null)).map_err(|e| unexpected(answer, &e))
}

pub(super) fn unexpected(answer: &Answer, e: &serde_json::Error) -> ApiError {
    let code = answer.status.as_u16();
    ApiError::retryable(
        Some(code),
        format!("HTTP {code} with an unexpected data shape: {e}"),
        true,
    )
}
