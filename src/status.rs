//! The row statuses of the contract: what the report's `status` column says.

use std::fmt;

use crate::exit::Exit;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    Created,
    Duplicate,
    DuplicateInFile,
    AlreadyEnrolled,
    Invalid,
    Rejected,
    Failed,
    Pending,
    Valid,
}

impl Status {
    pub const ALL: [Status; 9] = [
        Status::Created,
        Status::Duplicate,
        Status::DuplicateInFile,
        Status::AlreadyEnrolled,
        Status::Invalid,
        Status::Rejected,
        Status::Failed,
        Status::Pending,
        Status::Valid,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Duplicate => "duplicate",
            Status::DuplicateInFile => "duplicate_in_file",
            Status::AlreadyEnrolled => "already_enrolled",
            Status::Invalid => "invalid",
            Status::Rejected => "rejected",
            Status::Failed => "failed",
            Status::Pending => "pending",
            Status::Valid => "valid",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The API answered for good: a later run never sends this row again.
    pub fn is_sent_final(self) -> bool {
        matches!(
            self,
            Status::Created | Status::Duplicate | Status::Rejected | Status::AlreadyEnrolled
        )
    }

    /// Goes to rejects.csv: the partner must fix the row.
    pub fn is_reject(self) -> bool {
        matches!(self, Status::Invalid | Status::Rejected)
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Rows per status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts([u64; Status::ALL.len()]);

impl Counts {
    pub fn add(&mut self, status: Status) {
        self.0[status.index()] += 1;
    }

    pub fn get(&self, status: Status) -> u64 {
        self.0[status.index()]
    }

    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// What the counts say of a file: rows left to send, rows the partner must fix, or
    /// done. `validate` counts a row duplicated in the file as one to fix; `run` does not
    /// (it sends the first and skips the others).
    pub fn exit(&self, validate_only: bool) -> Exit {
        if self.get(Status::Failed) + self.get(Status::Pending) > 0 {
            Exit::Resume
        } else if self.get(Status::Invalid) + self.get(Status::Rejected) > 0
            || (validate_only && self.get(Status::DuplicateInFile) > 0)
        {
            Exit::Act
        } else {
            Exit::Done
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (Status, u64)> + '_ {
        Status::ALL.into_iter().map(|s| (s, self.get(s)))
    }
}
