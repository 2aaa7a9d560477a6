//! `[rollout]`: how many hosts switch at once, in which mode, and the stop grace of each
//! instance. No I/O.

use std::time::Duration;

use crate::config::raw::{integer, known_entries, string, Entry, Field, Problem};
use crate::config::value::{at_least_one, one_of, positive};

const KEYS: [&str; 3] = ["mode", "batch", "stop_timeout"];

#[derive(Debug, Default)]
pub(in crate::config) struct RawRollout {
    pub mode: Option<Field<String>>,
    pub batch: Option<Field<i64>>,
    pub stop_timeout: Option<Field<String>>,
}

impl RawRollout {
    pub(super) fn read(entry: &Entry) -> Result<RawRollout, Problem> {
        let mut raw = RawRollout::default();
        for e in known_entries(entry, &KEYS)? {
            match e.key.as_str() {
                "mode" => raw.mode = Some(string(e)?),
                "batch" => raw.batch = Some(integer(e)?),
                _ => raw.stop_timeout = Some(string(e)?),
            }
        }
        Ok(raw)
    }
}

/// One level's `[rollout]`, checked.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct RolloutSettings {
    mode: Option<RolloutMode>,
    batch: Option<u32>,
    stop_timeout: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RolloutMode {
    Rolling,
    AllAtOnce,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollout {
    pub mode: RolloutMode,
    /// >= 1; default 1.
    pub batch: u32,
    /// Default 30s.
    pub stop_timeout: Duration,
}

impl RolloutSettings {
    pub(super) fn check(raw: &RawRollout) -> Result<RolloutSettings, Problem> {
        Ok(RolloutSettings {
            mode: raw.mode.as_ref().map(mode).transpose()?,
            batch: raw.batch.as_ref().map(at_least_one).transpose()?,
            stop_timeout: raw.stop_timeout.as_ref().map(positive).transpose()?,
        })
    }

    pub(super) fn overlay(self, over: RolloutSettings) -> RolloutSettings {
        RolloutSettings {
            mode: over.mode.or(self.mode),
            batch: over.batch.or(self.batch),
            stop_timeout: over.stop_timeout.or(self.stop_timeout),
        }
    }

    pub(super) fn finish(self) -> Rollout {
        Rollout {
            mode: self.mode.unwrap_or(RolloutMode::Rolling),
            batch: self.batch.unwrap_or(1),
            stop_timeout: self.stop_timeout.unwrap_or(Duration::from_secs(30)),
        }
    }
}

fn mode(field: &Field<String>) -> Result<RolloutMode, Problem> {
    one_of(
        field,
        &[
            ("rolling", RolloutMode::Rolling),
            ("all-at-once", RolloutMode::AllAtOnce),
        ],
    )
}

#[cfg(test)]
mod tests {
    use crate::config::test_support::*;

    #[test]
    fn numbers_must_be_in_range() {
        assert_errors(&[(
            "[rollout]\nbatch = 0\n",
            "4:9: rollout.batch must be at least 1, got 0",
        )]);
    }

    #[test]
    fn durations_must_parse_and_be_longer_than_zero() {
        assert_errors(&[(
            "[rollout]\nstop_timeout = \"0s\"\n",
            "4:16: rollout.stop_timeout must be longer than 0",
        )]);
    }
}
