//! How often systemd restarted each instance by itself (`deliver status`): `NRestarts`, the
//! automatic restarts since the unit was last started by hand or by a deploy (a recycle
//! after `max_lifetime`, a kill past `memory_max`, a crash), and `Result`, how its last run
//! ended (`success`, `timeout` for a recycle, `oom-kill`, `exit-code`, ...). One
//! `systemctl show` for all the units. Upstart keeps no such count: there is no script.
//! Pure: builds the script and parses its output; no I/O.

use super::script::Script;
use super::supervisor;
use crate::config::Supervisor;

/// One unit's restart record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Restarts {
    pub unit: String,
    /// `NRestarts`.
    pub count: u32,
    /// `Result` (`success`, `timeout`, `oom-kill`, ...); `None` when systemd gave none.
    pub result: Option<String>,
}

/// The script asking for `units`' restart records; `None` for upstart or no units.
pub fn show(sup: Supervisor, units: &[String]) -> Option<Script> {
    let s = Script::new("supervisor.restarts");
    let user = match sup {
        Supervisor::Upstart => return None,
        _ if units.is_empty() => return None,
        Supervisor::SystemdUser => true,
        Supervisor::Systemd => false,
    };
    let mut args = Vec::new();
    if user {
        args.push("--user".to_owned());
    }
    args.extend(["show", "-p", "Id", "-p", "NRestarts", "-p", "Result"].map(str::to_owned));
    args.push("--".to_owned());
    args.extend(units.iter().cloned());
    let s = if user {
        s.then(supervisor::user_bus())
    } else {
        s
    };
    Some(s.cmd("systemctl", args))
}

/// Reads the output of [`show`]: one record per block (blocks end at a blank line; systemd
/// prints the properties of a block in its own order).
pub fn parse(stdout: &str) -> Vec<Restarts> {
    stdout
        .split("\n\n")
        .filter_map(|block| {
            let mut r = Restarts::default();
            for (key, value) in block.lines().filter_map(|l| l.split_once('=')) {
                match key {
                    "Id" => value.clone_into(&mut r.unit),
                    "NRestarts" => r.count = value.parse().unwrap_or(0),
                    "Result" if !value.is_empty() => r.result = Some(value.to_owned()),
                    _ => {}
                }
            }
            (!r.unit.is_empty()).then_some(r)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_systemctl_show_for_every_unit() {
        let units = [
            "a-web@5000.service".to_owned(),
            "a-web@5001.service".to_owned(),
        ];
        insta::assert_snapshot!(show(Supervisor::Systemd, &units).unwrap().render(), @r"
        # deliver: supervisor.restarts
        set -eu
        systemctl show -p Id -p NRestarts -p Result -- a-web@5000.service a-web@5001.service
        ");
        assert!(show(Supervisor::SystemdUser, &units)
            .unwrap()
            .render()
            .contains("systemctl --user show -p Id"));
        assert_eq!(show(Supervisor::Upstart, &units), None);
        assert_eq!(show(Supervisor::Systemd, &[]), None);
    }

    #[test]
    fn records_are_read_per_id_whatever_the_property_order() {
        let out = "Result=oom-kill\nNRestarts=2\nId=a-web@5000.service\n\n\
                   NRestarts=0\nResult=success\nId=a-web@5001.service\n";
        // systemd prints the properties in its own order, Id last or first: a block ends
        // at the blank line.
        let parsed = parse(out);
        assert_eq!(
            parsed,
            [
                Restarts {
                    unit: "a-web@5000.service".into(),
                    count: 2,
                    result: Some("oom-kill".into())
                },
                Restarts {
                    unit: "a-web@5001.service".into(),
                    count: 0,
                    result: Some("success".into())
                },
            ]
        );
    }
}
