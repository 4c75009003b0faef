//! The read routes: the customer list, one customer, its cards and its transactions.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use uuid::Uuid;

use super::Sandbox;
use super::routes::{ApiError, envelope};

/// A 200 list answer with its page block under `block` (`meta` or `pagination`: the real
/// API uses both names).
fn page_answer(data: Vec<Value>, block: &str, page: usize, limit: usize, total: usize) -> Response {
    let body = json!({
        "success": true,
        "statusCode": 200,
        "message": "Data retrieved successfully",
        "data": data,
        block: {
            "page": page,
            "limit": limit,
            "total": total,
            "totalPages": total.div_ceil(limit),
        },
    });
    (StatusCode::OK, Json(body)).into_response()
}

/// Parses an optional positive integer query parameter.
fn positive(
    query: &HashMap<String, String>,
    name: &str,
    default: usize,
    max: Option<usize>,
) -> Result<usize, ApiError> {
    let Some(raw) = query.get(name) else {
        return Ok(default);
    };
    let value: usize = raw
        .parse()
        .ok()
        .filter(|&v| v >= 1)
        .ok_or_else(|| ApiError::bad_request(format!("{name} must be a positive integer")))?;
    match max {
        Some(max) if value > max => Err(ApiError::bad_request(format!(
            "{name} must not be greater than {max}"
        ))),
        _ => Ok(value),
    }
}

/// The page and limit of a list request: page from 1, limit 10 by default, at most 100.
fn paging(query: &HashMap<String, String>) -> Result<(usize, usize), ApiError> {
    Ok((
        positive(query, "page", 1, None)?,
        positive(query, "limit", 10, Some(100))?,
    ))
}

pub(super) async fn list_customers(
    State(sandbox): State<Sandbox>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let (page, limit) = paging(&query)?;
    let offset = (page - 1).saturating_mul(limit);
    let (customers, total) = sandbox.shared.store.page(offset, limit);
    let data = customers.iter().map(|c| json!(c)).collect();
    Ok(page_answer(data, "meta", page, limit, total))
}

/// A path id that is not a UUID names no customer: 404, as for an unknown one.
fn customer_id(raw: &str) -> Result<Uuid, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::not_found("Customer not found"))
}

pub(super) async fn get_customer(
    State(sandbox): State<Sandbox>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let customer = sandbox
        .shared
        .store
        .get(customer_id(&id)?)
        .ok_or_else(|| ApiError::not_found("Customer not found"))?;
    Ok(envelope(
        StatusCode::OK,
        "Data retrieved successfully",
        json!(customer),
    ))
}

pub(super) async fn customer_cards(
    State(sandbox): State<Sandbox>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let cards = sandbox
        .shared
        .store
        .cards(customer_id(&id)?)
        .ok_or_else(|| ApiError::not_found("Customer not found"))?;
    if cards.is_empty() {
        return Err(ApiError::not_found("No cards found for this customer"));
    }
    Ok(envelope(
        StatusCode::OK,
        "Data retrieved successfully",
        json!(cards),
    ))
}

pub(super) async fn customer_transactions(
    State(sandbox): State<Sandbox>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let id = customer_id(&id)?;
    let (page, limit) = paging(&query)?;
    let transactions = sandbox
        .shared
        .store
        .transactions(id)
        .ok_or_else(|| ApiError::not_found("Customer not found"))?;
    let total = transactions.len();
    let data = transactions
        .iter()
        .skip((page - 1).saturating_mul(limit))
        .take(limit)
        .map(|(tx, card)| tx.to_json(card.as_ref()))
        .collect();
    Ok(page_answer(data, "pagination", page, limit, total))
}
