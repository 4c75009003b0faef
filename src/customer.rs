//! The checked customer that validation produces and the API client sends.
//!
//! Every string here is already trimmed and normalised (upper-cased ISO code and document
//! type); nothing downstream re-checks or re-formats it.

use std::path::PathBuf;

use chrono::NaiveDate;

/// One customer ready to be sent: the body of `POST /customers/enroll` or `POST /customers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub country: String,
    pub street: String,
    pub city: String,
    pub state: String,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2, upper case.
    pub country_iso_code: String,
    /// "+" and 1–4 digits.
    pub country_phone_code: String,
    pub phone_number: String,
    pub identification_number: String,
    pub id_document_type: DocumentType,
    pub date_of_birth: NaiveDate,
    pub documents: Documents,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentType {
    Nin,
    Passport,
    VotersCard,
    DriversLicense,
}

impl DocumentType {
    /// The wire value the API expects.
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentType::Nin => "NIN",
            DocumentType::Passport => "PASSPORT",
            DocumentType::VotersCard => "VOTERS_CARD",
            DocumentType::DriversLicense => "DRIVERS_LICENSE",
        }
    }

    /// Parses any letter case ("nin", "Passport"); the caller trims.
    pub fn parse(s: &str) -> Option<Self> {
        const ALL: [DocumentType; 4] = [
            DocumentType::Nin,
            DocumentType::Passport,
            DocumentType::VotersCard,
            DocumentType::DriversLicense,
        ];
        ALL.into_iter().find(|t| t.as_str().eq_ignore_ascii_case(s))
    }
}

/// Where the identity document comes from: exactly one source per row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Documents {
    /// Sent as JSON to `POST /customers/enroll`.
    Urls { front: String, back: String },
    /// Uploaded as multipart to `POST /customers`. `back` is `None` for a passport (not sent)
    /// and for VOTERS_CARD rows that gave none.
    Files {
        front: DocumentFile,
        back: Option<DocumentFile>,
    },
}

/// A local document file that validation has checked: inside the documents folder, a regular
/// file of at most 10 MB whose content is JPEG, PNG or PDF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentFile {
    /// Canonical absolute path.
    pub path: PathBuf,
    /// The file name sent in the multipart part.
    pub file_name: String,
    /// "image/jpeg", "image/png" or "application/pdf", from the content's magic bytes.
    pub mime: &'static str,
    pub size: u64,
}
