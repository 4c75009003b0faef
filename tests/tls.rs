//! The binary over HTTPS: a TLS front with its own CA (`tls_front`) before wiremock. `run`
//! trusts the CA given with `--ca-cert`, or named by `SSL_CERT_FILE` alone (set for the child
//! process only: the environment is global), and stops at the first refused certificate
//! without sending anything; a `--ca-cert` file it cannot use stops `run` and `reconcile`
//! before anything is sent.

use std::path::Path;
use std::process::{Command, Output};

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::tls_front::TlsFront;
use crate::util::{URL_HEADER, Work, csv_text, url_row};

const BIN: &str = env!("CARGO_BIN_EXE_cartevo-enroll");

/// wiremock creating every customer, behind a TLS front.
async fn https_api() -> (MockServer, TlsFront) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/customers/enroll"))
        .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({
            "success": true, "statusCode": 201, "message": "Customer enrolled successfully",
            "data": {"id": "c-tls"}
        })))
        .mount(&server)
        .await;
    let front = TlsFront::start(*server.address()).await;
    (server, front)
}

/// `run` of a three-row URL file in `work`, against `base_url`, with its own journal and
/// report folder `name`; the environment says nothing about certificates unless `extra` does.
fn run(work: &Work, name: &str, base_url: &str, args: &[&str]) -> Command {
    let rows: Vec<Vec<String>> = (1..=3).map(url_row).collect();
    let file = work.write(&format!("{name}.csv"), &csv_text(URL_HEADER, &rows));
    let mut cmd = Command::new(BIN);
    cmd.current_dir(work.dir.path())
        .env_remove("CARTEVO_CLIENT_ID")
        .env_remove("CARTEVO_CLIENT_KEY")
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .env_remove("RUST_LOG")
        .env("CARTEVO_API_TOKEN", "test-token")
        .env("NO_COLOR", "1")
        .arg("run")
        .arg(&file)
        .args(["--base-url", base_url, "--report-dir", name])
        .args(["--journal", &format!("{name}.db")])
        .args([
            "--as-of",
            crate::util::AS_OF,
            "--rate",
            "0",
            "--backoff-ms",
            "10",
        ])
        .args(args);
    cmd
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[track_caller]
fn assert_all_created(work: &Work, name: &str, out: &Output) {
    assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
    let results = std::fs::read_to_string(work.path(name).join("results.csv")).unwrap();
    assert_eq!(
        results.matches(",created,c-tls,201,").count(),
        3,
        "{results}"
    );
}

fn summary(work: &Work, name: &str) -> serde_json::Value {
    let text = std::fs::read(work.path(name).join("summary.json")).unwrap();
    serde_json::from_slice(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn run_trusts_the_ca_cert_and_stops_at_once_without_it() {
    let (server, front) = https_api().await;
    let work = Work::new();
    let ca = front.write_ca(work.dir.path(), "proxy-ca.pem");
    let url = front.base_url();

    let out = run(&work, "trusted", &url, &["--ca-cert", ca.to_str().unwrap()])
        .output()
        .unwrap();
    assert_all_created(&work, "trusted", &out);
    assert_eq!(server.received_requests().await.unwrap().len(), 3);

    let out = run(&work, "untrusted", &url, &[]).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    for part in ["certificate is not trusted", "--ca-cert", "SSL_CERT_FILE"] {
        assert!(err.contains(part), "{part:?} missing in:\n{err}");
    }
    // Stopped at the first refusal: no row retried, nothing reached the API.
    assert_eq!(summary(&work, "untrusted")["retries"], 0);
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn ssl_cert_file_alone_is_trusted() {
    let (server, front) = https_api().await;
    let work = Work::new();
    let ca = front.write_ca(work.dir.path(), "bundle.pem");
    let out = run(&work, "env", &front.base_url(), &[])
        .env("SSL_CERT_FILE", &ca)
        .output()
        .unwrap();
    assert_all_created(&work, "env", &out);
    assert!(
        !stderr(&out).contains("bundled Mozilla roots"),
        "{}",
        stderr(&out)
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_store_falls_back_to_the_bundled_roots_with_a_warning() {
    let (server, front) = https_api().await;
    let work = Work::new();
    let missing = work.path("no-such-bundle.pem");

    // The bundled roots do not know the front's CA...
    let out = run(&work, "bundled", &front.base_url(), &[])
        .env("SSL_CERT_FILE", &missing)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("trusting the bundled Mozilla roots instead"),
        "{err}"
    );
    assert!(err.contains("no-such-bundle.pem"), "{err}");
    assert!(err.contains("certificate is not trusted"), "{err}");

    // ...and --ca-cert still adds it beside them.
    let ca = front.write_ca(work.dir.path(), "ca.pem");
    let out = run(
        &work,
        "bundled-plus",
        &front.base_url(),
        &["--ca-cert", ca.to_str().unwrap()],
    )
    .env("SSL_CERT_FILE", &missing)
    .output()
    .unwrap();
    assert_all_created(&work, "bundled-plus", &out);
    assert!(stderr(&out).contains("with the --ca-cert certificates"));
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ca_cert_it_cannot_use_stops_run_and_reconcile_before_sending() {
    let (server, front) = https_api().await;
    let work = Work::new();
    let missing = work.path("missing.pem");
    let empty = work.write("empty.pem", b"");

    let out = run(
        &work,
        "missing",
        &front.base_url(),
        &["--ca-cert", missing.to_str().unwrap()],
    )
    .output()
    .unwrap();
    assert_names_the_file(&out, &missing, "cannot read");

    let out = Command::new(BIN)
        .current_dir(work.dir.path())
        .env("CARTEVO_API_TOKEN", "test-token")
        .args(["reconcile", "--journal", "none.db"])
        .args(["--base-url", &front.base_url(), "--ca-cert"])
        .arg(&empty)
        .output()
        .unwrap();
    assert_names_the_file(&out, &empty, "holds no certificate");
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[track_caller]
fn assert_names_the_file(out: &Output, file: &Path, why: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let named = format!("--ca-cert '{}'", file.display());
    assert!(err.contains(&named), "{named} missing in:\n{err}");
    assert!(err.contains(why), "{why:?} missing in:\n{err}");
}
