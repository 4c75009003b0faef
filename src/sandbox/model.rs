//! What the sandbox stores and answers with: customers, cards and transactions, shaped as the
//! Cartevo reference pages show them.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

/// A customer as `POST /customers/enroll`, `POST /customers` and `GET /customers/{id}` return
/// it. The field names are the wire names; `type` and `number` repeat the document type and
/// identification number, as the real API does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SandboxCustomer {
    pub id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub country: String,
    pub email: String,
    pub street: String,
    pub city: String,
    pub state: String,
    pub postal_code: String,
    pub phone_country_code: String,
    pub phone_number: String,
    pub identification_number: String,
    /// The `id_document_type` submitted.
    #[serde(rename = "type")]
    pub kind: String,
    /// The `identification_number` submitted.
    pub number: String,
    /// URL of the front of the document.
    pub image: String,
    /// URL of the back of the document, when one was given.
    pub photo: Option<String>,
    /// "YYYY-MM-DDT00:00:00.000Z".
    pub date_of_birth: String,
    pub is_active: bool,
    pub created_at: String,
    pub updated_at: String,
}

/// A card owned by a customer (`GET /customers/{id}/cards`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Card {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub status: String,
    pub balance: f64,
    pub masked_pan: String,
    pub brand: String,
    pub currency: String,
    pub is_active: bool,
    pub is_virtual: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl Card {
    /// An active virtual USD Visa card with the given balance.
    pub fn virtual_usd(customer_id: Uuid, balance: f64) -> Card {
        let id = Uuid::new_v4();
        // The last four digits come from the id so that two cards rarely look alike.
        let last4 = id.as_u128() % 10_000;
        let now = timestamp(Utc::now());
        Card {
            id,
            customer_id,
            status: "ACTIVE".to_owned(),
            balance,
            masked_pan: format!("**** **** **** {last4:04}"),
            brand: "VISA".to_owned(),
            currency: "USD".to_owned(),
            is_active: true,
            is_virtual: true,
            created_at: now.clone(),
            updated_at: now,
        }
    }
}

/// A card transaction (`GET /customers/{id}/transactions`). The answer embeds a summary of
/// the card it belongs to, looked up at read time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transaction {
    pub id: Uuid,
    pub card_id: Uuid,
    pub category: String,
    /// FUND, WITHDRAW, AUTHORIZATION, SETTLEMENT, REFUND...
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
    pub amount: f64,
    pub currency: String,
    pub description: String,
    pub created_at: String,
}

impl Transaction {
    /// A successful card transaction of `kind` on `card`, in the card's currency.
    pub fn on_card(card: &Card, kind: &str, amount: f64, description: &str) -> Transaction {
        Transaction {
            id: Uuid::new_v4(),
            card_id: card.id,
            category: "CARD".to_owned(),
            kind: kind.to_owned(),
            status: "SUCCESS".to_owned(),
            amount,
            currency: card.currency.clone(),
            description: description.to_owned(),
            created_at: timestamp(Utc::now()),
        }
    }

    /// The wire shape: the transaction plus a `card` block.
    pub(crate) fn to_json(&self, card: Option<&Card>) -> Value {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        if let (Some(card), Value::Object(map)) = (card, &mut value) {
            map.insert(
                "card".to_owned(),
                json!({
                    "id": card.id,
                    "status": card.status,
                    "balance": card.balance,
                    "currency": card.currency,
                    "masked_pan": card.masked_pan,
                    "brand": card.brand,
                    "is_virtual": card.is_virtual,
                }),
            );
        }
        value
    }
}

/// The card and transactions that `SandboxConfig::seed_cards` gives every new customer:
/// funded with 50, two purchases of 12.50, so the balance is 25.
pub(crate) fn demo_card(customer_id: Uuid) -> (Card, Vec<Transaction>) {
    let card = Card::virtual_usd(customer_id, 25.0);
    let txs = vec![
        Transaction::on_card(&card, "FUND", 50.0, "Card funding"),
        Transaction::on_card(&card, "AUTHORIZATION", 12.5, "Amazon.com - Seattle, US"),
        Transaction::on_card(&card, "AUTHORIZATION", 12.5, "Spotify - Stockholm, SE"),
    ];
    (card, txs)
}

/// Cartevo's timestamp format: milliseconds and a literal Z.
pub(crate) fn timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// A date of birth as the API returns it: midnight UTC.
pub(crate) fn date_time(date: NaiveDate) -> String {
    date.format("%Y-%m-%dT00:00:00.000Z").to_string()
}
