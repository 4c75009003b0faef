//! What "the same customer" means: the CSV row's values against what `GET /customers/{id}`
//! returns, field by field.
//!
//! Owns the comparison rules only (trimming, case, the date part of a timestamp). The values
//! live here for the time one row is being checked and are never written anywhere: a
//! mismatch is reported by field name.

use chrono::NaiveDate;

use crate::api::RemoteCustomer;
use crate::input::{Field, RowView};
use crate::validate::DateFormat;

/// The CSV columns compared, in the order mismatches are listed. The names reported are the
/// CSV's (which are the create request's), not the read endpoint's (`phone_country_code`,
/// `type`, `number`), so an operator finds the column to look at.
pub const COMPARED: [Field; 13] = [
    Field::FirstName,
    Field::LastName,
    Field::Email,
    Field::Country,
    Field::Street,
    Field::City,
    Field::State,
    Field::PostalCode,
    Field::CountryPhoneCode,
    Field::PhoneNumber,
    Field::IdentificationNumber,
    Field::IdDocumentType,
    Field::DateOfBirth,
];

/// A row's values for the compared fields, trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    values: [String; COMPARED.len()],
    /// The phone number as `run` sends it unless `--keep-phone-format`, when it is not the
    /// cell: Cartevo holds one or the other, and reconcile does not know which flag the run
    /// had.
    national_phone: Option<String>,
    /// The dates the written date of birth may be: the one `--date-format` (or the profile's
    /// `date_format`) reads, or without one, every date a pattern reads from it (one for
    /// `YYYY-MM-DD`, two for an ambiguous `01/02/1990`).
    born: Vec<NaiveDate>,
}

impl Expected {
    pub fn from_row(row: &RowView<'_>, date_format: Option<DateFormat>) -> Expected {
        let written = row.get(Field::DateOfBirth);
        let born = match date_format {
            Some(format) => format.read_or_iso(&written).into_iter().collect(),
            None => match crate::validate::parse_date(&written) {
                Some(day) => vec![day],
                None => DateFormat::that_read(&written)
                    .into_iter()
                    .filter_map(|p| DateFormat::parse(p).ok()?.read(&written))
                    .collect(),
            },
        };
        Expected {
            values: COMPARED.map(|f| row.get(f).into_owned()),
            national_phone: crate::validate::national_phone(row),
            born,
        }
    }

    pub fn get(&self, field: Field) -> &str {
        COMPARED
            .iter()
            .position(|f| *f == field)
            .map(|i| self.values[i].as_str())
            .unwrap_or("")
    }
}

/// What Cartevo holds for a compared field; `None` when it did not return it.
fn remote(r: &RemoteCustomer, field: Field) -> Option<&str> {
    let v = match field {
        Field::FirstName => &r.first_name,
        Field::LastName => &r.last_name,
        Field::Email => &r.email,
        Field::Country => &r.country,
        Field::Street => &r.street,
        Field::City => &r.city,
        Field::State => &r.state,
        Field::PostalCode => &r.postal_code,
        Field::CountryPhoneCode => &r.phone_country_code,
        Field::PhoneNumber => &r.phone_number,
        // The reference page returns it twice; either will do.
        Field::IdentificationNumber => {
            if r.identification_number.is_some() {
                &r.identification_number
            } else {
                &r.number
            }
        }
        Field::IdDocumentType => &r.id_document_type,
        Field::DateOfBirth => &r.date_of_birth,
        _ => return None,
    };
    v.as_deref()
}

/// The names of the fields whose values differ. A field Cartevo does not return is not a
/// mismatch: absence says nothing about what it holds.
pub fn mismatches(expected: &Expected, customer: &RemoteCustomer) -> Vec<&'static str> {
    COMPARED
        .iter()
        .filter(|f| {
            remote(customer, **f).is_some_and(|theirs| {
                let sent_national = **f == Field::PhoneNumber
                    && expected.national_phone.as_deref() == Some(theirs.trim());
                let sent_date = **f == Field::DateOfBirth
                    && date(theirs).is_some_and(|d| expected.born.contains(&d));
                !(same(**f, expected.get(**f), theirs) || sent_national || sent_date)
            })
        })
        .map(|f| f.name())
        .collect()
}

fn same(field: Field, ours: &str, theirs: &str) -> bool {
    let (ours, theirs) = (ours.trim(), theirs.trim());
    match field {
        // Emails are unique case-insensitively at Cartevo; validation upper-cases the
        // document type before sending.
        Field::Email | Field::IdDocumentType => ours.to_lowercase() == theirs.to_lowercase(),
        Field::DateOfBirth => match (date(ours), date(theirs)) {
            (Some(a), Some(b)) => a == b,
            _ => ours == theirs,
        },
        // A spreadsheet drops the "+" of "+234", and validation puts it back.
        Field::CountryPhoneCode => ours.trim_start_matches('+') == theirs.trim_start_matches('+'),
        _ => ours == theirs,
    }
}

/// The date of "1990-01-15" or of an ISO timestamp "1990-01-15T00:00:00.000Z": the date part
/// as written, not shifted to any time zone (Cartevo stores a date at midnight UTC).
fn date(s: &str) -> Option<NaiveDate> {
    crate::validate::parse_date(s.get(..10)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::ColumnMap;

    fn expected() -> Expected {
        let columns = ColumnMap::from_fields(&COMPARED);
        let record = csv::StringRecord::from(vec![
            " John ",
            "Doe",
            "John.Doe@Example.com",
            "Cameroon",
            "123 Main Street",
            "Yaoundé",
            "Centre",
            "00237",
            "+237",
            "600000000",
            "12345678901",
            "nin",
            "1990-01-15",
        ]);
        Expected::from_row(&RowView::new(&columns, &record), None)
    }

    fn reference_customer() -> RemoteCustomer {
        serde_json::from_value(serde_json::json!({
            "id": "8d4f2a1b", "first_name": "John", "last_name": "Doe",
            "email": "john.doe@example.com", "country": "Cameroon", "street": "123 Main Street",
            "city": "Yaoundé", "state": "Centre", "postal_code": "00237",
            "phone_country_code": "+237", "phone_number": "600000000",
            "identification_number": "12345678901", "type": "NIN", "number": "12345678901",
            "date_of_birth": "1990-01-15T00:00:00.000Z", "is_active": true
        }))
        .unwrap()
    }

    #[test]
    fn the_reference_page_customer_matches_its_row() {
        assert!(mismatches(&expected(), &reference_customer()).is_empty());
    }

    #[test]
    fn differing_fields_are_named_in_column_order() {
        let mut c = reference_customer();
        c.city = Some("Douala".into());
        c.first_name = Some("Jon".into());
        c.date_of_birth = Some("1990-01-16T00:00:00.000Z".into());
        c.phone_country_code = Some("+234".into());
        assert_eq!(
            mismatches(&expected(), &c),
            ["first_name", "city", "country_phone_code", "date_of_birth"]
        );
    }

    #[test]
    fn a_phone_number_matches_as_written_or_as_its_national_number() {
        let columns = ColumnMap::from_fields(&[
            Field::CountryIsoCode,
            Field::CountryPhoneCode,
            Field::PhoneNumber,
        ]);
        let record = csv::StringRecord::from(vec!["NG", "+234", "0801-234-5678"]);
        let expected = Expected::from_row(&RowView::new(&columns, &record), None);
        let holding = |phone: &str| -> RemoteCustomer {
            serde_json::from_value(serde_json::json!({"id": "x", "phone_number": phone})).unwrap()
        };
        // Sent without --keep-phone-format, then with it.
        assert!(mismatches(&expected, &holding("8012345678")).is_empty());
        // A dial code a spreadsheet wrote without its "+" reads the same.
        let record = csv::StringRecord::from(vec!["NG", "234", "0801-234-5678"]);
        let without_plus = Expected::from_row(&RowView::new(&columns, &record), None);
        assert!(mismatches(&without_plus, &holding("8012345678")).is_empty());
        assert!(mismatches(&expected, &holding("0801-234-5678")).is_empty());
        for other in ["8012345679", "08012345678", "2348012345678"] {
            assert_eq!(mismatches(&expected, &holding(other)), ["phone_number"]);
        }
    }

    #[test]
    fn a_date_matches_as_the_date_format_reads_it() {
        let columns = ColumnMap::from_fields(&[Field::CountryPhoneCode, Field::DateOfBirth]);
        let record = csv::StringRecord::from(vec!["234", "03/04/1990"]);
        let row = RowView::new(&columns, &record);
        let holding = |born: &str| -> RemoteCustomer {
            serde_json::from_value(serde_json::json!({
                "id": "x", "date_of_birth": born, "phone_country_code": "+234"
            }))
            .unwrap()
        };
        let day_first = Expected::from_row(&row, Some(DateFormat::parse("DD/MM/YYYY").unwrap()));
        assert!(mismatches(&day_first, &holding("1990-04-03T00:00:00.000Z")).is_empty());
        assert_eq!(
            mismatches(&day_first, &holding("1990-03-04")),
            ["date_of_birth"]
        );
        // Without a format, either reading of an ambiguous date is what was sent.
        let any = Expected::from_row(&row, None);
        assert!(mismatches(&any, &holding("1990-04-03")).is_empty());
        assert!(mismatches(&any, &holding("1990-03-04")).is_empty());
        assert_eq!(mismatches(&any, &holding("1990-04-04")), ["date_of_birth"]);
    }

    #[test]
    fn absent_fields_are_not_mismatches_and_number_stands_in() {
        let c: RemoteCustomer = serde_json::from_value(serde_json::json!({
            "id": "x", "email": "JOHN.DOE@example.com ", "number": "12345678901"
        }))
        .unwrap();
        assert!(mismatches(&expected(), &c).is_empty());
        let c: RemoteCustomer =
            serde_json::from_value(serde_json::json!({"id": "x", "number": "999"})).unwrap();
        assert_eq!(mismatches(&expected(), &c), ["identification_number"]);
    }
}
