//! Where the bearer token comes from, and when it is renewed.
//!
//! Three sources: a static token, a token file (re-read after a 401 so that a rotation done
//! by someone else is picked up), or client credentials exchanged at `POST /auth/token` for
//! a token that expires (3600 s at Cartevo) and is renewed before it does.
//!
//! Concurrency: every worker asks `current()` before each request. The cache of the file and
//! client sources sits behind one `tokio::sync::Mutex`, held across the token request itself,
//! so however many requests are in flight at most one token request is: the others wait on
//! the lock and then find the fresh token in the cache. A worker that got a 401 with token T
//! calls `renew(T)`; it asks for a new token only if the cache still holds T, so N workers
//! hitting the same expired token cause one renewal, not N.
//!
//! Secrets live in `Secret`, whose `Debug` prints nothing of them.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use reqwest::header::HeaderValue;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::error::{self, ApiError};
use super::wire::{Envelope, TokenData};

/// A token or key. Never printed: `Debug` shows `Secret(***)` and there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret {
    text: Arc<str>,
    /// For a bearer token, its `Authorization` header, built and checked once (every request
    /// sends it), and marked sensitive so that hyper never shows it.
    authorization: Option<HeaderValue>,
}

impl Secret {
    pub fn new(s: &str) -> Secret {
        Secret {
            text: Arc::from(s),
            authorization: None,
        }
    }

    /// A bearer token, checked to fit in an `Authorization` header (a stray newline or
    /// control character would otherwise fail every request in a way that looks like a
    /// network error). `origin` names where it came from; the error never shows the token.
    pub fn bearer(token: &str, origin: &str) -> Result<Secret, String> {
        let token = token.trim();
        if token.is_empty() {
            return Err(format!("{origin} is empty"));
        }
        let Ok(mut authorization) = HeaderValue::from_str(&format!("Bearer {token}")) else {
            return Err(format!(
                "{origin} holds characters that cannot go in an HTTP header"
            ));
        };
        authorization.set_sensitive(true);
        Ok(Secret {
            text: Arc::from(token),
            authorization: Some(authorization),
        })
    }

    pub fn expose(&self) -> &str {
        &self.text
    }

    /// `Authorization: Bearer …` for a token made by `bearer` (`None` for a client key).
    pub fn authorization(&self) -> Option<&HeaderValue> {
        self.authorization.as_ref()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Used when the token endpoint does not say how long its token lives.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// The longest life taken from the token endpoint: a token is renewed at least daily, and an
/// absurd `expires_in` cannot overflow the time of its renewal.
const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// How long after it was requested a token is replaced: five minutes before it expires, or
/// at half its life when it lives less than ten minutes (five minutes of margin would leave
/// nothing of a short token).
pub(crate) fn renew_after(lifetime: Duration) -> Duration {
    if lifetime < Duration::from_secs(600) {
        lifetime / 2
    } else {
        lifetime - Duration::from_secs(300)
    }
}

pub(crate) struct Cached {
    token: Secret,
    renew_at: Instant,
}

pub(crate) enum TokenSource {
    Static(Secret),
    File {
        path: PathBuf,
        /// What the file held when last read: when the client was built, then after each
        /// 401 that made us read it again.
        cache: Mutex<Secret>,
    },
    Client {
        id: String,
        key: Secret,
        url: Url,
        cache: Mutex<Option<Cached>>,
    },
}

impl TokenSource {
    /// Reads the token file now, so that a missing, empty or unusable file stops the command
    /// before anything starts rather than failing its first row.
    pub fn file(path: PathBuf) -> Result<TokenSource, String> {
        Ok(TokenSource::File {
            cache: Mutex::new(read_token_file(&path)?),
            path,
        })
    }

    pub fn client(id: String, key: Secret, url: Url) -> TokenSource {
        TokenSource::Client {
            id,
            key,
            url,
            cache: Mutex::new(None),
        }
    }

    /// The long-lived secret to scrub from any message (the static token, the client key).
    /// Short-lived tokens are scrubbed by the caller, who knows which one it sent.
    pub fn fixed_secret(&self) -> Option<&Secret> {
        match self {
            TokenSource::Static(t) => Some(t),
            TokenSource::File { .. } => None,
            TokenSource::Client { key, .. } => Some(key),
        }
    }

    /// The token to send now.
    pub async fn current(&self, http: &reqwest::Client) -> Result<Secret, ApiError> {
        match self {
            TokenSource::Static(token) => Ok(token.clone()),
            TokenSource::File { cache, .. } => Ok(cache.lock().await.clone()),
            TokenSource::Client {
                id,
                key,
                url,
                cache,
            } => {
                let mut cache = cache.lock().await;
                if let Some(c) = cache.as_ref()
                    && Instant::now() < c.renew_at
                {
                    return Ok(c.token.clone());
                }
                let fresh = fetch(http, url, id, key).await?;
                let token = fresh.token.clone();
                *cache = Some(fresh);
                Ok(token)
            }
        }
    }

    /// A replacement for `stale`, which the API just refused with 401 (`api_message`).
    /// If another worker already replaced it, that replacement is returned without a new
    /// request. A source that cannot produce a different token answers `Fatal`.
    pub async fn renew(
        &self,
        http: &reqwest::Client,
        stale: &Secret,
        api_message: &str,
    ) -> Result<Secret, ApiError> {
        match self {
            TokenSource::Static(_) => Err(ApiError::Fatal {
                status: Some(401),
                message: format!("the API refused the bearer token (HTTP 401): {api_message}"),
            }),
            TokenSource::File { path, cache } => {
                let mut cache = cache.lock().await;
                if &*cache != stale {
                    return Ok(cache.clone());
                }
                let token = read_token_file(path).map_err(|message| ApiError::Fatal {
                    status: None,
                    message,
                })?;
                if &token == stale {
                    return Err(ApiError::Fatal {
                        status: Some(401),
                        message: format!(
                            "the API refused the token from '{}' (HTTP 401) and the file still \
                             holds the same token: {api_message}",
                            path.display()
                        ),
                    });
                }
                tracing::info!(path = %path.display(), "token file re-read after a 401");
                *cache = token.clone();
                Ok(token)
            }
            TokenSource::Client {
                id,
                key,
                url,
                cache,
            } => {
                let mut cache = cache.lock().await;
                if let Some(c) = cache.as_ref()
                    && &c.token != stale
                {
                    return Ok(c.token.clone());
                }
                tracing::info!("access token refused with 401: requesting a new one");
                let fresh = fetch(http, url, id, key).await?;
                let token = fresh.token.clone();
                *cache = Some(fresh);
                Ok(token)
            }
        }
    }
}

/// The token a token file holds, checked to fit in a header. (A small local file: read
/// synchronously, at start and after a 401.)
fn read_token_file(path: &std::path::Path) -> Result<Secret, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("could not read the token file '{}': {e}", path.display()))?;
    Secret::bearer(&text, &format!("the token file '{}'", path.display()))
}

/// One `POST /auth/token`. Refused credentials are fatal; trouble reaching the endpoint is
/// retryable and never `maybe_sent` (no customer request went out).
async fn fetch(
    http: &reqwest::Client,
    url: &Url,
    id: &str,
    key: &Secret,
) -> Result<Cached, ApiError> {
    let asked_at = Instant::now();
    let body = serde_json::json!({ "client_id": id, "client_key": key.expose() });
    let not_sent = |e: ApiError| match e {
        ApiError::Retryable {
            status,
            message,
            retry_after,
            ..
        } => ApiError::Retryable {
            status,
            message: format!("could not obtain an access token: {message}"),
            retry_after,
            maybe_sent: false,
        },
        // A refused server certificate: stops the command, and says which request met it.
        ApiError::Fatal {
            status: None,
            message,
        } => ApiError::Fatal {
            status: None,
            message: format!("could not obtain an access token: {message}"),
        },
        ApiError::Unreachable { message } => ApiError::Unreachable {
            message: format!("could not obtain an access token: {message}"),
        },
        other => other,
    };
    let resp = http
        .post(url.clone())
        .json(&body)
        .send()
        .await
        .map_err(|e| not_sent(error::from_transport(&e)))?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = super::body::from_reqwest(resp).await.map_err(not_sent)?;

    if !status.is_success() {
        let code = status.as_u16();
        return Err(match code {
            408 | 429 | 500..=599 => not_sent(error::from_status(status, &headers, &bytes)),
            _ => ApiError::Fatal {
                status: Some(code),
                message: format!(
                    "the token endpoint refused the client credentials (HTTP {code}): {}",
                    error::answer_message(status, &bytes)
                ),
            },
        }
        .redacted(&[key.expose()]));
    }

    let data = Envelope::parse(&bytes)
        .and_then(|env| env.data)
        .and_then(|data| serde_json::from_value::<TokenData>(data).ok());
    let Some(TokenData {
        access_token: Some(token),
        expires_in,
    }) = data.filter(|d| {
        d.access_token
            .as_deref()
            .is_some_and(|t| !t.trim().is_empty())
    })
    else {
        return Err(ApiError::retryable(
            Some(status.as_u16()),
            format!(
                "the token endpoint answered HTTP {} without data.access_token",
                status.as_u16()
            ),
            false,
        ));
    };
    let token =
        Secret::bearer(&token, "the access token from the token endpoint").map_err(|message| {
            ApiError::Fatal {
                status: None,
                message,
            }
        })?;
    let lifetime = expires_in
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_LIFETIME)
        .min(MAX_LIFETIME);
    tracing::debug!(expires_in = lifetime.as_secs(), "obtained an access token");
    Ok(Cached {
        token,
        renew_at: asked_at + renew_after(lifetime),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_lead() {
        assert_eq!(
            renew_after(Duration::from_secs(3600)),
            Duration::from_secs(3300)
        );
        assert_eq!(
            renew_after(Duration::from_secs(600)),
            Duration::from_secs(300)
        );
        assert_eq!(
            renew_after(Duration::from_secs(120)),
            Duration::from_secs(60)
        );
        assert_eq!(renew_after(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn secret_debug_is_redacted() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret(***)");
    }
}
