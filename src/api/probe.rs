//! What `check` asks of the API before any request: that the base URL's host resolves and
//! takes a TCP connection, and that a TLS handshake with it succeeds with the trust the client
//! uses (`tls::Tls`, the same roots and `--ca-cert` files). Each answer is a sentence for the
//! operator, never a secret: nothing here holds one.
//!
//! The HTTP requests of the later steps go through [`Client`](super::Client) itself, so that
//! `check` tries exactly what `run` will do.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;

/// The API's address, from a `--base-url` that passed the client's rule.
#[derive(Debug, Clone)]
pub struct Target {
    url: Url,
    /// Without the brackets of an IPv6 literal.
    host: String,
    port: u16,
}

impl Target {
    /// Checks `raw` as the client does (https, or http to a loopback host; no credentials in
    /// it); the error says what is wrong with it.
    pub fn new(raw: &str) -> anyhow::Result<Target> {
        let url = super::check_base_url(raw)?;
        let host = url
            .host_str()
            .expect("checked: the base URL has a host")
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = url.port_or_known_default().expect("checked: http or https");
        Ok(Target { url, host, port })
    }

    pub fn is_https(&self) -> bool {
        self.url.scheme() == "https"
    }

    /// The proxy variable that sends the client's requests elsewhere, when one is set for
    /// this scheme: the API's own address is then not the one the client connects to.
    pub fn proxy(&self) -> Option<&'static str> {
        let names: &[&'static str] = if self.is_https() {
            &["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
        } else {
            &["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
        };
        // The variables reqwest reads, as `direct::proxy_configured` does.
        names
            .iter()
            .copied()
            .find(|n| std::env::var(n).is_ok_and(|v| !v.trim().is_empty()))
    }

    /// Resolves the host and connects to the first address that answers, within `timeout`.
    pub async fn connect(&self, timeout: Duration) -> Result<(TcpStream, SocketAddr), String> {
        let (host, port) = (self.host.as_str(), self.port);
        let addrs: Vec<SocketAddr> =
            match tokio::time::timeout(timeout, tokio::net::lookup_host((host, port))).await {
                Err(_) => {
                    return Err(format!(
                        "could not resolve '{host}': no answer within {}",
                        seconds(timeout)
                    ));
                }
                Ok(Err(e)) => return Err(format!("could not resolve '{host}': {e}")),
                Ok(Ok(addrs)) => addrs.collect(),
            };
        if addrs.is_empty() {
            return Err(format!("could not resolve '{host}': no address"));
        }
        let mut problems = Vec::new();
        for addr in &addrs {
            match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => return Ok((stream, *addr)),
                Ok(Err(e)) => problems.push(format!("{addr}: {e}")),
                Err(_) => problems.push(format!("{addr}: no answer within {}", seconds(timeout))),
            }
        }
        Err(format!(
            "could not connect to '{host}' port {port}: {}",
            problems.join("; ")
        ))
    }

    /// A TLS handshake on `tcp` with the client's trust (the system store or SSL_CERT_FILE /
    /// SSL_CERT_DIR, and `ca_certs`); says which TLS version was agreed.
    pub async fn handshake(
        &self,
        tcp: TcpStream,
        ca_certs: &[PathBuf],
        timeout: Duration,
    ) -> Result<String, String> {
        let tls = super::tls::Tls::new(ca_certs).map_err(|e| format!("{e:#}"))?;
        let name = ServerName::try_from(self.host.clone())
            .map_err(|e| format!("'{}' is not a name TLS can check: {e}", self.host))?;
        let connector = TlsConnector::from(tls.for_http1());
        let stream = match tokio::time::timeout(timeout, connector.connect(name, tcp)).await {
            Err(_) => {
                return Err(format!(
                    "the TLS handshake did not finish within {}",
                    seconds(timeout)
                ));
            }
            Ok(Err(e)) => {
                return Err(super::tls::refused_certificate(&e)
                    .unwrap_or_else(|| format!("the TLS handshake failed: {e}")));
            }
            Ok(Ok(stream)) => stream,
        };
        let version = stream
            .get_ref()
            .1
            .protocol_version()
            .map(|v| match v.as_str() {
                Some("TLSv1_3") => "TLS 1.3".to_owned(),
                Some("TLSv1_2") => "TLS 1.2".to_owned(),
                _ => format!("{v:?}"),
            })
            .unwrap_or_else(|| "TLS".to_owned());
        Ok(version)
    }
}

fn seconds(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}
