//! What can come back from a Cartevo call, sorted into the classes the executor branches on,
//! and the rules that sort an HTTP answer (or its absence) into them.
//!
//! Every message here is built from the API's own `message` or from a transport error; no
//! header, token or client key ever goes into one (see `auth::Secret`).

use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use super::wire;

/// The outcome of a call that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 409: the customer already exists at Cartevo. `message` is the API's own: it says
    /// whether the email or the identification number clashed.
    #[error("already exists at Cartevo (HTTP 409): {message}")]
    Duplicate { message: String },

    /// The API refused this request for good (400, 413, 415, 422, other 4xx): sending it
    /// again unchanged gives the same answer.
    #[error("rejected by the API (HTTP {status}): {message}")]
    Rejected { status: u16, message: String },

    /// Transient trouble (408, 429, 5xx, network, timeout, a malformed success): worth
    /// another attempt later.
    #[error("{}", retryable_display(*.status, .message, *.retry_after))]
    Retryable {
        /// The HTTP status when the server answered, `None` when it did not.
        status: Option<u16>,
        message: String,
        /// What the server asked for in `Retry-After` (429 and 503 only).
        retry_after: Option<Duration>,
        /// `false` only when the customer certainly was not created by this attempt (the
        /// connection closed before the request was written, the token could not be
        /// obtained, or a 408/429 answer);
        /// `true` when a later 409 may be our own earlier attempt.
        maybe_sent: bool,
    },

    /// No connection to the API could be made: refused, a host name that does not resolve, a
    /// connect that timed out, a TLS handshake that failed. Nothing was sent. Transient like
    /// `Retryable`; the attempt loop also counts these in a row, and an API that stays
    /// unreachable stops the command.
    #[error("{message}")]
    Unreachable { message: String },

    /// The run cannot go on: credentials refused (401 after renewal, token endpoint 400/401/
    /// 403), 403 (e.g. preproduction's "Cannot create more than 3 customers"), or a server
    /// certificate this client refuses (`status` is `None`: nothing was sent).
    #[error("{message}")]
    Fatal {
        status: Option<u16>,
        message: String,
    },

    /// The request could not be built from local data (a document file vanished or became
    /// unreadable since validation). Nothing was sent; the next run validates the row again.
    #[error("{message}")]
    Local { message: String },

    /// The request must not be built: a document is not the file validation checked (it was
    /// swapped for a link, a FIFO or another file, or changed). Nothing was sent, for good.
    #[error("{message}")]
    Refused { message: String },
}

fn retryable_display(status: Option<u16>, message: &str, retry_after: Option<Duration>) -> String {
    let mut s = match status {
        Some(code) => format!("HTTP {code}: {message}"),
        None => message.to_owned(),
    };
    if let Some(d) = retry_after {
        s.push_str(&format!(" (retry after {}s)", d.as_secs()));
    }
    s
}

impl ApiError {
    /// The API's message (or the transport's), without the class's wording around it.
    pub fn message(&self) -> &str {
        match self {
            ApiError::Duplicate { message }
            | ApiError::Rejected { message, .. }
            | ApiError::Retryable { message, .. }
            | ApiError::Unreachable { message }
            | ApiError::Fatal { message, .. }
            | ApiError::Local { message }
            | ApiError::Refused { message } => message,
        }
    }

    /// The HTTP status of the answer, when there was one.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            ApiError::Duplicate { .. } => Some(409),
            ApiError::Rejected { status, .. } => Some(*status),
            ApiError::Retryable { status, .. } | ApiError::Fatal { status, .. } => *status,
            ApiError::Unreachable { .. } | ApiError::Local { .. } | ApiError::Refused { .. } => {
                None
            }
        }
    }

    /// The same error with every occurrence of each secret in its message replaced, in case
    /// an answer echoed what we sent.
    /// Each secret is scrubbed in every form an answer may echo it in: as sent, URL-encoded,
    /// and base64 (standard and URL-safe, with and without padding); only whole forms, so a
    /// short secret never blanks the letters of the message around it.
    pub(crate) fn redacted(self, secrets: &[&str]) -> Self {
        use base64::Engine;
        use base64::engine::general_purpose::{
            STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD,
        };
        let forms: Vec<String> = secrets
            .iter()
            .filter(|s| !s.is_empty())
            .flat_map(|s| {
                [
                    s.to_string(),
                    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
                        .to_string(),
                    STANDARD.encode(s),
                    STANDARD_NO_PAD.encode(s),
                    URL_SAFE.encode(s),
                    URL_SAFE_NO_PAD.encode(s),
                ]
            })
            .collect();
        let scrub = |mut m: String| {
            for form in &forms {
                // A long secret is distinctive wherever it stands (`token=…`, `Bearer%20…`);
                // a short one only as a whole token.
                let bound = if form.len() >= 8 {
                    crate::text::Bound::Anywhere
                } else {
                    crate::text::Bound::Token
                };
                if let std::borrow::Cow::Owned(scrubbed) =
                    crate::text::replace_whole(&m, form, "[redacted]", false, bound)
                {
                    m = scrubbed;
                }
            }
            m
        };
        match self {
            ApiError::Duplicate { message } => ApiError::Duplicate {
                message: scrub(message),
            },
            ApiError::Rejected { status, message } => ApiError::Rejected {
                status,
                message: scrub(message),
            },
            ApiError::Retryable {
                status,
                message,
                retry_after,
                maybe_sent,
            } => ApiError::Retryable {
                status,
                message: scrub(message),
                retry_after,
                maybe_sent,
            },
            ApiError::Unreachable { message } => ApiError::Unreachable {
                message: scrub(message),
            },
            ApiError::Fatal { status, message } => ApiError::Fatal {
                status,
                message: scrub(message),
            },
            ApiError::Local { message } => ApiError::Local {
                message: scrub(message),
            },
            ApiError::Refused { message } => ApiError::Refused {
                message: scrub(message),
            },
        }
    }

    pub(crate) fn retryable(status: Option<u16>, message: String, maybe_sent: bool) -> Self {
        ApiError::Retryable {
            status,
            message,
            retry_after: None,
            maybe_sent,
        }
    }
}

/// Sorts a transport failure (no HTTP answer). A connect error means the request never left
/// this machine; anything later (timeout, reset, body error) may have reached the server.
pub(crate) fn from_transport(err: &reqwest::Error) -> ApiError {
    let detail = error_chain(err);
    if err.is_builder() {
        ApiError::Local {
            message: format!("could not build the request (not sent): {detail}"),
        }
    } else if let Some(refused) = super::tls::refused_certificate(err) {
        certificate_refused(&refused)
    } else if err.is_connect() {
        Transport::Connect.error(&detail)
    } else if err.is_timeout() {
        Transport::TimedOut.error(&detail)
    } else {
        Transport::Network.error(&detail)
    }
}

/// How a request without an HTTP answer failed, for both ways of sending (reqwest, and the
/// direct path of `direct.rs`): the one place that says which failures may have reached the
/// server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// No connection (`ApiError::Unreachable`): nothing left this machine.
    Connect,
    /// The connection closed before the request was written on it.
    ClosedBeforeWritten,
    /// The request was written and no answer came in time.
    TimedOut,
    /// The connection failed after the request was handed over.
    Network,
}

impl Transport {
    pub(crate) fn error(self, detail: &str) -> ApiError {
        let (what, maybe_sent) = match self {
            Transport::Connect => {
                return ApiError::Unreachable {
                    message: format!("could not connect (not sent): {detail}"),
                };
            }
            Transport::ClosedBeforeWritten => (
                "the connection closed before the request was written (not sent)",
                false,
            ),
            Transport::TimedOut => (
                "timed out waiting for the answer (may have been received)",
                true,
            ),
            Transport::Network => ("network error (may have been received)", true),
        };
        ApiError::retryable(None, format!("{what}: {detail}"), maybe_sent)
    }
}

/// The server's certificate was refused during the handshake (`tls::refused_certificate`
/// says why): nothing was sent, and every later attempt would be refused the same way, so the
/// command stops rather than retrying each row.
pub(crate) fn certificate_refused(why: &str) -> ApiError {
    ApiError::Fatal {
        status: None,
        message: format!("could not connect (not sent): {why}"),
    }
}

/// An answer whose head arrived (`status`) but whose body could not be read: the request
/// reached the server.
pub(crate) fn unreadable_body(status: u16, detail: &str) -> ApiError {
    ApiError::retryable(
        Some(status),
        format!("the answer's body could not be read: {detail}"),
        true,
    )
}

/// The error and its sources, joined, without the URL (reqwest puts it first).
fn error_chain(err: &reqwest::Error) -> String {
    joined(strip_url(err), std::error::Error::source(err))
}

/// An error and its sources, joined with ": "; a source that only repeats the text before it
/// is left out.
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    joined(err.to_string(), err.source())
}

fn joined(first: String, mut source: Option<&dyn std::error::Error>) -> String {
    let mut parts = vec![first];
    while let Some(e) = source {
        let s = e.to_string();
        if parts.last() != Some(&s) {
            parts.push(s);
        }
        source = e.source();
    }
    parts.join(": ")
}

fn strip_url(err: &reqwest::Error) -> String {
    let s = err.to_string();
    match s.find(" for url (") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

/// A message for an answer: the API's own when the body is an envelope (or any JSON with a
/// `message`), otherwise a description of the body so that a proxy's HTML page still reads.
pub(crate) fn answer_message(status: StatusCode, body: &[u8]) -> String {
    let code = status.as_u16();
    if body.iter().all(u8::is_ascii_whitespace) {
        return format!("HTTP {code} with an empty body");
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(value) => match wire::message_of(&value) {
            Some(m) if !m.is_empty() => m,
            _ => format!("HTTP {code} with a JSON body that carries no message"),
        },
        Err(_) => format!("HTTP {code} with a non-JSON body"),
    }
}

/// Sorts an error answer (anything but 2xx, and except 401/403 which the caller handles
/// before this because they depend on the credentials).
pub(crate) fn from_status(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> ApiError {
    let code = status.as_u16();
    let message = answer_message(status, body);
    match code {
        // Redirects are not followed (a POST would turn into a GET): the base URL is wrong.
        300..=399 => ApiError::Fatal {
            status: Some(code),
            message: format!(
                "the API answered with a redirect (HTTP {code}) to '{}': check --base-url",
                headers
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("?")
            ),
        },
        409 => ApiError::Duplicate { message },
        401 | 403 => ApiError::Fatal {
            status: Some(code),
            message: format!("the API refused the request (HTTP {code}): {message}"),
        },
        // An explicit "slow down" or "you were too slow": the server did not act on it.
        408 | 429 => ApiError::Retryable {
            status: Some(code),
            message,
            retry_after: if code == 429 {
                retry_after(headers)
            } else {
                None
            },
            maybe_sent: false,
        },
        400..=499 => ApiError::Rejected {
            status: code,
            message,
        },
        // A 5xx may come after the customer was stored (or from a proxy in front of a server
        // that did store it): only a later 409 or the customer list can tell.
        _ => ApiError::Retryable {
            status: Some(code),
            message,
            retry_after: if code == 503 {
                retry_after(headers)
            } else {
                None
            },
            maybe_sent: true,
        },
    }
}

/// `Retry-After` as delay-seconds or an HTTP date. A date that has already passed (a server
/// clock behind ours, a stale cached answer) says nothing usable: it is no `Retry-After`, so
/// the usual backoff applies rather than no wait at all.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    when.duration_since(SystemTime::now())
        .ok()
        .filter(|wait| !wait.is_zero())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(retry: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_str(retry).unwrap());
        h
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        assert_eq!(retry_after(&headers("7")), Some(Duration::from_secs(7)));
        let later = SystemTime::now() + Duration::from_secs(120);
        let d = retry_after(&headers(&httpdate::fmt_http_date(later))).unwrap();
        assert!(
            d > Duration::from_secs(100) && d <= Duration::from_secs(120),
            "{d:?}"
        );
        // A date gone by is no Retry-After at all: the usual backoff applies.
        assert_eq!(retry_after(&headers("Wed, 21 Oct 2015 07:28:00 GMT")), None);
        let earlier = SystemTime::now() - Duration::from_secs(5);
        assert_eq!(
            retry_after(&headers(&httpdate::fmt_http_date(earlier))),
            None
        );
        assert_eq!(retry_after(&headers("soon")), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn messages_of_odd_bodies() {
        let s = StatusCode::BAD_GATEWAY;
        assert_eq!(
            answer_message(s, b"<html>bad gateway</html>"),
            "HTTP 502 with a non-JSON body"
        );
        assert_eq!(answer_message(s, b""), "HTTP 502 with an empty body");
        assert_eq!(
            answer_message(s, b"[1,2]"),
            "HTTP 502 with a JSON body that carries no message"
        );
        assert_eq!(
            answer_message(
                StatusCode::BAD_REQUEST,
                br#"{"statusCode":400,"message":["a","b"]}"#
            ),
            "a; b"
        );
    }

    #[test]
    fn display_reads_well() {
        let e = ApiError::Retryable {
            status: Some(429),
            message: "Too many requests".into(),
            retry_after: Some(Duration::from_secs(3)),
            maybe_sent: false,
        };
        assert_eq!(
            e.to_string(),
            "HTTP 429: Too many requests (retry after 3s)"
        );
        assert!(matches!(e, ApiError::Retryable { .. }));
        let e = ApiError::Rejected {
            status: 422,
            message: "KYC document unreadable".into(),
        };
        assert_eq!(
            e.to_string(),
            "rejected by the API (HTTP 422): KYC document unreadable"
        );
        assert!(!matches!(e, ApiError::Retryable { .. }));
    }
}
