//! Date of birth: the strict YYYY-MM-DD form and the 18+ rule the API leaves to us.

use chrono::{Datelike, NaiveDate};

/// The age at which a customer may hold a card.
pub(crate) const ADULT_AGE: i32 = 18;

/// Older than this is flagged (a warning): the oldest people alive are about 116.
pub(crate) const OLDEST_PLAUSIBLE: i32 = 120;

/// Parses exactly `YYYY-MM-DD` (four-digit year, two-digit month and day), and only real
/// calendar dates: "1990-2-3", "1990-02-30" and "19900203" are refused.
pub(crate) fn parse_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        b[range].iter().try_fold(0u32, |acc, &d| {
            d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
        })
    };
    let year = i32::try_from(num(0..4)?).ok()?;
    NaiveDate::from_ymd_opt(year, num(5..7)?, num(8..10)?)
}

/// Whole years completed between `born` and `on`. A birthday on 29 February is reached on
/// 1 March in a non-leap year, as in most civil law: on 28 February the year is not yet
/// complete.
pub(crate) fn age_on(born: NaiveDate, on: NaiveDate) -> i32 {
    let had_birthday = (on.month(), on.day()) >= (born.month(), born.day());
    on.year() - born.year() - i32::from(!had_birthday)
}
