//! How a command ended, as a type: maps one-to-one onto the exit codes of SPEC §2.

use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 0: success, or nothing to do.
    Done,
    /// 1: failed before any host switched; live traffic untouched.
    FailedBeforeSwitch,
    /// 2: bad usage, invalid config or Procfile; nothing contacted.
    Usage,
    /// 3: the lock is held by another deploy.
    Locked,
    /// 4: rollout failed; every host was reverted.
    Reverted,
    /// 5: rollout failed and at least one host could not be reverted.
    RevertFailed,
}

impl Outcome {
    pub fn code(self) -> u8 {
        match self {
            Outcome::Done => 0,
            Outcome::FailedBeforeSwitch => 1,
            Outcome::Usage => 2,
            Outcome::Locked => 3,
            Outcome::Reverted => 4,
            Outcome::RevertFailed => 5,
        }
    }
}

impl From<Outcome> for ExitCode {
    fn from(o: Outcome) -> ExitCode {
        ExitCode::from(o.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_spec_table() {
        let all = [
            Outcome::Done,
            Outcome::FailedBeforeSwitch,
            Outcome::Usage,
            Outcome::Locked,
            Outcome::Reverted,
            Outcome::RevertFailed,
        ];
        let codes: Vec<u8> = all.iter().map(|o| o.code()).collect();
        assert_eq!(codes, [0, 1, 2, 3, 4, 5]);
    }
}
