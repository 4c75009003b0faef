//! `check`: before a nightly run, tries in order the base URL (the host resolves and takes a
//! TCP connection), TLS (the handshake, with the trust the client uses), the credentials (a
//! token obtained and accepted by the API) and one read (`GET /customers?limit=1`), and says
//! of each "ok" or "failed" with the reason. The first failure stops it; the steps after it
//! are "skipped". Nothing is created: the only requests are the token request (client
//! credentials) and the read.
//!
//! The lines go to stderr, as everything but report folders does; the exit code (0 or 1)
//! is what a script reads.

use anyhow::Result;

use crate::api::probe::Target;
use crate::api::{ApiConfig, Client, Credentials};
use crate::config::CheckSettings;
use crate::exit::Exit;

/// The steps, in order.
const STEPS: [&str; 4] = ["base URL", "TLS", "credentials", "read"];

/// Prints the steps' lines as they end, and the rest as skipped after a failure.
struct Steps {
    next: usize,
}

impl Steps {
    fn line(&mut self, state: &str, detail: &str) {
        let name = STEPS[self.next];
        self.next += 1;
        let text = if detail.is_empty() {
            format!("{name:<12} {state}\n")
        } else {
            format!("{name:<12} {state:<9} {detail}\n")
        };
        let event = match state {
            "failed" => crate::output::Event::error(format!("check {name}: {state}")),
            _ => crate::output::Event::info(format!("check {name}: {state}")),
        };
        event
            .field("step", name)
            .field("state", state)
            .field("detail", detail)
            .text(text)
            .emit();
    }

    fn ok(&mut self, detail: &str) {
        self.line("ok", detail);
    }

    /// A step that does not apply (TLS to a plain http:// base URL) or cannot be tried
    /// directly (behind a proxy): not a failure.
    fn not_tried(&mut self, why: &str) {
        self.line("not tried", why);
    }

    /// The step failed: the rest are skipped, and the check exits 1.
    fn failed(mut self, why: &str) -> Exit {
        self.line("failed", why);
        while self.next < STEPS.len() {
            self.line("skipped", "");
        }
        Exit::Fatal
    }
}

pub async fn check(settings: CheckSettings) -> Result<Exit> {
    let mut steps = Steps { next: 0 };
    let CheckSettings { api, timeout } = settings;

    // 1. The base URL: its form, then its host, resolved and connected to.
    let target = match Target::new(&api.base_url) {
        Ok(target) => target,
        Err(e) => return Ok(steps.failed(&format!("{e:#}"))),
    };
    if let Some(proxy) = target.proxy() {
        let why = format!(
            "{proxy} names a proxy: the requests below go through it (unless NO_PROXY exempts \
             the host)"
        );
        steps.not_tried(&why);
        steps.not_tried(&why);
    } else {
        let (tcp, addr) = match target.connect(timeout).await {
            Ok(reached) => reached,
            Err(why) => return Ok(steps.failed(&why)),
        };
        steps.ok(&format!("{} answers at {addr}", api.base_url.trim()));
        // 2. TLS, on that connection.
        if target.is_https() {
            match target.handshake(tcp, &api.ca_cert, timeout).await {
                Ok(version) => steps.ok(&format!("{version}, the server's certificate trusted")),
                Err(why) => return Ok(steps.failed(&why)),
            }
        } else {
            steps.not_tried("plain http:// to a loopback host: no TLS");
        }
    }

    // 3. The credentials: found, turned into a token, and that token accepted by the API.
    let credentials = match crate::config::credentials(&api) {
        Ok(c) => c,
        Err(e) => return Ok(steps.failed(&format!("{e:#}"))),
    };
    let source = describe(&credentials);
    let client = match Client::new(ApiConfig {
        base_url: api.base_url.clone(),
        credentials,
        timeout,
        provider_enroll: false,
        ca_certs: api.ca_cert.clone(),
    }) {
        Ok(client) => client,
        Err(e) => return Ok(steps.failed(&format!("{source}: {e:#}"))),
    };
    if let Err(e) = client.authenticate().await {
        return Ok(steps.failed(&format!("{source}: {e}")));
    }

    // 4. One read; its answer also says whether the token was accepted.
    let read = client.first_customers(1).await;
    match &read {
        Err(e) if e.http_status() == Some(401) => {
            return Ok(steps.failed(&format!("{source}: {e}")));
        }
        Ok(_) => steps.ok(&format!("{source}, accepted by the API")),
        // An answer other than 401: the API knew the token.
        Err(e) if e.http_status().is_some() => steps.ok(&format!("{source}, accepted by the API")),
        Err(_) => steps.ok(&format!(
            "{source}: a token, which no answer of the API confirmed (see the read)"
        )),
    }
    match read {
        Ok(page) => steps.ok(&format!(
            "GET /customers?limit=1 answered; the API holds {} customer{}",
            page.total,
            if page.total == 1 { "" } else { "s" }
        )),
        Err(e) => return Ok(steps.failed(&format!("GET /customers?limit=1: {e}"))),
    }
    Ok(Exit::Done)
}

/// Where the token came from, without any of it.
fn describe(credentials: &Credentials) -> String {
    match credentials {
        Credentials::Token(_) => "CARTEVO_API_TOKEN".to_owned(),
        Credentials::TokenFile(path) => format!("--token-file '{}'", path.display()),
        Credentials::Client { .. } => {
            "CARTEVO_CLIENT_ID and CARTEVO_CLIENT_KEY through POST /auth/token".to_owned()
        }
    }
}
