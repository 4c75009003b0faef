//! Row validation: turns one CSV record into a checked [`Customer`] or the list of
//! everything wrong with it.
//!
//! Owns the documented field constraints, the checks the API leaves to us (ISO 3166-1
//! alpha-2, 18+ on the `--as-of` date), the cross-field warnings (country name, dial code
//! and phone number against the ISO code), the phone number as sent (its national
//! significant number, unless `--keep-phone-format`) and the safety of local document
//! paths. It does not look across rows: duplicates within a file are the plan stage's job.
//!
//! Messages read "field: problem" and never repeat the cell's value, because they go into
//! reports that must hold no personal data.

mod age;
pub(crate) use age::{DateFormat, parse_date};
mod country;
mod documents;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::fmt::Display;
use std::path::PathBuf;

use anyhow::Context;
use chrono::NaiveDate;

use crate::customer::{Customer, DocumentType};
use crate::input::{Field, RowView};
use crate::validatorjs;

use country::COUNTRIES;

/// The longest value any text field may hold, in characters as the server counts them
/// ([`validatorjs::length`]).
const MAX_LEN: usize = 255;

/// The shortest phone number the API takes, written or sent.
const PHONE_MIN: usize = 3;

/// What a run validates against.
#[derive(Debug, Clone)]
pub struct Rules {
    /// The day the 18+ check and the "not in the future" check use.
    pub as_of: NaiveDate,
    /// Base of relative document paths, and the only folder documents may come from.
    pub documents_dir: PathBuf,
    /// Warnings make a row invalid.
    pub strict: bool,
    /// How the file writes dates of birth (`--date-format`); `None`: `YYYY-MM-DD` only.
    pub date_format: Option<DateFormat>,
    /// Send phone numbers as written (`--keep-phone-format`) rather than as their national
    /// significant number.
    pub keep_phone_format: bool,
}

/// Checks rows against [`Rules`]. Cheap to share: it holds no per-row state.
#[derive(Debug, Clone)]
pub struct Validator {
    as_of: NaiveDate,
    /// Canonical (absolute, symlinks resolved), so that `starts_with` on a canonical file
    /// path proves the file is inside it.
    documents_dir: PathBuf,
    strict: bool,
    date_format: Option<DateFormat>,
    keep_phone_format: bool,
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
            date_format: rules.date_format,
            keep_phone_format: rules.keep_phone_format,
        })
    }

    /// How the file writes dates of birth (`--date-format`); `None`: `YYYY-MM-DD` only.
    pub fn date_format(&self) -> Option<DateFormat> {
        self.date_format
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
        let phone_number = text(&mut p, row, Field::PhoneNumber, PHONE_MIN);
        let identification_number = text(&mut p, row, Field::IdentificationNumber, 1);
        let mut phone_number =
            phone_number.filter(|v| !excel_damaged(&mut p, Field::PhoneNumber, v));
        let identification_number = identification_number
            .filter(|v| !excel_damaged(&mut p, Field::IdentificationNumber, v));
        reference(&mut p, row);
        let doc_type = document_type(&mut p, row);
        let date_of_birth = self.date_of_birth(&mut p, row);
        let documents = documents::check(&self.documents_dir, row, doc_type, &mut p);

        // Cross-field checks: only between values that are valid on their own.
        if let Some((_, entry)) = iso {
            if let Some(name) = country.as_deref()
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
            if let Some(number) = phone_number.take() {
                let dial_code = dial.as_ref().map(|(_, code)| *code);
                phone_number = Some(self.phone_to_send(&mut p, entry, dial_code, number));
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
                first_name: first_name?.into_owned(),
                last_name: last_name?.into_owned(),
                email: email?.into_owned(),
                country: country?.into_owned(),
                street: street?.into_owned(),
                city: city?.into_owned(),
                state: state?.into_owned(),
                postal_code: postal_code?.into_owned(),
                country_iso_code: std::str::from_utf8(&iso?.0).ok()?.to_owned(),
                country_phone_code: dial?.0.into_owned(),
                phone_number: phone_number?.into_owned(),
                identification_number: identification_number?.into_owned(),
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

    /// The phone number to send: its national significant number when
    /// [`country::Country::national_number`] finds one (and `--keep-phone-format` is not
    /// given), with a warning saying what was removed; otherwise the number as written, with
    /// the warnings it has always had.
    fn phone_to_send<'a>(
        &self,
        p: &mut Problems,
        entry: &country::Country,
        dial_code: Option<u16>,
        number: Cow<'a, str>,
    ) -> Cow<'a, str> {
        if !self.keep_phone_format
            && let Some(code) = dial_code
            && let Some(national) = national_number(entry, &number, code)
        {
            p.warning(
                Field::PhoneNumber,
                format_args!("normalised to the national number ({national} removed)"),
            );
            return Cow::Owned(national.number);
        }
        if has_country_code(&number) {
            p.warning(
                Field::PhoneNumber,
                "seems to include a country code: give the local number, the dial code goes \
                 in country_phone_code",
            );
        } else if entry.phone_plausible(&number) == Some(false) {
            p.warning(
                Field::PhoneNumber,
                "not a plausible national number for the country of country_iso_code",
            );
        }
        number
    }

    fn date_of_birth(&self, p: &mut Problems, row: &RowView<'_>) -> Option<NaiveDate> {
        let value = required(p, row, Field::DateOfBirth)?;
        let born = match self.date_format {
            Some(format) => format.read_or_iso(&value),
            None => age::parse_date(&value),
        };
        let Some(born) = born else {
            match (self.date_format, DateFormat::that_read(&value).as_slice()) {
                (None, []) => p.error(Field::DateOfBirth, "not a real date in the form YYYY-MM-DD"),
                (None, patterns) => p.error(
                    Field::DateOfBirth,
                    format_args!(
                        "not a date in the form YYYY-MM-DD: try --date-format {}",
                        patterns.join(" or --date-format ")
                    ),
                ),
                (Some(_), _) => p.error(
                    Field::DateOfBirth,
                    "not a real date in the form --date-format gives",
                ),
            }
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

fn required<'a>(p: &mut Problems, row: &RowView<'a>, field: Field) -> Option<Cow<'a, str>> {
    let value = row.get(field);
    if value.is_empty() {
        p.error(field, "is required");
        None
    } else {
        Some(value)
    }
}

/// [`country::Country::national_number`], held to the length rule: it holds on the value
/// sent (digits, one character each).
fn national_number<'c>(
    entry: &'c country::Country,
    number: &str,
    dial_code: u16,
) -> Option<country::National<'c>> {
    entry
        .national_number(number, dial_code)
        .filter(|n| n.number.len() >= PHONE_MIN)
}

/// The phone number `run` sends for `row` without `--keep-phone-format`, when that is not
/// the cell as written; `None` when it is, or when the row's country or dial code is not
/// valid. For `reconcile`, which compares what Cartevo holds with the file.
pub(crate) fn national_phone(row: &RowView<'_>) -> Option<String> {
    let (_, entry) = COUNTRIES.get(&row.get(Field::CountryIsoCode))?;
    let dial = row.get(Field::CountryPhoneCode);
    // With or without its "+": validation puts back one a spreadsheet dropped.
    let digits = dial.strip_prefix('+').unwrap_or(&dial);
    let dial_code = Some(digits)
        .filter(|d| (1..=4).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))?
        .parse()
        .ok()?;
    national_number(entry, &row.get(Field::PhoneNumber), dial_code).map(|n| n.number)
}

/// "+44 7911..." or "00234 803..." left as written (another country's code, or
/// `--keep-phone-format`): the API wants the national number, the dial code apart.
fn has_country_code(number: &str) -> bool {
    number.starts_with('+') || number.starts_with("00")
}

/// A required text of `min` to [`MAX_LEN`] characters, counted as the server's `MinLength`
/// and `MaxLength` count them ([`validatorjs::length`]: code points, variation selectors
/// not counted).
fn text<'a>(p: &mut Problems, row: &RowView<'a>, field: Field, min: usize) -> Option<Cow<'a, str>> {
    let value = required(p, row, field)?;
    checked_text(p, field, value, min)
}

/// A number that a spreadsheet turned into scientific notation (`1.23457E+10`): its last
/// digits are gone, and sending it would enroll the wrong number (or make every row after the
/// first a duplicate of it). Says so, with the fix, never the value.
fn excel_damaged(p: &mut Problems, field: Field, value: &str) -> bool {
    let Some((mantissa, exponent)) = value.split_once(['E', 'e']) else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    // French, German or Spanish Excel writes a decimal comma: 1,23457E+10.
    let mantissa_ok = match mantissa.split_once(['.', ',']) {
        Some((whole, fraction)) => digits(whole) && digits(fraction),
        None => digits(mantissa),
    };
    let exponent_ok = digits(exponent.strip_prefix(['+', '-']).unwrap_or(exponent));
    if mantissa_ok && exponent_ok {
        p.error(
            field,
            "is in scientific notation (a number written with E+): the spreadsheet lost its last \
             digits (format the column as text before exporting, and send the full numbers)",
        );
        return true;
    }
    false
}

/// The partner's own `reference`, when the file has one: carried into results.csv, so held
/// to what any text field may hold (no control character, at most [`MAX_LEN`] characters).
fn reference(p: &mut Problems, row: &RowView<'_>) {
    let value = row.get(Field::Reference);
    if !value.is_empty() {
        checked_text(p, Field::Reference, value, 0);
    }
}

/// [`text`] on a value already read.
fn checked_text<'a>(
    p: &mut Problems,
    field: Field,
    value: Cow<'a, str>,
    min: usize,
) -> Option<Cow<'a, str>> {
    // The common case in one pass: printable ASCII only.
    let (chars, control, line_break) = if value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        (value.len(), false, false)
    } else {
        let (mut control, mut line_break) = (false, false);
        for c in value.chars().filter(|c| c.is_control()) {
            match c {
                '\t' | '\n' | '\r' => line_break = true,
                _ => control = true,
            }
        }
        (validatorjs::length(&value), control, line_break)
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

/// An address the server's `IsEmail()` accepts: [`validatorjs::is_email`], nothing looser
/// and nothing stricter.
fn email<'a>(p: &mut Problems, row: &RowView<'a>) -> Option<Cow<'a, str>> {
    let value = required(p, row, Field::Email)?;
    if validatorjs::is_email(&value) {
        Some(value)
    } else {
        p.error(Field::Email, "not a valid email address");
        None
    }
}

fn iso_code(p: &mut Problems, row: &RowView<'_>) -> Option<([u8; 2], &'static country::Country)> {
    let value = required(p, row, Field::CountryIsoCode)?;
    let found = COUNTRIES.get(&value);
    if found.is_none() {
        p.error(
            Field::CountryIsoCode,
            "not an assigned ISO 3166-1 alpha-2 code",
        );
    }
    found
}

/// "+" then 1 to 4 digits; gives the text and its numeric value.
fn dial_code<'a>(p: &mut Problems, row: &RowView<'a>) -> Option<(Cow<'a, str>, u16)> {
    let value = required(p, row, Field::CountryPhoneCode)?;
    let digits = |d: &str| (1..=4).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit());
    // A spreadsheet reads "+234" as the number 234 and writes it back without its "+".
    let value = match value.strip_prefix('+') {
        None if digits(&value) => {
            p.warning(
                Field::CountryPhoneCode,
                "\"+\" added: it was missing (a spreadsheet reads \"+234\" as a number and drops \
                 its \"+\")",
            );
            Cow::Owned(format!("+{value}"))
        }
        _ => value,
    };
    let parsed = value
        .strip_prefix('+')
        .filter(|d| digits(d))
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
    let parsed = DocumentType::parse(&value);
    if parsed.is_none() {
        p.error(
            Field::IdDocumentType,
            "must be one of NIN, PASSPORT, VOTERS_CARD, DRIVERS_LICENSE",
        );
    }
    parsed
}
