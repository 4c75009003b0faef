//! The sandbox's customers, cards and transactions: in memory, and mirrored to a SQLite file
//! when the sandbox was given one, so that a rehearsal survives a restart.
//!
//! One `std::sync::Mutex` guards everything, the SQLite connection included. Duplicate
//! detection must be exact when many requests arrive at once, so the duplicate check, the
//! cap check, the write to SQLite and the insert into memory happen under that one lock and
//! no other task can slip a customer in between. The lock is never held across an `.await`;
//! SQLite writes are small and synchronous, which is fine for a local double.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use anyhow::Context;
use rusqlite::{Connection, params};
use uuid::Uuid;

use super::model::{Card, SandboxCustomer, Transaction};

/// Why a customer was not stored.
#[derive(Debug)]
pub(crate) enum InsertError {
    /// The email (any case) is taken.
    DuplicateEmail,
    /// The identification number is taken.
    DuplicateIdNumber,
    /// `max_customers` customers exist already.
    Cap(usize),
    /// The state file could not be written.
    Storage(anyhow::Error),
}

pub(crate) struct Store {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Creation order: `GET /customers` pages through this.
    customers: Vec<SandboxCustomer>,
    by_id: HashMap<Uuid, usize>,
    /// Lower-cased email → index.
    by_email: HashMap<String, usize>,
    by_id_number: HashMap<String, usize>,
    cards: HashMap<Uuid, Vec<Card>>,
    /// Customer id → transactions, oldest first.
    transactions: HashMap<Uuid, Vec<Transaction>>,
    db: Option<Connection>,
}

/// Schema versions, applied in order and tracked in `PRAGMA user_version`. Never edit a
/// released entry; append a new one.
const MIGRATIONS: &[&str] = &["
    CREATE TABLE customers (
        seq  INTEGER PRIMARY KEY AUTOINCREMENT,
        id   TEXT NOT NULL UNIQUE,
        body TEXT NOT NULL
    );
    CREATE TABLE cards (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        customer_id TEXT NOT NULL,
        body        TEXT NOT NULL
    );
    CREATE TABLE transactions (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        customer_id TEXT NOT NULL,
        body        TEXT NOT NULL
    );
"];

impl Store {
    pub(crate) fn in_memory() -> Store {
        Store {
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Opens (or creates) the state file and loads what it holds.
    pub(crate) fn open(path: &Path) -> anyhow::Result<Store> {
        // Rehearsal customers are personal data too: the file (and SQLite's journal files,
        // which take its mode) is its owner's only.
        crate::files::open_private(path)
            .with_context(|| format!("could not open sandbox state '{}'", path.display()))?;
        let mut db = Connection::open(path)
            .with_context(|| format!("could not open sandbox state '{}'", path.display()))?;
        migrate(&mut db)
            .with_context(|| format!("could not prepare sandbox state '{}'", path.display()))?;
        let mut inner = Inner::default();
        load(&db, &mut inner)
            .with_context(|| format!("could not read sandbox state '{}'", path.display()))?;
        inner.db = Some(db);
        Ok(Store {
            inner: Mutex::new(inner),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves the maps consistent (every write is the last
        // step), so a poisoned lock is still usable.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Stores `customer` (and the optional demo card) unless it is a duplicate or the cap
    /// is reached. Check and insert are one critical section.
    pub(crate) fn insert(
        &self,
        customer: SandboxCustomer,
        max_customers: Option<usize>,
        card: Option<(Card, Vec<Transaction>)>,
    ) -> Result<(), InsertError> {
        let mut inner = self.lock();
        let email_key = customer.email.to_lowercase();
        if inner.by_email.contains_key(&email_key) {
            return Err(InsertError::DuplicateEmail);
        }
        if inner
            .by_id_number
            .contains_key(&customer.identification_number)
        {
            return Err(InsertError::DuplicateIdNumber);
        }
        if let Some(max) = max_customers
            && inner.customers.len() >= max
        {
            return Err(InsertError::Cap(max));
        }
        if let Some(db) = inner.db.as_mut() {
            persist_customer(db, &customer, card.as_ref()).map_err(InsertError::Storage)?;
        }
        let index = inner.customers.len();
        inner.by_id.insert(customer.id, index);
        inner.by_email.insert(email_key, index);
        inner
            .by_id_number
            .insert(customer.identification_number.clone(), index);
        if let Some((card, txs)) = card {
            inner.cards.entry(customer.id).or_default().push(card);
            inner
                .transactions
                .entry(customer.id)
                .or_default()
                .extend(txs);
        }
        inner.customers.push(customer);
        Ok(())
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().customers.len()
    }

    #[cfg(test)]
    pub(crate) fn all(&self) -> Vec<SandboxCustomer> {
        self.lock().customers.clone()
    }

    pub(crate) fn get(&self, id: Uuid) -> Option<SandboxCustomer> {
        let inner = self.lock();
        inner.by_id.get(&id).map(|&i| inner.customers[i].clone())
    }

    /// One page in creation order, and the total.
    pub(crate) fn page(&self, offset: usize, limit: usize) -> (Vec<SandboxCustomer>, usize) {
        let inner = self.lock();
        let page = inner
            .customers
            .iter()
            .skip(offset)
            .take(limit)
            .cloned()
            .collect();
        (page, inner.customers.len())
    }

    /// `None` when the customer is unknown.
    pub(crate) fn cards(&self, customer_id: Uuid) -> Option<Vec<Card>> {
        let inner = self.lock();
        inner.by_id.get(&customer_id)?;
        Some(inner.cards.get(&customer_id).cloned().unwrap_or_default())
    }

    /// `None` when the customer is unknown. Each transaction comes with its card, if known.
    pub(crate) fn transactions(
        &self,
        customer_id: Uuid,
    ) -> Option<Vec<(Transaction, Option<Card>)>> {
        let inner = self.lock();
        inner.by_id.get(&customer_id)?;
        let cards = inner.cards.get(&customer_id);
        let txs = inner.transactions.get(&customer_id);
        Some(
            txs.into_iter()
                .flatten()
                .map(|tx| {
                    let card = cards
                        .and_then(|cards| cards.iter().find(|c| c.id == tx.card_id))
                        .cloned();
                    (tx.clone(), card)
                })
                .collect(),
        )
    }

    #[cfg(test)]
    pub(crate) fn add_card(&self, card: Card) -> anyhow::Result<()> {
        let mut inner = self.lock();
        anyhow::ensure!(
            inner.by_id.contains_key(&card.customer_id),
            "no sandbox customer {}",
            card.customer_id
        );
        if let Some(db) = inner.db.as_ref() {
            db.execute(
                "INSERT INTO cards (customer_id, body) VALUES (?1, ?2)",
                params![card.customer_id.to_string(), serde_json::to_string(&card)?],
            )
            .context("could not write card to sandbox state")?;
        }
        inner.cards.entry(card.customer_id).or_default().push(card);
        Ok(())
    }

    #[cfg(test)]
    pub(crate) fn add_transaction(&self, customer_id: Uuid, tx: Transaction) -> anyhow::Result<()> {
        let mut inner = self.lock();
        anyhow::ensure!(
            inner.by_id.contains_key(&customer_id),
            "no sandbox customer {customer_id}"
        );
        if let Some(db) = inner.db.as_ref() {
            db.execute(
                "INSERT INTO transactions (customer_id, body) VALUES (?1, ?2)",
                params![customer_id.to_string(), serde_json::to_string(&tx)?],
            )
            .context("could not write transaction to sandbox state")?;
        }
        inner.transactions.entry(customer_id).or_default().push(tx);
        Ok(())
    }
}

fn migrate(db: &mut Connection) -> anyhow::Result<()> {
    db.busy_timeout(std::time::Duration::from_secs(5))?;
    crate::sqlite::migrate(db, MIGRATIONS)
}

fn load(db: &Connection, inner: &mut Inner) -> anyhow::Result<()> {
    let mut stmt = db.prepare("SELECT body FROM customers ORDER BY seq")?;
    for body in stmt.query_map([], |row| row.get::<_, String>(0))? {
        let customer: SandboxCustomer = serde_json::from_str(&body?)?;
        let index = inner.customers.len();
        inner.by_id.insert(customer.id, index);
        inner.by_email.insert(customer.email.to_lowercase(), index);
        inner
            .by_id_number
            .insert(customer.identification_number.clone(), index);
        inner.customers.push(customer);
    }
    let mut stmt = db.prepare("SELECT body FROM cards ORDER BY seq")?;
    for body in stmt.query_map([], |row| row.get::<_, String>(0))? {
        let card: Card = serde_json::from_str(&body?)?;
        inner.cards.entry(card.customer_id).or_default().push(card);
    }
    let mut stmt = db.prepare("SELECT customer_id, body FROM transactions ORDER BY seq")?;
    let rows = stmt.query_map([], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
    })?;
    for row in rows {
        let (customer_id, body) = row?;
        let customer_id: Uuid = customer_id.parse()?;
        let tx: Transaction = serde_json::from_str(&body)?;
        inner.transactions.entry(customer_id).or_default().push(tx);
    }
    Ok(())
}

/// Writes a customer and its demo card in one SQLite transaction: all or nothing.
fn persist_customer(
    db: &mut Connection,
    customer: &SandboxCustomer,
    card: Option<&(Card, Vec<Transaction>)>,
) -> anyhow::Result<()> {
    let tx = db.transaction()?;
    let id = customer.id.to_string();
    tx.execute(
        "INSERT INTO customers (id, body) VALUES (?1, ?2)",
        params![id, serde_json::to_string(customer)?],
    )?;
    if let Some((card, txs)) = card {
        tx.execute(
            "INSERT INTO cards (customer_id, body) VALUES (?1, ?2)",
            params![id, serde_json::to_string(card)?],
        )?;
        for t in txs {
            tx.execute(
                "INSERT INTO transactions (customer_id, body) VALUES (?1, ?2)",
                params![id, serde_json::to_string(t)?],
            )?;
        }
    }
    tx.commit()
        .context("could not write customer to sandbox state")?;
    Ok(())
}
