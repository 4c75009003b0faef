//! The bulk path: `POST /customers/enroll` over HTTP/1.1 connections driven with hyper's
//! connection API, one request per connection at a time.
//!
//! Why not reqwest for this one request: for HTTP/1.1, reqwest drives these same hyper
//! connections, but wraps them in a pool keyed by a hashed URL, a redirect layer that parses
//! the URL again for every answer, and default-header merging. Measured over plain HTTP
//! against a local server on one thread, that is 8.4 µs of CPU per request against 3.1 µs
//! here, and at tens of thousands of rows a second it is most of what a run spends.
//! Everything else (document uploads, tokens, reads) stays on reqwest.
//!
//! What it keeps from reqwest: its TLS settings (the `ClientConfig` that `tls` builds for
//! both, the same roots, offering only HTTP/1.1 in ALPN), its TCP (hyper-util's connector:
//! happy eyeballs between IPv6 and IPv4, `TCP_NODELAY`, keepalive probes), its headers, one
//! timeout for connect, send and answer together, and its 90 s limit on reusing an idle
//! connection (one dropped silently by a NAT or a load balancer would otherwise cost a whole
//! timeout and a false "may have been sent"). What differs: HTTP/1.1 only, where reqwest
//! (built with `http2`) would offer HTTP/2 over TLS; with a handful of requests in flight that
//! means a few more connections. What it leaves to reqwest: proxies. When the environment
//! names a proxy for the API's scheme, the client does not build this path at all, and
//! reqwest applies the proxy and `NO_PROXY`.
//!
//! A connection is reused only after its answer was read whole and only while hyper says it is
//! open; one the server closed while idle is dropped before anything is written to it, and a
//! request hyper reports as cancelled (the connection closed before the request was written)
//! is sent again on a new connection. Any other failure after the request was handed over may
//! have reached the server and is reported as such.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use reqwest::Url;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;

use super::error::{Transport, certificate_refused, chain, unreadable_body};
use super::{ApiError, tls};

type Sender = SendRequest<Full<Bytes>>;

/// An idle connection older than this is not used again (reqwest's `pool_idle_timeout`).
const IDLE_LIMIT: Duration = Duration::from_secs(90);

/// The connections to one origin, for one runtime thread.
pub(super) struct Direct {
    /// TCP connections as reqwest makes them.
    tcp: HttpConnector,
    /// `http://host:port/`: what `tcp` connects to (TLS, if any, goes on top).
    origin: Uri,
    /// `None` for plain `http`.
    tls: Option<(TlsConnector, ServerName<'static>)>,
    /// The `Host` header: the authority as written in the base URL.
    authority: HeaderValue,
    user_agent: HeaderValue,
    timeout: Duration,
    /// Open connections waiting for a request, with when each went idle. Touched only by the
    /// runtime thread that owns this pool, so the lock is never contended.
    idle: Mutex<Vec<(Sender, Instant)>>,
}

/// An answer, read whole (at most `body::MAX_ANSWER_BYTES`).
pub(super) struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Where a request got to when the time ran out: whether the server may have received it,
/// and its answer's status if the head arrived.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    Connecting,
    Sent,
    Answered(StatusCode),
}

impl Direct {
    /// The pool for `url`'s origin; `None` when a proxy is configured for its scheme (reqwest
    /// then sends everything) or the URL has no host.
    pub fn for_url(
        url: &Url,
        user_agent: &str,
        timeout: Duration,
        tls: &tls::Tls,
    ) -> anyhow::Result<Option<Direct>> {
        if proxy_configured(url.scheme(), |k| std::env::var(k).ok()) {
            return Ok(None);
        }
        Direct::new(url, user_agent, timeout, tls)
    }

    /// The pool for `url`'s origin, whatever the environment says about proxies.
    fn new(
        url: &Url,
        user_agent: &str,
        timeout: Duration,
        tls: &tls::Tls,
    ) -> anyhow::Result<Option<Direct>> {
        let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
            return Ok(None);
        };
        let authority = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_owned(),
        };
        let tls = match url.scheme() {
            "https" => Some((
                TlsConnector::from(tls.for_http1()),
                // `host_str` keeps an IPv6 address's brackets; a server name has none.
                ServerName::try_from(host.trim_start_matches('[').trim_end_matches(']'))?
                    .to_owned(),
            )),
            _ => None,
        };
        // reqwest's TCP settings: happy eyeballs after 300 ms, no Nagle, keepalive probes.
        let mut tcp = HttpConnector::new();
        tcp.set_nodelay(true);
        tcp.set_happy_eyeballs_timeout(Some(Duration::from_millis(300)));
        tcp.set_keepalive(Some(Duration::from_secs(15)));
        tcp.set_keepalive_interval(Some(Duration::from_secs(15)));
        tcp.set_keepalive_retries(Some(3));
        Ok(Some(Direct {
            tcp,
            origin: format!("http://{host}:{port}/").parse()?,
            tls,
            authority: HeaderValue::from_str(&authority)?,
            user_agent: HeaderValue::from_str(user_agent)?,
            timeout,
            idle: Mutex::new(Vec::new()),
        }))
    }

    /// A fresh, empty pool to the same origin (for another runtime thread).
    pub fn fresh(&self) -> Direct {
        Direct {
            tcp: self.tcp.clone(),
            origin: self.origin.clone(),
            tls: self.tls.clone(),
            authority: self.authority.clone(),
            user_agent: self.user_agent.clone(),
            timeout: self.timeout,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// One POST of a JSON body to `path` (origin form), answer read whole (up to the limit of
    /// `body`), all within the timeout.
    pub async fn post_json(
        &self,
        path: &Uri,
        authorization: &HeaderValue,
        body: Bytes,
    ) -> Result<Reply, ApiError> {
        let mut stage = Stage::Connecting;
        match tokio::time::timeout(
            self.timeout,
            self.exchange(path, authorization, body, &mut stage),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => {
                let late = format!("timed out after {:?}", self.timeout);
                Err(match stage {
                    Stage::Connecting => Transport::Connect.error(&late),
                    Stage::Sent => {
                        Transport::TimedOut.error(&format!("no answer within {:?}", self.timeout))
                    }
                    Stage::Answered(status) => unreadable_body(status.as_u16(), &late),
                })
            }
        }
    }

    async fn exchange(
        &self,
        path: &Uri,
        authorization: &HeaderValue,
        body: Bytes,
        stage: &mut Stage,
    ) -> Result<Reply, ApiError> {
        // A request hyper cancels was never written: it goes again on another connection.
        // Twice is enough: a second cancellation on a brand-new connection is not a stale one.
        let mut fresh_tries = 0;
        let (sender, response) = loop {
            *stage = Stage::Connecting;
            let mut sender = match self.checkout().await {
                Some(s) => s,
                None => {
                    fresh_tries += 1;
                    self.connect().await?
                }
            };
            let mut request = hyper::Request::new(Full::new(body.clone()));
            *request.method_mut() = hyper::Method::POST;
            *request.uri_mut() = path.clone();
            let headers = request.headers_mut();
            headers.insert(header::HOST, self.authority.clone());
            headers.insert(header::USER_AGENT, self.user_agent.clone());
            headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            headers.insert(header::AUTHORIZATION, authorization.clone());
            *stage = Stage::Sent;
            match sender.send_request(request).await {
                Ok(response) => break (sender, response),
                Err(e) if e.is_canceled() && fresh_tries < 2 => continue,
                Err(e) if e.is_canceled() => {
                    return Err(Transport::ClosedBeforeWritten.error(&chain(&e)));
                }
                Err(e) => return Err(Transport::Network.error(&chain(&e))),
            }
        };
        let status = response.status();
        *stage = Stage::Answered(status);
        let (parts, incoming) = response.into_parts();
        // Over the limit, the connection goes with the answer: it is not put back idle.
        let body = super::body::from_hyper(status, incoming).await?;
        // Whole answer read: the connection can carry the next request, unless it is closing.
        // Not awaited here (the answer is in hand, and the timeout must not take it away):
        // `checkout` waits until hyper is done with this exchange.
        if !sender.is_closed() {
            let idle = (sender, Instant::now());
            self.idle.lock().expect("pool lock").push(idle);
        }
        Ok(Reply {
            status,
            headers: parts.headers,
            body,
        })
    }

    /// An idle connection still open and not idle for too long, if there is one.
    async fn checkout(&self) -> Option<Sender> {
        loop {
            let (mut sender, since) = self.idle.lock().expect("pool lock").pop()?;
            if since.elapsed() < IDLE_LIMIT && !sender.is_closed() && sender.ready().await.is_ok() {
                return Some(sender);
            }
        }
    }

    async fn connect(&self) -> Result<Sender, ApiError> {
        let refused = |what: String| Transport::Connect.error(&what);
        let mut connector = self.tcp.clone();
        let tcp = tower_service::Service::call(&mut connector, self.origin.clone())
            .await
            .map_err(|e| refused(chain(&e)))?
            .into_inner();
        let sender = match &self.tls {
            None => handshake(tcp).await,
            Some((tls, name)) => {
                let stream =
                    tls.connect(name.clone(), tcp).await.map_err(
                        |e| match tls::refused_certificate(&e) {
                            Some(why) => certificate_refused(&why),
                            None => refused(format!("TLS handshake failed: {e}")),
                        },
                    )?;
                handshake(stream).await
            }
        };
        sender.map_err(|e| refused(chain(&e)))
    }
}

async fn handshake<S>(stream: S) -> Result<Sender, hyper::Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    // Drives the connection; it ends when the sender is dropped or the peer closes.
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "connection to the API closed");
        }
    });
    Ok(sender)
}

/// Whether the environment gives reqwest a proxy for `scheme` (its system-proxy variables,
/// either case). `NO_PROXY` is left to reqwest: with a proxy named, it sends everything.
pub(super) fn proxy_configured(scheme: &str, var: impl Fn(&str) -> Option<String>) -> bool {
    let names: &[&str] = match scheme {
        "https" => &["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"],
        _ => &["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"],
    };
    names
        .iter()
        .any(|n| var(n).is_some_and(|v| !v.trim().is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proxy_for_the_scheme_turns_the_direct_path_off() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert!(!proxy_configured("https", env(&[])));
        assert!(proxy_configured(
            "https",
            env(&[("HTTPS_PROXY", "http://p:3128")])
        ));
        assert!(proxy_configured(
            "https",
            env(&[("all_proxy", "socks5://p")])
        ));
        assert!(!proxy_configured(
            "https",
            env(&[("HTTP_PROXY", "http://p:3128")])
        ));
        assert!(proxy_configured(
            "http",
            env(&[("http_proxy", "http://p:3128")])
        ));
        assert!(!proxy_configured("http", env(&[("HTTP_PROXY", "  ")])));
    }

    #[test]
    fn the_host_header_keeps_a_non_default_port_and_ipv6_brackets() {
        let ua = "cartevo-enroll/test";
        let t = Duration::from_secs(1);
        let tls = tls::Tls::new(&[]).unwrap();
        let d = Direct::new(&"http://127.0.0.1:8080/api".parse().unwrap(), ua, t, &tls)
            .unwrap()
            .unwrap();
        assert_eq!(d.authority, "127.0.0.1:8080");
        assert_eq!(d.origin, "http://127.0.0.1:8080/");
        let d = Direct::new(
            &"https://api.cartevo.co/api/v1".parse().unwrap(),
            ua,
            t,
            &tls,
        )
        .unwrap()
        .unwrap();
        assert_eq!(d.authority, "api.cartevo.co");
        assert_eq!(d.origin, "http://api.cartevo.co:443/");
        assert!(d.tls.is_some());
        let d = Direct::new(&"http://[::1]:9000/".parse().unwrap(), ua, t, &tls)
            .unwrap()
            .unwrap();
        assert_eq!(d.authority, "[::1]:9000");
        assert_eq!(d.origin, "http://[::1]:9000/");
    }
}
