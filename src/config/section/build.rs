//! `[build]`: the hooks run in a new release directory, in order, and the time each may
//! take. No I/O.

use std::time::Duration;

use crate::config::raw::{known_entries, string, strings, Entry, Field, Problem};
use crate::config::value::positive;

const KEYS: [&str; 2] = ["hooks", "timeout"];

#[derive(Debug, Default)]
pub(in crate::config) struct RawBuild {
    pub hooks: Option<Field<Vec<Field<String>>>>,
    pub timeout: Option<Field<String>>,
}

impl RawBuild {
    pub(super) fn read(entry: &Entry) -> Result<RawBuild, Problem> {
        let mut raw = RawBuild::default();
        for e in known_entries(entry, &KEYS)? {
            match e.key.as_str() {
                "hooks" => raw.hooks = Some(strings(e)?),
                _ => raw.timeout = Some(string(e)?),
            }
        }
        Ok(raw)
    }
}

/// One level's `[build]`, checked.
#[derive(Debug, Clone, Default)]
pub(super) struct BuildSettings {
    hooks: Option<Vec<String>>,
    timeout: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Build {
    pub hooks: Vec<String>,
    /// Per hook; default 10 minutes.
    pub timeout: Duration,
}

impl BuildSettings {
    pub(super) fn check(raw: &RawBuild) -> Result<BuildSettings, Problem> {
        Ok(BuildSettings {
            hooks: raw.hooks.as_ref().map(commands).transpose()?,
            timeout: raw.timeout.as_ref().map(positive).transpose()?,
        })
    }

    /// `over` wins key by key; `hooks` is replaced whole.
    pub(super) fn overlay(self, over: BuildSettings) -> BuildSettings {
        BuildSettings {
            hooks: over.hooks.or(self.hooks),
            timeout: over.timeout.or(self.timeout),
        }
    }

    pub(super) fn finish(self) -> Build {
        Build {
            hooks: self.hooks.unwrap_or_default(),
            timeout: self.timeout.unwrap_or(Duration::from_secs(600)),
        }
    }
}

/// A list of shell commands: none empty, none with NUL, none longer than an argument may be.
pub(super) fn commands(field: &Field<Vec<Field<String>>>) -> Result<Vec<String>, Problem> {
    field.value.iter().map(command).collect()
}

/// One shell command: not empty, no NUL, no longer than an argument may be.
pub(super) fn command(hook: &Field<String>) -> Result<String, Problem> {
    if hook.value.trim().is_empty() {
        return Err(Problem::new(hook.at, format!("{} is empty", hook.path)));
    }
    if hook.value.contains('\0') {
        return Err(Problem::new(
            hook.at,
            format!("{} must not contain NUL", hook.path),
        ));
    }
    if let Some(message) = crate::config::too_long(&hook.path, hook.value.len()) {
        return Err(Problem::new(hook.at, message));
    }
    Ok(hook.value.clone())
}

#[cfg(test)]
mod tests {
    use crate::config::test_support::*;

    #[test]
    fn durations_must_parse_and_be_longer_than_zero() {
        assert_errors(&[(
            "[build]\ntimeout = \"10\"\n",
            "4:11: build.timeout: invalid duration `10`: no unit; expected a whole number \
                     followed by ms, s, m or h, like \"500ms\", \"5s\", \"2m\" or \"1h\"",
        )]);
    }

    #[test]
    fn names_paths_and_strings_are_checked() {
        assert_errors(&[
            (
                "[build]\nhooks = [\"make\", \" \"]\n",
                "4:18: build.hooks[1] is empty",
            ),
            (
                &format!(
                    "[build]\nhooks = [\"{}\"]\n",
                    "x".repeat(crate::config::MAX_ARG_BYTES + 1)
                ),
                "4:10: build.hooks[0] is 114689 bytes long; at most 114688 are allowed (Linux \
                 refuses longer arguments and environment strings)",
            ),
        ]);
    }
}
