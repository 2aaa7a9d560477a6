//! Rollout policy as pure functions (SPEC §7): which hosts switch together, in which order
//! a host's instances restart and how each is gated, and the order of a revert. No I/O; the
//! orchestrator follows these plans.

use crate::config::{BatchSize, RolloutMode};
use crate::release::{Formation, Instance};

/// Host indices grouped into the batches that switch at the same time: `batch` hosts at a
/// time when rolling, every host at once for `all-at-once`.
pub fn batches(hosts: usize, mode: RolloutMode, batch: BatchSize) -> Vec<Vec<usize>> {
    let size = match mode {
        RolloutMode::AllAtOnce => hosts.max(1),
        RolloutMode::Rolling | RolloutMode::Surge => batch.of(hosts),
    };
    (0..hosts)
        .collect::<Vec<_>>()
        .chunks(size)
        .map(<[usize]>::to_vec)
        .collect()
}

/// [`batches`] for hosts of which some run nothing yet (`fresh[i]`: a first deploy): those
/// switch first, all together, since nothing there can be disrupted (SPEC §7); the others
/// follow in batches as usual.
pub fn switch_batches(fresh: &[bool], mode: RolloutMode, batch: BatchSize) -> Vec<Vec<usize>> {
    let (new, running): (Vec<usize>, Vec<usize>) = (0..fresh.len()).partition(|&i| fresh[i]);
    let mut out = Vec::new();
    if !new.is_empty() {
        out.push(new);
    }
    out.extend(
        batches(running.len(), mode, batch)
            .into_iter()
            .map(|b| b.into_iter().map(|i| running[i]).collect()),
    );
    out
}

/// How a restarted instance proves itself before the next one restarts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    /// `GET http://127.0.0.1:<port><path>` answers the expected status (the health process).
    Health,
    /// The unit stays `active` for a second (other process types).
    StaysActive,
}

/// One step of a host's restart: the instance and its gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub instance: Instance,
    pub gate: Gate,
}

/// The instances of a host in restart order: every instance of the health process first
/// (each health-gated), then the other types in Procfile order (each gated on staying
/// active). How many restart together is the rollout core's (`rollout::replace`).
pub fn restart_order(formation: &Formation, health_process: &str) -> Vec<Step> {
    order(formation.instances(), health_process)
}

/// [`restart_order`] for any list of instances (e.g. the formation a host ran before).
pub fn order(instances: Vec<Instance>, health_process: &str) -> Vec<Step> {
    let (health, rest): (Vec<Instance>, Vec<Instance>) = instances
        .into_iter()
        .partition(|i| i.type_name == health_process);
    health
        .into_iter()
        .map(|instance| Step {
            instance,
            gate: Gate::Health,
        })
        .chain(rest.into_iter().map(|instance| Step {
            instance,
            gate: Gate::StaysActive,
        }))
        .collect()
}

/// Instances running under `old` that the `new` formation no longer has (a type turned off,
/// fewer instances, or a port that moved): stopped after the new ones are up.
pub fn removed(old: &[Instance], new: &[Instance]) -> Vec<Instance> {
    old.iter()
        .filter(|o| {
            !new.iter()
                .any(|n| n.type_name == o.type_name && n.port == o.port)
        })
        .cloned()
        .collect()
}

/// Hosts to revert after a failure, given the hosts switched so far in switch order: the
/// most recently switched first, so the hosts that served the new release the shortest go
/// back first and the longest-proven old ones stay untouched longest.
pub fn revert_order(switched: &[usize]) -> Vec<usize> {
    switched.iter().rev().copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Instances, Location, ProcessSetting};
    use crate::procfile;

    fn formation(settings: &[(&str, Instances)]) -> Formation {
        let types = procfile::parse("web: a\nworker: b\nclock: c\n").unwrap();
        let settings: Vec<ProcessSetting> = settings
            .iter()
            .map(|(name, instances)| ProcessSetting {
                name: (*name).to_string(),
                instances: *instances,
                location: Location {
                    file: "deliver.toml".into(),
                    line: 1,
                    column: 1,
                },
            })
            .collect();
        Formation::resolve(&types, &settings, 5000, 4).unwrap()
    }

    #[test]
    fn rolling_batches_take_batch_hosts_at_a_time() {
        assert_eq!(
            batches(5, RolloutMode::Rolling, BatchSize::Count(2)),
            [vec![0, 1], vec![2, 3], vec![4]]
        );
        assert_eq!(
            batches(3, RolloutMode::Rolling, BatchSize::Count(1)),
            [[0], [1], [2]]
        );
        assert_eq!(
            batches(3, RolloutMode::Rolling, BatchSize::Count(9)),
            [[0, 1, 2]]
        );
        assert_eq!(
            batches(3, RolloutMode::Surge, BatchSize::Percent(100)),
            [[0, 1, 2]]
        );
        assert_eq!(
            batches(3, RolloutMode::Rolling, BatchSize::Percent(34)),
            [[0], [1], [2]]
        );
    }

    #[test]
    fn hosts_running_nothing_switch_first_all_together() {
        let one = BatchSize::Count(1);
        assert_eq!(
            switch_batches(&[true, true, true], RolloutMode::Rolling, one),
            [[0, 1, 2]]
        );
        assert_eq!(
            switch_batches(&[false, true, false, true], RolloutMode::Rolling, one),
            [vec![1, 3], vec![0], vec![2]]
        );
        assert_eq!(
            switch_batches(&[false, false], RolloutMode::Rolling, one),
            [[0], [1]]
        );
        assert!(switch_batches(&[], RolloutMode::Rolling, one).is_empty());
    }

    #[test]
    fn all_at_once_is_one_batch_of_every_host() {
        assert_eq!(
            batches(3, RolloutMode::AllAtOnce, BatchSize::Count(1)),
            [[0, 1, 2]]
        );
        assert!(batches(0, RolloutMode::AllAtOnce, BatchSize::Count(1)).is_empty());
    }

    #[test]
    fn health_process_restarts_first_then_the_others_in_procfile_order() {
        let f = formation(&[
            ("worker", Instances::Count(2)),
            ("web", Instances::Count(2)),
        ]);
        let order: Vec<(String, u16, Gate)> = restart_order(&f, "web")
            .into_iter()
            .map(|s| (s.instance.type_name, s.instance.port, s.gate))
            .collect();
        assert_eq!(
            order,
            [
                ("web".to_string(), 5000, Gate::Health),
                ("web".to_string(), 5001, Gate::Health),
                ("worker".to_string(), 5100, Gate::StaysActive),
                ("worker".to_string(), 5101, Gate::StaysActive),
                ("clock".to_string(), 5200, Gate::StaysActive),
            ]
        );
    }

    #[test]
    fn without_the_health_process_every_instance_is_gated_on_staying_active() {
        let f = formation(&[("web", Instances::Count(0))]);
        assert!(restart_order(&f, "web")
            .iter()
            .all(|s| s.gate == Gate::StaysActive));
    }

    #[test]
    fn removed_instances_are_those_the_new_formation_lacks() {
        let old = formation(&[("web", Instances::Count(3))]).instances();
        let new =
            formation(&[("web", Instances::Count(1)), ("clock", Instances::Count(0))]).instances();
        let ports: Vec<u16> = removed(&old, &new).iter().map(|i| i.port).collect();
        assert_eq!(ports, [5001, 5002, 5200]);
    }

    #[test]
    fn revert_goes_back_from_the_last_switched_host() {
        assert_eq!(revert_order(&[0, 1, 2]), [2, 1, 0]);
    }
}
