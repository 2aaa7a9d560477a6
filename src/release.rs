//! Formation (which instances of which types run on a host) and port arithmetic:
//! `PORT = port_base + 100*type_index + (instance-1)`, its inverse, and the `surge` port bank.
//! Release ids are `release_id`'s; what `"auto"` gives is `sizing`'s. Pure: the CPU count is
//! passed in, never read here.

use crate::config::{Environment, Instances, Location, ProcessSetting};
use crate::procfile::ProcessType;
pub use crate::sizing::MAX_INSTANCES;
use crate::sizing::{auto_instances, check_limits};

/// Ports between two consecutive Procfile types: type `i` starts at `port_base + 100*i`.
pub const PORT_STRIDE: u32 = 100;

/// The instances of every Procfile type on one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Formation {
    pub port_base: u16,
    /// Every Procfile type, in Procfile order (types with 0 instances included).
    pub types: Vec<TypeFormation>,
    /// The CPU count `"auto"` was resolved with, if any type used `"auto"`.
    pub auto_cpus: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeFormation {
    pub name: String,
    pub command: String,
    /// Position in the Procfile (0-based): ports start at `port_base + 100*index`.
    pub index: usize,
    /// 0 = off.
    pub instances: u32,
    /// The count came from `"auto"`.
    pub auto: bool,
}

/// One running process: instance `number` (1-based) of type `type_name` on `port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub type_name: String,
    pub number: u32,
    pub port: u16,
}

/// A formation that cannot run: a `[processes]` key naming no Procfile type, or ports that
/// do not fit in 1..=65535.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", location.as_ref().map(|l| format!("{l}: ")).unwrap_or_default())]
pub struct FormationError {
    pub location: Option<Location>,
    pub message: String,
}

impl Formation {
    /// The formation of `env` on a host with `cpus` cores: [`Formation::resolve`] with the
    /// environment's `[processes]`, `port_base` and `cpu_share`, after checking that every
    /// `[limits.TYPE]` names a Procfile type. A port error that no `[processes]` line caused
    /// names the `port_base` line when one was written (issue 12).
    pub fn for_environment(
        types: &[ProcessType],
        env: &Environment,
        cpus: u32,
    ) -> Result<Formation, FormationError> {
        check_limits(types, &env.limits)?;
        Formation::resolve_shared(types, &env.processes, env.port_base, cpus, env.cpu_share)
            .map_err(|mut e| {
                if e.location.is_none() {
                    e.location.clone_from(&env.sources.port_base);
                }
                e
            })
    }

    /// [`Formation::resolve_shared`] for the only app on the host (`cpu_share` 1).
    pub fn resolve(
        types: &[ProcessType],
        settings: &[ProcessSetting],
        port_base: u16,
        cpus: u32,
    ) -> Result<Formation, FormationError> {
        Formation::resolve_shared(types, settings, port_base, cpus, 1.0)
    }

    /// Applies `[processes]` to the Procfile types: unlisted types get 1 instance, `"auto"`
    /// becomes [`auto_instances`] of `cpus` and `share`. Fails on a key that names no type
    /// (the message lists the types) and when the highest port exceeds 65535.
    pub fn resolve_shared(
        types: &[ProcessType],
        settings: &[ProcessSetting],
        port_base: u16,
        cpus: u32,
        share: f64,
    ) -> Result<Formation, FormationError> {
        let mut formation = Formation {
            port_base,
            types: types
                .iter()
                .map(|t| TypeFormation {
                    name: t.name.clone(),
                    command: t.command.clone(),
                    index: t.index,
                    instances: 1,
                    auto: false,
                })
                .collect(),
            auto_cpus: None,
        };
        for setting in settings {
            let Some(slot) = formation.types.iter_mut().find(|t| t.name == setting.name) else {
                return Err(unknown_type(setting, types));
            };
            match setting.instances {
                Instances::Count(n) if n > MAX_INSTANCES => {
                    return Err(FormationError {
                        location: Some(setting.location.clone()),
                        message: format!(
                            "processes.{} = {n} is more than {MAX_INSTANCES} instances",
                            setting.name
                        ),
                    });
                }
                Instances::Count(n) => {
                    slot.instances = n;
                    slot.auto = false;
                }
                Instances::Auto => {
                    slot.instances = auto_instances(cpus, share);
                    slot.auto = true;
                    formation.auto_cpus = Some(cpus);
                }
            }
        }
        for t in &formation.types {
            check_ports(port_base, t).map_err(|mut e| {
                // The count that pushed it over, when one was written.
                e.location = settings
                    .iter()
                    .find(|s| s.name == t.name)
                    .map(|s| s.location.clone());
                e
            })?;
        }
        Ok(formation)
    }

    /// This formation with `counts` (`deliver scale`'s, by type) in place of its own: a type
    /// the Procfile no longer has is skipped (a record outlives the release that had it);
    /// ports are checked again.
    pub fn scaled(
        mut self,
        counts: &std::collections::BTreeMap<String, u32>,
    ) -> Result<Formation, FormationError> {
        for (name, n) in counts {
            if let Some(t) = self.types.iter_mut().find(|t| &t.name == name) {
                t.instances = *n;
                t.auto = false;
                check_ports(self.port_base, t)?;
            }
        }
        if self.types.iter().all(|t| !t.auto) {
            self.auto_cpus = None;
        }
        Ok(self)
    }

    /// Every instance in start order: types in Procfile order, then instance number.
    pub fn instances(&self) -> Vec<Instance> {
        self.types
            .iter()
            .flat_map(|t| self.instances_of_type(t))
            .collect()
    }

    /// The instances of the type named `type_name` (none when it is off or unknown).
    pub fn instances_of(&self, type_name: &str) -> Vec<Instance> {
        self.types
            .iter()
            .filter(|t| t.name == type_name)
            .flat_map(|t| self.instances_of_type(t))
            .collect()
    }

    /// [`Formation::instances`] with those of `process` (the health-checked type) on `bank`'s
    /// port: what runs when that bank serves (`surge` alternates it; other types stay on
    /// their base PORT).
    pub fn instances_on(&self, bank: Bank, process: &str) -> Vec<Instance> {
        self.instances()
            .into_iter()
            .map(|mut i| {
                if i.type_name == process {
                    i.port = bank.port(i.port).expect("surge ports are checked");
                }
                i
            })
            .collect()
    }

    /// Instances of every type together; 0 is a valid formation where nothing runs.
    pub fn total_instances(&self) -> u32 {
        self.types.iter().map(|t| t.instances).sum()
    }

    /// The port of instance `number` (1-based) of `t`.
    ///
    /// # Panics
    /// When it does not fit in a `u16`, which [`Formation::resolve`] rules out.
    pub fn port(&self, t: &TypeFormation, number: u32) -> u16 {
        u16::try_from(port_of(self.port_base, t.index, number))
            .expect("ports are checked by Formation::resolve")
    }

    fn instances_of_type<'a>(
        &'a self,
        t: &'a TypeFormation,
    ) -> impl Iterator<Item = Instance> + 'a {
        (1..=t.instances).map(move |number| Instance {
            type_name: t.name.clone(),
            number,
            port: self.port(t, number),
        })
    }
}

/// How far the surge bank lies above the base ports (SPEC §7): an instance's surge PORT is its
/// base PORT + 50, so at most 50 instances of a type per host in `surge` mode.
pub const SURGE_OFFSET: u16 = 50;

/// Which of an instance's two ports it listens on: its base PORT, or PORT + [`SURGE_OFFSET`]
/// while a `surge` rollout starts the new formation beside the old one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Bank {
    #[default]
    Base,
    Surge,
}

impl Bank {
    /// The port of the instance whose base PORT is `port` on this bank; `None` above 65535.
    pub fn port(self, port: u16) -> Option<u16> {
        match self {
            Bank::Base => Some(port),
            Bank::Surge => port.checked_add(SURGE_OFFSET),
        }
    }

    /// The bank a `surge` rollout starts the new formation on when this one serves.
    #[must_use]
    pub fn other(self) -> Bank {
        match self {
            Bank::Base => Bank::Surge,
            Bank::Surge => Bank::Base,
        }
    }
}

/// The inverse of the port arithmetic: which instance number (1-based) of the type at
/// Procfile `index` listens on `port`, and on which bank; `None` when the port lies outside
/// that type's range.
pub fn instance_number(port_base: u16, index: usize, port: u16) -> Option<(u32, Bank)> {
    let first = port_of(port_base, index, 1);
    let n = u64::from(port).checked_sub(first)?;
    let (n, bank) = if n < u64::from(SURGE_OFFSET) {
        (n, Bank::Base)
    } else {
        (n - u64::from(SURGE_OFFSET), Bank::Surge)
    };
    (n < u64::from(SURGE_OFFSET)).then(|| (u32::try_from(n + 1).expect("below the stride"), bank))
}

fn port_of(port_base: u16, index: usize, number: u32) -> u64 {
    let index = u64::try_from(index).unwrap_or(u64::MAX / 2);
    u64::from(port_base)
        .saturating_add(index.saturating_mul(PORT_STRIDE.into()))
        .saturating_add(u64::from(number).saturating_sub(1))
}

fn check_ports(port_base: u16, t: &TypeFormation) -> Result<(), FormationError> {
    if t.instances == 0 {
        return Ok(());
    }
    let error = |message| FormationError {
        location: None,
        message,
    };
    let lowest = port_of(port_base, t.index, 1);
    if lowest == 0 {
        return Err(error(format!(
            "port_base 0 gives process type `{}` port 0; use a port_base of at least 1",
            t.name
        )));
    }
    let highest = port_of(port_base, t.index, t.instances);
    if highest > u64::from(u16::MAX) {
        return Err(error(format!(
            "process type `{}` would listen on port {highest} (port_base {port_base} + \
             {PORT_STRIDE} x type index {} + {} instances - 1), above 65535; lower port_base \
             or the instance count",
            t.name, t.index, t.instances
        )));
    }
    Ok(())
}

fn unknown_type(setting: &ProcessSetting, types: &[ProcessType]) -> FormationError {
    let names: Vec<String> = types.iter().map(|t| format!("`{}`", t.name)).collect();
    let suggestion = types
        .iter()
        .map(|t| (strsim::levenshtein(&setting.name, &t.name), &t.name))
        .filter(|(distance, _)| *distance <= 2)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| format!("; did you mean `{name}`?"))
        .unwrap_or_default();
    FormationError {
        location: Some(setting.location.clone()),
        message: format!(
            "processes.{} names no process type of the Procfile (it has {}){suggestion}",
            setting.name,
            names.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::procfile;

    fn types() -> Vec<ProcessType> {
        procfile::parse("web: node server.js\nworker: node worker.js\nclock: bin/clock\n").unwrap()
    }

    #[test]
    fn the_surge_bank_is_fifty_ports_up() {
        assert_eq!(Bank::Base.port(5000), Some(5000));
        assert_eq!(Bank::Surge.port(5000), Some(5050));
        assert_eq!(Bank::Surge.port(65_486), None);
        assert_eq!(Bank::Base.other(), Bank::Surge);
        assert_eq!(Bank::Surge.other(), Bank::Base);
    }

    fn setting(name: &str, instances: Instances, line: usize) -> ProcessSetting {
        ProcessSetting {
            name: name.to_owned(),
            instances,
            location: Location {
                file: PathBuf::from("deliver.toml"),
                line,
                column: 1,
            },
        }
    }

    fn ports(formation: &Formation) -> Vec<(String, u32, u16)> {
        formation
            .instances()
            .into_iter()
            .map(|i| (i.type_name, i.number, i.port))
            .collect()
    }

    #[test]
    fn unlisted_types_get_one_instance_each() {
        let formation = Formation::resolve(&types(), &[], 5000, 4).unwrap();
        assert_eq!(formation.auto_cpus, None);
        assert_eq!(
            ports(&formation),
            vec![
                ("web".into(), 1, 5000),
                ("worker".into(), 1, 5100),
                ("clock".into(), 1, 5200),
            ]
        );
    }

    #[test]
    fn scaled_counts_replace_the_configured_ones_and_are_checked() {
        let settings = [setting("web", Instances::Auto, 10)];
        let formation = Formation::resolve(&types(), &settings, 5000, 4).unwrap();
        let counts = std::collections::BTreeMap::from([
            ("web".to_owned(), 2),
            ("clock".to_owned(), 0),
            ("gone".to_owned(), 5),
        ]);
        let scaled = formation.scaled(&counts).unwrap();
        assert_eq!(scaled.auto_cpus, None, "no count is `auto` any more");
        assert_eq!(
            ports(&scaled),
            vec![
                ("web".into(), 1, 5000),
                ("web".into(), 2, 5001),
                ("worker".into(), 1, 5100),
            ]
        );
        let high = Formation::resolve(&types(), &[], 65_300, 1).unwrap();
        let e = high
            .scaled(&std::collections::BTreeMap::from([(
                "clock".to_owned(),
                99,
            )]))
            .unwrap_err();
        assert!(e.message.contains("65535"), "{e}");
    }

    #[test]
    fn counts_set_instances_and_zero_turns_a_type_off() {
        let settings = [
            setting("web", Instances::Count(3), 10),
            setting("worker", Instances::Count(0), 11),
        ];
        let formation = Formation::resolve(&types(), &settings, 5000, 4).unwrap();
        assert_eq!(
            ports(&formation),
            vec![
                ("web".into(), 1, 5000),
                ("web".into(), 2, 5001),
                ("web".into(), 3, 5002),
                ("clock".into(), 1, 5200),
            ]
        );
        assert_eq!(formation.types[1].instances, 0);
        assert_eq!(formation.total_instances(), 4);
        assert_eq!(formation.instances_of("worker"), vec![]);
        assert_eq!(
            formation
                .instances_of("web")
                .iter()
                .map(|i| i.port)
                .collect::<Vec<_>>(),
            vec![5000, 5001, 5002]
        );
    }

    #[test]
    fn instance_numbers_invert_the_port_arithmetic() {
        assert_eq!(instance_number(5000, 0, 5000), Some((1, Bank::Base)));
        assert_eq!(instance_number(5000, 1, 5101), Some((2, Bank::Base)));
        assert_eq!(instance_number(5000, 1, 5151), Some((2, Bank::Surge)));
        assert_eq!(instance_number(5000, 1, 5099), None);
        assert_eq!(instance_number(5000, 1, 5200), None);
    }

    #[test]
    fn auto_takes_the_apps_share_of_the_cpus_minus_one() {
        let settings = [setting("web", Instances::Auto, 3)];
        let formation = Formation::resolve(&types(), &settings, 5000, 8).unwrap();
        assert_eq!(formation.auto_cpus, Some(8));
        assert_eq!(formation.types[0].instances, 7);
        assert!(formation.types[0].auto);
        assert!(!formation.types[1].auto);
        let half = Formation::resolve_shared(&types(), &settings, 5000, 8, 0.5).unwrap();
        assert_eq!(half.types[0].instances, 3);
        let half = Formation::resolve_shared(&types(), &settings, 5000, 4, 0.5).unwrap();
        assert_eq!(half.types[0].instances, 1);
    }

    #[test]
    fn a_formation_with_nothing_running_is_allowed() {
        let settings = [
            setting("web", Instances::Count(0), 1),
            setting("worker", Instances::Count(0), 2),
            setting("clock", Instances::Count(0), 3),
        ];
        let formation = Formation::resolve(&types(), &settings, 5000, 2).unwrap();
        assert_eq!(formation.total_instances(), 0);
        assert_eq!(formation.instances(), vec![]);
        assert_eq!(formation.types.len(), 3);
    }

    #[test]
    fn unknown_setting_names_the_key_suggests_and_lists_the_types() {
        let settings = [setting("wrker", Instances::Count(2), 7)];
        let err = Formation::resolve(&types(), &settings, 5000, 2).unwrap_err();
        assert_eq!(
            err.to_string(),
            "deliver.toml:7:1: processes.wrker names no process type of the Procfile (it has \
             `web`, `worker`, `clock`); did you mean `worker`?"
        );
        let settings = [setting("database", Instances::Auto, 2)];
        let err = Formation::resolve(&types(), &settings, 5000, 2).unwrap_err();
        assert_eq!(
            err.to_string(),
            "deliver.toml:2:1: processes.database names no process type of the Procfile (it \
             has `web`, `worker`, `clock`)"
        );
    }

    #[test]
    fn more_than_100_instances_is_an_error() {
        let settings = [setting("web", Instances::Count(101), 4)];
        let err = Formation::resolve(&types(), &settings, 5000, 2).unwrap_err();
        assert_eq!(
            err.to_string(),
            "deliver.toml:4:1: processes.web = 101 is more than 100 instances"
        );
    }

    #[test]
    fn highest_port_may_be_65535_but_not_more() {
        // clock (index 2) starts at 65335; 100 instances end exactly at 65434.
        let ok = [setting("clock", Instances::Count(100), 1)];
        let formation = Formation::resolve(&types(), &ok, 65_335 - 200, 2).unwrap();
        assert_eq!(formation.instances().last().unwrap().port, 65_434);

        let edge = [setting("web", Instances::Count(36), 1)];
        let formation = Formation::resolve(&types(), &edge, 65_500, 2);
        assert!(formation.is_err(), "worker would start at 65600");

        let types = procfile::parse("web: a").unwrap();
        let top = [setting("web", Instances::Count(36), 1)];
        let formation = Formation::resolve(&types, &top, 65_500, 2).unwrap();
        assert_eq!(formation.instances().last().unwrap().port, 65_535);

        // See: issue 12 (the error named no line): the count's line.
        let over = [setting("web", Instances::Count(37), 7)];
        let err = Formation::resolve(&types, &over, 65_500, 2).unwrap_err();
        assert_eq!(
            err.to_string(),
            "deliver.toml:7:1: process type `web` would listen on port 65536 (port_base 65500 + \
             100 x type index 0 + 37 instances - 1), above 65535; lower port_base or the \
             instance count"
        );
    }

    #[test]
    fn types_that_are_off_need_no_ports() {
        let settings = [setting("clock", Instances::Count(0), 1)];
        let formation = Formation::resolve(&types(), &settings, 65_400, 2).unwrap();
        assert_eq!(
            ports(&formation),
            vec![("web".into(), 1, 65_400), ("worker".into(), 1, 65_500)]
        );
    }

    #[test]
    fn port_zero_is_an_error() {
        let err = Formation::resolve(&types(), &[], 0, 2).unwrap_err();
        assert_eq!(
            err.to_string(),
            "port_base 0 gives process type `web` port 0; use a port_base of at least 1"
        );
    }
}
