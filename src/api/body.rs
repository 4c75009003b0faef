//! Reading an answer's body, never more than [`MAX_ANSWER_BYTES`] of it, on both ways of
//! sending (reqwest, and the direct path of `direct.rs`).
//!
//! Every answer of the API is a small JSON envelope: a page of 100 customers is tens of
//! kilobytes. Read whole, a server or a proxy that sends an endless chunked body took the
//! process to 5.8 GB, and a 1 GB body to 2.1 GB. Here an answer that declares more than the
//! limit (`Content-Length`) is refused before a byte of its body is read, and one that streams
//! more is dropped as soon as it passes the limit; dropping it closes its connection, so
//! nothing more is read from it. Either way the attempt is a transient failure whose request
//! reached the server (`maybe_sent`): the server had it, only its answer is unusable.

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::StatusCode;
use hyper::body::{Body, Incoming};

use super::ApiError;
use super::error::{chain, from_transport, unreadable_body};

/// The most of any answer's body that is read: 1 MiB.
pub(super) const MAX_ANSWER_BYTES: usize = 1 << 20;

/// The body of a reqwest answer. A read failure keeps the answer's status: the request got
/// there.
pub(super) async fn from_reqwest(mut resp: reqwest::Response) -> Result<Bytes, ApiError> {
    let status = resp.status();
    let mut body = Capped::new(status, resp.content_length())?;
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => body.push(&chunk)?,
            Ok(None) => return Ok(body.done()),
            Err(e) => {
                return Err(match from_transport(&e) {
                    ApiError::Retryable { message, .. } => {
                        unreadable_body(status.as_u16(), &message)
                    }
                    other => other,
                });
            }
        }
    }
}

/// The body of an answer on the direct path.
pub(super) async fn from_hyper(
    status: StatusCode,
    mut incoming: Incoming,
) -> Result<Bytes, ApiError> {
    let mut body = Capped::new(status, incoming.size_hint().exact())?;
    while let Some(frame) = incoming.frame().await {
        let frame = frame.map_err(|e| unreadable_body(status.as_u16(), &chain(&e)))?;
        // Trailers carry nothing the client reads.
        if let Ok(data) = frame.into_data() {
            body.push(&data)?;
        }
    }
    Ok(body.done())
}

/// A body being read, refused once it would pass the limit.
struct Capped {
    status: StatusCode,
    buf: BytesMut,
}

impl Capped {
    /// Refuses at once a body that declares more than the limit.
    fn new(status: StatusCode, declared: Option<u64>) -> Result<Capped, ApiError> {
        match declared {
            Some(len) if len > MAX_ANSWER_BYTES as u64 => Err(too_large(status, Some(len))),
            // Sized for what is declared (at most the limit), so the buffer never grows.
            _ => Ok(Capped {
                status,
                buf: BytesMut::with_capacity(declared.unwrap_or(0) as usize),
            }),
        }
    }

    fn push(&mut self, chunk: &[u8]) -> Result<(), ApiError> {
        if self.buf.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(too_large(self.status, None));
        }
        self.buf.extend_from_slice(chunk);
        Ok(())
    }

    fn done(self) -> Bytes {
        self.buf.freeze()
    }
}

/// An answer too large to read: retryable, and the request may have been acted on.
fn too_large(status: StatusCode, declared: Option<u64>) -> ApiError {
    let what = match declared {
        Some(len) => format!("declares {len} bytes, more than"),
        None => "goes on past".to_owned(),
    };
    ApiError::retryable(
        Some(status.as_u16()),
        format!(
            "the answer's body {what} the {} MiB read of any answer: not read",
            MAX_ANSWER_BYTES >> 20
        ),
        true,
    )
}
