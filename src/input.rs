//! Reading a partner's CSV: header mapping and a streaming record reader.
//!
//! Owns the file format only (encoding, delimiter, quoting, header names). It knows nothing
//! of what a valid value is: that is `validate`'s job.

use std::fmt;

/// A column this program understands. Header names match these, case-insensitively, with
/// surrounding spaces ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    FirstName,
    LastName,
    Email,
    Country,
    Street,
    City,
    State,
    PostalCode,
    CountryIsoCode,
    CountryPhoneCode,
    PhoneNumber,
    IdentificationNumber,
    IdDocumentType,
    DateOfBirth,
    IdDocumentFrontUrl,
    IdDocumentBackUrl,
    IdDocumentFront,
    IdDocumentBack,
    Reference,
}

impl Field {
    pub const ALL: [Field; 19] = [
        Field::FirstName,
        Field::LastName,
        Field::Email,
        Field::Country,
        Field::Street,
        Field::City,
        Field::State,
        Field::PostalCode,
        Field::CountryIsoCode,
        Field::CountryPhoneCode,
        Field::PhoneNumber,
        Field::IdentificationNumber,
        Field::IdDocumentType,
        Field::DateOfBirth,
        Field::IdDocumentFrontUrl,
        Field::IdDocumentBackUrl,
        Field::IdDocumentFront,
        Field::IdDocumentBack,
        Field::Reference,
    ];

    /// Columns every file must have.
    pub const REQUIRED: [Field; 14] = [
        Field::FirstName,
        Field::LastName,
        Field::Email,
        Field::Country,
        Field::Street,
        Field::City,
        Field::State,
        Field::PostalCode,
        Field::CountryIsoCode,
        Field::CountryPhoneCode,
        Field::PhoneNumber,
        Field::IdentificationNumber,
        Field::IdDocumentType,
        Field::DateOfBirth,
    ];

    /// The header name, which is also the API field name.
    pub fn name(self) -> &'static str {
        match self {
            Field::FirstName => "first_name",
            Field::LastName => "last_name",
            Field::Email => "email",
            Field::Country => "country",
            Field::Street => "street",
            Field::City => "city",
            Field::State => "state",
            Field::PostalCode => "postal_code",
            Field::CountryIsoCode => "country_iso_code",
            Field::CountryPhoneCode => "country_phone_code",
            Field::PhoneNumber => "phone_number",
            Field::IdentificationNumber => "identification_number",
            Field::IdDocumentType => "id_document_type",
            Field::DateOfBirth => "date_of_birth",
            Field::IdDocumentFrontUrl => "id_document_front_url",
            Field::IdDocumentBackUrl => "id_document_back_url",
            Field::IdDocumentFront => "id_document_front",
            Field::IdDocumentBack => "id_document_back",
            Field::Reference => "reference",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which CSV column holds each known field.
#[derive(Debug, Clone, Default)]
pub struct ColumnMap {
    columns: [Option<usize>; Field::ALL.len()],
    /// Header names that matched no field, as written in the file.
    pub unknown: Vec<String>,
}

impl ColumnMap {
    pub fn column(&self, field: Field) -> Option<usize> {
        self.columns[field.index()]
    }

    pub fn has(&self, field: Field) -> bool {
        self.column(field).is_some()
    }

    /// Builds the map directly, for tests and callers that know their columns.
    pub fn from_fields(fields: &[Field]) -> Self {
        let mut map = ColumnMap::default();
        for (i, f) in fields.iter().enumerate() {
            map.columns[f.index()] = Some(i);
        }
        map
    }
}

/// One record seen through the column map. `get` trims, and gives "" for a column the file
/// does not have.
#[derive(Debug, Clone, Copy)]
pub struct RowView<'a> {
    pub columns: &'a ColumnMap,
    pub record: &'a csv::StringRecord,
}

impl<'a> RowView<'a> {
    pub fn new(columns: &'a ColumnMap, record: &'a csv::StringRecord) -> Self {
        RowView { columns, record }
    }

    pub fn get(&self, field: Field) -> &'a str {
        self.columns
            .column(field)
            .and_then(|i| self.record.get(i))
            .map(str::trim)
            .unwrap_or("")
    }
}
