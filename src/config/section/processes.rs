//! `[processes]`: instances per host of each Procfile type, a count or `"auto"`, in file
//! order, each with the place it was written (formation errors point there). An
//! environment's entries replace the top-level ones of the same name and add the others.
//! Whether a name is a Procfile type is checked later, against the Procfile. No I/O.

use crate::config::raw::{field, table, wrong_type, Entry, Field, Kind, Problem};
use crate::config::resolve::Locator;
use crate::config::Location;

/// A `[processes]` value as written: a count or a word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::config) enum RawInstances {
    Integer(i64),
    String(String),
}

/// `[processes]` as written, in file order.
pub(in crate::config) type RawProcesses = Vec<(String, Field<RawInstances>)>;

/// Instances of one process type per host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instances {
    /// 0 = off, else 1..=100.
    Count(u32),
    /// CPU cores of the host minus one, clamped to 1..=100.
    Auto,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessSetting {
    pub name: String,
    pub instances: Instances,
    pub location: Location,
}

pub(super) fn read(entry: &Entry) -> Result<RawProcesses, Problem> {
    let mut processes = Vec::new();
    for e in table(entry)? {
        let value = match &e.node.kind {
            Kind::Integer(i) => field(e, RawInstances::Integer(*i)),
            Kind::String(s) => field(e, RawInstances::String(s.clone())),
            _ => return Err(wrong_type(e, "an integer from 0 to 100 or \"auto\"")),
        };
        processes.push((e.key.clone(), value));
    }
    Ok(processes)
}

pub(super) fn check(
    raw: &RawProcesses,
    locator: &Locator<'_>,
) -> Result<Vec<ProcessSetting>, Problem> {
    raw.iter()
        .map(|(name, value)| {
            Ok(ProcessSetting {
                name: name.clone(),
                instances: instances(value)?,
                location: locator.location(value.key_at),
            })
        })
        .collect()
}

/// `over`'s entries replace `base`'s of the same name, in place; new ones go last.
pub(super) fn overlay(
    mut base: Vec<ProcessSetting>,
    over: Vec<ProcessSetting>,
) -> Vec<ProcessSetting> {
    for p in over {
        match base.iter_mut().find(|q| q.name == p.name) {
            Some(slot) => *slot = p,
            None => base.push(p),
        }
    }
    base
}

fn instances(field: &Field<RawInstances>) -> Result<Instances, Problem> {
    match &field.value {
        RawInstances::Integer(n) => match u32::try_from(*n) {
            Ok(n) if n <= 100 => Ok(Instances::Count(n)),
            _ => Err(Problem::new(
                field.at,
                format!("{} must be from 0 to 100 or \"auto\", got {n}", field.path),
            )),
        },
        RawInstances::String(s) if s == "auto" => Ok(Instances::Auto),
        RawInstances::String(s) => Err(Problem::new(
            field.at,
            format!(
                "{} must be from 0 to 100 or \"auto\", got \"{s}\"",
                field.path
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::*;

    #[test]
    fn processes_merge_by_name_in_file_order_with_the_place_each_was_written() {
        let text = r#"app = "shop"
hosts = ["web1"]
processes = { web = "auto", worker = 2 }
[environments.small]
processes.worker = 0
processes.clock = 1
"#;
        assert_eq!(
            env_named(text, "small").processes,
            [
                setting("web", Instances::Auto, at(3, 15)),
                setting("worker", Instances::Count(0), at(5, 11)),
                setting("clock", Instances::Count(1), at(6, 11)),
            ]
        );
    }

    #[test]
    fn processes_take_a_count_up_to_100_or_auto() {
        let cases = [
            (
                "web = 101",
                "processes.web must be from 0 to 100 or \"auto\", got 101",
            ),
            (
                "web = -1",
                "processes.web must be from 0 to 100 or \"auto\", got -1",
            ),
            (
                "web = \"many\"",
                "processes.web must be from 0 to 100 or \"auto\", got \"many\"",
            ),
        ];
        for (line, want) in cases {
            assert_eq!(
                error_with(&format!("[processes]\n{line}\n")),
                format!("deliver.toml:4:7: {want}")
            );
        }
        let env = only_env(&format!("{BASE}[processes]\nweb = 100\nworker = 0\n"));
        assert_eq!(env.processes[0].instances, Instances::Count(100));
        assert_eq!(env.processes[1].instances, Instances::Count(0));
    }
}
