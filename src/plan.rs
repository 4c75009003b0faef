//! Deciding each row: validation, duplicates inside the file, and what the journal already
//! knows. The one place that says whether a row is sent.

use std::hash::{BuildHasher, Hasher};

use anyhow::Result;

use crate::customer::Customer;
use crate::input::{CsvInput, Field, RowView};
use crate::journal::{CustomerKeys, JournalStatus, KeyKind, Keyer, Lookup};
use crate::status::Status;
use crate::validate::{Checked, DateFormat, Validator};

/// A row that passed every check and must be sent.
#[derive(Debug)]
pub struct Job {
    pub row: u64,
    pub customer: Customer,
    pub warnings: String,
    /// The customer's keys in the journal's index (run only).
    pub keys: Option<CustomerKeys>,
    /// What the journal held for this row before this run (restored if the row is claimed
    /// and then not sent).
    pub prior: Option<JournalStatus>,
}

#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // Send is the common case; boxing it would allocate per row
pub enum Decision {
    /// Final without sending: invalid, duplicate_in_file or already_enrolled.
    Local {
        status: Status,
        customer_id: Option<String>,
        message: String,
        warnings: String,
    },
    /// Valid and not yet answered for good.
    Send(Job),
    /// The journal holds a final answer from an earlier run: nothing to do.
    Done,
}

/// What the journal contributes to planning a `run`.
pub struct Known {
    /// `None` when the index is empty: it only grows when a run ends, so a run that starts
    /// with none has nothing to look up.
    pub lookup: Option<Lookup>,
    pub keyer: Keyer,
    pub file_id: i64,
    /// The path each file of the journal was run from, to name it in a message.
    pub file_paths: std::collections::HashMap<i64, String>,
    /// Index = row number.
    pub prior: Vec<Option<JournalStatus>>,
}

pub struct Planner {
    validator: Validator,
    dedupe: Dedupe,
    known: Option<Known>,
    /// The duplicate index was sized for the whole file.
    sized: bool,
    dates: AmbiguousDates,
}

/// The dates of birth a `--date-format` whose day and month could swap read in a file, and
/// how many of them would read as another real date with the two swapped: one such date
/// proves nothing, all of them may mean the partner writes the other way. Only rows checked
/// count (a resumed run skips the rows answered before).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AmbiguousDates {
    /// The pattern given, when its day and month could swap ([`DateFormat::swapped`]).
    pub format: Option<DateFormat>,
    pub read: u64,
    pub ambiguous: u64,
}

impl AmbiguousDates {
    fn new(format: Option<DateFormat>) -> AmbiguousDates {
        AmbiguousDates {
            format: format.filter(|f| f.swapped().is_some()),
            ..AmbiguousDates::default()
        }
    }

    fn count(&mut self, born: chrono::NaiveDate) {
        self.read += 1;
        self.ambiguous += u64::from(DateFormat::could_swap(born));
    }

    /// The other way the ambiguous dates read.
    pub fn swapped(&self) -> Option<DateFormat> {
        self.format.and_then(|f| f.swapped())
    }
}

impl Job {
    /// An earlier run sent this row and recorded no answer, or only failures: a 409 now may
    /// be the customer that an earlier request created.
    pub fn attempted_before(&self) -> bool {
        matches!(
            self.prior,
            Some(JournalStatus::InFlight | JournalStatus::Row(Status::Failed))
        )
    }
}

impl Planner {
    pub fn new(validator: Validator, known: Option<Known>) -> Planner {
        Planner {
            dates: AmbiguousDates::new(validator.date_format()),
            validator,
            dedupe: Dedupe::default(),
            known,
            sized: false,
        }
    }

    /// The dates of birth read so far.
    pub fn dates(&self) -> AmbiguousDates {
        self.dates
    }

    /// Sizes the in-file duplicate index for about `rows` rows, so it never grows (and never
    /// briefly doubles its memory) mid-file.
    pub fn reserve(&mut self, rows: u64) {
        self.sized = true;
        self.dedupe.seen.reserve((rows as usize).saturating_mul(2));
    }

    /// Decides every record of `input` in turn and hands each to `each` with its row view;
    /// `each` returns `false` to stop early. Unless [`Planner::reserve`] sized it, the
    /// duplicate index is sized once, from the first rows' average length and the file's.
    pub fn decide_all(
        &mut self,
        input: &mut CsvInput,
        mut each: impl FnMut(&RowView<'_>, u64, Decision) -> Result<bool>,
    ) -> Result<()> {
        const SAMPLE: u64 = 1024;
        let columns = input.columns.clone();
        let file_len = input.file_len();
        loop {
            let bytes_before = input.bytes_read();
            let Some(record) = input.next_record()? else {
                return Ok(());
            };
            let row = record.row;
            if row == SAMPLE && !self.sized {
                let per_row = bytes_before.max(1) as f64 / (row - 1) as f64;
                self.reserve((file_len as f64 / per_row * 1.05) as u64);
            }
            let view = RowView::new(&columns, record.fields);
            let decision = match record.problem {
                // Not a customer: not checked, and not an earlier row's duplicate either.
                Some(problem) => Decision::Local {
                    status: Status::Invalid,
                    customer_id: None,
                    message: problem.to_owned(),
                    warnings: String::new(),
                },
                None => self.decide(row, &view)?,
            };
            if !each(&view, row, decision)? {
                return Ok(());
            }
        }
    }

    pub fn decide(&mut self, row: u64, view: &RowView<'_>) -> Result<Decision> {
        // Any earlier row counts, valid or not: a partner's repeated row is flagged even when
        // its first copy was refused.
        let duplicate = self.dedupe.check(
            row,
            &view.get(Field::Email),
            &view.get(Field::IdentificationNumber),
        );
        let prior = self
            .known
            .as_ref()
            .and_then(|k| k.prior.get(row as usize).copied().flatten());
        // Answered for good by an earlier run: nothing to check again (a resumed million-row
        // file would otherwise validate, and stat every document of, rows it never sends).
        if prior.is_some_and(|p| p.reported().is_sent_final()) {
            return Ok(Decision::Done);
        }
        let (customer, warnings) = match self.validator.check(view) {
            Checked::Invalid {
                mut errors,
                warnings,
            } => {
                // An invalid row's date may have read all the same: it counts too. Read
                // again here, off the valid rows' path, so the verdict carries nothing more.
                if let Some(format) = self.dates.format
                    && let Some(born) = format.read(&view.get(Field::DateOfBirth))
                {
                    self.dates.count(born);
                }
                errors.extend(duplicate);
                return Ok(Decision::Local {
                    status: Status::Invalid,
                    customer_id: None,
                    message: errors.join("; "),
                    warnings: warnings.join("; "),
                });
            }
            Checked::Valid { customer, warnings } => {
                // Only dates the pattern read: a date cell's YYYY-MM-DD reads one way.
                if let Some(format) = self.dates.format
                    && format.read(&view.get(Field::DateOfBirth)).is_some()
                {
                    self.dates.count(customer.date_of_birth);
                }
                (customer, warnings.join("; "))
            }
        };
        if let Some(message) = duplicate {
            return Ok(Decision::Local {
                status: Status::DuplicateInFile,
                customer_id: None,
                message,
                warnings,
            });
        }
        let Some(known) = &self.known else {
            return Ok(Decision::Send(Job {
                row,
                customer,
                warnings,
                keys: None,
                prior: None,
            }));
        };
        let keys = known
            .keyer
            .keys(&customer.email, &customer.identification_number);
        let found = match &known.lookup {
            Some(lookup) => lookup.known(&keys)?,
            None => None,
        };
        if let Some(k) = found
            && !(k.file_id == known.file_id && k.row == row)
        {
            let field = match k.kind {
                KeyKind::Email => "email",
                KeyKind::IdNumber => "identification_number",
            };
            let place = if k.file_id == known.file_id {
                format!("row {} of this file", k.row)
            } else {
                match known.file_paths.get(&k.file_id) {
                    Some(path) => format!("row {} of {path}", k.row),
                    None => format!("row {} of an earlier file", k.row),
                }
            };
            return Ok(Decision::Local {
                status: Status::AlreadyEnrolled,
                message: format!("already enrolled: same {field} as {place}"),
                customer_id: k.customer_id,
                warnings,
            });
        }
        Ok(Decision::Send(Job {
            row,
            customer,
            warnings,
            keys: Some(keys),
            prior,
        }))
    }
}

/// Emails (any case) and identification numbers seen in earlier valid rows of the file.
///
/// It keeps a 64-bit hash of each value, not the value, so a million-row file costs tens of
/// megabytes rather than hundreds. Two different values colliding is a one-in-ten-million
/// event on a million rows.
#[derive(Default)]
struct Dedupe {
    hasher: std::collections::hash_map::RandomState,
    seen: Seen,
}

impl Dedupe {
    /// Registers the row and names the earlier row it repeats, if any. Empty values are not
    /// identities and are skipped.
    fn check(&mut self, row: u64, email: &str, id_number: &str) -> Option<String> {
        let row32 = row as u32;
        let by_email = (!email.is_empty())
            .then(|| self.seen.first_row(self.email_key(email), row32))
            .filter(|&first| first != row32);
        let by_id = (!id_number.is_empty())
            .then(|| {
                let mut h = self.hasher.build_hasher();
                h.write_u8(1);
                h.write(id_number.as_bytes());
                self.seen.first_row(h.finish(), row32)
            })
            .filter(|&first| first != row32);
        match (by_email, by_id) {
            (None, None) => None,
            (Some(e), Some(i)) if e == i => Some(format!(
                "email, identification_number: same as row {e} of this file"
            )),
            (Some(e), _) => Some(format!("email: same as row {e} of this file")),
            (None, Some(i)) => Some(format!(
                "identification_number: same as row {i} of this file"
            )),
        }
    }

    /// The email's key, any letter case. Nearly every address is ASCII and short: lower-case it
    /// on the stack and hash it in one write; otherwise fold it character by character.
    fn email_key(&self, email: &str) -> u64 {
        let mut h = self.hasher.build_hasher();
        h.write_u8(0);
        let mut buf = [0u8; 128];
        if email.is_ascii() && email.len() <= buf.len() {
            let bytes = &mut buf[..email.len()];
            bytes.copy_from_slice(email.as_bytes());
            bytes.make_ascii_lowercase();
            h.write(bytes);
        } else {
            let mut tmp = [0u8; 4];
            for c in email.chars().flat_map(char::to_lowercase) {
                h.write(c.encode_utf8(&mut tmp).as_bytes());
            }
        }
        h.finish()
    }
}

/// Key hash → the first row that had it: an open-addressing table with linear probing and
/// 12-byte slots. On a million-row file it is the planner's one big structure, probed twice a
/// row at random; one slot per probe is one cache line (hashbrown's separate control bytes
/// and 16-byte buckets made it two), and it takes 48 MB instead of 68.
#[derive(Default)]
struct Seen {
    slots: Vec<Slot>,
    len: usize,
}

#[derive(Clone, Copy, Default)]
#[repr(C, packed)]
struct Slot {
    /// 0 marks an empty slot; a real key of 0 is stored as 1.
    key: u64,
    row: u32,
}

impl Seen {
    /// Room for `n` keys without growing.
    fn reserve(&mut self, n: usize) {
        let wanted = (n.saturating_mul(4) / 3 + 1).next_power_of_two().max(1024);
        if wanted > self.slots.len() {
            self.rebuild(wanted);
        }
    }

    /// The row that first had `key`, recording `row` as that row if none did.
    fn first_row(&mut self, key: u64, row: u32) -> u32 {
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.rebuild((self.slots.len() * 2).max(1024));
        }
        let key = key.max(1);
        let mask = self.slots.len() - 1;
        let mut i = (key as usize) & mask;
        loop {
            let slot = self.slots[i];
            let k = slot.key;
            if k == 0 {
                self.slots[i] = Slot { key, row };
                self.len += 1;
                return row;
            }
            if k == key {
                return slot.row;
            }
            i = (i + 1) & mask;
        }
    }

    fn rebuild(&mut self, capacity: usize) {
        let old = std::mem::replace(&mut self.slots, vec![Slot::default(); capacity]);
        self.len = 0;
        for slot in old {
            if slot.key != 0 {
                self.first_row(slot.key, slot.row);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seen_table_keeps_the_first_row_through_growth() {
        let mut seen = Seen::default();
        for k in 0..10_000u64 {
            assert_eq!(
                seen.first_row(k.wrapping_mul(0x9E37_79B9_7F4A_7C15), k as u32),
                k as u32
            );
        }
        assert!(seen.slots.len() >= 10_000 * 4 / 3);
        for k in 0..10_000u64 {
            assert_eq!(
                seen.first_row(k.wrapping_mul(0x9E37_79B9_7F4A_7C15), 99_999),
                k as u32
            );
        }
        // Key 0 is stored as 1: they are one key, which costs nothing real.
        let mut seen = Seen::default();
        assert_eq!(seen.first_row(0, 7), 7);
        assert_eq!(seen.first_row(1, 8), 7);
    }

    #[test]
    fn dedupe_names_the_earlier_row_and_ignores_email_case() {
        let mut d = Dedupe::default();
        assert_eq!(d.check(1, "Ann@Example.com", "A1"), None);
        assert_eq!(d.check(2, "bob@example.com", "B1"), None);
        assert_eq!(
            d.check(3, "ann@EXAMPLE.com", "C1").as_deref(),
            Some("email: same as row 1 of this file")
        );
        assert_eq!(
            d.check(4, "dan@example.com", "B1").as_deref(),
            Some("identification_number: same as row 2 of this file")
        );
        assert_eq!(
            d.check(5, "bob@example.com", "B1").as_deref(),
            Some("email, identification_number: same as row 2 of this file")
        );
        // Non-ASCII addresses compare in any case too; empty values are no identity.
        assert_eq!(d.check(7, "ZOË@example.com", ""), None);
        assert_eq!(
            d.check(8, "zoë@EXAMPLE.com", "").as_deref(),
            Some("email: same as row 7 of this file")
        );
        assert_eq!(d.check(9, "", ""), None);
        assert_eq!(d.check(10, "", ""), None);
        // A repeated row does not replace the first one it repeats.
        assert_eq!(
            d.check(6, "carl@example.com", "C1").as_deref(),
            Some("identification_number: same as row 3 of this file")
        );
    }
}
