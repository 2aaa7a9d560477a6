//! The values of `linked_dirs` and `linked_files` (keys of `general.rs`): each a relative
//! path inside the release, none deliver writes itself, and no two of them overlapping.
//! No I/O.

use std::collections::HashMap;

use crate::config::raw::{Field, Problem};
use crate::config::value::{non_empty, Set};

/// What deliver writes into each release (`plan::release_dir`): linked, every release would
/// share one.
const OWNED_BY_DELIVER: [&str; 1] = ["REVISION"];

/// Each path of a `linked_dirs` or `linked_files` array, checked on its own.
pub(super) fn paths(field: &Field<Vec<Field<String>>>) -> Result<Vec<Set<String>>, Problem> {
    let mut out = Vec::with_capacity(field.value.len());
    for item in &field.value {
        non_empty(item)?;
        let path = &item.value;
        let problem = if path.starts_with('/') {
            Some("must be a path relative to the release, not an absolute one")
        } else if path.split('/').any(|part| part == "..") {
            Some("must not contain `..`")
        } else if path.split('/').all(|part| part.is_empty() || part == ".") {
            Some("must name a file or directory inside the release")
        } else if path
            .split('/')
            .find(|part| !part.is_empty() && *part != ".")
            .is_some_and(|first| OWNED_BY_DELIVER.contains(&first))
        {
            Some("is written by deliver into every release (the commit it holds); it cannot be linked")
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(Problem::new(
                item.at,
                format!("{} `{path}` {problem}", item.path),
            ));
        }
        out.push(Set::at(item, path.clone()));
    }
    Ok(out)
}

/// No linked path may be another, or lie inside another (across `linked_dirs` and
/// `linked_files`): the release would get a link inside a link, and replacing the inner one
/// would write into `shared/` through the outer. Linear in the number of path components:
/// each path is looked up among the earlier paths and their parents.
pub(super) fn disjoint<'s>(
    linked: impl Iterator<Item = &'s Set<String>>,
    env: &str,
) -> Result<(), Problem> {
    // Each earlier path by its components, and each of their proper parents.
    let mut paths: HashMap<Vec<&str>, &Set<String>> = HashMap::new();
    let mut parents: HashMap<Vec<&str>, &Set<String>> = HashMap::new();
    for later in linked {
        let parts: Vec<&str> = later
            .value
            .split('/')
            .filter(|part| !part.is_empty() && *part != ".")
            .collect();
        // An earlier path that is this one or one of its parents, else one inside it.
        let clash = (1..=parts.len())
            .find_map(|n| paths.get(&parts[..n]).map(|earlier| (*earlier, n)))
            .or_else(|| parents.get(&parts).map(|earlier| (*earlier, usize::MAX)));
        if let Some((earlier, outer_len)) = clash {
            let (how, inner, outer) = match outer_len {
                n if n == parts.len() => ("is the same path as", later, earlier),
                usize::MAX => ("lies inside", earlier, later),
                _ => ("lies inside", later, earlier),
            };
            // At the one written last in the file: where an override brought the clash.
            return Err(Problem::new(
                earlier.at.max(later.at),
                format!(
                    "{} `{}` {how} {} `{}` (environment `{env}`): a release links each \
                     linked path once; keep the outer one",
                    inner.path, inner.value, outer.path, outer.value
                ),
            ));
        }
        for n in 1..parts.len() {
            parents.entry(parts[..n].to_vec()).or_insert(later);
        }
        paths.insert(parts, later);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::test_support::*;

    #[test]
    fn linked_paths_that_only_share_a_prefix_are_disjoint() {
        let config = parse(&format!(
            "{BASE}linked_dirs = [\"tmp\", \"tmpx\", \"log/a\"]\n\
                 linked_files = [\"tmp2/.env\", \"log/b\"]\n"
        ))
        .unwrap();
        let env = config.environment(None).unwrap();
        assert_eq!(env.linked_dirs, ["tmp", "tmpx", "log/a"]);
        assert_eq!(env.linked_files, ["tmp2/.env", "log/b"]);
    }

    #[test]
    fn names_paths_and_strings_are_checked() {
        assert_errors(&[
            (
                "linked_dirs = [\"log\", \"../x\"]\n",
                "3:23: linked_dirs[1] `../x` must not contain `..`",
            ),
            (
                "linked_files = [\"/etc/passwd\"]\n",
                "3:17: linked_files[0] `/etc/passwd` must be a path relative to the release, \
                     not an absolute one",
            ),
            (
                "linked_files = [\"\"]\n",
                "3:17: linked_files[0] must not be empty",
            ),
            (
                "linked_dirs = [\"./\"]\n",
                "3:16: linked_dirs[0] `./` must name a file or directory inside the release",
            ),
            (
                "linked_dirs = [\"log\", \"./log/\"]\n",
                "3:23: linked_dirs[1] `./log/` is the same path as linked_dirs[0] `log` \
                     (environment `default`): a release links each linked path once; keep the \
                     outer one",
            ),
            (
                "linked_dirs = [\"config\"]\nlinked_files = [\"config/database.yml\"]\n",
                "4:17: linked_files[0] `config/database.yml` lies inside linked_dirs[0] \
                     `config` (environment `default`): a release links each linked path once; \
                     keep the outer one",
            ),
            (
                "linked_files = [\"REVISION\"]\n",
                "3:17: linked_files[0] `REVISION` is written by deliver into every release (the \
                     commit it holds); it cannot be linked",
            ),
            (
                "linked_dirs = [\"log\", \"./REVISION/x\"]\n",
                "3:23: linked_dirs[1] `./REVISION/x` is written by deliver into every release \
                     (the commit it holds); it cannot be linked",
            ),
            (
                "linked_dirs = [\"a/b/c\", \"a/b\"]\n",
                "3:25: linked_dirs[0] `a/b/c` lies inside linked_dirs[1] `a/b` (environment \
                     `default`): a release links each linked path once; keep the outer one",
            ),
            (
                "linked_files = [\"tmp/x\"]\n[environments.production]\nlinked_dirs = [\"tmp\"]\n",
                "5:16: linked_files[0] `tmp/x` lies inside environments.production.linked_dirs[0] \
                     `tmp` (environment `production`): a release links each linked path once; keep \
                     the outer one",
            ),
        ]);
    }
}
