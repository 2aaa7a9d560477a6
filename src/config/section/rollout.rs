//! `[rollout]`: how many hosts switch at once, in which mode (`surge` by default when the
//! environment has `[proxy] hosts`, else `rolling`), and the stop grace of each instance.
//! No I/O.

use std::time::Duration;

use crate::config::raw::{integer, known_entries, string, Entry, Field, Problem};
use crate::config::value::{at_least_one, one_of, positive, Set};
use crate::config::Supervisor;

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
#[derive(Debug, Clone, Default)]
pub(super) struct RolloutSettings {
    mode: Option<Set<RolloutMode>>,
    batch: Option<u32>,
    stop_timeout: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RolloutMode {
    Rolling,
    AllAtOnce,
    /// Per batch: the new formation on the other port bank, one flip of the proxy, drain,
    /// stop the old bank (needs `[proxy] hosts` and a systemd supervisor).
    Surge,
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
            mode: raw
                .mode
                .as_ref()
                .map(|f| Ok::<_, Problem>(Set::at(f, mode(f)?)))
                .transpose()?,
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

    /// With the defaults: `surge` when there is a proxy to flip, else `rolling`. `surge`
    /// without `[proxy] hosts`, or under upstart (whose jobs record no serving bank), is an
    /// error at the `mode` key.
    pub(super) fn finish(self, proxy: bool, supervisor: Supervisor) -> Result<Rollout, Problem> {
        if let Some(Set {
            value: RolloutMode::Surge,
            path,
            at,
        }) = &self.mode
        {
            if !proxy {
                return Err(Problem::new(
                    *at,
                    format!(
                        "{path} = \"surge\" needs [proxy] hosts: it flips nginx from the old \
                         instances to the new ones (use \"rolling\" without a proxy)"
                    ),
                ));
            }
            if supervisor == Supervisor::Upstart {
                return Err(Problem::new(
                    *at,
                    format!(
                        "{path} = \"surge\" needs systemd: upstart jobs cannot tell which port \
                         bank serves (use \"rolling\")"
                    ),
                ));
            }
        }
        let default = if proxy && supervisor != Supervisor::Upstart {
            RolloutMode::Surge
        } else {
            RolloutMode::Rolling
        };
        Ok(Rollout {
            mode: self.mode.map_or(default, |m| m.value),
            batch: self.batch.unwrap_or(1),
            stop_timeout: self.stop_timeout.unwrap_or(Duration::from_secs(30)),
        })
    }
}

fn mode(field: &Field<String>) -> Result<RolloutMode, Problem> {
    one_of(
        field,
        &[
            ("surge", RolloutMode::Surge),
            ("rolling", RolloutMode::Rolling),
            ("all-at-once", RolloutMode::AllAtOnce),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::RolloutMode;
    use crate::config::test_support::*;

    #[test]
    fn surge_is_the_default_with_a_proxy_and_needs_one() {
        let env = only_env(&format!("{BASE}[proxy]\nhosts = [\"lb1\"]\n"));
        assert_eq!(env.rollout.mode, RolloutMode::Surge);
        assert_eq!(only_env(BASE).rollout.mode, RolloutMode::Rolling);
        let upstart = only_env(&format!(
            "{BASE}supervisor = \"upstart\"\n[proxy]\nhosts = [\"lb1\"]\n"
        ));
        assert_eq!(upstart.rollout.mode, RolloutMode::Rolling);
        assert_errors(&[
            (
                "[rollout]\nmode = \"surge\"\n",
                "4:8: rollout.mode = \"surge\" needs [proxy] hosts: it flips nginx from the old \
                 instances to the new ones (use \"rolling\" without a proxy)",
            ),
            (
                "supervisor = \"upstart\"\n[rollout]\nmode = \"surge\"\n[proxy]\nhosts = [\"lb\"]\n",
                "5:8: rollout.mode = \"surge\" needs systemd: upstart jobs cannot tell which port \
                 bank serves (use \"rolling\")",
            ),
        ]);
    }

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
