//! The client against servers that misbehave on purpose, on every way of sending: the JSON
//! enroll (the direct path), a multipart create, a token request and a read (reqwest).
//! Answers that never end, and a certificate no one trusts.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedReceiver;

use super::tests::{KEY, TOKEN, config, customer, document, url_customer};
use super::*;
use crate::customer::Documents;

/// What a hostile server sends after the head of a 200.
#[derive(Debug, Clone, Copy)]
enum Flood {
    /// A chunked body that never ends.
    EndlessChunks,
    /// `Content-Length: 1 GiB`, then bytes for as long as they are taken.
    HugeLength,
}

/// Stops a server's writing, so a client that would read everything (the bug) is not fed
/// gigabytes on a shared machine: past this much, the answer ends (chunked) or the connection
/// closes (declared length).
const SERVER_WRITES_AT_MOST: usize = 64 << 20;

/// How one connection of a hostile server ended: bytes of body written, and whether the
/// client closed the connection while the server was still writing.
#[derive(Debug)]
struct Written {
    bytes: usize,
    client_closed: bool,
}

/// A server on 127.0.0.1:0 answering every request with a 200 and `flood`; reports how each
/// connection ended.
fn hostile_server(flood: Flood) -> (String, UnboundedReceiver<Written>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/api/v1", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut stream = stream.unwrap();
                read_request(&stream);
                let _ = tx.send(flood_answer(&mut stream, flood));
            });
        }
    });
    (url, rx)
}

/// Reads one request: its head and a body of its Content-Length.
fn read_request(stream: &TcpStream) {
    let mut reader = BufReader::new(stream);
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
}

fn flood_answer(stream: &mut TcpStream, flood: Flood) -> Written {
    let head: &[u8] = match flood {
        Flood::EndlessChunks => {
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
        }
        Flood::HugeLength => {
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1073741824\r\n\r\n"
        }
    };
    let block = [b' '; 64 << 10];
    let mut bytes = 0;
    let mut client_closed = stream.write_all(head).is_err();
    while !client_closed && bytes < SERVER_WRITES_AT_MOST {
        let written = match flood {
            Flood::EndlessChunks => stream
                .write_all(format!("{:x}\r\n", block.len()).as_bytes())
                .and_then(|()| stream.write_all(&block))
                .and_then(|()| stream.write_all(b"\r\n")),
            Flood::HugeLength => stream.write_all(&block),
        };
        match written {
            Ok(()) => bytes += block.len(),
            Err(_) => client_closed = true,
        }
    }
    if !client_closed && matches!(flood, Flood::EndlessChunks) {
        let _ = stream.write_all(b"0\r\n\r\n");
    }
    Written {
        bytes,
        client_closed,
    }
}

/// A client with a timeout far longer than the test waits: the failure must come from the
/// size, not the clock.
fn patient(url: &str, credentials: Credentials) -> Client {
    let mut cfg = config(url, credentials);
    cfg.timeout = Duration::from_secs(60);
    Client::new(cfg).unwrap()
}

/// Checks that `err` is the too-large failure, came quickly, and that the client hung up on
/// the server rather than reading on.
async fn assert_refused_large(
    what: &str,
    err: ApiError,
    took: Duration,
    mut written: UnboundedReceiver<Written>,
) {
    assert!(
        err.to_string().contains("1 MiB read of any answer"),
        "{what}: {err}"
    );
    assert_eq!(err.http_status(), Some(200), "{what}: {err:?}");
    assert!(took < Duration::from_secs(20), "{what}: took {took:?}");
    // Awaited, not blocked on: the connection's own task must run to close it.
    let ended = tokio::time::timeout(Duration::from_secs(20), written.recv())
        .await
        .expect("the server's connection ended in time")
        .expect("the server reports");
    assert!(
        ended.client_closed,
        "{what}: the client read it all: {ended:?}"
    );
    // What the server got out before it noticed: the 1 MiB and socket buffers, no more.
    assert!(ended.bytes < 32 << 20, "{what}: {ended:?}");
}

#[tokio::test]
async fn answers_past_one_mib_are_refused_on_every_path() {
    let dir = tempfile::tempdir().unwrap();
    let front = document(dir.path(), "front.png", "image/png", b"\x89PNG front");
    let file_customer = customer(Documents::Files { front, back: None });
    for flood in [Flood::EndlessChunks, Flood::HugeLength] {
        // The JSON enroll, on the direct path.
        let (url, written) = hostile_server(flood);
        let client = patient(&url, Credentials::Token(TOKEN.into()));
        let started = Instant::now();
        let err = client.create_customer(&url_customer()).await.unwrap_err();
        let what = format!("enroll, {flood:?}");
        assert!(
            matches!(
                err,
                ApiError::Retryable {
                    maybe_sent: true,
                    ..
                }
            ),
            "{what}: {err:?}"
        );
        assert_refused_large(&what, err, started.elapsed(), written).await;

        // A multipart create, on reqwest.
        let (url, written) = hostile_server(flood);
        let client = patient(&url, Credentials::Token(TOKEN.into()));
        let started = Instant::now();
        let err = client.create_customer(&file_customer).await.unwrap_err();
        let what = format!("multipart, {flood:?}");
        assert!(
            matches!(
                err,
                ApiError::Retryable {
                    maybe_sent: true,
                    ..
                }
            ),
            "{what}: {err:?}"
        );
        assert_refused_large(&what, err, started.elapsed(), written).await;

        // The token request: no customer request left, so nothing may have been created.
        let (url, written) = hostile_server(flood);
        let client = patient(
            &url,
            Credentials::Client {
                id: "company-1".into(),
                key: KEY.into(),
            },
        );
        let started = Instant::now();
        let err = client.create_customer(&url_customer()).await.unwrap_err();
        let what = format!("token, {flood:?}");
        assert!(
            matches!(
                err,
                ApiError::Retryable {
                    maybe_sent: false,
                    ..
                }
            ),
            "{what}: {err:?}"
        );
        assert!(
            err.to_string().contains("could not obtain an access token"),
            "{what}: {err}"
        );
        assert_refused_large(&what, err, started.elapsed(), written).await;

        // A read.
        let (url, written) = hostile_server(flood);
        let client = patient(&url, Credentials::Token(TOKEN.into()));
        let started = Instant::now();
        let err = client.get_customer("c-1").await.unwrap_err();
        assert!(matches!(err, ApiError::Retryable { .. }), "{err:?}");
        assert_refused_large(&format!("read, {flood:?}"), err, started.elapsed(), written).await;
    }
}

/// An answer of exactly 1 MiB is still read: the limit is on what is more.
#[tokio::test]
async fn an_answer_of_one_mib_is_read() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/api/v1", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        read_request(&stream);
        let envelope = br#"{"success":true,"statusCode":201,"message":"ok","data":{"id":"c-1"}}"#;
        let mut body = envelope.to_vec();
        body.resize(body::MAX_ANSWER_BYTES, b' ');
        let head = format!(
            "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&body).unwrap();
        std::thread::sleep(Duration::from_secs(1));
    });
    let client = patient(&url, Credentials::Token(TOKEN.into()));
    assert_eq!(
        client.create_customer(&url_customer()).await.unwrap().id,
        "c-1"
    );
}

/// A TLS server on 127.0.0.1:0 whose certificate is self-signed (a committed test fixture,
/// valid for `localhost` and 127.0.0.1 until 2126): no client trusts it. It shakes hands with
/// every connection and answers nothing.
fn untrusted_tls_server() -> String {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let fixture = |name: &str| {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/tls")
            .join(name)
    };
    let cert = CertificateDer::from_pem_file(fixture("self-signed.crt.pem")).unwrap();
    let key = PrivateKeyDer::from_pem_file(fixture("self-signed.key.pem")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("https://{}/api/v1", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            // The client refuses the certificate: the handshake fails on this side too.
            tokio::spawn(async move { acceptor.accept(stream).await.map(drop) });
        }
    });
    url
}

/// A certificate no one trusts is fatal at once, on both ways of sending, with the way out.
#[tokio::test]
async fn an_untrusted_certificate_is_fatal_and_names_the_way_out() {
    let url = untrusted_tls_server();
    let client = Client::new(config(&url, Credentials::Token(TOKEN.into()))).unwrap();
    for (what, err) in [
        (
            "enroll",
            client.create_customer(&url_customer()).await.map(drop),
        ),
        ("read", client.get_customer("c-1").await.map(drop)),
    ] {
        let err = err.unwrap_err();
        assert!(
            matches!(err, ApiError::Fatal { status: None, .. }),
            "{what}: {err:?}"
        );
        let message = err.to_string();
        for needle in [
            "TLS certificate was refused",
            "not trust",
            "--ca-cert",
            "SSL_CERT_FILE",
        ] {
            assert!(message.contains(needle), "{what}: {needle:?} in {message}");
        }
    }
}
