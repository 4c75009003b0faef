//! Identity documents: exactly one source per row, either two HTTPS URLs (sent as JSON to
//! `POST /customers/enroll`) or local files (uploaded as multipart to `POST /customers`).
//!
//! Local files are the dangerous part: the CSV comes from a partner, and a path in it must
//! never make us upload an arbitrary file of this machine. Every path is resolved
//! (symlinks and `..` included) and must land inside the canonical documents folder. Only
//! the first bytes of a file are read, to recognise its format.

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use crate::customer::{DocumentFile, DocumentType, Documents};
use crate::input::{Field, RowView};

use super::Problems;

/// The API refuses larger uploads (413).
pub(crate) const MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;

const OUTSIDE: &str = "path leads outside the documents folder";

/// Checks the document columns of a row; `doc_type` is `None` when the type column was
/// itself invalid, and then the type-dependent back-side rules are skipped.
pub(crate) fn check(
    documents_dir: &Path,
    row: &RowView<'_>,
    doc_type: Option<DocumentType>,
    p: &mut Problems,
) -> Option<Documents> {
    let front_url = row.get(Field::IdDocumentFrontUrl);
    let back_url = row.get(Field::IdDocumentBackUrl);
    // Paths are not normalised: a file name is the bytes the file system holds.
    let front_file = row.get_path(Field::IdDocumentFront);
    let back_file = row.get_path(Field::IdDocumentBack);

    let has_urls = !front_url.is_empty() || !back_url.is_empty();
    let has_files = !front_file.is_empty() || !back_file.is_empty();
    match (has_urls, has_files) {
        (true, true) => {
            p.error_text(
                "id_document_front_url, id_document_front: give document URLs or document \
                 files, not both",
            );
            None
        }
        (false, false) => {
            p.error_text(
                "id_document_front_url, id_document_front: is required (a document URL or a \
                 document file)",
            );
            None
        }
        (true, false) => {
            let front = check_url(Field::IdDocumentFrontUrl, &front_url, p);
            // The enroll endpoint requires the back for every document type.
            let back = check_url(Field::IdDocumentBackUrl, &back_url, p);
            Some(Documents::Urls {
                front: front?.to_owned(),
                back: back?.to_owned(),
            })
        }
        (false, true) => check_files(documents_dir, front_file, back_file, doc_type, p),
    }
}

fn check_url<'a>(field: Field, value: &'a str, p: &mut Problems) -> Option<&'a str> {
    if value.is_empty() {
        p.error(field, "is required");
        return None;
    }
    match url_problem(value) {
        None => Some(value),
        Some(problem) => {
            p.error(field, problem);
            None
        }
    }
}

/// Why `value` is not an absolute https URL with a host, if it is not.
fn url_problem(value: &str) -> Option<&'static str> {
    if plainly_valid_https(value) {
        return None;
    }
    // The url crate would quietly percent-encode spaces; a partner's URL with one is broken.
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("not a valid URL");
    }
    let Ok(url) = url::Url::parse(value) else {
        return Some("not a valid absolute URL");
    };
    if url.scheme() != "https" {
        return Some("must be an https:// URL");
    }
    // The URL standard reads "https:///x" and "https:x" as host "x"; a document store's
    // address names its host after "https://".
    let written_host = value
        .get(8..)
        .filter(|_| value[..8].eq_ignore_ascii_case("https://"))
        .is_some_and(|rest| !rest.starts_with(['/', '\\', '?', '#', '@', ':']));
    if !written_host {
        return Some("URL has no host");
    }
    match url.host() {
        Some(url::Host::Domain(domain)) if crate::validatorjs::is_fqdn(domain) => None,
        Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) => None,
        _ => Some("URL host is not a domain name with a top-level domain, or an IP address"),
    }
}

/// The common case without a full parse: `https://`, a host of letters, digits, dots and
/// hyphens (optionally a port), and a path of URL characters. Anything else goes through the
/// `url` crate.
fn plainly_valid_https(value: &str) -> bool {
    let Some(rest) = value.strip_prefix("https://") else {
        return false;
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (host, port) = authority.split_once(':').unwrap_or((authority, "443"));
    let label_ok = |l: &str| {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    !host.is_empty()
        && host.split('.').all(label_ok)
        && crate::validatorjs::is_fqdn(host)
        && !port.is_empty()
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u16>().is_ok()
        && tail
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=".contains(&b))
}

fn check_files(
    documents_dir: &Path,
    front: &str,
    back: &str,
    doc_type: Option<DocumentType>,
    p: &mut Problems,
) -> Option<Documents> {
    let front = if front.is_empty() {
        p.error(Field::IdDocumentFront, "is required");
        None
    } else {
        check_file(documents_dir, Field::IdDocumentFront, front, p)
    };

    let back = match doc_type {
        Some(DocumentType::Passport) => {
            if !back.is_empty() {
                // Not read at all: it will not be sent.
                p.warning(
                    Field::IdDocumentBack,
                    "not used for a passport, the file will not be sent",
                );
            }
            Ok(None)
        }
        Some(DocumentType::Nin | DocumentType::DriversLicense) if back.is_empty() => {
            p.error(
                Field::IdDocumentBack,
                "is required for this id_document_type",
            );
            Err(())
        }
        _ if back.is_empty() => Ok(None),
        _ => check_file(documents_dir, Field::IdDocumentBack, back, p)
            .map(Some)
            .ok_or(()),
    };

    Some(Documents::Files {
        front: front?,
        back: back.ok()?,
    })
}

fn check_file(
    documents_dir: &Path,
    field: Field,
    value: &str,
    p: &mut Problems,
) -> Option<DocumentFile> {
    match inspect_file(documents_dir, value) {
        Ok(file) => Some(file),
        Err(problem) => {
            p.error(field, problem);
            None
        }
    }
}

/// Resolves `value` against the (canonical) documents folder and checks the file it names.
fn inspect_file(documents_dir: &Path, value: &str) -> Result<DocumentFile, &'static str> {
    let given = Path::new(value);
    // `join` keeps an absolute `given` as it is; it must then still lead into the folder.
    let joined = documents_dir.join(given);
    let path = match joined.canonicalize() {
        Ok(path) => path,
        Err(_) if !lexically_inside(documents_dir, &joined) => return Err(OUTSIDE),
        Err(e) if e.kind() == ErrorKind::NotFound => return Err("file not found"),
        Err(_) => return Err("file cannot be read"),
    };
    if !path.starts_with(documents_dir) {
        return Err(OUTSIDE);
    }
    // The canonical path has no link in it: opened without following one at its name and
    // without blocking (a FIFO or a device answers at once), what is checked below is the
    // file itself, on its descriptor.
    let mut file = crate::files::open_no_follow(&path).map_err(|_| "file cannot be read")?;
    let meta = file.metadata().map_err(|_| "file cannot be read")?;
    if !meta.is_file() {
        return Err("not a regular file");
    }
    if meta.nlink() != 1 {
        // A hard link makes a file outside the folder readable from inside it.
        return Err("file has more than one hard link");
    }
    let size = meta.len();
    if size > MAX_FILE_BYTES {
        return Err("file is larger than 10 MB");
    }
    if size == 0 {
        return Err("file is empty");
    }
    let head = read_head(&mut file).map_err(|_| "file cannot be read")?;
    let mime = sniff(&head).ok_or("content is not JPEG, PNG or PDF")?;
    let file_name = given
        .file_name()
        .or_else(|| path.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(DocumentFile {
        path,
        file_name,
        mime,
        size,
        device: meta.dev(),
        inode: meta.ino(),
        head,
    })
}

/// For a path that does not resolve: whether, read as text, it stays inside `dir`, so that
/// "../../etc/missing" is reported as leading outside rather than as merely missing.
fn lexically_inside(dir: &Path, path: &Path) -> bool {
    let mut normal = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                normal.pop();
            }
            Component::CurDir => {}
            other => normal.push(other),
        }
    }
    normal.starts_with(dir)
}

const JPEG_MAGIC: &[u8] = &[0xFF, 0xD8, 0xFF];
const PNG_MAGIC: &[u8] = &[0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1A, b'\n'];
const PDF_MAGIC: &[u8] = b"%PDF-";

/// The first `DocumentFile::HEAD` bytes of the file (fewer if it is shorter).
fn read_head(file: &mut File) -> std::io::Result<Vec<u8>> {
    let mut head = vec![0u8; DocumentFile::HEAD];
    let mut len = 0;
    while len < head.len() {
        match file.read(&mut head[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    head.truncate(len);
    Ok(head)
}

/// The MIME type from the file's first bytes, `None` if it is none of the accepted formats.
/// Full signatures at offset 0 (infer accepts a 4-byte PNG prefix and "%PDF" anywhere in
/// the first KiB; the upload endpoint should not receive anything that loose).
fn sniff(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(JPEG_MAGIC) {
        Some("image/jpeg")
    } else if head.starts_with(PNG_MAGIC) {
        Some("image/png")
    } else if head.starts_with(PDF_MAGIC) {
        Some("application/pdf")
    } else {
        None
    }
}

#[cfg(test)]
mod fast_path_tests {
    use super::plainly_valid_https;

    /// The shortcut never accepts what the full parse refuses.
    #[test]
    fn the_fast_path_agrees_with_the_url_crate() {
        for u in [
            "https://cdn.example.com/kyc/a.jpg",
            "https://cdn.example.com:8443/a.jpg?sig=abc&x=1#f",
            "https://cdn.example.com:99999/a.jpg",
            "https://-bad.example.com/a.jpg",
            "https://a..b/x",
            "https:///x",
            "https://user@host/x",
            "https://host/a%20b",
            "https://host:/x",
            "https://host",
        ] {
            if plainly_valid_https(u) {
                assert_eq!(super::url_problem(u), None, "{u}");
            }
        }
        assert!(plainly_valid_https("https://cdn.example.com/kyc/a.jpg"));
        assert!(!plainly_valid_https("https://cdn.example.com:99999/a.jpg"));
        assert!(!plainly_valid_https("http://cdn.example.com/a.jpg"));
    }
}
