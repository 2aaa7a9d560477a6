//! `[release]`: the command run once per deploy, on one host, in the new release before
//! anything switches (SPEC §9; migrations): `command`, and `host`, one of the environment's
//! hosts (default: its first). An environment wins key by key. No I/O: `deploy::ops` runs
//! it (with `[env]`, `shared/.env` and the `[build] timeout`).

use crate::config::raw::{known_entries, string, Entry, Field, Problem};
use crate::config::value::Set;
use crate::config::HostSpec;

const KEYS: [&str; 2] = ["command", "host"];

#[derive(Debug, Default)]
pub(in crate::config) struct RawRelease {
    pub command: Option<Field<String>>,
    pub host: Option<Field<String>>,
}

impl RawRelease {
    pub(super) fn read(entry: &Entry) -> Result<RawRelease, Problem> {
        let mut raw = RawRelease::default();
        for e in known_entries(entry, &KEYS)? {
            match e.key.as_str() {
                "command" => raw.command = Some(string(e)?),
                _ => raw.host = Some(string(e)?),
            }
        }
        Ok(raw)
    }
}

/// One level's `[release]`, checked.
#[derive(Debug, Clone, Default)]
pub(super) struct ReleaseSettings {
    command: Option<Set<String>>,
    host: Option<Set<HostSpec>>,
}

/// The release command of an environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// Run with `sh -c` in the new release dir.
    pub command: String,
    /// The one host it runs on: one of the environment's hosts, as written in `hosts`.
    pub host: HostSpec,
}

impl ReleaseSettings {
    pub(super) fn check(raw: &RawRelease) -> Result<ReleaseSettings, Problem> {
        let command = match &raw.command {
            Some(f) => Some(Set::at(f, super::build::command(f)?)),
            None => None,
        };
        let host = match &raw.host {
            Some(f) => {
                let spec: HostSpec = f.value.parse().map_err(|reason| {
                    Problem::new(
                        f.at,
                        format!("{}: invalid host `{}`: {reason}", f.path, f.value),
                    )
                })?;
                Some(Set::at(f, spec))
            }
            None => None,
        };
        Ok(ReleaseSettings { command, host })
    }

    /// `over` wins key by key.
    pub(super) fn overlay(self, over: ReleaseSettings) -> ReleaseSettings {
        ReleaseSettings {
            command: over.command.or(self.command),
            host: over.host.or(self.host),
        }
    }

    /// The release of environment `env`, whose hosts are `hosts` (`user` for those that
    /// name none): `None` without a command; `host` must be one of `hosts`.
    pub(super) fn finish(
        self,
        env: &str,
        hosts: &[HostSpec],
        user: Option<&str>,
    ) -> Result<Option<Release>, Problem> {
        let Some(command) = self.command else {
            return match self.host {
                Some(host) => Err(Problem::new(
                    host.at,
                    format!("{} is set but release.command is not", host.path),
                )),
                None => Ok(None),
            };
        };
        let host = match self.host {
            None => hosts.first().expect("an environment has hosts").clone(),
            Some(host) => {
                let wanted = super::hosts::identity(&host.value, user);
                let found = hosts
                    .iter()
                    .find(|h| super::hosts::identity(h, user) == wanted)
                    .ok_or_else(|| {
                        let known: Vec<String> = hosts.iter().map(ToString::to_string).collect();
                        Problem::new(
                            host.at,
                            format!(
                                "{} `{}` is not a host of environment `{env}` (its hosts: {})",
                                host.path,
                                host.value,
                                known.join(", ")
                            ),
                        )
                    })?;
                found.clone()
            }
        };
        Ok(Some(Release {
            command: command.value,
            host,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::Release;
    use crate::config::test_support::*;

    const TWO: &str = "app = \"shop\"\nuser = \"app\"\nhosts = [\"web1\", \"web2:22\"]\n";

    #[test]
    fn the_host_defaults_to_the_first_and_may_be_written_another_way() {
        let env = only_env(&format!("{TWO}[release]\ncommand = \"bin/migrate\"\n"));
        assert_eq!(
            env.release,
            Some(Release {
                command: "bin/migrate".into(),
                host: host("web1"),
            })
        );
        // The host as `hosts` writes it, so that it names the session.
        let env = only_env(&format!(
            "{TWO}[release]\ncommand = \"bin/migrate\"\nhost = \"app@WEB2\"\n"
        ));
        assert_eq!(env.release.unwrap().host, host("web2:22"));
        assert_eq!(only_env(TWO).release, None);
    }

    #[test]
    fn an_environment_wins_key_by_key() {
        let text = "app = \"shop\"\nhosts = [\"a\", \"b\"]\n[release]\ncommand = \"bin/migrate\"\n\
             [environments.staging]\nhosts = [\"c\", \"d\"]\n[environments.staging.release]\n\
             host = \"d\"\n[environments.production]\n";
        let staging = env_named(text, "staging").release.unwrap();
        assert_eq!(
            (staging.command.as_str(), staging.host),
            ("bin/migrate", host("d"))
        );
        let production = env_named(text, "production").release.unwrap();
        assert_eq!(production.host, host("a"));
    }

    #[test]
    fn the_host_must_be_one_of_the_environment_s() {
        assert_errors(&[
            (
                "[release]\ncommand = \"bin/migrate\"\nhost = \"web9\"\n",
                "5:8: release.host `web9` is not a host of environment `default` (its hosts: \
                 web1)",
            ),
            (
                "[release]\ncommand = \"bin/migrate\"\nhost = \"web1:2222\"\n",
                "5:8: release.host `web1:2222` is not a host of environment `default` (its \
                 hosts: web1)",
            ),
            (
                "[release]\nhost = \"web1\"\n",
                "4:8: release.host is set but release.command is not",
            ),
            (
                "[release]\ncommand = \" \"\n",
                "4:11: release.command is empty",
            ),
            (
                "[release]\ncomand = \"x\"\n",
                "4:1: unknown key `release.comand`; did you mean `command`?",
            ),
        ]);
    }
}
