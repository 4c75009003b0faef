//! reconcile.csv and reconcile-summary.json: one line per customer read back, and the counts.
//!
//! reconcile.csv holds no personal data beyond the partner's reference and the Cartevo
//! customer id: a mismatch is named by field, never by value.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::api::{Card, Transaction};
use crate::files::Staged;
use crate::report::{self, Figures, SummaryCommand, SummaryInput};

/// The contract's columns, in order.
pub const COLUMNS: [&str; 9] = [
    "row",
    "reference",
    "customer_id",
    "status",
    "mismatches",
    "is_active",
    "cards",
    "balance",
    "transactions",
];

/// How one customer compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// Cartevo holds what the partner sent, and the customer is active.
    Match,
    /// Some fields differ (named in `mismatches`). Wins over `Inactive`: a wrong record is
    /// the more urgent news, and `is_active` still says false.
    Mismatch,
    /// Cartevo holds what was sent, but has disabled the customer.
    Inactive,
    /// `GET /customers/{id}` answered 404.
    Missing,
}

impl Verdict {
    pub const ALL: [Verdict; 4] = [
        Verdict::Match,
        Verdict::Mismatch,
        Verdict::Inactive,
        Verdict::Missing,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Match => "match",
            Verdict::Mismatch => "mismatch",
            Verdict::Inactive => "inactive",
            Verdict::Missing => "missing",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Amounts per key in hundredths, so that sums of many small amounts do not drift.
type Cents = BTreeMap<String, i64>;

fn cents(amount: f64) -> i64 {
    (amount * 100.0).round() as i64
}

fn money(c: i64) -> String {
    let sign = if c < 0 { "-" } else { "" };
    format!(
        "{sign}{}.{:02}",
        c.unsigned_abs() / 100,
        c.unsigned_abs() % 100
    )
}

/// A customer's cards: count, statuses, balance per currency.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CardTally {
    pub count: u64,
    pub statuses: BTreeMap<String, u64>,
    pub balance: Cents,
}

impl CardTally {
    pub fn of(cards: &[Card]) -> CardTally {
        let mut t = CardTally::default();
        for card in cards {
            t.add_card(card);
        }
        t
    }

    fn add_card(&mut self, card: &Card) {
        self.count += 1;
        let status = card.status.as_deref().unwrap_or("UNKNOWN").to_uppercase();
        *self.statuses.entry(status).or_default() += 1;
        let currency = card.currency.as_deref().unwrap_or("?").to_uppercase();
        *self.balance.entry(currency).or_default() += cents(card.balance.unwrap_or(0.0));
    }

    fn merge(&mut self, other: &CardTally) {
        self.count += other.count;
        for (k, n) in &other.statuses {
            *self.statuses.entry(k.clone()).or_default() += n;
        }
        for (k, c) in &other.balance {
            *self.balance.entry(k.clone()).or_default() += c;
        }
    }

    /// "USD 25.00;XAF 1000.00".
    pub fn balance_text(&self) -> String {
        self.balance
            .iter()
            .map(|(cur, c)| format!("{cur} {}", money(*c)))
            .collect::<Vec<_>>()
            .join(";")
    }
}

/// A customer's transactions: count and totals per type and currency.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransactionTally {
    pub count: u64,
    /// type → currency → hundredths.
    pub totals: BTreeMap<String, Cents>,
}

impl TransactionTally {
    pub fn add(&mut self, t: &Transaction) {
        self.count += 1;
        let kind = t.kind.as_deref().unwrap_or("UNKNOWN").to_uppercase();
        // A transaction names its currency, or its card does.
        let currency = t
            .currency
            .as_deref()
            .or(t.card.as_ref().and_then(|c| c.currency.as_deref()))
            .unwrap_or("?")
            .to_uppercase();
        *self
            .totals
            .entry(kind)
            .or_default()
            .entry(currency)
            .or_default() += cents(t.amount.unwrap_or(0.0));
    }

    fn merge(&mut self, other: &TransactionTally) {
        self.count += other.count;
        for (kind, per) in &other.totals {
            let mine = self.totals.entry(kind.clone()).or_default();
            for (cur, c) in per {
                *mine.entry(cur.clone()).or_default() += c;
            }
        }
    }
}

/// One line of reconcile.csv.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub row: u64,
    pub reference: String,
    pub customer_id: String,
    pub verdict: Verdict,
    pub mismatches: Vec<&'static str>,
    pub is_active: Option<bool>,
    /// `None` without `--cards`, or for a missing customer.
    pub cards: Option<CardTally>,
    /// `None` without `--transactions`, or for a missing customer.
    pub transactions: Option<TransactionTally>,
}

/// What the summary says of one file.
#[derive(Debug, Clone, Default)]
pub struct Totals {
    pub counts: [u64; Verdict::ALL.len()],
    pub cards: CardTally,
    pub transactions: TransactionTally,
}

impl Totals {
    pub fn get(&self, v: Verdict) -> u64 {
        self.counts[v as usize]
    }

    pub fn checked(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// `Done` when every customer matches, `Act` when any needs a look.
    pub fn exit(&self) -> crate::exit::Exit {
        if self.checked() == self.get(Verdict::Match) {
            crate::exit::Exit::Done
        } else {
            crate::exit::Exit::Act
        }
    }
}

/// Writes reconcile.csv as rows arrive, and the summary at the end.
pub struct ReconcileReport {
    dir: PathBuf,
    /// Written beside its place and put there by `finish` (see `crate::files::Staged`).
    csv: csv::Writer<Staged>,
    totals: Totals,
}

impl ReconcileReport {
    pub fn create(dir: &Path) -> Result<ReconcileReport> {
        crate::files::create_dir_all(dir)
            .with_context(|| format!("could not create report folder '{}'", dir.display()))?;
        let mut csv = report::csv_writer(&dir.join("reconcile.csv"))?;
        csv.write_record(COLUMNS)
            .with_context(|| report::could_not_write(&csv))?;
        Ok(ReconcileReport {
            dir: dir.to_path_buf(),
            csv,
            totals: Totals::default(),
        })
    }

    pub fn row(&mut self, c: &Checked) -> Result<()> {
        self.totals.counts[c.verdict as usize] += 1;
        if let Some(cards) = &c.cards {
            self.totals.cards.merge(cards);
        }
        if let Some(t) = &c.transactions {
            self.totals.transactions.merge(t);
        }
        let row = c.row.to_string();
        let active = c.is_active.map(|a| a.to_string()).unwrap_or_default();
        let cards = c.cards.as_ref().map(|t| t.count.to_string());
        let balance = c.cards.as_ref().map(CardTally::balance_text);
        let transactions = c.transactions.as_ref().map(|t| t.count.to_string());
        self.csv
            .write_record([
                row.as_str(),
                &crate::report::guard_cell(&c.reference),
                &crate::report::guard_cell(&c.customer_id),
                c.verdict.as_str(),
                &c.mismatches.join(";"),
                &active,
                cards.as_deref().unwrap_or(""),
                &crate::report::guard_cell(balance.as_deref().unwrap_or("")),
                transactions.as_deref().unwrap_or(""),
            ])
            .with_context(|| report::could_not_write(&self.csv))
    }

    pub fn totals(&self) -> &Totals {
        &self.totals
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes out reconcile.csv and reconcile-summary.json, then puts both in place; on an
    /// error, neither.
    pub fn finish(self, summary: &Summary) -> Result<Totals> {
        let csv = report::finish_csv(self.csv)?;
        let json = report::stage_json(&self.dir.join("reconcile-summary.json"), summary)?;
        csv.put_in_place()?;
        json.put_in_place()?;
        Ok(self.totals)
    }
}

/// reconcile-summary.json.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub command: SummaryCommand,
    pub input: SummaryInput,
    /// Customers read back.
    pub checked: u64,
    /// Per status: match, mismatch, inactive, missing.
    pub counts: BTreeMap<&'static str, u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cards: Option<CardsSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transactions: Option<TransactionsSummary>,
    /// Duplicate rows whose customer id this command found (all files of the run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicates_resolved: Option<u64>,
    #[serde(flatten)]
    pub figures: Figures,
    /// Why the command stopped early, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    pub exit_code: i32,
}

#[derive(Debug, Serialize)]
pub struct CardsSummary {
    pub count: u64,
    pub statuses: BTreeMap<String, u64>,
    /// Currency → total balance as a decimal string ("25.00").
    pub balance: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
pub struct TransactionsSummary {
    pub count: u64,
    /// Type → currency → total amount as a decimal string.
    pub totals: BTreeMap<String, BTreeMap<String, String>>,
}

impl Summary {
    pub fn counts(totals: &Totals) -> BTreeMap<&'static str, u64> {
        Verdict::ALL
            .iter()
            .map(|v| (v.as_str(), totals.get(*v)))
            .collect()
    }

    pub fn cards(t: &CardTally) -> CardsSummary {
        CardsSummary {
            count: t.count,
            statuses: t.statuses.clone(),
            balance: t
                .balance
                .iter()
                .map(|(k, c)| (k.clone(), money(*c)))
                .collect(),
        }
    }

    pub fn transactions(t: &TransactionTally) -> TransactionsSummary {
        TransactionsSummary {
            count: t.count,
            totals: t
                .totals
                .iter()
                .map(|(kind, per)| {
                    (
                        kind.clone(),
                        per.iter().map(|(k, c)| (k.clone(), money(*c))).collect(),
                    )
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(status: &str, balance: f64, currency: &str) -> Card {
        serde_json::from_value(serde_json::json!({
            "id": "c", "status": status, "balance": balance, "currency": currency
        }))
        .unwrap()
    }

    #[test]
    fn balances_sum_per_currency_in_cents() {
        let t = CardTally::of(&[
            card("ACTIVE", 0.1, "usd"),
            card("ACTIVE", 0.2, "USD"),
            card("FROZEN", 1000.0, "XAF"),
            card("ACTIVE", -5.5, "EUR"),
        ]);
        assert_eq!(t.count, 4);
        assert_eq!(t.balance_text(), "EUR -5.50;USD 0.30;XAF 1000.00");
        assert_eq!(t.statuses.get("ACTIVE"), Some(&3));
    }

    #[test]
    fn csv_has_the_contract_columns_and_no_values() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = ReconcileReport::create(dir.path()).unwrap();
        r.row(&Checked {
            row: 3,
            reference: "P-3".into(),
            customer_id: "abc".into(),
            verdict: Verdict::Mismatch,
            mismatches: vec!["email", "city"],
            is_active: Some(true),
            cards: Some(CardTally::of(&[card("ACTIVE", 25.0, "USD")])),
            transactions: None,
        })
        .unwrap();
        let totals = r.totals().clone();
        let now = chrono::Utc::now();
        r.finish(&Summary {
            command: SummaryCommand::Reconcile,
            input: SummaryInput::new("x.csv", "00", 3),
            checked: totals.checked(),
            counts: Summary::counts(&totals),
            cards: None,
            transactions: None,
            duplicates_resolved: None,
            figures: Figures::new(now, now, Default::default()),
            stopped: None,
            exit_code: totals.exit().code(),
        })
        .unwrap();
        let text = std::fs::read_to_string(dir.path().join("reconcile.csv")).unwrap();
        assert_eq!(
            text,
            "row,reference,customer_id,status,mismatches,is_active,cards,balance,transactions\n\
             3,P-3,abc,mismatch,email;city,true,1,USD 25.00,\n"
        );
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("reconcile-summary.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(json["counts"]["mismatch"], 1);
        assert_eq!(json["exit_code"], 2);
        // Readable by the owner only, whatever the umask; nothing else left in the folder.
        use std::os::unix::fs::PermissionsExt;
        for name in ["reconcile.csv", "reconcile-summary.json"] {
            let meta = std::fs::metadata(dir.path().join(name)).unwrap();
            assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{name}");
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}
