//! `[proxy]`: the nginx in front of the app, on its own host(s): where it runs, the name
//! of its upstream (an [`UpstreamName`], checked here once), the file deliver owns there and
//! whether instances are drained before they stop. An environment's `[proxy]` merges key
//! by key over the top-level one. No I/O.

use crate::config::raw::{boolean, known_entries, string, strings, Entry, Field, Problem};
use crate::config::value::{no_control_chars, str_newtype, Set};
use crate::config::{AppName, HostSpec};

use super::hosts;

const KEYS: [&str; 4] = ["hosts", "upstream", "config", "drain"];

#[derive(Debug)]
pub(in crate::config) struct RawProxy {
    /// `proxy` or `environments.NAME.proxy`.
    pub path: String,
    pub at: usize,
    pub hosts: Option<Field<Vec<Field<String>>>>,
    pub upstream: Option<Field<String>>,
    pub config: Option<Field<String>>,
    pub drain: Option<Field<bool>>,
}

impl RawProxy {
    pub(super) fn read(entry: &Entry) -> Result<RawProxy, Problem> {
        let mut proxy = RawProxy {
            path: entry.path.clone(),
            at: entry.node.at,
            hosts: None,
            upstream: None,
            config: None,
            drain: None,
        };
        for e in known_entries(entry, &KEYS)? {
            match e.key.as_str() {
                "hosts" => proxy.hosts = Some(strings(e)?),
                "upstream" => proxy.upstream = Some(string(e)?),
                "config" => proxy.config = Some(string(e)?),
                _ => proxy.drain = Some(boolean(e)?),
            }
        }
        Ok(proxy)
    }
}

/// One level's `[proxy]`, checked; where its table is, for "has no hosts".
#[derive(Debug, Clone)]
pub(super) struct ProxySettings {
    path: String,
    at: usize,
    hosts: Option<Set<Vec<HostSpec>>>,
    upstream: Option<UpstreamName>,
    config: Option<String>,
    drain: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proxy {
    pub hosts: Vec<HostSpec>,
    /// nginx upstream name; default the app name.
    pub upstream: UpstreamName,
    /// Default `/etc/nginx/conf.d/<app>-upstream.conf`.
    pub config: String,
    pub drain: bool,
}

/// An nginx upstream name: letters, digits, `.`, `-` and `_`, not empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamName(String);

str_newtype!(UpstreamName);

impl UpstreamName {
    pub fn new(name: &str) -> Option<UpstreamName> {
        UpstreamName::is_valid(name).then(|| UpstreamName(name.to_owned()))
    }

    /// The one check of an upstream name, for code that still holds a plain string.
    pub fn is_valid(name: &str) -> bool {
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    }

    /// Skips the check, for tests of the layers that re-check names they are handed.
    #[cfg(test)]
    pub(crate) fn unchecked(name: &str) -> UpstreamName {
        UpstreamName(name.to_owned())
    }
}

impl From<&AppName> for UpstreamName {
    /// An app name (`[a-z][a-z0-9-]*`) is always a valid upstream name.
    fn from(app: &AppName) -> UpstreamName {
        UpstreamName(app.to_string())
    }
}

impl ProxySettings {
    pub(super) fn check(raw: &RawProxy) -> Result<ProxySettings, Problem> {
        Ok(ProxySettings {
            path: raw.path.clone(),
            at: raw.at,
            hosts: raw.hosts.as_ref().map(hosts::list).transpose()?,
            upstream: raw.upstream.as_ref().map(upstream).transpose()?,
            config: raw.config.as_ref().map(config).transpose()?,
            drain: raw.drain.as_ref().map(|f| f.value),
        })
    }

    /// Key by key when both levels have a `[proxy]`; where the table is comes from `over`.
    pub(super) fn overlay(
        base: Option<ProxySettings>,
        over: Option<ProxySettings>,
    ) -> Option<ProxySettings> {
        match (base, over) {
            (Some(base), Some(over)) => Some(ProxySettings {
                path: over.path,
                at: over.at,
                hosts: over.hosts.or(base.hosts),
                upstream: over.upstream.or(base.upstream),
                config: over.config.or(base.config),
                drain: over.drain.or(base.drain),
            }),
            (base, over) => over.or(base),
        }
    }

    /// With the defaults; a proxy needs hosts.
    pub(super) fn finish(self, env: &str, app: &AppName) -> Result<Proxy, Problem> {
        let Some(hosts) = self.hosts else {
            return Err(Problem::new(
                self.at,
                format!(
                    "{} has no hosts (in environment `{env}`); set hosts = [\"...\"] to the \
                     host(s) nginx runs on",
                    self.path
                ),
            ));
        };
        Ok(Proxy {
            hosts: hosts.value,
            upstream: self.upstream.unwrap_or_else(|| UpstreamName::from(app)),
            config: self
                .config
                .unwrap_or_else(|| format!("/etc/nginx/conf.d/{app}-upstream.conf")),
            drain: self.drain.unwrap_or(false),
        })
    }
}

fn upstream(field: &Field<String>) -> Result<UpstreamName, Problem> {
    let name = &field.value;
    UpstreamName::new(name).ok_or_else(|| {
        Problem::new(
            field.at,
            format!(
                "{} `{name}` is not a valid nginx upstream name: letters, digits, `.`, `-` \
                 and `_`",
                field.path
            ),
        )
    })
}

fn config(field: &Field<String>) -> Result<String, Problem> {
    no_control_chars(field)?;
    if !field.value.starts_with('/') {
        return Err(Problem::new(
            field.at,
            format!(
                "{} `{}` must be an absolute path on the proxy host",
                field.path, field.value
            ),
        ));
    }
    Ok(field.value.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::*;

    #[test]
    fn proxy_defaults_follow_the_app_name() {
        let env = only_env(&format!("{BASE}[proxy]\nhosts = [\"lb1\"]\n"));
        assert_eq!(
            env.proxy,
            Some(Proxy {
                hosts: vec![host("lb1")],
                upstream: UpstreamName::new("shop").unwrap(),
                config: "/etc/nginx/conf.d/shop-upstream.conf".to_owned(),
                drain: false,
            })
        );
    }

    #[test]
    fn proxy_values_are_checked() {
        assert_errors(&[
            (
                "[proxy]\nhosts = [\"lb\"]\nconfig = \"conf.d/x.conf\"\n",
                "5:10: proxy.config `conf.d/x.conf` must be an absolute path on the proxy host",
            ),
            (
                "[proxy]\nhosts = [\"lb\"]\nupstream = \"my app\"\n",
                "5:12: proxy.upstream `my app` is not a valid nginx upstream name: letters, \
                     digits, `.`, `-` and `_`",
            ),
            (
                "[proxy]\ndrain = true\n",
                "3:1: proxy has no hosts (in environment `default`); set hosts = [\"...\"] to \
                     the host(s) nginx runs on",
            ),
        ]);
    }
}
