//! `[health]`: the gate each restarted instance of `process` passes, `GET <path>` answering
//! `expect`, tried every `interval` for up to `deadline`, each attempt within `timeout`.
//! The path is a [`HealthPath`], checked here once. No I/O: the probe is `remote::http`.

use std::time::Duration;

use crate::config::duration;
use crate::config::raw::{integer, known_entries, string, Entry, Field, Problem};
use crate::config::value::{positive, positive_set, str_newtype, Set};

const KEYS: [&str; 6] = [
    "process", "path", "expect", "timeout", "interval", "deadline",
];

#[derive(Debug, Default)]
pub(in crate::config) struct RawHealth {
    pub process: Option<Field<String>>,
    pub path: Option<Field<String>>,
    pub expect: Option<Field<i64>>,
    pub timeout: Option<Field<String>>,
    pub interval: Option<Field<String>>,
    pub deadline: Option<Field<String>>,
}

impl RawHealth {
    pub(super) fn read(entry: &Entry) -> Result<RawHealth, Problem> {
        let mut raw = RawHealth::default();
        for e in known_entries(entry, &KEYS)? {
            match e.key.as_str() {
                "process" => raw.process = Some(string(e)?),
                "path" => raw.path = Some(string(e)?),
                "expect" => raw.expect = Some(integer(e)?),
                "timeout" => raw.timeout = Some(string(e)?),
                "interval" => raw.interval = Some(string(e)?),
                _ => raw.deadline = Some(string(e)?),
            }
        }
        Ok(raw)
    }
}

/// One level's `[health]`, checked; timeout and deadline keep where they were written for
/// the check across the two.
#[derive(Debug, Clone, Default)]
pub(super) struct HealthSettings {
    process: Option<Set<String>>,
    path: Option<HealthPath>,
    expect: Option<u16>,
    timeout: Option<Set<Duration>>,
    interval: Option<Duration>,
    deadline: Option<Set<Duration>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// Default `web`.
    pub process: String,
    /// Default `/health`.
    pub path: HealthPath,
    /// Default 200.
    pub expect: u16,
    /// Per attempt; default 2s.
    pub timeout: Duration,
    /// Default 250ms.
    pub interval: Duration,
    /// Default 30s.
    pub deadline: Duration,
}

/// The path of the health request: starts with `/`, no whitespace or control characters
/// (it goes into an HTTP request line as it is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthPath(String);

str_newtype!(HealthPath);

/// Why a string is not a [`HealthPath`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidHealthPath {
    NotAbsolute,
    SpacesOrControls,
}

impl HealthPath {
    pub fn new(path: &str) -> Result<HealthPath, InvalidHealthPath> {
        HealthPath::check(path).map(|()| HealthPath(path.to_owned()))
    }

    /// The one check of a health path, for code that still holds a plain string.
    pub fn check(path: &str) -> Result<(), InvalidHealthPath> {
        if !path.starts_with('/') {
            Err(InvalidHealthPath::NotAbsolute)
        } else if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
            Err(InvalidHealthPath::SpacesOrControls)
        } else {
            Ok(())
        }
    }
}

impl HealthSettings {
    pub(super) fn check(raw: &RawHealth) -> Result<HealthSettings, Problem> {
        Ok(HealthSettings {
            process: raw
                .process
                .as_ref()
                .map(|f| Ok::<_, Problem>(Set::at(f, process_name(f)?)))
                .transpose()?,
            path: raw.path.as_ref().map(path).transpose()?,
            expect: raw.expect.as_ref().map(status_code).transpose()?,
            timeout: raw.timeout.as_ref().map(positive_set).transpose()?,
            interval: raw.interval.as_ref().map(positive).transpose()?,
            deadline: raw.deadline.as_ref().map(positive_set).transpose()?,
        })
    }

    pub(super) fn overlay(self, over: HealthSettings) -> HealthSettings {
        HealthSettings {
            process: over.process.or(self.process),
            path: over.path.or(self.path),
            expect: over.expect.or(self.expect),
            timeout: over.timeout.or(self.timeout),
            interval: over.interval.or(self.interval),
            deadline: over.deadline.or(self.deadline),
        }
    }

    /// With the defaults; the timeout of one attempt may not exceed the deadline of all.
    /// Where `process` was written.
    pub(super) fn process_at(&self) -> Option<usize> {
        self.process.as_ref().map(|p| p.at)
    }

    pub(super) fn finish(self, env: &str) -> Result<Health, Problem> {
        let timeout = self
            .timeout
            .as_ref()
            .map_or(Duration::from_secs(2), |t| t.value);
        let deadline = self
            .deadline
            .as_ref()
            .map_or(Duration::from_secs(30), |d| d.value);
        if timeout > deadline {
            // Point at whichever of the two was written last: that is usually the one just
            // changed (an environment's override comes after the top-level value).
            let t_at = self.timeout.as_ref().map(|t| t.at);
            let d_at = self.deadline.as_ref().map(|d| d.at);
            let at = t_at.max(d_at).unwrap_or(0);
            let name = |set: Option<&Set<Duration>>, key: &str| {
                set.map_or_else(|| format!("the default {key}"), |s| s.path.clone())
            };
            return Err(Problem::new(
                at,
                format!(
                    "{} ({}) must not be longer than {} ({}) in environment `{env}`",
                    name(self.timeout.as_ref(), "health.timeout"),
                    duration::format(timeout),
                    name(self.deadline.as_ref(), "health.deadline"),
                    duration::format(deadline),
                ),
            ));
        }
        Ok(Health {
            process: self.process.map_or_else(|| "web".to_owned(), |p| p.value),
            path: self
                .path
                .unwrap_or_else(|| HealthPath("/health".to_owned())),
            expect: self.expect.unwrap_or(200),
            timeout,
            interval: self.interval.unwrap_or(Duration::from_millis(250)),
            deadline,
        })
    }
}

fn process_name(field: &Field<String>) -> Result<String, Problem> {
    let name = &field.value;
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(name.clone())
    } else {
        Err(Problem::new(
            field.at,
            format!(
                "{} `{name}` is not a Procfile process name: letters, digits, `_` and `-`, \
                 at most 63",
                field.path
            ),
        ))
    }
}

fn path(field: &Field<String>) -> Result<HealthPath, Problem> {
    let path = &field.value;
    HealthPath::new(path).map_err(|invalid| {
        let message = match invalid {
            InvalidHealthPath::NotAbsolute => {
                format!("{} `{path}` must start with `/`", field.path)
            }
            InvalidHealthPath::SpacesOrControls => format!(
                "{} must not contain spaces or control characters (encode them, like %20)",
                field.path
            ),
        };
        Problem::new(field.at, message)
    })
}

fn status_code(field: &Field<i64>) -> Result<u16, Problem> {
    match u16::try_from(field.value) {
        Ok(code) if (100..=599).contains(&code) => Ok(code),
        _ => Err(Problem::new(
            field.at,
            format!(
                "{} must be an HTTP status code from 100 to 599, got {}",
                field.path, field.value
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use crate::config::test_support::*;

    #[test]
    fn timeout_longer_than_deadline_points_at_the_later_value() {
        assert_eq!(
            error_with("[health]\ntimeout = \"40s\"\n"),
            "deliver.toml:4:11: health.timeout (40s) must not be longer than the default \
                 health.deadline (30s) in environment `default`"
        );
        assert_eq!(
            error_with(
                "[health]\ntimeout = \"5s\"\n[environments.fast.health]\ndeadline = \"2s\"\n"
            ),
            "deliver.toml:6:12: health.timeout (5s) must not be longer than \
                 environments.fast.health.deadline (2s) in environment `fast`"
        );
        let env = only_env(&format!("{BASE}[health]\ntimeout = \"30s\"\n"));
        assert_eq!(env.health.timeout, env.health.deadline);
    }

    #[test]
    fn numbers_must_be_in_range() {
        assert_errors(&[
            (
                "[health]\nexpect = 99\n",
                "4:10: health.expect must be an HTTP status code from 100 to 599, got 99",
            ),
            (
                "[health]\nexpect = 600\n",
                "4:10: health.expect must be an HTTP status code from 100 to 599, got 600",
            ),
        ]);
    }

    #[test]
    fn durations_must_parse_and_be_longer_than_zero() {
        assert_errors(&[
        (
                "[health]\ninterval = \"0ms\"\n",
                "4:12: health.interval must be longer than 0",
            ),
        (
                "[health]\ntimeout = \"0s\"\n",
                "4:11: health.timeout must be longer than 0",
            ),
        (
                "[health]\ndeadline = \"5d\"\n",
                "4:12: health.deadline: invalid duration `5d`: unknown unit `d`; expected a \
                     whole number followed by ms, s, m or h, like \"500ms\", \"5s\", \"2m\" or \"1h\"",
            ),
        ]);
    }

    #[test]
    fn names_paths_and_strings_are_checked() {
        assert_errors(&[
            (
                "[health]\nprocess = \"web server\"\n",
                "4:11: health.process `web server` is not a Procfile process name: letters, \
                     digits, `_` and `-`, at most 63",
            ),
            (
                "[health]\npath = \"health\"\n",
                "4:8: health.path `health` must start with `/`",
            ),
        ]);
    }
}
