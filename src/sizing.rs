//! How many instances `"auto"` gives on a host (SPEC §10): one per core minus one, times the
//! app's `cpu_share`, at least 1, at most [`MAX_INSTANCES`]; and the `[limits.TYPE]` tables
//! checked against the Procfile. Pure: the CPU count is passed in, never read here.

use crate::config::Limits;
use crate::plan::neighbours::Neighbour;
use crate::procfile::ProcessType;
use crate::release::FormationError;

/// Highest instance count per type, for a number and for `"auto"`.
pub const MAX_INSTANCES: u32 = 100;

/// `"auto"` on a host with `cpus` cores for an app taking `share` of them:
/// max(1, floor((cpus - 1) x share)), at most [`MAX_INSTANCES`]. One core is left to the
/// system (nginx, sshd, the deploy itself); apps that share a host each take their share of
/// the rest instead of each taking all of it.
pub fn auto_instances(cpus: u32, share: f64) -> u32 {
    let cores = f64::from(cpus.saturating_sub(1));
    // The epsilon keeps a product like 100 x 0.29 (28.999999999999996) at 29.
    let wanted = (cores * share + 1e-9).floor();
    // `wanted` lies in 0..=cpus, which fits a u32.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let wanted = wanted.max(0.0) as u32;
    wanted.clamp(1, MAX_INSTANCES)
}

/// Every `[limits.TYPE]` names a Procfile type; the error points at the table and lists the
/// types.
pub fn check_limits(types: &[ProcessType], limits: &[Limits]) -> Result<(), FormationError> {
    let Some(unknown) = limits
        .iter()
        .find(|l| !types.iter().any(|t| t.name == l.process))
    else {
        return Ok(());
    };
    let names: Vec<String> = types.iter().map(|t| format!("`{}`", t.name)).collect();
    Err(FormationError {
        location: Some(unknown.location.clone()),
        message: format!(
            "limits.{} names no process type of the Procfile (it has {})",
            unknown.process,
            names.join(", ")
        ),
    })
}

/// A host's cores against the instances of every deliver app on it (`check`, `status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreUse {
    pub cpus: u32,
    pub apps: Vec<Neighbour>,
}

impl CoreUse {
    /// The instances of every app together.
    pub fn total(&self) -> u32 {
        self.apps.iter().map(|a| a.instances).sum()
    }

    /// N-1 (at least 1, as `"auto"` is): what the apps may take together, one core left to
    /// the system.
    pub fn room(&self) -> u32 {
        self.cpus.saturating_sub(1).max(1)
    }

    pub fn over(&self) -> bool {
        self.total() > self.room()
    }

    /// `4 cores: node-app 1 (user:app), blog 1 (user:bob); 2 instances of 3`.
    pub fn summary(&self) -> String {
        let apps: Vec<String> = self
            .apps
            .iter()
            .map(|a| format!("{} {} ({})", a.app, a.instances, a.owner))
            .collect();
        let apps = if apps.is_empty() {
            "no deliver app".to_owned()
        } else {
            apps.join(", ")
        };
        format!(
            "{} cores: {apps}; {} instances of {}",
            self.cpus,
            self.total(),
            self.room()
        )
    }

    /// The warning when the apps take more than N-1 instances together.
    pub fn warning(&self) -> Option<String> {
        self.over().then(|| {
            format!(
                "{} instances of deliver apps on {} cores: more than the {} that leave one \
                 core free; they fight for the CPU (lower cpu_share or the counts)",
                self.total(),
                self.cpus,
                self.room()
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::config::Location;
    use crate::procfile;

    #[test]
    fn auto_is_the_share_of_the_cores_minus_one_at_least_one() {
        // The only app on a host: every core but one.
        assert_eq!(auto_instances(0, 1.0), 1);
        assert_eq!(auto_instances(1, 1.0), 1);
        assert_eq!(auto_instances(2, 1.0), 1);
        assert_eq!(auto_instances(8, 1.0), 7);
        assert_eq!(auto_instances(101, 1.0), 100);
        assert_eq!(auto_instances(512, 1.0), 100);
        // Two apps with half each on 4 cores: 3 x 0.5 = 1.5 -> 1 each.
        assert_eq!(auto_instances(4, 0.5), 1);
        // On 8 cores: 7 x 0.5 = 3.5 -> 3 each, 6 of the 7 in all.
        assert_eq!(auto_instances(8, 0.5), 3);
        assert_eq!(auto_instances(8, 0.25), 1);
        assert_eq!(auto_instances(2, 0.1), 1);
        assert_eq!(auto_instances(101, 0.29), 29);
        assert_eq!(auto_instances(11, 0.3), 3);
        assert_eq!(auto_instances(11, 0.7), 7);
        assert_eq!(auto_instances(u32::MAX, 1.0), 100);
    }

    #[test]
    fn the_apps_of_a_host_are_counted_against_its_cores_minus_one() {
        let app = |app: &str, owner: &str, instances| Neighbour {
            owner: owner.to_owned(),
            app: app.to_owned(),
            instances,
        };
        let mut host = CoreUse {
            cpus: 4,
            apps: vec![app("one", "user:app", 1), app("two", "user:app", 1)],
        };
        assert_eq!(
            host.summary(),
            "4 cores: one 1 (user:app), two 1 (user:app); 2 instances of 3"
        );
        assert_eq!(host.warning(), None);
        host.apps.push(app("blog", "system", 2));
        assert_eq!(
            host.warning().unwrap(),
            "4 instances of deliver apps on 4 cores: more than the 3 that leave one core free; \
             they fight for the CPU (lower cpu_share or the counts)"
        );
        let alone = CoreUse {
            cpus: 1,
            apps: vec![app("one", "user:app", 1)],
        };
        assert_eq!(alone.warning(), None);
    }

    #[test]
    fn a_limit_must_name_a_procfile_type() {
        let types = procfile::parse("web: a\nworker: b\n").unwrap();
        let limit = |process: &str| Limits {
            process: process.to_owned(),
            location: Location {
                file: PathBuf::from("deliver.toml"),
                line: 9,
                column: 9,
            },
            max_lifetime: None,
            memory_max: Some(1 << 20),
        };
        assert_eq!(check_limits(&types, &[limit("worker")]), Ok(()));
        assert_eq!(
            check_limits(&types, &[limit("worker"), limit("wbe")])
                .unwrap_err()
                .to_string(),
            "deliver.toml:9:9: limits.wbe names no process type of the Procfile (it has `web`, \
             `worker`)"
        );
    }
}
