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

/// A partner's date pattern (`--date-format`): `YYYY`, `MM` and `DD` in some order, with one
/// separator between them (`DD/MM/YYYY`, `MM/DD/YYYY`, `DD.MM.YYYY`, `YYYY/MM/DD`, ...).
/// Days and months may have one digit; the date is sent as `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateFormat {
    order: [Part; 3],
    separator: char,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Year,
    Month,
    Day,
}

impl DateFormat {
    /// The common patterns, tried to tell a partner which one would read their dates.
    const HINTS: [&'static str; 6] = [
        "DD/MM/YYYY",
        "MM/DD/YYYY",
        "YYYY/MM/DD",
        "DD.MM.YYYY",
        "DD-MM-YYYY",
        "MM-DD-YYYY",
    ];

    pub fn parse(pattern: &str) -> Result<DateFormat, String> {
        let bad = || {
            format!(
                "'{pattern}' is not a date pattern: give YYYY, MM and DD in some order with one \
                 separator, like DD/MM/YYYY"
            )
        };
        let separator = pattern
            .chars()
            .find(|c| !c.is_ascii_alphabetic())
            .ok_or_else(bad)?;
        let parts: Vec<&str> = pattern.split(separator).collect();
        let [a, b, c] = parts[..] else {
            return Err(bad());
        };
        let part = |s: &str| match s {
            "YYYY" => Some(Part::Year),
            "MM" => Some(Part::Month),
            "DD" => Some(Part::Day),
            _ => None,
        };
        let order = [
            part(a).ok_or_else(bad)?,
            part(b).ok_or_else(bad)?,
            part(c).ok_or_else(bad)?,
        ];
        let has = |p| order.contains(&p);
        if !(has(Part::Year) && has(Part::Month) && has(Part::Day)) {
            return Err(bad());
        }
        Ok(DateFormat { order, separator })
    }

    /// The date `s` names in this pattern, if it is a real one.
    pub fn read(&self, s: &str) -> Option<NaiveDate> {
        let mut parts = s.split(self.separator);
        let (mut year, mut month, mut day) = (None, None, None);
        for part in self.order {
            let text = parts.next()?;
            let fits = match part {
                Part::Year => text.len() == 4,
                Part::Month | Part::Day => (1..=2).contains(&text.len()),
            };
            if !fits || !text.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let n: u32 = text.parse().ok()?;
            match part {
                Part::Year => year = Some(i32::try_from(n).ok()?),
                Part::Month => month = Some(n),
                Part::Day => day = Some(n),
            }
        }
        if parts.next().is_some() {
            return None;
        }
        NaiveDate::from_ymd_opt(year?, month?, day?)
    }

    /// The date `s` names in this pattern, or else in `YYYY-MM-DD`: a workbook's date cells
    /// are read as `YYYY-MM-DD` whatever the partner types, and a partner's text dates may sit
    /// beside them. Not for a pattern that starts with the year and separates with `-`
    /// (`YYYY-DD-MM`), where `YYYY-MM-DD` would be a second reading of the same text.
    pub fn read_or_iso(&self, s: &str) -> Option<NaiveDate> {
        self.read(s).or_else(|| {
            let clashes = self.separator == '-' && self.order[0] == Part::Year;
            if clashes { None } else { parse_date(s) }
        })
    }

    /// The pattern with day and month swapped, when a partner who gave this one may have
    /// meant that (DD/MM/YYYY and MM/DD/YYYY, whatever the separator); `None` for the year,
    /// month, day order, which reads as it says.
    pub fn swapped(&self) -> Option<DateFormat> {
        if self.order == [Part::Year, Part::Month, Part::Day] {
            return None;
        }
        let order = self.order.map(|p| match p {
            Part::Day => Part::Month,
            Part::Month => Part::Day,
            Part::Year => Part::Year,
        });
        Some(DateFormat { order, ..*self })
    }

    /// `date`, read with a pattern, would read as another real date with day and month
    /// swapped: both are 12 or less and they differ.
    pub fn could_swap(date: NaiveDate) -> bool {
        let (day, month) = (date.day(), date.month());
        day <= 12 && day != month
    }

    /// The patterns that would read `s` as a real date: what to suggest for a date that is not
    /// `YYYY-MM-DD`.
    pub fn that_read(s: &str) -> Vec<&'static str> {
        Self::HINTS
            .into_iter()
            .filter(|p| Self::parse(p).is_ok_and(|f| f.read(s).is_some()))
            .collect()
    }
}

/// The pattern as given: `DD/MM/YYYY`.
impl std::fmt::Display for DateFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, part) in self.order.iter().enumerate() {
            if i > 0 {
                write!(f, "{}", self.separator)?;
            }
            f.write_str(match part {
                Part::Year => "YYYY",
                Part::Month => "MM",
                Part::Day => "DD",
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod format_tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn patterns_read_their_dates_with_one_digit_days_and_months() {
        let dmy = DateFormat::parse("DD/MM/YYYY").unwrap();
        assert_eq!(dmy.read("15/01/1990"), Some(date(1990, 1, 15)));
        assert_eq!(dmy.read("5/1/1990"), Some(date(1990, 1, 5)));
        assert_eq!(dmy.read("31/02/1990"), None);
        assert_eq!(dmy.read("1990-01-15"), None);
        let mdy = DateFormat::parse("MM/DD/YYYY").unwrap();
        assert_eq!(mdy.read("01/15/1990"), Some(date(1990, 1, 15)));
        let ymd = DateFormat::parse("YYYY/MM/DD").unwrap();
        assert_eq!(ymd.read("1990/01/15"), Some(date(1990, 1, 15)));
        let dotted = DateFormat::parse("DD.MM.YYYY").unwrap();
        assert_eq!(dotted.read("15.01.1990"), Some(date(1990, 1, 15)));
        for bad in [
            "DD/MM",
            "DD/MM/YY",
            "DDMMYYYY",
            "DD/DD/YYYY",
            "DD/MM-YYYY",
            "",
        ] {
            assert!(DateFormat::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_date_in_another_form_is_told_which_pattern_reads_it() {
        assert_eq!(DateFormat::that_read("15/01/1990"), ["DD/MM/YYYY"]);
        assert_eq!(DateFormat::that_read("01/15/1990"), ["MM/DD/YYYY"]);
        assert_eq!(DateFormat::that_read("1990/01/15"), ["YYYY/MM/DD"]);
        assert_eq!(
            DateFormat::that_read("05/06/1990"),
            ["DD/MM/YYYY", "MM/DD/YYYY"]
        );
        assert!(DateFormat::that_read("not a date").is_empty());
    }

    #[test]
    fn day_and_month_swap_unless_the_year_comes_first() {
        let dmy = DateFormat::parse("DD.MM.YYYY").unwrap();
        assert_eq!(dmy.to_string(), "DD.MM.YYYY");
        assert_eq!(dmy.swapped().unwrap().to_string(), "MM.DD.YYYY");
        let mdy = DateFormat::parse("MM/DD/YYYY").unwrap();
        assert_eq!(mdy.swapped().unwrap().to_string(), "DD/MM/YYYY");
        assert_eq!(DateFormat::parse("YYYY/MM/DD").unwrap().swapped(), None);
        assert_eq!(
            DateFormat::parse("YYYY-DD-MM")
                .unwrap()
                .swapped()
                .map(|f| f.to_string()),
            Some("YYYY-MM-DD".to_string())
        );
        assert!(DateFormat::could_swap(date(1990, 1, 5)));
        assert!(DateFormat::could_swap(date(1990, 12, 11)));
        assert!(!DateFormat::could_swap(date(1990, 1, 13)));
        assert!(!DateFormat::could_swap(date(1990, 6, 6)));
    }
}
