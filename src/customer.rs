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

impl Customer {
    /// `message` (an answer of the API's) without this customer's own personal values, each
    /// replaced by its field's name (`<email>`), so that results.csv and the journal hold no
    /// personal data whatever the server echoes. Values under three characters are left:
    /// they would match ordinary words and numbers, and identify no one.
    pub fn scrub<'a>(&self, message: &'a str) -> std::borrow::Cow<'a, str> {
        let date = self.date_of_birth.format("%Y-%m-%d").to_string();
        let mut values = [
            ("<email>", self.email.as_str(), true),
            (
                "<identification_number>",
                &self.identification_number,
                false,
            ),
            ("<phone_number>", &self.phone_number, false),
            ("<date_of_birth>", &date, false),
            ("<street>", &self.street, false),
            ("<first_name>", &self.first_name, false),
            ("<last_name>", &self.last_name, false),
        ];
        // The longest first: a name inside the email is taken with the email.
        values.sort_by_key(|(_, v, _)| std::cmp::Reverse(v.len()));
        let mut out = std::borrow::Cow::Borrowed(message);
        for (name, value, ignore_case) in values {
            if value.chars().count() < 3 {
                continue;
            }
            if let std::borrow::Cow::Owned(s) =
                crate::text::replace_whole(&out, value, name, ignore_case)
            {
                out = std::borrow::Cow::Owned(s);
            }
        }
        out
    }
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
