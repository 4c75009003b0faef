//! `--resolve-duplicates`: finds the Cartevo customer id of rows the API answered 409, by
//! paging once through `GET /customers` and matching on email (any case) or identification
//! number.
//!
//! Only the unresolved duplicates are held, as the journal's keyed hashes (no personal data)
//! mapping to their rows; each listed customer is hashed and looked up as its page arrives,
//! and the page is dropped. A company with a million customers costs one page of memory.

use std::collections::HashMap;

use anyhow::Result;

use super::{Ctx, Target};
use crate::input::{CsvInput, Field, Reading, RowView};
use crate::journal::{CustomerKeys, Journal, JournalStatus};
use crate::status::Status;

/// The customer list's largest page.
const LIST_PAGE: u64 = 100;

/// A duplicate row waiting for its customer id.
struct Waiting {
    target: usize,
    row: u64,
    keys: CustomerKeys,
    resolved: bool,
}

/// Resolves what it can and gives the number of rows resolved.
pub(crate) async fn resolve(
    journal: &mut Journal,
    targets: &[Target],
    ctx: &Ctx,
    reading: &Reading,
) -> Result<u64> {
    let keyer = journal.keyer()?;
    let mut waiting: Vec<Waiting> = Vec::new();
    // Key hash → indexes into `waiting`: the same person may be a 409 in several files.
    let mut by_key: HashMap<[u8; 32], Vec<usize>> = HashMap::new();
    for (t, target) in targets.iter().enumerate() {
        if !journal.has_unresolved_duplicates(&target.entry)? {
            continue;
        }
        let mut input = CsvInput::open(&target.path, reading)?;
        let columns = input.columns.clone();
        journal.beside(&target.entry, &mut input, |row, record, state| {
            let unresolved = state.is_some_and(|s| {
                s.status == JournalStatus::Row(Status::Duplicate)
                    && s.customer_id
                        .as_deref()
                        .is_none_or(|id| id.trim().is_empty())
            });
            if !unresolved {
                return Ok(());
            }
            let view = RowView::new(&columns, record);
            let (email, id_number) = (
                &view.get(Field::Email),
                &view.get(Field::IdentificationNumber),
            );
            let keys = keyer.keys(email, id_number);
            let i = waiting.len();
            if !email.is_empty() {
                by_key.entry(keys.email).or_default().push(i);
            }
            if !id_number.is_empty() {
                by_key.entry(keys.id_number).or_default().push(i);
            }
            waiting.push(Waiting {
                target: t,
                row,
                keys,
                resolved: false,
            });
            Ok(())
        })?;
    }
    let mut left = waiting.len();
    if left == 0 {
        return Ok(0);
    }

    let mut page = 1;
    loop {
        let listed = ctx
            .call(&format!("GET /customers page {page}"), || {
                ctx.client.list_customers(page, LIST_PAGE)
            })
            .await?;
        for customer in &listed.items {
            let email = customer.email.as_deref().map(str::trim).unwrap_or("");
            let id_number = customer
                .identification_number
                .as_deref()
                .or(customer.number.as_deref())
                .map(str::trim)
                .unwrap_or("");
            let keys = keyer.keys(email, id_number);
            let mut hits: Vec<usize> = Vec::new();
            if !email.is_empty() {
                hits.extend(by_key.get(&keys.email).into_iter().flatten());
            }
            if !id_number.is_empty() {
                hits.extend(by_key.get(&keys.id_number).into_iter().flatten());
            }
            for i in hits {
                let w = &mut waiting[i];
                if w.resolved {
                    continue;
                }
                journal.resolve_customer(&targets[w.target].entry, w.row, &customer.id, &w.keys)?;
                w.resolved = true;
                left -= 1;
            }
        }
        if left == 0 || listed.items.is_empty() || page >= listed.total_pages {
            break;
        }
        page += 1;
    }
    Ok((waiting.len() - left) as u64)
}
