//! The Cartevo HTTP client: builds the requests, sends them with a bearer token, and sorts
//! every answer into a typed outcome.
//!
//! Owns: the wire format (`wire`), authentication and token renewal (`auth`), the bulk
//! enroll's own HTTP/1.1 connections (`direct`), the one TLS trust setting both ways of
//! sending use (`tls`), reading answers at most 1 MiB long (`body`, for every request),
//! streaming document files from disk in large chunks (`upload`), and the classification of
//! answers and transport failures into `ApiError` classes (`error`, for both ways of
//! sending). Does not own retries, pacing or backoff: one call here is one attempt (plus,
//! after a 401, one retry with a renewed token); the executor decides what to do with a
//! `Retryable`.
//!
//! - URL rows: `POST {base}/customers/enroll`, JSON.
//! - File rows: `POST {base}/customers?enroll=true`, multipart, documents streamed from disk.
//! - Reads for `reconcile`: one customer, its cards, its transactions, the customer list.

mod answer;
mod auth;
mod body;
mod direct;
mod error;
#[cfg(test)]
mod hostile_tests;
pub mod probe;
#[cfg(test)]
mod tests;
mod tls;
mod upload;
pub(crate) mod wire;

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use reqwest::multipart::{Form, Part};
use reqwest::{Body, RequestBuilder, Url};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::customer::{Customer, DocumentFile, DocumentProblem, Documents};
use answer::{Answer, created, data_as, read, unexpected};
use auth::{Secret, TokenSource};
pub use error::ApiError;
use wire::Envelope;
pub use wire::{Card, Page, RemoteCustomer, Transaction};

/// The User-Agent of every request.
pub const USER_AGENT: &str = concat!("cartevo-enroll/", env!("CARGO_PKG_VERSION"));

/// What the client needs to know; built by the config stage from flags and environment.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// e.g. `https://api.cartevo.co/api/v1`; a trailing slash is fine.
    pub base_url: String,
    pub credentials: Credentials,
    /// For one whole request: connect, send (documents included), answer.
    pub timeout: Duration,
    /// Adds `?enroll=true` to multipart creates (`--no-provider-enroll` turns it off).
    pub provider_enroll: bool,
    /// PEM files of certificate authorities to trust beside the operating system's store
    /// (`--ca-cert`); read when the client is built.
    pub ca_certs: Vec<PathBuf>,
}

/// How to authenticate. `Debug` never shows a token or key.
#[derive(Clone)]
pub enum Credentials {
    /// A static bearer token (`CARTEVO_API_TOKEN`).
    Token(String),
    /// A file holding the bearer token (`--token-file`), re-read after a 401.
    TokenFile(PathBuf),
    /// Client credentials exchanged at `POST /auth/token` (`CARTEVO_CLIENT_ID` and
    /// `CARTEVO_CLIENT_KEY`).
    Client { id: String, key: String },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Token(_) => f.write_str("Token(***)"),
            Credentials::TokenFile(path) => f.debug_tuple("TokenFile").field(path).finish(),
            Credentials::Client { id, .. } => f
                .debug_struct("Client")
                .field("id", id)
                .field("key", &"***")
                .finish(),
        }
    }
}

/// A customer the API created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub id: String,
    /// 200 or 201: the pages disagree, both mean created.
    pub http_status: u16,
}

/// The Cartevo client. Cheap to clone: every clone shares one connection pool and one token
/// cache, so all workers use the same token and renew it once.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// What both `http` and `direct` trust, kept for the pools of `with_own_connections`.
    tls: tls::Tls,
    /// Checked at construction; its path is extended segment by segment.
    base: Url,
    /// Shared by every connection pool made with `with_own_connections`, so there is one
    /// token and one token request at a time for the whole run.
    auth: Arc<TokenSource>,
    timeout: Duration,
    /// `POST /customers/enroll` and `POST /customers[?enroll=true]`, built once: parsing a
    /// URL per request is measurable at tens of thousands of requests a second.
    enroll_url: Url,
    create_url: Url,
    /// The bulk path for `POST /customers/enroll` (see `direct`), unless a proxy is set.
    direct: Option<direct::Direct>,
    /// `enroll_url`'s path and query, as the direct path sends it.
    enroll_path: hyper::Uri,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.base.as_str())
            .field("create_url", &self.inner.create_url.as_str())
            .finish_non_exhaustive()
    }
}

/// One request, described so that it can be built twice (the retry after a 401 needs a fresh
/// body: a streamed document cannot be replayed).
enum Request<'a> {
    Get(Url),
    /// `POST /customers/enroll` with its serialised JSON body (cheap to clone for the retry
    /// after a renewed token).
    Enroll(bytes::Bytes),
    Multipart {
        url: Url,
        customer: &'a Customer,
        front: &'a DocumentFile,
        back: Option<&'a DocumentFile>,
    },
}

impl Client {
    /// The API's base URL, as checked: what a learned rate limit is kept under.
    pub fn base_url(&self) -> &str {
        self.inner.base.as_str()
    }

    /// Checks the configuration (base URL rule, non-empty credentials, timeout) and builds
    /// the client. Sends nothing.
    pub fn new(cfg: ApiConfig) -> anyhow::Result<Client> {
        let base = check_base_url(&cfg.base_url)?;
        if cfg.timeout.is_zero() {
            bail!("the request timeout must be more than zero (--timeout)");
        }
        let auth = match cfg.credentials {
            Credentials::Token(t) => TokenSource::Static(
                Secret::bearer(&t, "the API token (CARTEVO_API_TOKEN)")
                    .map_err(anyhow::Error::msg)?,
            ),
            Credentials::TokenFile(path) => TokenSource::file(path).map_err(anyhow::Error::msg)?,
            Credentials::Client { id, key } => {
                if id.trim().is_empty() || key.trim().is_empty() {
                    bail!(
                        "the client credentials (CARTEVO_CLIENT_ID, CARTEVO_CLIENT_KEY) are empty"
                    );
                }
                let url = join(&base, &["auth", "token"]);
                TokenSource::client(id.trim().to_owned(), Secret::new(key.trim()), url)
            }
        };
        let tls = tls::Tls::new(&cfg.ca_certs)?;
        let http = http_client(cfg.timeout, &tls)?;
        let enroll_url = join(&base, &["customers", "enroll"]);
        let mut create_url = join(&base, &["customers"]);
        if cfg.provider_enroll {
            create_url.query_pairs_mut().append_pair("enroll", "true");
        }
        let direct = direct::Direct::for_url(&enroll_url, USER_AGENT, cfg.timeout, &tls)
            .context("could not set up the connections to the API")?;
        let enroll_path = enroll_url[url::Position::BeforePath..]
            .parse()
            .context("the enroll URL is not a valid request target")?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                tls,
                base,
                auth: Arc::new(auth),
                timeout: cfg.timeout,
                enroll_url,
                create_url,
                direct,
                enroll_path,
            }),
        })
    }

    /// The same client with a connection pool of its own, for another runtime thread: its
    /// connections' tasks then live on the thread that uses them. The token is shared.
    pub fn with_own_connections(&self) -> anyhow::Result<Client> {
        let inner = &*self.inner;
        Ok(Client {
            inner: Arc::new(Inner {
                http: http_client(inner.timeout, &inner.tls)?,
                tls: inner.tls.clone(),
                base: inner.base.clone(),
                auth: inner.auth.clone(),
                timeout: inner.timeout,
                enroll_url: inner.enroll_url.clone(),
                create_url: inner.create_url.clone(),
                direct: inner.direct.as_ref().map(direct::Direct::fresh),
                enroll_path: inner.enroll_path.clone(),
            }),
        })
    }

    /// Creates one customer: JSON to `/customers/enroll` for document URLs, multipart to
    /// `/customers` for document files. One attempt (plus one after a renewed token).
    pub async fn create_customer(&self, c: &Customer) -> Result<Created, ApiError> {
        let answer = match &c.documents {
            Documents::Urls { front, back } => {
                // Sized for a typical body, so serialising does not grow the buffer 3 times.
                let mut body = Vec::with_capacity(768);
                serde_json::to_writer(&mut body, &wire::enroll_body(c, front, back))
                    .expect("string fields always serialise");
                self.send(Request::Enroll(body.into())).await?
            }
            Documents::Files { front, back } => {
                self.send(Request::Multipart {
                    url: self.inner.create_url.clone(),
                    customer: c,
                    front,
                    back: back.as_ref(),
                })
                .await?
            }
        };
        self.scrubbed(&answer, created(&answer))
    }

    /// `GET /customers/{id}`; `None` on 404.
    pub async fn get_customer(&self, id: &str) -> Result<Option<RemoteCustomer>, ApiError> {
        let answer = self
            .send(Request::Get(self.url(&["customers", id])))
            .await?;
        let result = read(&answer).and_then(|env| match env {
            None => Ok(None),
            Some(env) => data_as(&answer, env.data).map(Some),
        });
        self.scrubbed(&answer, result)
    }

    /// `GET /customers/{id}/cards`; `None` on 404, which Cartevo answers both for an unknown
    /// customer and for one without cards: the caller tells them apart with `get_customer`.
    pub async fn customer_cards(&self, id: &str) -> Result<Option<Vec<Card>>, ApiError> {
        let url = self.url(&["customers", id, "cards"]);
        let answer = self.send(Request::Get(url)).await?;
        let result = read(&answer).and_then(|env| match env {
            None => Ok(None),
            Some(Envelope {
                data: None | Some(Value::Null),
                ..
            }) => Ok(Some(Vec::new())),
            Some(env) => data_as(&answer, env.data).map(Some),
        });
        self.scrubbed(&answer, result)
    }

    /// `GET /customers/{id}/transactions?page=&limit=`. A 404 (unknown customer) is an error
    /// here (`Rejected` with status 404).
    pub async fn customer_transactions(
        &self,
        id: &str,
        page: u64,
        limit: u64,
    ) -> Result<Page<Transaction>, ApiError> {
        let url = self.paged(&["customers", id, "transactions"], page, limit);
        self.page(url, page, limit).await
    }

    /// `GET /customers?page=&limit=` (page from 1, limit at most 100).
    pub async fn list_customers(
        &self,
        page: u64,
        limit: u64,
    ) -> Result<Page<RemoteCustomer>, ApiError> {
        let url = self.paged(&["customers"], page, limit);
        self.page(url, page, limit).await
    }

    /// `GET /customers?limit=N`: the one read `check` makes.
    pub async fn first_customers(&self, limit: u64) -> Result<Page<RemoteCustomer>, ApiError> {
        let mut url = self.url(&["customers"]);
        url.query_pairs_mut()
            .append_pair("limit", &limit.to_string());
        self.page(url, 1, limit).await
    }

    /// Obtains the token the next request will send: reads nothing new for a static token or
    /// a token file (checked when the client was built), asks `POST /auth/token` for client
    /// credentials. Whether the API accepts the token, only a request tells.
    pub async fn authenticate(&self) -> Result<(), ApiError> {
        let inner = &*self.inner;
        inner
            .auth
            .current(&inner.http)
            .await
            .map(drop)
            .map_err(|e| e.redacted(&self.secrets(&[])))
    }

    async fn page<T: DeserializeOwned>(
        &self,
        url: Url,
        page: u64,
        limit: u64,
    ) -> Result<Page<T>, ApiError> {
        let answer = self.send(Request::Get(url)).await?;
        let result = read(&answer).and_then(|env| {
            let env = env.ok_or_else(|| ApiError::Rejected {
                status: 404,
                message: error::answer_message(answer.status, &answer.body),
            })?;
            Page::from_envelope(env, page, limit).map_err(|e| unexpected(&answer, &e))
        });
        self.scrubbed(&answer, result)
    }

    fn url(&self, segments: &[&str]) -> Url {
        join(&self.inner.base, segments)
    }

    fn paged(&self, segments: &[&str], page: u64, limit: u64) -> Url {
        let mut url = self.url(segments);
        url.query_pairs_mut()
            .append_pair("page", &page.to_string())
            .append_pair("limit", &limit.to_string());
        url
    }

    fn scrubbed<T>(&self, answer: &Answer, r: Result<T, ApiError>) -> Result<T, ApiError> {
        r.map_err(|e| e.redacted(&self.secrets(&answer.tokens)))
    }

    /// The given tokens and the long-lived secret, to scrub from a message.
    fn secrets<'a>(&'a self, tokens: &'a [Secret]) -> Vec<&'a str> {
        tokens
            .iter()
            .chain(self.inner.auth.fixed_secret())
            .map(Secret::expose)
            .collect()
    }

    /// Sends with the current token; after a 401, renews the token once and sends again.
    /// A 401 that survives renewal, and any 403, are `Fatal`.
    async fn send(&self, req: Request<'_>) -> Result<Answer, ApiError> {
        let inner = &*self.inner;
        let token = inner
            .auth
            .current(&inner.http)
            .await
            .map_err(|e| e.redacted(&self.secrets(&[])))?;
        // Every token this call sent: an answer may echo any of them.
        let mut used = vec![token];
        loop {
            let token = used.last().expect("one token at least");
            let mut answer = self
                .attempt(&req, token)
                .await
                .map_err(|e| e.redacted(&self.secrets(&used)))?;
            match answer.status.as_u16() {
                401 if used.len() == 1 => {
                    let message = error::answer_message(answer.status, &answer.body);
                    let fresh = inner
                        .auth
                        .renew(&inner.http, token, &message)
                        .await
                        .map_err(|e| e.redacted(&self.secrets(&used)))?;
                    used.push(fresh);
                }
                code @ (401 | 403) => {
                    let message = error::answer_message(answer.status, &answer.body);
                    let message = if code == 401 {
                        format!(
                            "the API refused the credentials (HTTP 401) even with a renewed \
                             token: {message}"
                        )
                    } else {
                        format!("the API refused the request (HTTP 403): {message}")
                    };
                    return Err(ApiError::Fatal {
                        status: Some(code),
                        message,
                    }
                    .redacted(&self.secrets(&used)));
                }
                _ => {
                    answer.tokens = used;
                    return Ok(answer);
                }
            }
        }
    }

    async fn attempt(&self, req: &Request<'_>, token: &Secret) -> Result<Answer, ApiError> {
        if let (Request::Enroll(body), Some(direct)) = (req, &self.inner.direct) {
            let reply = direct
                .post_json(&self.inner.enroll_path, bearer(token), body.clone())
                .await?;
            tracing::debug!(
                url = %self.inner.enroll_url.path(),
                status = reply.status.as_u16(),
                "cartevo answer"
            );
            return Ok(Answer {
                status: reply.status,
                headers: reply.headers,
                body: reply.body,
                tokens: Vec::new(),
            });
        }
        let builder = self
            .build(req)
            .await?
            .header(reqwest::header::AUTHORIZATION, bearer(token).clone());
        let resp = builder
            .send()
            .await
            .map_err(|e| error::from_transport(&e))?;
        let status = resp.status();
        tracing::debug!(url = %resp.url().path(), status = status.as_u16(), "cartevo answer");
        let mut resp = resp;
        let headers = std::mem::take(resp.headers_mut());
        let body = body::from_reqwest(resp).await?;
        Ok(Answer {
            status,
            headers,
            body,
            tokens: Vec::new(),
        })
    }

    async fn build(&self, req: &Request<'_>) -> Result<RequestBuilder, ApiError> {
        let http = &self.inner.http;
        Ok(match req {
            Request::Get(url) => http.get(url.clone()),
            Request::Enroll(body) => http
                .post(self.inner.enroll_url.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone()),
            Request::Multipart {
                url,
                customer,
                front,
                back,
            } => {
                let mut form = Form::new();
                for (name, value) in wire::text_fields(customer) {
                    form = form.text(name, value.into_owned());
                }
                form = form.part(
                    "id_document_front",
                    file_part(front, "id_document_front").await?,
                );
                if let Some(back) = back {
                    form = form.part(
                        "id_document_back",
                        file_part(back, "id_document_back").await?,
                    );
                }
                http.post(url.clone()).multipart(form)
            }
        })
    }
}

/// The `Authorization` header of a token: every token comes from `Secret::bearer`, which
/// built it once.
fn bearer(token: &Secret) -> &reqwest::header::HeaderValue {
    token
        .authorization()
        .expect("tokens are made by Secret::bearer")
}

fn http_client(timeout: Duration, tls: &tls::Tls) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .use_preconfigured_tls(tls.for_reqwest())
        .user_agent(USER_AGENT)
        .timeout(timeout)
        // Shorter than the whole request's, so that a connect (or TLS handshake) that never
        // completes is reported as such, nothing sent and the API unreachable, rather than
        // as a request that timed out and may have been received.
        .connect_timeout(timeout.mul_f64(0.9))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("could not build the HTTP client")
}

/// A document as a multipart part streamed from disk in large chunks (`upload`), never read
/// whole into memory.
/// The part for one document, named by its column (`column`) in what may be stored: a
/// partner may name a customer's scan after the customer, so its path stays out of messages.
async fn file_part(doc: &DocumentFile, column: &str) -> Result<Part, ApiError> {
    // The file validation checked (in the folder, one link, its type, at most 10 MB) is the
    // file that leaves, read from the descriptor that proved it, never more than its bytes.
    let checked = doc.clone();
    let opened = tokio::task::spawn_blocking(move || checked.open())
        .await
        .map_err(|e| ApiError::Local {
            message: format!("could not open the {column} file: {e}"),
        })?;
    let file = match opened {
        Ok(file) => file,
        Err(DocumentProblem::Unreadable(e)) => {
            return Err(ApiError::Local {
                message: format!(
                    "could not read the {column} file: {}; run again to check it anew",
                    e.kind()
                ),
            });
        }
        Err(DocumentProblem::NotTheValidatedFile(why)) => {
            return Err(ApiError::Refused {
                message: format!("the {column} file was not sent: {why}"),
            });
        }
    };
    let body = upload::chunks(file, doc.size);
    Part::stream_with_length(Body::wrap_stream(body), doc.size)
        .file_name(wire::part_file_name(&doc.file_name, doc.mime))
        .mime_str(doc.mime)
        .map_err(|e| ApiError::Local {
            message: format!("bad content type '{}' for the {column} file: {e}", doc.mime),
        })
}

/// The base URL with more path segments (each one percent-encoded), tolerating a trailing
/// slash on the base.
fn join(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    url.path_segments_mut()
        .expect("checked: the base URL can be a base")
        .pop_if_empty()
        .extend(segments);
    url
}

/// The `--base-url` rule: https, or plain http to a loopback host only.
fn check_base_url(raw: &str) -> anyhow::Result<Url> {
    let url =
        Url::parse(raw.trim()).with_context(|| format!("--base-url '{raw}' is not a valid URL"))?;
    if url.cannot_be_a_base() || url.host().is_none() {
        bail!("--base-url '{raw}' is not an http(s) URL with a host");
    }
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => bail!(
            "--base-url '{raw}': plain http:// is refused except for a loopback host \
             (127.0.0.0/8, ::1, localhost); use https://"
        ),
        other => bail!("--base-url '{raw}': scheme '{other}' is not supported; use https://"),
    }
    if !url.username().is_empty() || url.password().is_some() {
        bail!("--base-url must not carry credentials; use CARTEVO_API_TOKEN or client credentials");
    }
    Ok(url)
}

fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}
