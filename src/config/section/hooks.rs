//! `[hooks]`: local commands run where deliver runs, in the project directory, around a
//! deploy or rollback (SPEC §9): `before` (a failure aborts before any host is touched),
//! `after` (on success) and `failed` (on any failure). Each list is replaced whole by an
//! environment that sets it. No I/O: `commands::local_hooks` runs them.

use crate::config::raw::{known_entries, strings, Entry, Field, Problem};

const KEYS: [&str; 3] = ["before", "after", "failed"];

#[derive(Debug, Default)]
pub(in crate::config) struct RawHooks {
    pub before: Option<Field<Vec<Field<String>>>>,
    pub after: Option<Field<Vec<Field<String>>>>,
    pub failed: Option<Field<Vec<Field<String>>>>,
}

impl RawHooks {
    pub(super) fn read(entry: &Entry) -> Result<RawHooks, Problem> {
        let mut raw = RawHooks::default();
        for e in known_entries(entry, &KEYS)? {
            let list = Some(strings(e)?);
            match e.key.as_str() {
                "before" => raw.before = list,
                "after" => raw.after = list,
                _ => raw.failed = list,
            }
        }
        Ok(raw)
    }
}

/// One level's `[hooks]`, checked.
#[derive(Debug, Clone, Default)]
pub(super) struct HooksSettings {
    before: Option<Vec<String>>,
    after: Option<Vec<String>>,
    failed: Option<Vec<String>>,
}

/// The local commands of an environment, each run with `sh -c` in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hooks {
    /// Before any host is contacted; the first that fails aborts the run (exit 1).
    pub before: Vec<String>,
    /// After a run that succeeded (exit 0); a failure is a warning.
    pub after: Vec<String>,
    /// After a run that failed (any exit but 0); a failure is a warning.
    pub failed: Vec<String>,
}

impl HooksSettings {
    pub(super) fn check(raw: &RawHooks) -> Result<HooksSettings, Problem> {
        let list = |f: &Option<Field<Vec<Field<String>>>>| {
            f.as_ref().map(super::build::commands).transpose()
        };
        Ok(HooksSettings {
            before: list(&raw.before)?,
            after: list(&raw.after)?,
            failed: list(&raw.failed)?,
        })
    }

    /// `over` wins list by list.
    pub(super) fn overlay(self, over: HooksSettings) -> HooksSettings {
        HooksSettings {
            before: over.before.or(self.before),
            after: over.after.or(self.after),
            failed: over.failed.or(self.failed),
        }
    }

    pub(super) fn finish(self) -> Hooks {
        Hooks {
            before: self.before.unwrap_or_default(),
            after: self.after.unwrap_or_default(),
            failed: self.failed.unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Hooks;
    use crate::config::test_support::*;

    #[test]
    fn an_environment_replaces_the_lists_it_sets() {
        let text = format!(
            "{BASE}[hooks]\nbefore = [\"make test\"]\nafter = [\"notify ok\"]\n\
             [environments.staging.hooks]\nafter = []\nfailed = [\"notify bad\"]\n"
        );
        let env = env_named(&text, "staging");
        assert_eq!(
            env.hooks,
            Hooks {
                before: vec!["make test".into()],
                after: vec![],
                failed: vec!["notify bad".into()],
            }
        );
        assert_eq!(only_env(BASE).hooks, Hooks::default());
    }

    #[test]
    fn keys_and_commands_are_checked() {
        assert_errors(&[
            (
                "[hooks]\nafer = [\"x\"]\n",
                "4:1: unknown key `hooks.afer`; did you mean `after`?",
            ),
            (
                "[hooks]\nbefore = [\"\"]\n",
                "4:11: hooks.before[0] is empty",
            ),
            (
                "[hooks]\nfailed = \"x\"\n",
                "4:10: hooks.failed must be an array of strings, found a string",
            ),
        ]);
    }
}
