//! How a command ended, and the process exit code that says so.
//!
//! Every command returns an [`Exit`]; `main` turns it into the process's code, and nothing
//! else in the program names a number like 130. When one invocation handles several files,
//! the most urgent outcome wins: the order of the variants is that urgency.

/// How a command ended, least urgent first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// Every row final, none invalid or rejected.
    Done,
    /// Every row final, some invalid or rejected (for `validate`: or duplicated in the
    /// file), or reconcile found a difference: the partner must act.
    Act,
    /// Some rows failed or are pending: run again to resume.
    Resume,
    /// Stopped by a signal (Ctrl-C, systemd, `timeout`, a closed SSH session) as gracefully
    /// as by Ctrl-C; the journal is consistent: run again to resume.
    Stopped(Signal),
    /// Bad arguments, unreadable input, credentials refused, an unusable journal.
    Fatal,
}

impl Exit {
    /// The process exit code the contract gives this outcome.
    pub fn code(self) -> i32 {
        match self {
            Exit::Done => 0,
            Exit::Act => 2,
            Exit::Resume => 3,
            Exit::Stopped(signal) => 128 + signal.number(),
            Exit::Fatal => 1,
        }
    }

    /// The outcome that an exit code stands for (the journal stores codes).
    pub fn from_code(code: i32) -> Exit {
        match code {
            0 => Exit::Done,
            2 => Exit::Act,
            3 => Exit::Resume,
            130 => Exit::Stopped(Signal::Interrupt),
            143 => Exit::Stopped(Signal::Terminate),
            129 => Exit::Stopped(Signal::HangUp),
            _ => Exit::Fatal,
        }
    }
}

/// The signals that stop a command gracefully, least urgent first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Signal {
    /// SIGINT: Ctrl-C.
    Interrupt,
    /// SIGHUP: the terminal or SSH session went away.
    HangUp,
    /// SIGTERM: systemd, `kill`, `timeout`.
    Terminate,
}

impl Signal {
    pub fn number(self) -> i32 {
        match self {
            Signal::Interrupt => 2,
            Signal::HangUp => 1,
            Signal::Terminate => 15,
        }
    }

    /// What the run's summary and the terminal say of it.
    pub fn describe(self) -> &'static str {
        match self {
            Signal::Interrupt => "interrupted",
            Signal::HangUp => "hung up (SIGHUP)",
            Signal::Terminate => "terminated (SIGTERM)",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_more_urgent_outcome_wins() {
        let all = [
            Exit::Done,
            Exit::Act,
            Exit::Resume,
            Exit::Stopped(Signal::Interrupt),
            Exit::Stopped(Signal::HangUp),
            Exit::Stopped(Signal::Terminate),
            Exit::Fatal,
        ];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i..] {
                assert_eq!((*a).max(*b), *b, "{a:?} {b:?}");
            }
            assert_eq!(Exit::from_code(a.code()), *a);
        }
        assert_eq!(
            all.map(Exit::code),
            [0, 2, 3, 130, 129, 143, 1],
            "the contract's codes"
        );
    }
}
