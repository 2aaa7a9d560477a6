//! `[rollout]`: how many hosts switch at once, in which mode (`surge` by default when the
//! environment has `[proxy] hosts`, else `rolling`), and the stop grace of each instance.
//! No I/O.

use std::time::Duration;

use std::fmt;
use std::str::FromStr;

use crate::config::raw::{field, known_entries, string, wrong_type, Entry, Field, Kind, Problem};
use crate::config::value::{at_least_one, one_of, positive, Set};
use crate::config::{duration, Supervisor};

const KEYS: [&str; 3] = ["mode", "batch", "stop_timeout"];

#[derive(Debug, Default)]
pub(in crate::config) struct RawRollout {
    pub mode: Option<Field<String>>,
    /// A count (an integer) or a percentage (a string `"25%"`).
    pub batch: Option<Field<RawBatch>>,
    pub stop_timeout: Option<Field<String>>,
}

impl RawRollout {
    pub(super) fn read(entry: &Entry) -> Result<RawRollout, Problem> {
        let mut raw = RawRollout::default();
        for e in known_entries(entry, &KEYS)? {
            match e.key.as_str() {
                "mode" => raw.mode = Some(string(e)?),
                "batch" => {
                    raw.batch = Some(match &e.node.kind {
                        Kind::Integer(n) => field(e, RawBatch::Count(*n)),
                        Kind::String(text) => field(e, RawBatch::Text(text.clone())),
                        _ => return Err(wrong_type(e, "a count or a percentage such as \"25%\"")),
                    });
                }
                _ => raw.stop_timeout = Some(string(e)?),
            }
        }
        Ok(raw)
    }
}

/// `batch` as written.
#[derive(Debug, Clone)]
pub(in crate::config) enum RawBatch {
    Count(i64),
    Text(String),
}

/// How many hosts switch at the same time: a count, or a percentage of the hosts of the run
/// (its whole part, at least 1, as Kamal's group limits: `"34%"` of 3 hosts is 1, `"67%"`
/// is 2, `"100%"` every host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchSize {
    /// >= 1.
    Count(u32),
    /// 1..=100.
    Percent(u32),
}

impl BatchSize {
    /// The hosts per batch among `hosts`: the count, or `hosts * percent / 100` (whole
    /// part); at least 1, at most `hosts` (when there are any).
    pub fn of(self, hosts: usize) -> usize {
        let n = match self {
            BatchSize::Count(n) => usize::try_from(n).unwrap_or(usize::MAX),
            BatchSize::Percent(p) => hosts * usize::try_from(p).unwrap_or(100) / 100,
        };
        n.clamp(1, hosts.max(1))
    }
}

impl fmt::Display for BatchSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BatchSize::Count(n) => write!(f, "{n}"),
            BatchSize::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl FromStr for BatchSize {
    type Err = String;

    /// `3` or `25%` (a percentage of 1..=100).
    fn from_str(text: &str) -> Result<BatchSize, String> {
        let bad =
            || format!("`{text}` is not a count of hosts (1, 2, ...) or a percentage (1% to 100%)");
        if let Some(p) = text.strip_suffix('%') {
            match p.trim().parse::<u32>() {
                Ok(p) if (1..=100).contains(&p) => Ok(BatchSize::Percent(p)),
                _ => Err(bad()),
            }
        } else {
            match text.trim().parse::<u32>() {
                Ok(n) if n >= 1 => Ok(BatchSize::Count(n)),
                _ => Err(bad()),
            }
        }
    }
}

fn batch(field: &Field<RawBatch>) -> Result<BatchSize, Problem> {
    match &field.value {
        RawBatch::Count(n) => {
            let count = Field {
                path: field.path.clone(),
                key_at: field.key_at,
                at: field.at,
                value: *n,
            };
            at_least_one(&count).map(BatchSize::Count)
        }
        RawBatch::Text(text) => text
            .parse()
            .map_err(|e: String| Problem::new(field.at, format!("{}: {e}", field.path))),
    }
}

/// One level's `[rollout]`, checked.
#[derive(Debug, Clone, Default)]
pub(super) struct RolloutSettings {
    mode: Option<Set<RolloutMode>>,
    batch: Option<BatchSize>,
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
    /// Default 1.
    pub batch: BatchSize,
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
            batch: raw.batch.as_ref().map(batch).transpose()?,
            stop_timeout: raw.stop_timeout.as_ref().map(stop_timeout).transpose()?,
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
            batch: self.batch.unwrap_or(BatchSize::Count(1)),
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

/// Longest `stop_timeout`: the units' `TimeoutStopSec=` (and upstart's `kill timeout`). systemd
/// ignores a value it cannot parse and keeps its 90s default; a day is far beyond any
/// graceful stop and far inside what every supervisor parses.
const MAX_STOP_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

fn stop_timeout(field: &Field<String>) -> Result<Duration, Problem> {
    let d = positive(field)?;
    if d > MAX_STOP_TIMEOUT {
        return Err(Problem::new(
            field.at,
            format!(
                "{} must be at most {} (the SIGTERM grace the units give), got {}",
                field.path,
                duration::format(MAX_STOP_TIMEOUT),
                field.value
            ),
        ));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::RolloutMode;
    use crate::config::test_support::*;
    use std::time::Duration;

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
    fn batch_is_a_count_or_a_percentage_of_the_hosts() {
        use super::BatchSize;
        assert_eq!(
            only_env(&format!("{BASE}[rollout]\nbatch = \"34%\"\n"))
                .rollout
                .batch,
            BatchSize::Percent(34)
        );
        assert_eq!(BatchSize::Percent(34).of(3), 1);
        assert_eq!(BatchSize::Percent(67).of(3), 2);
        assert_eq!(BatchSize::Percent(100).of(3), 3);
        assert_eq!(BatchSize::Percent(1).of(3), 1);
        assert_eq!(BatchSize::Count(9).of(3), 3);
        assert_eq!("25%".parse(), Ok(BatchSize::Percent(25)));
        assert_eq!("2".parse(), Ok(BatchSize::Count(2)));
        for bad in ["0", "0%", "101%", "x", "-1", "%"] {
            assert!(bad.parse::<BatchSize>().is_err(), "{bad}");
        }
        assert_errors(&[
            (
                "[rollout]\nbatch = \"150%\"\n",
                "4:9: rollout.batch: `150%` is not a count of hosts (1, 2, ...) or a percentage \
                 (1% to 100%)",
            ),
            (
                "[rollout]\nbatch = 1.5\n",
                "4:9: rollout.batch must be a count or a percentage such as \"25%\", found a float",
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

    #[test]
    fn stop_timeout_is_at_most_a_day() {
        // See: issue 12 (systemd ignored a TimeoutStopSec= it could not parse).
        assert_errors(&[(
            "[rollout]\nstop_timeout = \"1000000000h\"\n",
            "4:16: rollout.stop_timeout must be at most 24h (the SIGTERM grace the units \
             give), got 1000000000h",
        )]);
        assert_eq!(
            only_env(&format!("{BASE}[rollout]\nstop_timeout = \"24h\"\n"))
                .rollout
                .stop_timeout,
            Duration::from_secs(86_400)
        );
    }
}
