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
