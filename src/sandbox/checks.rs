//! The server-side field checks of the two create endpoints, as the reference pages document
//! them (plus the alpha-2 and 18+ checks that Cartevo leaves to its clients).
//!
//! Deliberately independent of `crate::validate`: the sandbox stands in for the server, and a
//! bug shared by client and double would hide itself in every test. What it shares with the
//! client is the server's own library, [`crate::validatorjs`] (emails and lengths), which is
//! held to validator.js's verdicts by its own table test.

use std::collections::HashMap;

use chrono::{Months, NaiveDate, Utc};

/// Every text field both create endpoints require, in the order the pages list them, with
/// the length bounds (in characters) where the pages give one.
const FIELDS: &[(&str, Option<usize>)] = &[
    ("first_name", Some(3)),
    ("last_name", Some(3)),
    ("email", None),
    ("country", Some(2)),
    ("street", Some(2)),
    ("city", Some(2)),
    ("state", Some(2)),
    ("postal_code", Some(3)),
    ("country_iso_code", None),
    ("country_phone_code", None),
    ("phone_number", Some(3)),
    ("identification_number", Some(1)),
    ("id_document_type", None),
    ("date_of_birth", None),
];

const MAX_LEN: usize = 255;

pub(crate) const DOCUMENT_TYPES: [&str; 4] = ["NIN", "PASSPORT", "VOTERS_CARD", "DRIVERS_LICENSE"];

/// The text fields of a create request that passed every check.
#[derive(Debug)]
pub(crate) struct CheckedFields {
    values: HashMap<String, String>,
    pub(crate) date_of_birth: NaiveDate,
}

impl CheckedFields {
    /// A field that the checks proved present.
    pub(crate) fn get(&self, name: &str) -> String {
        self.values.get(name).cloned().unwrap_or_default()
    }
}

/// Checks the common text fields. `Err` holds one message per failing field, each naming it.
/// `also_declared` names the endpoint's own body properties besides the common fields: any
/// other property is refused, as the server's `ValidationPipe({ forbidNonWhitelisted })`
/// refuses it.
pub(crate) fn check_fields(
    values: HashMap<String, String>,
    also_declared: &[&str],
) -> Result<CheckedFields, Vec<String>> {
    let mut errors: Vec<String> = Vec::new();
    let mut undeclared: Vec<&String> = values
        .keys()
        .filter(|k| {
            !FIELDS.iter().any(|(name, _)| name == k) && !also_declared.contains(&k.as_str())
        })
        .collect();
    undeclared.sort();
    errors.extend(
        undeclared
            .into_iter()
            .map(|name| format!("property {name} should not exist")),
    );
    let mut date_of_birth = None;
    for &(name, min) in FIELDS {
        let Some(value) = values.get(name).filter(|v| !v.is_empty()) else {
            errors.push(format!("{name} is required"));
            continue;
        };
        let chars = crate::validatorjs::length(value);
        if chars > MAX_LEN {
            errors.push(format!("{name} must be at most {MAX_LEN} characters"));
            continue;
        }
        if let Some(min) = min
            && chars < min
        {
            errors.push(format!("{name} must be at least {min} characters"));
            continue;
        }
        let problem = match name {
            "email" if !crate::validatorjs::is_email(value) => {
                Some("email must be a valid email".to_owned())
            }
            "country_iso_code"
                if !(value.len() == 2 && value.bytes().all(|b| b.is_ascii_alphabetic())) =>
            {
                Some("country_iso_code must be an ISO 3166-1 alpha-2 code, e.g. CM".to_owned())
            }
            "country_phone_code" if !is_dial_code(value) => {
                Some("country_phone_code must be a dial code with +, e.g. +237".to_owned())
            }
            "id_document_type" if !DOCUMENT_TYPES.contains(&value.as_str()) => Some(format!(
                "id_document_type must be one of {}",
                DOCUMENT_TYPES.join(", ")
            )),
            "date_of_birth" => match parse_date(value) {
                None => Some("date_of_birth must be a valid date in YYYY-MM-DD format".to_owned()),
                Some(date) if !is_adult(date, Utc::now().date_naive()) => {
                    Some("Customer must be 18 or older".to_owned())
                }
                Some(date) => {
                    date_of_birth = Some(date);
                    None
                }
            },
            _ => None,
        };
        errors.extend(problem);
    }
    match date_of_birth {
        Some(date_of_birth) if errors.is_empty() => Ok(CheckedFields {
            values,
            date_of_birth,
        }),
        _ => Err(errors),
    }
}

/// Checks a document URL field of `POST /customers/enroll`.
pub(crate) fn check_document_url(name: &str, value: Option<&str>) -> Option<String> {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Some(format!("{name} is required"));
    };
    match reqwest::Url::parse(value) {
        Ok(url) if url.scheme() == "https" && url.host_str().is_some() => None,
        Ok(url) if url.host_str().is_some() => Some(format!("{name} must be HTTPS")),
        _ => Some(format!("{name} must be a valid URL")),
    }
}

fn is_dial_code(value: &str) -> bool {
    value.strip_prefix('+').is_some_and(|digits| {
        (1..=4).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
    })
}

/// Exactly `YYYY-MM-DD`, and a date that exists.
fn parse_date(value: &str) -> Option<NaiveDate> {
    let shape_ok = value.len() == 10
        && value.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    if !shape_ok {
        return None;
    }
    NaiveDate::parse_from_str(value, "%Y-%m-%d").ok()
}

/// 18 or older on `today`. Someone born on 29 February becomes an adult on 28 February of a
/// common year (chrono clamps the month arithmetic).
pub(crate) fn is_adult(date_of_birth: NaiveDate, today: NaiveDate) -> bool {
    date_of_birth
        .checked_add_months(Months::new(18 * 12))
        .is_some_and(|adult_on| adult_on <= today)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn adult_from_the_eighteenth_birthday() {
        assert!(is_adult(date("2000-05-10"), date("2018-05-10")));
        assert!(!is_adult(date("2000-05-10"), date("2018-05-09")));
        assert!(is_adult(date("2000-02-29"), date("2018-02-28")));
    }

    #[test]
    fn dates_must_be_real_and_padded() {
        assert!(parse_date("1990-01-15").is_some());
        assert!(parse_date("1990-02-30").is_none());
        assert!(parse_date("1990-1-15").is_none());
        assert!(parse_date("15/01/1990").is_none());
    }

    #[test]
    fn dial_codes() {
        assert!(is_dial_code("+237"));
        assert!(is_dial_code("+1"));
        assert!(!is_dial_code("237"));
        assert!(!is_dial_code("+"));
        assert!(!is_dial_code("+12a"));
    }
}
