//! `[proxy]`: the nginx in front of the app, on its own host(s): where it runs, the name
//! of its upstream (an [`UpstreamName`], checked here once), the file deliver owns there,
//! whether instances are drained before they stop and for how long at most, and how the
//! proxy reaches each app host (`addresses`). An environment's `[proxy]` merges key by key
//! over the top-level one (`addresses` entry by entry). No I/O.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::raw::{boolean, known_entries, string, strings, table, Entry, Field, Problem};
use crate::config::value::{no_control_chars, positive, str_newtype};
use crate::config::{AppName, HostSpec};

use super::hosts;

const KEYS: [&str; 6] = [
    "hosts",
    "upstream",
    "config",
    "drain",
    "drain_timeout",
    "addresses",
];

/// `drain_timeout` when not set.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub(in crate::config) struct RawProxy {
    /// `proxy` or `environments.NAME.proxy`.
    pub path: String,
    pub at: usize,
    pub hosts: Option<Field<Vec<Field<String>>>>,
    pub upstream: Option<Field<String>>,
    pub config: Option<Field<String>>,
    pub drain: Option<Field<bool>>,
    pub drain_timeout: Option<Field<String>>,
    /// `addresses`, in file order: the host as written (key) and the address.
    pub addresses: Option<Vec<Field<(String, String)>>>,
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
            drain_timeout: None,
            addresses: None,
        };
        for e in known_entries(entry, &KEYS)? {
            match e.key.as_str() {
                "hosts" => proxy.hosts = Some(strings(e)?),
                "upstream" => proxy.upstream = Some(string(e)?),
                "config" => proxy.config = Some(string(e)?),
                "drain" => proxy.drain = Some(boolean(e)?),
                "drain_timeout" => proxy.drain_timeout = Some(string(e)?),
                _ => {
                    let entries = table(e)?;
                    let mut addresses = Vec::new();
                    for a in entries {
                        let address = string(a)?;
                        addresses.push(Field {
                            path: address.path,
                            key_at: address.key_at,
                            at: address.at,
                            value: (a.key.clone(), address.value),
                        });
                    }
                    proxy.addresses = Some(addresses);
                }
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
    hosts: Option<hosts::Hosts>,
    upstream: Option<UpstreamName>,
    config: Option<String>,
    drain: Option<bool>,
    drain_timeout: Option<Duration>,
    /// Host as written -> address.
    addresses: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proxy {
    pub hosts: Vec<HostSpec>,
    /// nginx upstream name; default the app name.
    pub upstream: UpstreamName,
    /// Default `/etc/nginx/conf.d/<app>-upstream.conf`.
    pub config: String,
    /// Take an instance out of the upstream before it stops; default true.
    pub drain: bool,
    /// How long an instance's in-flight requests may take to finish; default 10s.
    pub drain_timeout: Duration,
    /// How the proxy reaches an app host, by the host as written in `hosts` (or its host
    /// part); a host not listed is reached at the address deliver connects to.
    pub addresses: BTreeMap<String, String>,
}

impl Proxy {
    /// The address the proxy reaches `host` at, when `addresses` names it.
    pub fn address_of(&self, host: &HostSpec) -> Option<&str> {
        self.addresses
            .get(&host.to_string())
            .or_else(|| self.addresses.get(&host.host))
            .map(String::as_str)
    }
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
            drain_timeout: raw.drain_timeout.as_ref().map(positive).transpose()?,
            addresses: raw
                .addresses
                .iter()
                .flatten()
                .map(|f| Ok((f.value.0.clone(), address(f)?)))
                .collect::<Result<_, Problem>>()?,
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
                drain_timeout: over.drain_timeout.or(base.drain_timeout),
                addresses: base.addresses.into_iter().chain(over.addresses).collect(),
            }),
            (base, over) => over.or(base),
        }
    }

    /// With the defaults; a proxy needs hosts. `addresses` may name hosts of other
    /// environments (a top-level table serves them all): those are not used here.
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
            hosts: hosts.value.into_iter().map(|h| h.value).collect(),
            upstream: self.upstream.unwrap_or_else(|| UpstreamName::from(app)),
            config: self
                .config
                .unwrap_or_else(|| format!("/etc/nginx/conf.d/{app}-upstream.conf")),
            drain: self.drain.unwrap_or(true),
            drain_timeout: self.drain_timeout.unwrap_or(DEFAULT_DRAIN_TIMEOUT),
            addresses: self.addresses,
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

/// An address nginx can put in a `server` line: a host name, an IPv4 address or an IPv6
/// address (bare or in brackets; stored bare); no port, spaces, `;` or zone index.
fn address(field: &Field<(String, String)>) -> Result<String, Problem> {
    let value = field.value.1.trim_start_matches('[').trim_end_matches(']');
    let ipv6 = value.contains(':');
    let valid = !value.is_empty()
        && value.len() <= 253
        && if ipv6 {
            value.parse::<std::net::Ipv6Addr>().is_ok()
        } else {
            value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        };
    if valid {
        Ok(value.to_owned())
    } else {
        Err(Problem::new(
            field.at,
            format!(
                "{} `{}` is not an address nginx can reach a host at: a host name, an IPv4 \
                 or an IPv6 address, without a port",
                field.path, field.value.1
            ),
        ))
    }
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
                drain: true,
                drain_timeout: DEFAULT_DRAIN_TIMEOUT,
                addresses: BTreeMap::new(),
            })
        );
    }

    #[test]
    fn drain_timeout_and_addresses_are_read_and_merged() {
        let text = format!(
            "{BASE}[proxy]\nhosts = [\"lb1\"]\ndrain_timeout = \"3s\"\n\
             addresses = {{ web1 = \"10.0.0.11\" }}\n\
             [environments.prod]\nhosts = [\"web1\", \"app@web2:2222\"]\n\
             [environments.prod.proxy]\naddresses = {{ web2 = \"[fd00::2]\" }}\n"
        );
        let env = only_env(&text);
        let proxy = env.proxy.unwrap();
        assert_eq!(proxy.drain_timeout, Duration::from_secs(3));
        assert!(proxy.drain);
        assert_eq!(proxy.address_of(&env.hosts[0]), Some("10.0.0.11"));
        assert_eq!(proxy.address_of(&env.hosts[1]), Some("fd00::2"));
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
                "[proxy]\nhosts = [\"lb\"]\ndrain_timeout = \"0s\"\n",
                "5:17: proxy.drain_timeout must be longer than 0",
            ),
            (
                "[proxy]\nhosts = [\"lb\"]\naddresses = { web1 = \"10.0.0.1:80\" }\n",
                "5:22: proxy.addresses.web1 `10.0.0.1:80` is not an address nginx can reach a \
                     host at: a host name, an IPv4 or an IPv6 address, without a port",
            ),
            (
                "[proxy]\ndrain = true\n",
                "3:1: proxy has no hosts (in environment `default`); set hosts = [\"...\"] to \
                     the host(s) nginx runs on",
            ),
        ]);
    }
}
