//! A TLS front for tests: a certificate authority made afresh with rcgen, a server certificate
//! it signs for "localhost" and 127.0.0.1, TLS ended on 127.0.0.1:0, and each connection's
//! plain bytes relayed to a backend (wiremock, the sandbox). To the client it is an HTTPS API
//! whose certificate only that CA vouches for, as behind a TLS-inspecting proxy.
//!
//! Shared by the integration tests (`mod tls_front`) and, through `#[path]`, by the unit tests
//! of `api::tls`, so both test against the same server.

#![allow(dead_code)] // each user takes a different subset

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// The front, serving until dropped.
pub struct TlsFront {
    port: u16,
    ca_pem: String,
    /// Handshakes that failed: the client refused the certificate (or hung up first).
    refused: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl TlsFront {
    /// Serves HTTPS on 127.0.0.1 on a free port, relaying to `backend` in plain TCP.
    pub async fn start(backend: SocketAddr) -> TlsFront {
        let (ca_pem, config) = certificates();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let refused = Arc::new(AtomicUsize::new(0));
        let counter = refused.clone();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let refused = counter.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        refused.fetch_add(1, Ordering::SeqCst);
                        return;
                    };
                    let Ok(mut plain) = TcpStream::connect(backend).await else {
                        return;
                    };
                    // Ends when either side closes; a reset is as good as a close here.
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
        TlsFront {
            port,
            ca_pem,
            refused,
            task,
        }
    }

    /// The API base URL through the front: `https://127.0.0.1:PORT/api/v1`.
    pub fn base_url(&self) -> String {
        format!("https://127.0.0.1:{}/api/v1", self.port)
    }

    /// The same through the name "localhost".
    pub fn base_url_by_name(&self) -> String {
        format!("https://localhost:{}/api/v1", self.port)
    }

    /// The CA's certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Writes the CA's certificate to `dir/name` and gives its path.
    pub fn write_ca(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, &self.ca_pem).unwrap();
        path
    }

    /// How many handshakes failed, once at least one has or a second has passed: the front
    /// sees the client's alert a moment after the client gave up.
    pub async fn handshakes_refused(&self) -> usize {
        for _ in 0..100 {
            let n = self.refused.load(Ordering::SeqCst);
            if n > 0 {
                return n;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        self.refused.load(Ordering::SeqCst)
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Another CA, which signed nothing here: a PEM certificate that must not make the front
/// trusted.
pub fn unrelated_ca_pem() -> String {
    let (params, key) = ca_params("unrelated test CA");
    params.self_signed(&key).unwrap().pem()
}

fn ca_params(name: &str) -> (CertificateParams, KeyPair) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    (params, KeyPair::generate().unwrap())
}

/// A fresh CA (its PEM) and a server configuration whose certificate it signed.
fn certificates() -> (String, rustls::ServerConfig) {
    let (params, key) = ca_params("cartevo-enroll test CA");
    let ca = CertifiedIssuer::self_signed(params, key).unwrap();

    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, "localhost");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf = leaf.signed_by(&leaf_key, &*ca).unwrap();

    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![leaf.der().clone()], key)
    .unwrap();
    // The backends speak HTTP/1.1; reqwest would otherwise be free to pick h2.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    (ca.pem(), config)
}
