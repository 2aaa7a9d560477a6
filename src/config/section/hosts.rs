//! The value of a `hosts` array (the top-level key of `general.rs` and `proxy.hosts`):
//! each a [`HostSpec`], none twice. No I/O: `~/.ssh/config` aliases are looked up later.

use std::collections::hash_map::{Entry, HashMap};

use crate::config::raw::{Field, Problem};
use crate::config::value::Set;
use crate::config::{HostSpec, Proxy};

/// A `hosts` array: each host with where it was written.
pub(super) type Hosts = Set<Vec<Set<HostSpec>>>;

/// A non-empty list of distinct hosts.
pub(super) fn list(field: &Field<Vec<Field<String>>>) -> Result<Hosts, Problem> {
    if field.value.is_empty() {
        return Err(Problem::new(
            field.at,
            format!("{} is empty; list at least one host", field.path),
        ));
    }
    let mut specs: Vec<Set<HostSpec>> = Vec::with_capacity(field.value.len());
    for item in &field.value {
        let spec: HostSpec = item.value.parse().map_err(|reason| {
            Problem::new(
                item.at,
                format!("{}: invalid host `{}`: {reason}", item.path, item.value),
            )
        })?;
        specs.push(Set::at(item, spec));
    }
    distinct(&specs, None)?;
    Ok(Set::at(field, specs))
}

/// No host twice: the same user (`default_user` for a host that names none), host name in
/// any case and port (22 when none is written) is one host. Linear: one hash per host.
pub(super) fn distinct(hosts: &[Set<HostSpec>], default_user: Option<&str>) -> Result<(), Problem> {
    let mut seen: HashMap<(Option<&str>, String, u16), &Set<HostSpec>> =
        HashMap::with_capacity(hosts.len());
    for host in hosts {
        let spec = &host.value;
        match seen.entry(identity(spec, default_user)) {
            Entry::Vacant(slot) => {
                slot.insert(host);
            }
            Entry::Occupied(first) => {
                let first = first.get();
                return Err(Problem::new(
                    host.at,
                    format!(
                        "{} `{spec}` is the same host as {} `{}`",
                        host.path, first.path, first.value
                    ),
                )
                .first_at(first.at));
            }
        }
    }
    Ok(())
}

/// What makes a host one host: its user (`default_user` when it names none), its name in any
/// case and its port (22 when none is written).
pub(super) fn identity<'a>(
    spec: &'a HostSpec,
    default_user: Option<&'a str>,
) -> (Option<&'a str>, String, u16) {
    (
        spec.user.as_deref().or(default_user),
        spec.host.to_ascii_lowercase(),
        spec.port.unwrap_or(22),
    )
}

/// nginx takes no IPv6 zone id (`fe80::1%eth0`) in an upstream `server`: a host that has
/// one needs its own `proxy.addresses` entry (issue 12).
pub(super) fn reachable_by(
    hosts: &[Set<HostSpec>],
    proxy: &Proxy,
    env: &str,
) -> Result<(), Problem> {
    for host in hosts {
        if host.value.host.contains('%') && proxy.address_of(&host.value).is_none() {
            return Err(Problem::new(
                host.at,
                format!(
                    "{} `{}` has an IPv6 zone id, which nginx cannot use in the upstream of \
                     [proxy] (environment `{env}`); give the proxy its address in \
                     proxy.addresses",
                    host.path, host.value
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::test_support::*;

    #[test]
    fn hosts_must_parse_and_be_unique() {
        assert_eq!(
            error("app = \"shop\"\nhosts = [\"web1\", \"deploy@web1:0\"]\n"),
            "deliver.toml:2:18: hosts[1]: invalid host `deploy@web1:0`: port 0 is not allowed; \
                 expected 1 to 65535"
        );
        assert_eq!(
            error("app = \"shop\"\nhosts = [\"web1\", \"WEB1\"]\n"),
            "deliver.toml:2:18: hosts[1] `WEB1` is the same host as hosts[0] `web1` (the first \
             on line 2)"
        );
        assert_eq!(
            error("app = \"shop\"\n[environments.production]\nhosts = [\"a;b\"]\n"),
            "deliver.toml:3:10: environments.production.hosts[0]: invalid host `a;b`: host name \
                 `a;b` contains `;`; host names and addresses may contain only letters, digits, \
                 `.`, `-` and `_`"
        );
        let env = only_env("app = \"shop\"\nhosts = [\"web1\", \"deploy@web1\", \"web1:2222\"]\n");
        assert_eq!(env.hosts.len(), 3);
    }

    #[test]
    fn the_same_host_written_two_ways_is_refused_naming_both_lines() {
        // See: issue 12 (`h` and `h:22` were two hosts).
        assert_eq!(
            error("app = \"shop\"\nhosts = [\n  \"h\",\n  \"H:22\",\n]\n"),
            "deliver.toml:4:3: hosts[1] `H:22` is the same host as hosts[0] `h` (the first on \
             line 3)"
        );
        assert_eq!(
            error("app = \"shop\"\nuser = \"app\"\nhosts = [\"h\", \"app@h:22\"]\n"),
            "deliver.toml:3:15: hosts[1] `app@h:22` is the same host as hosts[0] `h` (the first \
             on line 3)"
        );
        assert_eq!(
            error("app = \"shop\"\n[proxy]\nhosts = [\"lb\", \"lb:22\"]\n[environments.p]\nhosts = [\"h\"]\n"),
            "deliver.toml:3:16: proxy.hosts[1] `lb:22` is the same host as proxy.hosts[0] `lb` \
             (the first on line 3)"
        );
        // Another user, another port: other hosts.
        let env =
            only_env("app = \"shop\"\nuser = \"app\"\nhosts = [\"h\", \"deploy@h\", \"h:2222\"]\n");
        assert_eq!(env.hosts.len(), 3);
    }

    #[test]
    fn an_ipv6_zone_id_needs_a_proxy_address() {
        // See: issue 12 (nginx refused `server [fe80::1%eth0]:5000`).
        let text =
            "app = \"shop\"\nhosts = [\"web1\", \"[fe80::1%eth0]\"]\n[proxy]\nhosts = [\"lb\"]\n";
        assert_eq!(
            error(text),
            "deliver.toml:2:18: hosts[1] `[fe80::1%eth0]` has an IPv6 zone id, which nginx \
             cannot use in the upstream of [proxy] (environment `default`); give the proxy its \
             address in proxy.addresses"
        );
        let with_address = format!("{text}addresses = {{ \"fe80::1%eth0\" = \"10.0.0.2\" }}\n");
        assert_eq!(only_env(&with_address).hosts.len(), 2);
        // Without [proxy], deliver only connects to it: ssh takes zone ids.
        assert_eq!(
            only_env("app = \"shop\"\nhosts = [\"[fe80::1%eth0]\"]\n").hosts[0].host,
            "fe80::1%eth0"
        );
    }

    #[test]
    fn an_all_digit_user_is_refused() {
        // See: issue 12 (`0@h` rendered User=0, root).
        assert_eq!(
            error("app = \"shop\"\nhosts = [\"0@h\"]\n"),
            "deliver.toml:2:10: hosts[0]: invalid host `0@h`: user name `0` is all digits, \
             which the supervisor would read as a user id; name the user"
        );
    }
}
