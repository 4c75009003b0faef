//! The commonest problems of a file's rows, counted as the report is written, so that the
//! terminal and summary.json name them and nobody has to open results.csv to see them.
//!
//! A problem is one "field: problem" of a row's message or warnings, which join theirs with
//! "; ". Messages never hold a cell's value, but some hold a number that varies by row (an
//! age, a row number): problems are grouped by their text with every run of digits folded,
//! and a number that differs within a group is shown as "N" ("customer is N on 2026-11-21,
//! must be 18 or older").
//!
//! The text is the key, rather than a kind named where the message is made, because `report`
//! must count what `run` counted and the journal keeps each row's message, not its kinds.
//! The tally holds at most [`MAX_KINDS`] problems per list whatever the file's length; any
//! further ones are only counted.

use std::collections::HashMap;

use serde::Serialize;

use crate::status::Status;

/// Distinct problems kept per list; the rest are counted together.
const MAX_KINDS: usize = 64;

/// The problems of invalid rows, of rejected rows (the API's reasons) and the warnings of
/// every row.
#[derive(Debug, Default)]
pub struct ProblemTally {
    invalid: Kinds,
    rejected: Kinds,
    warnings: Kinds,
}

impl ProblemTally {
    /// Counts one row of the report.
    pub fn row(&mut self, status: Status, message: &str, warnings: &str) {
        match status {
            Status::Invalid => self.invalid.add_all(message),
            Status::Rejected => self.rejected.add_all(message),
            _ => {}
        }
        self.warnings.add_all(warnings);
    }

    /// The `n` commonest problems of each list.
    pub fn common(&self, n: usize) -> CommonProblems {
        CommonProblems {
            invalid: self.invalid.common(n),
            rejected: self.rejected.common(n),
            warnings: self.warnings.common(n),
        }
    }
}

/// What summary.json and the terminal say of the problems.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CommonProblems {
    pub invalid: Common,
    pub rejected: Common,
    pub warnings: Common,
}

/// The commonest problems of one list, most rows first (ties in the order first met).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Common {
    pub listed: Vec<Counted>,
    /// How many times a problem not listed was met: the terminal points to results.csv.
    #[serde(skip)]
    pub unlisted: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Counted {
    pub problem: String,
    pub rows: u64,
}

#[derive(Debug, Default)]
struct Kinds {
    /// Folded text → index in `kinds`.
    index: HashMap<String, usize>,
    /// In the order first met.
    kinds: Vec<Kind>,
    /// Problems met after [`MAX_KINDS`] distinct ones were kept.
    other: u64,
    /// The folded text of the problem being counted, reused: counting a known problem
    /// allocates nothing.
    key: String,
}

#[derive(Debug)]
struct Kind {
    /// The text as first met.
    first: String,
    count: u64,
    /// Bit `i`: the `i`th number of the text differed between rows (numbers past the 64th
    /// are shown as first met).
    varies: u64,
}

impl Kinds {
    fn add_all(&mut self, joined: &str) {
        // Most rows have nothing to count.
        if joined.is_empty() {
            return;
        }
        for problem in joined.split("; ").filter(|p| !p.is_empty()) {
            self.add(problem);
        }
    }

    fn add(&mut self, problem: &str) {
        fold(problem, &mut self.key);
        if let Some(&i) = self.index.get(self.key.as_str()) {
            self.kinds[i].count_again(problem);
        } else if self.kinds.len() < MAX_KINDS {
            self.index.insert(self.key.clone(), self.kinds.len());
            self.kinds.push(Kind {
                first: problem.to_owned(),
                count: 1,
                varies: 0,
            });
        } else {
            self.other += 1;
        }
    }

    fn common(&self, n: usize) -> Common {
        let mut order: Vec<&Kind> = self.kinds.iter().collect();
        // Stable: equal counts stay in the order first met.
        order.sort_by_key(|k| std::cmp::Reverse(k.count));
        Common {
            listed: order
                .iter()
                .take(n)
                .map(|k| Counted {
                    problem: k.shown(),
                    rows: k.count,
                })
                .collect(),
            unlisted: order.iter().skip(n).map(|k| k.count).sum::<u64>() + self.other,
        }
    }
}

impl Kind {
    /// Another row with this problem: `problem` folds as `first` does, so their numbers pair
    /// up one to one.
    fn count_again(&mut self, problem: &str) {
        self.count += 1;
        if problem != self.first {
            for (i, (a, b)) in numbers(&self.first).zip(numbers(problem)).enumerate() {
                if a != b && i < 64 {
                    self.varies |= 1 << i;
                }
            }
        }
    }

    /// The first text with each number that varied as "N".
    fn shown(&self) -> String {
        if self.varies == 0 {
            return self.first.clone();
        }
        let mut out = String::with_capacity(self.first.len());
        let mut number = 0usize;
        let mut rest = self.first.as_str();
        while let Some(start) = rest.find(|c: char| c.is_ascii_digit()) {
            out.push_str(&rest[..start]);
            let digits = &rest[start..];
            let end = digits
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(digits.len());
            let varied = number < 64 && self.varies & (1 << number) != 0;
            out.push_str(if varied { "N" } else { &digits[..end] });
            number += 1;
            rest = &digits[end..];
        }
        out.push_str(rest);
        out
    }
}

/// `text` with every run of ASCII digits as one `#`, into `out`. On bytes, a stretch at a
/// time: this runs once per problem of every invalid or warned row.
fn fold(text: &str, out: &mut String) {
    out.clear();
    let mut rest = text;
    while let Some(start) = rest.bytes().position(|b| b.is_ascii_digit()) {
        out.push_str(&rest[..start]);
        out.push('#');
        let number = &rest[start..];
        let end = number
            .bytes()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(number.len());
        rest = &number[end..];
    }
    out.push_str(rest);
}

/// The runs of ASCII digits of `text`, in order.
fn numbers(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_ascii_digit())
        .filter(|run| !run.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(common: &Common) -> Vec<(&str, u64)> {
        common
            .listed
            .iter()
            .map(|c| (c.problem.as_str(), c.rows))
            .collect()
    }

    #[test]
    fn problems_are_split_grouped_and_ordered_by_rows() {
        let mut tally = ProblemTally::default();
        tally.row(Status::Invalid, "email: not a valid email address", "");
        for _ in 0..3 {
            tally.row(
                Status::Invalid,
                "date_of_birth: not a date in the form YYYY-MM-DD: try --date-format DD/MM/YYYY; \
                 email: not a valid email address",
                "phone_number: seems to include a country code",
            );
        }
        tally.row(Status::Invalid, "first_name: is required", "");
        // Warnings count whatever the row's status; a valid row's message is not a problem.
        tally.row(
            Status::Valid,
            "",
            "phone_number: seems to include a country code",
        );
        tally.row(Status::Rejected, "KYC document unreadable", "");
        tally.row(Status::Failed, "HTTP 502", "");
        tally.row(
            Status::DuplicateInFile,
            "email: same as row 1 of this file",
            "",
        );

        let common = tally.common(5);
        assert_eq!(
            listed(&common.invalid),
            [
                ("email: not a valid email address", 4),
                (
                    "date_of_birth: not a date in the form YYYY-MM-DD: try --date-format DD/MM/YYYY",
                    3
                ),
                ("first_name: is required", 1),
            ]
        );
        assert_eq!(common.invalid.unlisted, 0);
        assert_eq!(
            listed(&common.warnings),
            [("phone_number: seems to include a country code", 4)]
        );
        assert_eq!(listed(&common.rejected), [("KYC document unreadable", 1)]);

        // Ties keep the order first met; what is not listed is counted.
        let top = tally.common(1);
        assert_eq!(
            listed(&top.invalid),
            [("email: not a valid email address", 4)]
        );
        assert_eq!(top.invalid.unlisted, 4);
    }

    #[test]
    fn numbers_that_vary_by_row_are_one_problem_shown_as_n() {
        let mut tally = ProblemTally::default();
        for age in [17, 16, 17] {
            tally.row(
                Status::Invalid,
                &format!("date_of_birth: customer is {age} on 2026-11-21, must be 18 or older"),
                "",
            );
        }
        for row in [3, 40] {
            tally.row(
                Status::Invalid,
                &format!("email: same as row {row} of this file"),
                "",
            );
        }
        tally.row(
            Status::Invalid,
            "first_name: must be at least 3 characters",
            "",
        );
        tally.row(
            Status::Invalid,
            "last_name: must be at least 3 characters",
            "",
        );
        assert_eq!(
            listed(&tally.common(5).invalid),
            [
                (
                    "date_of_birth: customer is N on 2026-11-21, must be 18 or older",
                    3
                ),
                ("email: same as row N of this file", 2),
                ("first_name: must be at least 3 characters", 1),
                ("last_name: must be at least 3 characters", 1),
            ]
        );
    }

    #[test]
    fn distinct_problems_past_the_cap_are_only_counted() {
        let mut tally = ProblemTally::default();
        // Letters, not digits, so that each is its own problem.
        let name = |i: usize| format!("field_{}: odd", char::from_u32(0x4e00 + i as u32).unwrap());
        for i in 0..MAX_KINDS + 10 {
            tally.row(Status::Invalid, &name(i), "");
        }
        tally.row(Status::Invalid, &name(0), "");
        tally.row(Status::Invalid, &name(MAX_KINDS + 1), "");
        assert_eq!(tally.invalid.kinds.len(), MAX_KINDS);
        assert_eq!(tally.invalid.index.len(), MAX_KINDS);
        assert_eq!(tally.invalid.other, 11);
        let common = tally.common(3);
        assert_eq!(common.invalid.listed[0].problem, name(0));
        assert_eq!(common.invalid.listed[0].rows, 2);
        assert_eq!(common.invalid.unlisted, (MAX_KINDS as u64 - 3) + 11);
    }

    #[test]
    fn json_lists_the_problems_and_nothing_else() {
        let mut tally = ProblemTally::default();
        tally.row(Status::Invalid, "email: not a valid email address", "");
        let json = serde_json::to_value(tally.common(0)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"invalid": [], "rejected": [], "warnings": []})
        );
        let json = serde_json::to_value(tally.common(5)).unwrap();
        assert_eq!(
            json["invalid"],
            serde_json::json!([{"problem": "email: not a valid email address", "rows": 1}])
        );
    }
}
