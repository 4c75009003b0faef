//! Both ways of sending over real TLS: a local HTTPS front (`tests/tls_front.rs`) whose
//! certificate only a freshly made CA vouches for, relaying to wiremock. With that CA in
//! `ca_certs`, the bulk enroll (direct), the multipart create (reqwest) and the token request
//! (reqwest) go through; without it each is refused before anything reaches the server, with a
//! message that says why and which flag fixes it. Then the `--ca-cert` files' errors, and when
//! the bundled roots stand in for the operating system's store.

use std::path::PathBuf;

use tokio_rustls::rustls::pki_types::CertificateDer;
use wiremock::matchers::{bearer_token, method, path};
use wiremock::{Mock, MockServer};

use super::*;
use crate::api::tests::{TOKEN, config, created, customer, document, token_answer, url_customer};
use crate::api::{ApiError, Client, Credentials};
use crate::customer::Documents;

#[path = "../../../tests/tls_front.rs"]
mod tls_front;
use tls_front::{TlsFront, unrelated_ca_pem};

/// wiremock behind a TLS front, and the front's CA in a PEM file.
struct Setup {
    server: MockServer,
    front: TlsFront,
    dir: tempfile::TempDir,
    ca: PathBuf,
}

async fn setup() -> Setup {
    let server = MockServer::start().await;
    let front = TlsFront::start(*server.address()).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = front.write_ca(dir.path(), "ca.pem");
    Setup {
        server,
        front,
        dir,
        ca,
    }
}

impl Setup {
    /// A client of the front with a static token, trusting `ca_certs` beside the OS store.
    fn client(&self, ca_certs: Vec<PathBuf>) -> Client {
        self.client_as(Credentials::Token(TOKEN.into()), ca_certs)
    }

    fn client_as(&self, credentials: Credentials, ca_certs: Vec<PathBuf>) -> Client {
        let mut cfg = config(&self.front.base_url(), credentials);
        cfg.ca_certs = ca_certs;
        Client::new(cfg).unwrap()
    }

    async fn requests_received(&self) -> usize {
        self.server.received_requests().await.unwrap().len()
    }
}

/// Refused in the handshake: not sent, says the certificate is not trusted, names the fixes.
#[track_caller]
fn assert_untrusted(err: &ApiError) {
    let ApiError::Fatal {
        status: None,
        message,
    } = err
    else {
        panic!("a refused certificate stops the command: {err:?}");
    };
    for part in [
        "not sent",
        "certificate is not trusted",
        "--ca-cert",
        "SSL_CERT_FILE",
    ] {
        assert!(message.contains(part), "{part:?} missing in {message:?}");
    }
}

#[tokio::test]
async fn the_bulk_enroll_trusts_the_ca_cert_and_is_refused_without_it() {
    let s = setup().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/customers/enroll"))
        .and(bearer_token(TOKEN))
        .respond_with(created(201, "c-tls"))
        .expect(1)
        .mount(&s.server)
        .await;

    let trusted = s.client(vec![s.ca.clone()]);
    assert!(
        trusted.inner.direct.is_some(),
        "URL rows go through the direct path (no proxy is set for the tests)"
    );
    let got = trusted.create_customer(&url_customer()).await.unwrap();
    assert_eq!(got.id, "c-tls");

    let untrusted = s.client(Vec::new());
    assert!(untrusted.inner.direct.is_some());
    let err = untrusted
        .create_customer(&url_customer())
        .await
        .unwrap_err();
    assert_untrusted(&err);
    assert_eq!(
        s.requests_received().await,
        1,
        "only the trusted request arrived"
    );
    assert!(s.front.handshakes_refused().await >= 1);
}

#[tokio::test]
async fn the_multipart_create_trusts_the_ca_cert_and_is_refused_without_it() {
    let s = setup().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/customers"))
        .and(bearer_token(TOKEN))
        .respond_with(created(201, "c-file"))
        .expect(1)
        .mount(&s.server)
        .await;
    let files = customer(Documents::Files {
        front: document(
            s.dir.path(),
            "front.jpg",
            "image/jpeg",
            b"\xFF\xD8\xFF\xE0jpeg",
        ),
        back: None,
    });

    let got = s
        .client(vec![s.ca.clone()])
        .create_customer(&files)
        .await
        .unwrap();
    assert_eq!(got.id, "c-file");

    let err = s
        .client(Vec::new())
        .create_customer(&files)
        .await
        .unwrap_err();
    assert_untrusted(&err);
    assert_eq!(s.requests_received().await, 1);
}

#[tokio::test]
async fn the_token_request_trusts_the_ca_cert_and_is_refused_without_it() {
    let s = setup().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/auth/token"))
        .respond_with(token_answer("tok-over-tls", 3600))
        .expect(1)
        .mount(&s.server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/customers/enroll"))
        .and(bearer_token("tok-over-tls"))
        .respond_with(created(201, "c-tok"))
        .expect(1)
        .mount(&s.server)
        .await;
    let credentials = || Credentials::Client {
        id: "company-1".into(),
        key: "client-key-abcdefghij".into(),
    };

    let trusted = s.client_as(credentials(), vec![s.ca.clone()]);
    let got = trusted.create_customer(&url_customer()).await.unwrap();
    assert_eq!(got.id, "c-tok");

    // The token request is the first to leave, so it is the one refused.
    let untrusted = s.client_as(credentials(), Vec::new());
    let err = untrusted
        .create_customer(&url_customer())
        .await
        .unwrap_err();
    assert_untrusted(&err);
    assert!(
        err.message()
            .starts_with("could not obtain an access token"),
        "{err}"
    );
    assert_eq!(
        s.requests_received().await,
        2,
        "token and enroll, trusted only"
    );
}

#[tokio::test]
async fn every_certificate_of_every_ca_cert_file_is_trusted() {
    let s = setup().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/customers/enroll"))
        .respond_with(created(201, "c-many"))
        .expect(2)
        .mount(&s.server)
        .await;
    let unrelated = s.dir.path().join("unrelated.pem");
    std::fs::write(&unrelated, unrelated_ca_pem()).unwrap();
    // A bundle: another CA first, the front's CA second.
    let bundle = s.dir.path().join("bundle.pem");
    std::fs::write(
        &bundle,
        format!("{}\n{}", unrelated_ca_pem(), s.front.ca_pem()),
    )
    .unwrap();

    let with_bundle = s.client(vec![bundle]);
    assert!(with_bundle.create_customer(&url_customer()).await.is_ok());
    let with_two_flags = s.client(vec![unrelated.clone(), s.ca.clone()]);
    assert!(
        with_two_flags
            .create_customer(&url_customer())
            .await
            .is_ok()
    );

    // A CA that did not sign the server's certificate does not make it trusted.
    let err = s
        .client(vec![unrelated])
        .create_customer(&url_customer())
        .await
        .unwrap_err();
    assert_untrusted(&err);
}

#[test]
fn a_ca_cert_file_that_is_missing_or_holds_no_certificate_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let cases = [
        (dir.path().join("missing.pem"), "cannot read"),
        (write("empty.pem", ""), "holds no certificate"),
        (
            write(
                "key.pem",
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            ),
            "holds no certificate",
        ),
        (
            write(
                "broken.pem",
                "-----BEGIN CERTIFICATE-----\n!!not base64!!\n-----END CERTIFICATE-----\n",
            ),
            "not a readable PEM file",
        ),
        (
            // "hello" in base64: PEM, but no certificate inside.
            write(
                "junk.pem",
                "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n",
            ),
            "cannot be trusted as a CA",
        ),
    ];
    for (file, why) in cases {
        // Through the client, as a command builds it: before anything is sent.
        let mut cfg = config(
            "https://api.example.com/api/v1",
            Credentials::Token(TOKEN.into()),
        );
        cfg.ca_certs = vec![file.clone()];
        let err = format!("{:#}", Client::new(cfg).unwrap_err());
        let named = format!("--ca-cert '{}'", file.display());
        assert!(err.contains(&named), "{named} missing in {err:?}");
        assert!(err.contains(why), "{why:?} missing in {err:?}");
    }
}

#[test]
fn the_bundled_roots_stand_in_only_for_an_empty_or_unreadable_store() {
    let bundled = webpki_roots::TLS_SERVER_ROOTS.len();
    let ca = || {
        rcgen::generate_simple_self_signed(vec!["ca.example".into()])
            .unwrap()
            .cert
            .der()
            .clone()
    };
    let extra = [(std::path::Path::new("ca.pem"), vec![ca()])];

    // A store with certificates: those, and the --ca-cert ones, nothing bundled.
    assert_eq!(roots(&[], vec![ca(), ca()], Vec::new()).unwrap().len(), 2);
    assert_eq!(roots(&extra, vec![ca()], Vec::new()).unwrap().len(), 2);
    // Partly unreadable but not empty: still no bundled roots.
    let errors = vec!["SSL_CERT_DIR: permission denied".to_owned()];
    assert_eq!(roots(&[], vec![ca()], errors.clone()).unwrap().len(), 1);

    // Empty, unreadable, or nothing rustls can use: the bundled roots, plus --ca-cert.
    assert_eq!(roots(&[], Vec::new(), Vec::new()).unwrap().len(), bundled);
    assert_eq!(
        roots(&extra, Vec::new(), errors).unwrap().len(),
        bundled + 1
    );
    let junk = CertificateDer::from(b"not a certificate".to_vec());
    assert_eq!(roots(&[], vec![junk], Vec::new()).unwrap().len(), bundled);
}
