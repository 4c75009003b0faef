//! The local Cartevo API double, used by the `sandbox` command, the `demo` command and the
//! end-to-end tests.
//!
//! It is strict: it answers as Cartevo's reference pages say (envelope, 201 with
//! the full customer, 400 naming the field, 409/413/415/422/401/403/404), and its rehearsal
//! knobs (latency, injected failures, rate limit, short token lifetime, customer cap) let an
//! operator rehearse a night's run against the troubles the real API can show.
//!
//! It owns no CLI parsing: the `sandbox` command maps its flags onto [`SandboxConfig`].
//!
//! Layout:
//! - `routes`: the router, middleware, the token and create handlers (the HTTP face).
//! - `reads`: the list, customer, cards and transactions handlers.
//! - `checks`: the server-side field checks of the two create endpoints, with the server's
//!   own validation library (`crate::validatorjs`) and its refusal of undeclared properties.
//! - `store`: customers, cards and transactions, in memory and optionally in SQLite.
//! - `faults`: latency, injected failures and the rate limit.
//! - `model`: the wire types.

pub(crate) mod checks;
mod faults;
mod model;
mod reads;
mod routes;
mod store;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

#[cfg(test)]
pub use model::{Card, SandboxCustomer, Transaction};

use faults::Faults;
pub use faults::Schedule;
use store::Store;

/// Every route lives under this prefix.
pub const API_PREFIX: &str = "/api/v1";

/// What the sandbox accepts and which troubles it stages. `Default` is a well-behaved server
/// with token `sandbox`, client credentials `sandbox`/`sandbox` and one-hour access tokens.
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// A static bearer token that never expires.
    pub token: String,
    /// The client credentials `POST /auth/token` accepts.
    pub client_id: String,
    pub client_key: String,
    /// Added to every request.
    pub latency: Duration,
    /// A further delay drawn uniformly from `[0, jitter]` for every request.
    pub jitter: Duration,
    /// The fraction (0.0–1.0) of create requests that fail with a 5xx or a dropped
    /// connection; half of those fail after the customer was stored.
    pub fail_rate: f64,
    /// Requests per second over the whole server, fixed or changing over time; beyond it
    /// 429 with `Retry-After: 1`.
    pub rate_limit: Option<Schedule>,
    /// Requests handled at once over the whole server; beyond it 429 with `Retry-After: 1`.
    pub max_in_flight: Option<u32>,
    /// Lifetime of tokens issued by `POST /auth/token`.
    pub token_ttl: Duration,
    /// Preproduction cap: 403 once this many customers exist.
    pub max_customers: Option<usize>,
    /// A SQLite file that keeps the customers across restarts; in memory when `None`.
    pub state: Option<PathBuf>,
    /// Give every new customer one card with a few transactions, so reconcile has
    /// something to read.
    pub seed_cards: bool,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            token: "sandbox".to_owned(),
            client_id: "sandbox".to_owned(),
            client_key: "sandbox".to_owned(),
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            fail_rate: 0.0,
            rate_limit: None,
            max_in_flight: None,
            token_ttl: Duration::from_secs(3600),
            max_customers: None,
            state: None,
            seed_cards: false,
        }
    }
}

/// What the sandbox has seen, for tests.
#[cfg(test)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SandboxStats {
    /// Every request received, rate-limited ones included.
    pub requests: u64,
    /// `POST /customers` and `POST /customers/enroll` requests received, whatever the answer.
    pub create_requests: u64,
    /// Customers stored (including those loaded from the state file).
    pub customers: usize,
    /// Requests answered 429.
    pub rate_limited: u64,
    /// Create requests that got an injected failure.
    pub injected_failures: u64,
}

/// A handle on one sandbox's state. Cheap to clone: every clone sees the same customers, so a
/// test can keep one while `start` consumes another.
#[derive(Clone)]
pub struct Sandbox {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("customers", &self.customer_count())
            .finish_non_exhaustive()
    }
}

/// Everything the handlers share. Each field guards itself: the store has its own lock
/// (check-and-insert is one critical section), the token map its own, counters are atomics.
struct Shared {
    cfg: SandboxConfig,
    store: Store,
    faults: Faults,
    /// Issued access token → when it stops being valid. Expired entries are purged when a
    /// new token is issued, so the map stays as small as the live tokens.
    tokens: Mutex<HashMap<String, Instant>>,
    counters: Counters,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    create_requests: AtomicU64,
    rate_limited: AtomicU64,
}

impl Counters {
    fn count_request(&self, create: bool) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if create {
            self.create_requests.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn count_rate_limited(&self) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
    }
}

enum TokenState {
    Valid,
    Expired,
    Unknown,
}

impl Sandbox {
    /// Checks the knobs and opens the state file, if any.
    pub fn new(cfg: SandboxConfig) -> anyhow::Result<Sandbox> {
        anyhow::ensure!(!cfg.token.is_empty(), "the sandbox token must not be empty");
        let faults = Faults::new(
            cfg.latency,
            cfg.jitter,
            cfg.fail_rate,
            cfg.rate_limit.clone(),
            cfg.max_in_flight,
        )?;
        let store = match &cfg.state {
            Some(path) => Store::open(path)?,
            None => Store::in_memory(),
        };
        Ok(Sandbox {
            shared: Arc::new(Shared {
                cfg,
                store,
                faults,
                tokens: Mutex::new(HashMap::new()),
                counters: Counters::default(),
            }),
        })
    }

    /// Serves on an already-bound loopback listener until `shutdown` resolves, then lets the
    /// requests in flight finish.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let addr = listener
            .local_addr()
            .context("sandbox listener has no address")?;
        anyhow::ensure!(
            addr.ip().is_loopback(),
            "the sandbox serves on loopback only, not on {addr}"
        );
        let app = routes::router(self);
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
            .context("sandbox server failed")
    }

    /// Binds 127.0.0.1 on a free port and serves there on the current runtime until the
    /// returned handle is stopped or dropped.
    pub async fn start(self) -> anyhow::Result<RunningSandbox> {
        let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
            .await
            .context("could not bind the sandbox to 127.0.0.1")?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(self.serve(listener, async {
            // A dropped sender stops the server too.
            let _ = stopped.await;
        }));
        Ok(RunningSandbox {
            url: format!("http://{addr}{API_PREFIX}"),
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Customers stored.
    pub fn customer_count(&self) -> usize {
        self.shared.store.len()
    }

    /// Create requests received, whatever their answer.
    #[cfg(test)]
    pub fn create_requests(&self) -> u64 {
        self.shared.counters.create_requests.load(Ordering::Relaxed)
    }

    #[cfg(test)]
    pub fn stats(&self) -> SandboxStats {
        let counters = &self.shared.counters;
        SandboxStats {
            requests: counters.requests.load(Ordering::Relaxed),
            create_requests: self.create_requests(),
            customers: self.customer_count(),
            rate_limited: counters.rate_limited.load(Ordering::Relaxed),
            injected_failures: self.shared.faults.injected(),
        }
    }

    /// A snapshot of every stored customer, in creation order.
    #[cfg(test)]
    pub fn customers(&self) -> Vec<SandboxCustomer> {
        self.shared.store.all()
    }

    /// Gives a stored customer a card (its `customer_id` is set to `customer_id`). Fails for
    /// an unknown customer.
    #[cfg(test)]
    pub fn seed_card(&self, customer_id: Uuid, mut card: Card) -> anyhow::Result<()> {
        card.customer_id = customer_id;
        self.shared.store.add_card(card)
    }

    /// Records a transaction of a stored customer. Its `card_id` should name one of the
    /// customer's cards, whose summary then appears in the answer.
    #[cfg(test)]
    pub fn seed_transaction(
        &self,
        customer_id: Uuid,
        transaction: Transaction,
    ) -> anyhow::Result<()> {
        self.shared.store.add_transaction(customer_id, transaction)
    }

    /// The cards of a customer; `None` for an unknown customer.
    #[cfg(test)]
    pub fn cards(&self, customer_id: Uuid) -> Option<Vec<Card>> {
        self.shared.store.cards(customer_id)
    }

    fn issue_token(&self) -> String {
        let token = format!("sbx_{}", Uuid::new_v4().simple());
        let now = Instant::now();
        let mut tokens = self
            .shared
            .tokens
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        tokens.retain(|_, expires| *expires > now);
        tokens.insert(token.clone(), now + self.shared.cfg.token_ttl);
        token
    }

    fn token_state(&self, token: &str) -> TokenState {
        if token == self.shared.cfg.token {
            return TokenState::Valid;
        }
        let tokens = self
            .shared
            .tokens
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match tokens.get(token) {
            Some(expires) if Instant::now() < *expires => TokenState::Valid,
            Some(_) => TokenState::Expired,
            None => TokenState::Unknown,
        }
    }
}

/// A sandbox serving in the background. Dropping it asks the server to stop; `stop` also
/// waits until it has.
#[derive(Debug)]
pub struct RunningSandbox {
    url: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl RunningSandbox {
    /// The base URL, "http://127.0.0.1:PORT/api/v1".
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Stops accepting, waits for the requests in flight and returns the server's outcome.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.context("sandbox server task failed")?,
            None => Ok(()),
        }
    }
}

impl Drop for RunningSandbox {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
