//! The value of a `hosts` array (the top-level key of `general.rs` and `proxy.hosts`):
//! each a [`HostSpec`], none twice. No I/O: `~/.ssh/config` aliases are looked up later.

use crate::config::raw::{Field, Problem};
use crate::config::value::Set;
use crate::config::HostSpec;

/// A non-empty list of distinct hosts.
pub(super) fn list(field: &Field<Vec<Field<String>>>) -> Result<Set<Vec<HostSpec>>, Problem> {
    if field.value.is_empty() {
        return Err(Problem::new(
            field.at,
            format!("{} is empty; list at least one host", field.path),
        ));
    }
    let mut specs: Vec<HostSpec> = Vec::with_capacity(field.value.len());
    for item in &field.value {
        let spec: HostSpec = item.value.parse().map_err(|reason| {
            Problem::new(
                item.at,
                format!("{}: invalid host `{}`: {reason}", item.path, item.value),
            )
        })?;
        let same = |other: &&HostSpec| {
            other.user == spec.user
                && other.port == spec.port
                && other.host.eq_ignore_ascii_case(&spec.host)
        };
        if let Some(first) = specs.iter().find(same) {
            return Err(Problem::new(
                item.at,
                format!("{} lists `{first}` twice", field.path),
            ));
        }
        specs.push(spec);
    }
    Ok(Set::at(field, specs))
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
            "deliver.toml:2:18: hosts lists `web1` twice"
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
}
