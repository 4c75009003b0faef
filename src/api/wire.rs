//! The shapes on the wire: the envelope every answer comes in, the fields we send, and the
//! records the read endpoints return.
//!
//! Everything read is tolerant: unknown fields are ignored, every field but `id` is optional,
//! and the page block may be named `meta` or `pagination` (the reference pages use both).

use std::borrow::Cow;

use serde::de::{DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::customer::Customer;

/// `{success, statusCode, message, data}` plus an optional page block.
#[derive(Debug, Deserialize)]
pub(crate) struct Envelope {
    #[serde(default)]
    pub success: Option<bool>,
    #[serde(default)]
    pub data: Option<Value>,
    /// The page block under either of the names the pages use (`meta` wins if both come:
    /// an alias would refuse such a body as a duplicate field).
    #[serde(default)]
    pub meta: Option<PageBlock>,
    #[serde(default)]
    pagination: Option<PageBlock>,
}

impl Envelope {
    /// `None` when the body is not JSON or not an object.
    pub fn parse(body: &[u8]) -> Option<Envelope> {
        let mut env: Envelope = serde_json::from_slice(body).ok()?;
        if env.meta.is_none() {
            env.meta = env.pagination.take();
        }
        Some(env)
    }
}

/// `{page, limit, total, totalPages}`; numbers may arrive as strings.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct PageBlock {
    #[serde(default, deserialize_with = "lenient_u64")]
    pub page: Option<u64>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub limit: Option<u64>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub total: Option<u64>,
    #[serde(
        default,
        rename = "totalPages",
        alias = "total_pages",
        deserialize_with = "lenient_u64"
    )]
    pub total_pages: Option<u64>,
}

/// A count or a number of seconds however a JavaScript backend wrote it: `3600`, `3600.0`,
/// `"3600"`. A fraction is dropped (a token's life rounded down is the safe side); a negative
/// or absurd number is no number.
fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    // NaN and the infinities fall outside the range too.
    let whole = |f: f64| (0.0..=u64::MAX as f64).contains(&f).then_some(f as u64);
    Ok(match Value::deserialize(d)? {
        Value::Number(n) => n.as_u64().or_else(|| n.as_f64().and_then(whole)),
        Value::String(s) => {
            let s = s.trim();
            s.parse()
                .ok()
                .or_else(|| s.parse::<f64>().ok().and_then(whole))
        }
        _ => None,
    })
}

/// The API's `message`: a string, or a list of strings (framework validation errors).
pub(crate) fn message_of(value: &Value) -> Option<String> {
    match value.get("message")? {
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => Some(
            items
                .iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join("; "),
        ),
        _ => None,
    }
}

/// `data.id` (a string or a number) of a successful create answer, reading nothing else;
/// `None` for anything unusual (not an object, `success: false`, no id), which the full
/// envelope then explains.
pub(crate) fn created_id(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Created {
        #[serde(default)]
        success: Option<bool>,
        data: Option<CreatedData>,
    }
    #[derive(Deserialize)]
    struct CreatedData {
        id: Option<serde_json::Value>,
    }
    let created: Created = serde_json::from_slice(body).ok()?;
    if created.success == Some(false) {
        return None;
    }
    match created.data?.id? {
        Value::String(s) if !s.trim().is_empty() => Some(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page: u64,
    pub limit: u64,
    pub total: u64,
    pub total_pages: u64,
}

impl<T: DeserializeOwned> Page<T> {
    /// Builds a page from an envelope. A missing page block (or missing numbers in it) falls
    /// back to what was asked for, with `total` counting what has been seen so far and this
    /// page taken as the last one.
    pub(crate) fn from_envelope(
        env: Envelope,
        asked_page: u64,
        asked_limit: u64,
    ) -> Result<Page<T>, serde_json::Error> {
        let items: Vec<T> = match env.data {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => serde_json::from_value(v)?,
        };
        let block = env.meta.unwrap_or_default();
        let page = block.page.unwrap_or(asked_page);
        let limit = block.limit.unwrap_or(asked_limit);
        let total = block
            .total
            .unwrap_or_else(|| page.saturating_sub(1) * limit + items.len() as u64);
        let total_pages = block.total_pages.unwrap_or_else(|| {
            if limit == 0 {
                page
            } else {
                total.div_ceil(limit)
            }
        });
        Ok(Page {
            items,
            page,
            limit,
            total,
            total_pages,
        })
    }
}

/// A customer as `GET /customers/{id}` and `GET /customers` return it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct RemoteCustomer {
    pub id: String,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub street: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub postal_code: Option<String>,
    #[serde(default)]
    pub phone_country_code: Option<String>,
    #[serde(default)]
    pub phone_number: Option<String>,
    #[serde(default)]
    pub identification_number: Option<String>,
    /// The `id_document_type` submitted (wire name `type`).
    #[serde(default, rename = "type")]
    pub id_document_type: Option<String>,
    /// The `identification_number` submitted (wire name `number`).
    #[serde(default)]
    pub number: Option<String>,
    /// URL of the front of the document.
    #[serde(default)]
    pub image: Option<String>,
    /// URL of the back of the document.
    #[serde(default)]
    pub photo: Option<String>,
    /// An ISO 8601 timestamp such as "1990-01-15T00:00:00.000Z".
    #[serde(default)]
    pub date_of_birth: Option<String>,
    #[serde(default)]
    pub is_active: Option<bool>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
}

/// A card as `GET /customers/{id}/cards` returns it. The pages disagree on the names of the
/// masked number (`masked_pan` / `masked_number`); both are kept.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Card {
    pub id: String,
    #[serde(default)]
    pub customer_id: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub balance: Option<f64>,
    #[serde(default)]
    pub masked_pan: Option<String>,
    #[serde(default)]
    pub masked_number: Option<String>,
    #[serde(default)]
    pub brand: Option<String>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub is_active: Option<bool>,
    #[serde(default)]
    pub is_virtual: Option<bool>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
}

/// A transaction as `GET /customers/{id}/transactions` returns it. The embedded card's
/// tokenised number and CVV are deliberately not read.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Transaction {
    pub id: String,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub amount: Option<f64>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub card: Option<TransactionCard>,
}

/// The card block inside a transaction.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct TransactionCard {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub masked_pan: Option<String>,
    #[serde(default)]
    pub brand: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub currency: Option<String>,
}

/// The text fields both create endpoints take, in the order of the reference page, borrowed
/// from the customer. The JSON body adds the two document URLs; the multipart body adds the
/// two files.
pub(crate) fn text_fields(c: &Customer) -> [(&'static str, Cow<'_, str>); 14] {
    [
        ("first_name", c.first_name.as_str().into()),
        ("last_name", c.last_name.as_str().into()),
        ("email", c.email.as_str().into()),
        ("country", c.country.as_str().into()),
        ("street", c.street.as_str().into()),
        ("city", c.city.as_str().into()),
        ("state", c.state.as_str().into()),
        ("postal_code", c.postal_code.as_str().into()),
        ("country_iso_code", c.country_iso_code.as_str().into()),
        ("country_phone_code", c.country_phone_code.as_str().into()),
        ("phone_number", c.phone_number.as_str().into()),
        (
            "identification_number",
            c.identification_number.as_str().into(),
        ),
        ("id_document_type", c.id_document_type.as_str().into()),
        ("date_of_birth", iso_date(c.date_of_birth).into()),
    ]
}

/// The `filename` of a document part: the file's own name, made safe to put in the part's
/// `Content-Disposition` header. reqwest writes a CR or LF there as it is (behind a
/// backslash), so `x.png\r\nX-Injected: 1` would add a header to the part. What goes out is
/// the last path component (after any `/` or `\`), without control characters (CR, LF,
/// tabs and the rest), double quotes (which end the header's quoted value), and the
/// invisible marks that reorder text (which make `gpj.exe` read as `exe.jpg`). Letters of any
/// script stay, and so do apostrophes ("Carte d'identité.jpg"), harmless inside the quotes.
/// A name left empty (or only dots) becomes `document` with the extension of its type.
pub(crate) fn part_file_name(name: &str, mime: &str) -> String {
    let last = name
        .rsplit(['/', '\\'])
        .find(|part| !part.trim().is_empty())
        .unwrap_or_default();
    let bidi = |c: char| matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
    let clean: String = last
        .chars()
        .filter(|&c| !c.is_control() && c != '"' && !bidi(c))
        .collect();
    let clean = clean.trim();
    if clean.trim_matches('.').trim().is_empty() {
        let extension = match mime {
            "image/jpeg" => "jpg",
            "image/png" => "png",
            "application/pdf" => "pdf",
            _ => "bin",
        };
        return format!("document.{extension}");
    }
    clean.to_owned()
}

/// `YYYY-MM-DD`, as the API takes it. (chrono's `format` parses its pattern on every call.)
fn iso_date(d: chrono::NaiveDate) -> String {
    use chrono::Datelike;
    format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day())
}

/// The JSON body of `POST /customers/enroll`: `text_fields` and the two document URLs,
/// serialised straight to bytes, with no intermediate JSON tree or copies of the values.
pub(crate) struct EnrollBody<'a> {
    fields: [(&'static str, Cow<'a, str>); 14],
    front_url: &'a str,
    back_url: &'a str,
}

impl serde::Serialize for EnrollBody<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.fields.len() + 2))?;
        for (name, value) in &self.fields {
            map.serialize_entry(name, value)?;
        }
        map.serialize_entry("id_document_front_url", self.front_url)?;
        map.serialize_entry("id_document_back_url", self.back_url)?;
        map.end()
    }
}

pub(crate) fn enroll_body<'a>(
    c: &'a Customer,
    front_url: &'a str,
    back_url: &'a str,
) -> EnrollBody<'a> {
    EnrollBody {
        fields: text_fields(c),
        front_url,
        back_url,
    }
}

/// The `data` of `POST /auth/token`.
#[derive(Deserialize)]
pub(crate) struct TokenData {
    pub access_token: Option<String>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub expires_in: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_file_name_holds_no_header_break_quote_or_path() {
        for (given, sent) in [
            ("front.jpg", "front.jpg"),
            (
                "Carte d'identité (recto).jpg",
                "Carte d'identité (recto).jpg",
            ),
            ("x.png\r\nX-Injected: 1", "x.pngX-Injected: 1"),
            ("a\"; name=\"evil.png", "a; name=evil.png"),
            ("..\\..\\windows\\scan.pdf", "scan.pdf"),
            ("dir/sub/scan.pdf", "scan.pdf"),
            ("tab\there\u{7f}.png", "tabhere.png"),
            ("photo\u{202E}gpj.exe", "photogpj.exe"),
            ("  spaced.png  ", "spaced.png"),
            ("\r\n", "document.png"),
            ("..", "document.png"),
            ("scan\\", "scan"),
            ("\\", "document.png"),
        ] {
            assert_eq!(part_file_name(given, "image/png"), sent, "{given:?}");
        }
        assert_eq!(part_file_name("", "application/pdf"), "document.pdf");
    }

    #[test]
    fn page_block_named_meta_or_pagination() {
        for name in ["meta", "pagination"] {
            let body = format!(
                r#"{{"success":true,"statusCode":200,"message":"ok","data":[{{"id":"t1","amount":12.5,"extra":1}}],
                   "{name}":{{"page":2,"limit":"10","total":12,"totalPages":2}}}}"#
            );
            let env = Envelope::parse(body.as_bytes()).unwrap();
            let page: Page<Transaction> = Page::from_envelope(env, 1, 50).unwrap();
            assert_eq!(page.items.len(), 1);
            assert_eq!(page.items[0].amount, Some(12.5));
            assert_eq!(
                (page.page, page.limit, page.total, page.total_pages),
                (2, 10, 12, 2),
                "{name}"
            );
        }
    }

    #[test]
    fn a_body_with_both_page_blocks_is_read_and_meta_wins() {
        let body = br#"{"success":true,"data":[{"id":"a"}],
            "meta":{"page":1,"limit":10,"total":1,"totalPages":1},
            "pagination":{"page":1,"limit":10,"total":30,"totalPages":3}}"#;
        let env = Envelope::parse(body).unwrap();
        let page: Page<Transaction> = Page::from_envelope(env, 1, 10).unwrap();
        assert_eq!((page.items.len(), page.total, page.total_pages), (1, 1, 1));
    }

    #[test]
    fn page_without_block_uses_the_request() {
        let env = Envelope::parse(br#"{"success":true,"data":[{"id":"a"},{"id":"b"}]}"#).unwrap();
        let page: Page<RemoteCustomer> = Page::from_envelope(env, 1, 10).unwrap();
        assert_eq!(
            (page.page, page.limit, page.total, page.total_pages),
            (1, 10, 2, 1)
        );
    }

    #[test]
    fn customer_of_the_reference_page_parses() {
        let body = br#"{"id":"8d4f","first_name":"John","type":"NIN","date_of_birth":"1990-01-15T00:00:00.000Z","is_active":true,"kyc":"x"}"#;
        let c: RemoteCustomer = serde_json::from_slice(body).unwrap();
        assert_eq!(c.id_document_type.as_deref(), Some("NIN"));
        assert_eq!(c.date_of_birth.as_deref(), Some("1990-01-15T00:00:00.000Z"));
        assert_eq!(c.is_active, Some(true));
        assert_eq!(c.email, None);
    }
}
