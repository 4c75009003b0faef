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
    /// The national significant number (digits only, no dial code, no trunk prefix) when
    /// validation could establish it, else as written; as written with
    /// `--keep-phone-format`.
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
        use crate::text::Bound::{Anywhere, Word};
        if message.is_empty() {
            return std::borrow::Cow::Borrowed(message);
        }
        let date = self.date_of_birth.format("%Y-%m-%d").to_string();
        // The number as the server may echo it whole: +234 and 8031234567 run together.
        let dial = self.country_phone_code.trim_start_matches('+');
        let international = format!("{dial}{}", self.phone_number);
        let mut values = [
            // Distinctive wherever they stand (an echoed timestamp 1991-04-12T00:00:00Z).
            ("<email>", self.email.as_str(), true, Anywhere),
            ("<date_of_birth>", &date, false, Anywhere),
            ("<phone_number>", &international, false, Word),
            ("<phone_number>", &self.phone_number, false, Word),
            (
                "<identification_number>",
                &self.identification_number,
                false,
                Word,
            ),
            ("<street>", &self.street, false, Word),
            ("<first_name>", &self.first_name, false, Word),
            ("<last_name>", &self.last_name, false, Word),
        ];
        // The longest first: a name inside the email is taken with the email.
        values.sort_by_key(|(_, v, _, _)| std::cmp::Reverse(v.len()));
        let mut out = std::borrow::Cow::Borrowed(message);
        for (name, value, ignore_case, bound) in values {
            if value.chars().count() < 3 {
                continue;
            }
            if let std::borrow::Cow::Owned(s) =
                crate::text::replace_whole(&out, value, name, ignore_case, bound)
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
/// file with one link, of at most 10 MB, whose content is JPEG, PNG or PDF. What identifies it
/// (device, inode, size, first bytes) is kept, so that the file uploaded is the file
/// validated (`DocumentFile::open`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentFile {
    /// Canonical absolute path.
    pub path: PathBuf,
    /// The file name sent in the multipart part.
    pub file_name: String,
    /// "image/jpeg", "image/png" or "application/pdf", from the content's magic bytes.
    pub mime: &'static str,
    pub size: u64,
    pub device: u64,
    pub inode: u64,
    /// The first bytes (up to `HEAD`), as validation read them.
    pub head: Vec<u8>,
}

/// Why a document cannot be uploaded now.
#[derive(Debug)]
pub enum DocumentProblem {
    /// It cannot be read now (gone, unreadable): the next run validates the row again.
    Unreadable(std::io::Error),
    /// It is not the file validation checked (swapped for a link, a FIFO, another file,
    /// changed): never sent.
    NotTheValidatedFile(&'static str),
}

impl DocumentFile {
    /// Leading bytes kept and compared.
    pub const HEAD: usize = 16;

    /// Opens the file without following a symbolic link at its name and without blocking
    /// (a FIFO or a device answers at once), and checks on the opened descriptor that it is
    /// the file validation saw: a regular file with one link, the same device and inode,
    /// the same size and the same first bytes. The file is read from this descriptor only,
    /// positioned at its start.
    pub fn open(&self) -> Result<std::fs::File, DocumentProblem> {
        use std::io::{Read, Seek};
        use std::os::unix::fs::MetadataExt;
        let mut file =
            crate::files::open_no_follow(&self.path).map_err(|e| match e.raw_os_error() {
                Some(libc::ELOOP) => DocumentProblem::NotTheValidatedFile(
                    "it was replaced by a symbolic link since it was validated",
                ),
                _ => DocumentProblem::Unreadable(e),
            })?;
        let meta = file.metadata().map_err(DocumentProblem::Unreadable)?;
        let problem = if !meta.is_file() {
            Some("it is no longer a regular file")
        } else if (meta.dev(), meta.ino()) != (self.device, self.inode) {
            Some("it is another file than the one validated")
        } else if meta.nlink() != 1 {
            Some("it has more than one hard link")
        } else if meta.len() != self.size {
            Some("its size changed since it was validated")
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(DocumentProblem::NotTheValidatedFile(problem));
        }
        let mut head = vec![0u8; self.head.len()];
        file.read_exact(&mut head)
            .map_err(DocumentProblem::Unreadable)?;
        if head != self.head {
            return Err(DocumentProblem::NotTheValidatedFile(
                "its content changed since it was validated",
            ));
        }
        file.rewind().map_err(DocumentProblem::Unreadable)?;
        Ok(file)
    }
}
