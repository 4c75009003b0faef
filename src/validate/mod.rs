//! Row validation: turns one CSV record into a checked [`Customer`] or the list of
//! everything wrong with it.
//!
//! Owns the documented field constraints, the checks the API leaves to us (ISO 3166-1
//! alpha-2, 18+ on the `--as-of` date), the cross-field warnings (country name, dial code
//! and phone number against the ISO code) and the safety of local document paths. It does
//! not look across rows: duplicates within a file are the plan stage's job.
//!
//! Messages read "field: problem" and never repeat the cell's value, because they go into
//! reports that must hold no personal data.

mod age;
pub(crate) use age::parse_date;
mod country;
mod documents;
#[cfg(test)]
mod tests;

use std::fmt::Display;
use std::path::PathBuf;

use anyhow::Context;
use chrono::NaiveDate;

use crate::customer::{Customer, DocumentType};
use crate::input::{Field, RowView};

use country::COUNTRIES;

/// The longest value any text field may hold, in characters.
const MAX_LEN: usize = 255;

/// What a run validates against.
#[derive(Debug, Clone)]
pub struct Rules {
    /// The day the 18+ check and the "not in the future" check use.
    pub as_of: NaiveDate,
    /// Base of relative document paths, and the only folder documents may come from.
    pub documents_dir: PathBuf,
    /// Warnings make a row invalid.
    pub strict: bool,
}

/// Checks rows against [`Rules`]. Cheap to share: it holds no per-row state.
#[derive(Debug, Clone)]
pub struct Validator {
    as_of: NaiveDate,
    /// Canonical (absolute, symlinks resolved), so that `starts_with` on a canonical file
    /// path proves the file is inside it.
    documents_dir: PathBuf,
    strict: bool,
}

/// The verdict on one row.
#[derive(Debug, Clone, PartialEq, Eq)]
#[expect(
    clippy::large_enum_variant,
    reason = "moved once per row to its consumer; boxing would add an allocation per row"
)]
pub enum Checked {
    Valid {
        customer: Customer,
        warnings: Vec<String>,
    },
    /// Every problem of the row; in strict mode the warnings are among the `errors`.
    Invalid {
        errors: Vec<String>,
        warnings: Vec<String>,
    },
}

impl Validator {
    /// Fails only if `documents_dir` cannot be canonicalised (missing, unreadable).
    pub fn new(rules: Rules) -> anyhow::Result<Self> {
        let documents_dir = rules.documents_dir.canonicalize().with_context(|| {
            format!(
                "documents folder '{}' cannot be opened",
                rules.documents_dir.display()
            )
        })?;
        // Build the country tables now rather than inside the first row's timing.
        std::sync::LazyLock::force(&COUNTRIES);
        Ok(Validator {
            as_of: rules.as_of,
            documents_dir,
            strict: rules.strict,
        })
    }

    /// Checks one row. All problems of the row are reported together.
    pub fn check(&self, row: &RowView<'_>) -> Checked {
        let mut p = Problems::default();

        let first_name = text(&mut p, row, Field::FirstName, 3);
        let last_name = text(&mut p, row, Field::LastName, 3);
        let email = email(&mut p, row);
        let country = text(&mut p, row, Field::Country, 2);
        let street = text(&mut p, row, Field::Street, 2);
        let city = text(&mut p, row, Field::City, 2);
        let state = text(&mut p, row, Field::State, 2);
        let postal_code = text(&mut p, row, Field::PostalCode, 3);
        let iso = iso_code(&mut p, row);
        let dial = dial_code(&mut p, row);
        let phone_number = text(&mut p, row, Field::PhoneNumber, 3);
        let identification_number = text(&mut p, row, Field::IdentificationNumber, 1);
        let doc_type = document_type(&mut p, row);
        let date_of_birth = self.date_of_birth(&mut p, row);
        let documents = documents::check(&self.documents_dir, row, doc_type, &mut p);

        // Cross-field checks: only between values that are valid on their own.
        if let Some((_, entry)) = iso {
            if let Some(name) = country
                && !entry.has_name(name)
            {
                p.warning(
                    Field::Country,
                    "does not match the country of country_iso_code",
                );
            }
            if let Some((_, code)) = dial
                && entry.dial_code_matches(code) == Some(false)
            {
                p.warning(
                    Field::CountryPhoneCode,
                    "is not the dial code of the country of country_iso_code",
                );
            }
            if let Some(number) = phone_number
                && has_country_code(number)
            {
                p.warning(
                    Field::PhoneNumber,
                    "seems to include a country code: give the local number, the dial code \
                     goes in country_phone_code",
                );
            } else if let Some(number) = phone_number
                && entry.phone_plausible(number) == Some(false)
            {
                p.warning(
                    Field::PhoneNumber,
                    "not a plausible national number for the country of country_iso_code",
                );
            }
        }

        if self.strict && !p.warnings.is_empty() {
            let warnings = std::mem::take(&mut p.warnings);
            p.errors.extend(warnings);
        }
        if !p.errors.is_empty() {
            return p.invalid();
        }

        let built = (|| {
            Some(Customer {
                first_name: first_name?.to_owned(),
                last_name: last_name?.to_owned(),
                email: email?.to_owned(),
                country: country?.to_owned(),
                street: street?.to_owned(),
                city: city?.to_owned(),
                state: state?.to_owned(),
                postal_code: postal_code?.to_owned(),
                country_iso_code: std::str::from_utf8(&iso?.0).ok()?.to_owned(),
                country_phone_code: dial?.0.to_owned(),
                phone_number: phone_number?.to_owned(),
                identification_number: identification_number?.to_owned(),
                id_document_type: doc_type?,
                date_of_birth: date_of_birth?,
                documents: documents?,
            })
        })();
        match built {
            Some(customer) => Checked::Valid {
                customer,
                warnings: p.warnings,
            },
            // Every `None` above comes with an error, so this is unreachable; stay safe.
            None => {
                p.errors.push("row: could not be checked".to_owned());
                p.invalid()
            }
        }
    }

    fn date_of_birth(&self, p: &mut Problems, row: &RowView<'_>) -> Option<NaiveDate> {
        let value = required(p, row, Field::DateOfBirth)?;
        let Some(born) = age::parse_date(value) else {
            p.error(Field::DateOfBirth, "not a real date in the form YYYY-MM-DD");
            return None;
        };
        if born > self.as_of {
            p.error(Field::DateOfBirth, "is in the future");
            return None;
        }
        let age = age::age_on(born, self.as_of);
        if age < age::ADULT_AGE {
            p.error(
                Field::DateOfBirth,
                format_args!(
                    "customer is {age} on {}, must be {} or older",
                    self.as_of,
                    age::ADULT_AGE
                ),
            );
            return None;
        }
        if age > age::OLDEST_PLAUSIBLE {
            // 0000-01-01 or 1850-01-01: a placeholder or a typo more likely than a customer.
            p.warning(
                Field::DateOfBirth,
                format_args!("customer would be {age} on {}: check the year", self.as_of),
            );
        }
        Some(born)
    }
}

/// The problems found so far in one row.
#[derive(Debug, Default)]
pub(crate) struct Problems {
    errors: Vec<String>,
    warnings: Vec<String>,
}

impl Problems {
    pub(crate) fn error(&mut self, field: Field, problem: impl Display) {
        self.errors.push(format!("{field}: {problem}"));
    }

    /// An error about several fields at once, already in "fields: problem" form.
    pub(crate) fn error_text(&mut self, message: &str) {
        self.errors.push(message.to_owned());
    }

    pub(crate) fn warning(&mut self, field: Field, problem: impl Display) {
        self.warnings.push(format!("{field}: {problem}"));
    }

    fn invalid(self) -> Checked {
        Checked::Invalid {
            errors: self.errors,
            warnings: self.warnings,
        }
    }
}

fn required<'a>(p: &mut Problems, row: &RowView<'a>, field: Field) -> Option<&'a str> {
    let value = row.get(field);
    if value.is_empty() {
        p.error(field, "is required");
        None
    } else {
        Some(value)
    }
}

/// "+234 803..." or "00234 803...": the API wants the local subscriber number only.
fn has_country_code(number: &str) -> bool {
    number.starts_with('+') || number.starts_with("00")
}

/// A required text of `min` to [`MAX_LEN`] characters (Unicode scalar values, not bytes).
fn text<'a>(p: &mut Problems, row: &RowView<'a>, field: Field, min: usize) -> Option<&'a str> {
    let value = required(p, row, field)?;
    // The common case in one pass: printable ASCII only.
    let (chars, control, line_break) = if value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        (value.len(), false, false)
    } else {
        let mut chars = 0;
        let (mut control, mut line_break) = (false, false);
        for c in value.chars() {
            chars += 1;
            if c.is_control() {
                match c {
                    '\t' | '\n' | '\r' => line_break = true,
                    _ => control = true,
                }
            }
        }
        (chars, control, line_break)
    };
    if line_break && !control {
        // A quoted field may span lines (an address on two lines), but the API would store
        // the break as it is: worth a look, not a refusal.
        p.warning(field, "contains a line break or a tab");
    }
    if control {
        // A NUL or a bell inside a name or an address is an export accident, never data.
        p.error(field, "contains a control character");
        None
    } else if chars < min {
        p.error(field, format_args!("must be at least {min} characters"));
        None
    } else if chars > MAX_LEN {
        p.error(field, format_args!("must be at most {MAX_LEN} characters"));
        None
    } else {
        Some(value)
    }
}

fn email<'a>(p: &mut Problems, row: &RowView<'a>) -> Option<&'a str> {
    let value = required(p, row, Field::Email)?;
    if is_valid_email(value) {
        Some(value)
    } else {
        p.error(Field::Email, "not a valid email address");
        None
    }
}

/// A syntactically valid address, as the API's `IsEmail` expects, and nothing looser: no
/// display name ("Ann <ann@x.org>"), no IP-literal domain, a domain with a dot.
fn is_valid_email(value: &str) -> bool {
    use email_address::{EmailAddress, Options};
    if value.chars().any(char::is_whitespace) || value.bytes().filter(|&b| b == b'@').count() != 1 {
        return false;
    }
    let options = Options::default()
        .without_display_text()
        .without_domain_literal()
        .with_minimum_sub_domains(2);
    EmailAddress::parse_with_options(value, options).is_ok()
        && value
            .rsplit_once('@')
            .is_some_and(|(_, domain)| is_host_name(domain))
}

/// A domain as the API's `IsEmail` (validator.js `isFQDN`) takes it: labels of letters, digits
/// and inner hyphens (no underscore), at most 63 characters each, and a top-level label of 2
/// or more letters (or an `xn--` IDN label). `a@b.c` and `x@ex_ample.com` are refused there,
/// so they are invalid here rather than rejected by the API.
fn is_host_name(domain: &str) -> bool {
    if domain.is_ascii() {
        is_ascii_host_name(domain)
    } else {
        is_unicode_host_name(domain)
    }
}

/// `is_host_name` for the common case, in one pass over the bytes. Must agree with
/// `is_unicode_host_name` on ASCII (a test runs the same cases through both).
fn is_ascii_host_name(domain: &str) -> bool {
    let b = domain.as_bytes();
    let (mut label_start, mut labels, mut letters_only) = (0usize, 1usize, true);
    for (i, &c) in b.iter().enumerate() {
        if c == b'.' {
            let label = &b[label_start..i];
            if label.is_empty() || label.len() > 63 || label[label.len() - 1] == b'-' {
                return false;
            }
            (label_start, labels, letters_only) = (i + 1, labels + 1, true);
        } else if c.is_ascii_alphanumeric() || (c == b'-' && i != label_start) {
            letters_only &= c.is_ascii_alphabetic();
        } else {
            return false;
        }
    }
    let tld = &b[label_start..];
    let idn = tld.len() > 4 && tld[..4].eq_ignore_ascii_case(b"xn--");
    labels >= 2
        && tld.len() <= 63
        && tld.last() != Some(&b'-')
        && ((letters_only && tld.len() >= 2) || idn)
}

/// `is_host_name` for any domain, internationalised ones included.
fn is_unicode_host_name(domain: &str) -> bool {
    let Some((rest, tld)) = domain.rsplit_once('.') else {
        return false;
    };
    let label_ok = |l: &str| {
        (1..=63).contains(&l.chars().count())
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| {
                c.is_ascii_alphanumeric() || c == '-' || (!c.is_ascii() && c.is_alphanumeric())
            })
    };
    let tld_ok = if tld.len() > 4 && tld[..4].eq_ignore_ascii_case("xn--") {
        tld.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    } else {
        tld.chars().count() >= 2 && tld.chars().all(char::is_alphabetic)
    };
    tld_ok && label_ok(tld) && rest.split('.').all(label_ok)
}

fn iso_code(p: &mut Problems, row: &RowView<'_>) -> Option<([u8; 2], &'static country::Country)> {
    let value = required(p, row, Field::CountryIsoCode)?;
    let found = COUNTRIES.get(value);
    if found.is_none() {
        p.error(
            Field::CountryIsoCode,
            "not an assigned ISO 3166-1 alpha-2 code",
        );
    }
    found
}

/// "+" then 1 to 4 digits; gives the text and its numeric value.
fn dial_code<'a>(p: &mut Problems, row: &RowView<'a>) -> Option<(&'a str, u16)> {
    let value = required(p, row, Field::CountryPhoneCode)?;
    let parsed = value
        .strip_prefix('+')
        .filter(|d| (1..=4).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|d| d.parse::<u16>().ok());
    match parsed {
        Some(code) => Some((value, code)),
        None => {
            p.error(
                Field::CountryPhoneCode,
                "must be \"+\" followed by 1 to 4 digits",
            );
            None
        }
    }
}

fn document_type(p: &mut Problems, row: &RowView<'_>) -> Option<DocumentType> {
    let value = required(p, row, Field::IdDocumentType)?;
    let parsed = DocumentType::parse(value);
    if parsed.is_none() {
        p.error(
            Field::IdDocumentType,
            "must be one of NIN, PASSPORT, VOTERS_CARD, DRIVERS_LICENSE",
        );
    }
    parsed
}
