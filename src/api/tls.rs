//! Which certificate authorities the client trusts: one rustls `ClientConfig`, built once per
//! client and handed to both ways of sending (reqwest for uploads, tokens and reads; `direct`
//! for the bulk enroll), so that the two cannot disagree about a server.
//!
//! Trusted, together:
//! - the operating system's store, as rustls-native-certs reads it: on Linux the OpenSSL
//!   locations, or instead `SSL_CERT_FILE` / `SSL_CERT_DIR` when either is set;
//! - every certificate of every `--ca-cert` PEM file (a company's own CA, or the CA of a
//!   TLS-inspecting proxy).
//!
//! The bundled Mozilla roots (webpki-roots) are added only when the operating system's store
//! gives no usable certificate, with a warning: a minimal container without ca-certificates
//! still reaches the public API, and a machine that has a store is never trusted beyond it.
//!
//! Also owns the reading of a refused server certificate (`refused_certificate`): it is no
//! network hiccup, and its message says which flag fixes it.

use std::error::Error as StdError;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::{self, CertificateError, RootCertStore};

#[cfg(test)]
mod tests;

/// The client's TLS settings: rustls with ring, TLS 1.3 and 1.2 (as reqwest builds it), and the
/// roots above. Cheap to clone.
#[derive(Clone)]
pub(super) struct Tls {
    /// Without ALPN: each way of sending says which protocols it speaks.
    config: Arc<rustls::ClientConfig>,
}

impl Tls {
    /// Reads the `--ca-cert` files and the operating system's store. A `--ca-cert` file that
    /// cannot be read or holds no usable certificate is an error naming the flag and the file.
    pub fn new(ca_certs: &[PathBuf]) -> anyhow::Result<Tls> {
        let mut extra = Vec::new();
        for path in ca_certs {
            extra.push((path.as_path(), read_ca_file(path)?));
        }
        let native = rustls_native_certs::load_native_certs();
        let errors = native.errors.iter().map(ToString::to_string).collect();
        let roots = roots(&extra, native.certs, errors)?;
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .context("could not set up TLS")?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(Tls {
            config: Arc::new(config),
        })
    }

    /// For reqwest (`use_preconfigured_tls`), which is built with HTTP/2: offers h2 and
    /// HTTP/1.1, as reqwest's own configuration would.
    pub fn for_reqwest(&self) -> rustls::ClientConfig {
        let mut config = (*self.config).clone();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        config
    }

    /// For the direct path, which speaks HTTP/1.1 only.
    pub fn for_http1(&self) -> Arc<rustls::ClientConfig> {
        let mut config = (*self.config).clone();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

/// Where the operating system's store was read from, for messages.
fn native_source() -> String {
    let set: Vec<String> = ["SSL_CERT_FILE", "SSL_CERT_DIR"]
        .into_iter()
        .filter_map(|name| {
            std::env::var_os(name).map(|v| format!("{name}={}", Path::new(&v).display()))
        })
        .collect();
    if set.is_empty() {
        "the operating system's trust store".to_owned()
    } else {
        format!("the trust store named by {}", set.join(", "))
    }
}

/// The root store: every `--ca-cert` certificate, the operating system's usable ones, and the
/// webpki roots only when the latter are none. `native_errors` are what reading the store
/// reported; they are warned about, since a store that is partly unreadable may lack the one
/// CA that matters.
fn roots(
    extra: &[(&Path, Vec<CertificateDer<'static>>)],
    native: Vec<CertificateDer<'static>>,
    native_errors: Vec<String>,
) -> anyhow::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for (path, certs) in extra {
        for (n, cert) in certs.iter().enumerate() {
            roots.add(cert.clone()).map_err(|e| {
                anyhow!(
                    "--ca-cert '{}': certificate {} of the file cannot be trusted as a CA: {e}",
                    path.display(),
                    n + 1
                )
            })?;
        }
    }
    // Stores often hold a few ancient or malformed certificates: those are skipped, as
    // reqwest does with its native roots.
    let (usable, skipped) = roots.add_parsable_certificates(native);
    if skipped > 0 {
        tracing::debug!(skipped, "certificates of the trust store rustls cannot use");
    }
    let problems = if native_errors.is_empty() {
        String::new()
    } else {
        format!(" ({})", native_errors.join("; "))
    };
    if usable == 0 {
        tracing::warn!(
            "no usable certificate in {}{problems}: trusting the bundled Mozilla roots instead{}",
            native_source(),
            if extra.is_empty() {
                ""
            } else {
                ", with the --ca-cert certificates"
            }
        );
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    } else if !native_errors.is_empty() {
        tracing::warn!(
            "parts of {} could not be read{problems}; trusting the {usable} certificates that \
             could",
            native_source()
        );
    }
    Ok(roots)
}

/// The certificates of one `--ca-cert` file: at least one, in PEM form.
fn read_ca_file(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let shown = path.display();
    let bytes = std::fs::read(path).with_context(|| format!("--ca-cert '{shown}': cannot read"))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow!("--ca-cert '{shown}' is not a readable PEM file: {e}"))?;
    if certs.is_empty() {
        bail!(
            "--ca-cert '{shown}' holds no certificate: give the CA in PEM form (a \
             -----BEGIN CERTIFICATE----- block)"
        );
    }
    Ok(certs)
}

/// What to say when `err` (or an error it wraps) is rustls refusing the server's certificate;
/// `None` for any other failure. A refused certificate is refused again on every attempt.
pub(super) fn refused_certificate(err: &(dyn StdError + 'static)) -> Option<String> {
    let found = rustls_error(err)?;
    let rustls::Error::InvalidCertificate(why) = found else {
        return None;
    };
    let what = match why {
        CertificateError::UnknownIssuer => "no certificate authority this machine trusts issued it",
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => "it has expired",
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            "it is not valid for the host of --base-url"
        }
        _ => "this machine does not trust it",
    };
    Some(format!(
        "the API's TLS certificate was refused, the server's certificate is not trusted: \
         {what} ({found}). If a TLS-inspecting proxy or a private CA signs it, give that CA \
         with --ca-cert PEM (or SSL_CERT_FILE); otherwise check --base-url and the server's \
         certificate"
    ))
}

/// The rustls error in `err`'s chain. tokio-rustls hands it over inside an `io::Error`, and
/// hyper-rustls wraps that in another; `io::Error::source` skips what an `io::Error` wraps, so
/// the walk goes into it with `get_ref` instead.
fn rustls_error<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(found) = e.downcast_ref::<rustls::Error>() {
            return Some(found);
        }
        next = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => e.source(),
        };
    }
    None
}
