//! How often systemd restarted each instance by itself (`deliver status`): `NRestarts`, the
//! automatic restarts since the unit was last started by hand or by a deploy (a recycle
//! after `max_lifetime`, a kill past `memory_max`, a crash), and `Result`, how the unit's
//! current run stands (`success` while it runs: systemd resets it at every start, automatic
//! restarts included). One `systemctl show` for all the units. How the last run before a
//! restart ended comes from the journal ([`stops`]): systemd logs, with structured fields,
//! the result of every run that failed (`UNIT_RESULT`: `oom-kill`, `signal`, `timeout`, ...)
//! and how its main process ended (`EXIT_CODE`, `EXIT_STATUS`). Upstart keeps no such count:
//! there is no script. Pure: builds the scripts and parses their output; no I/O.

use super::script::Script;
use super::supervisor;
use crate::config::Supervisor;

/// One unit's restart record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Restarts {
    pub unit: String,
    /// `NRestarts`.
    pub count: u32,
    /// `Result` of the current run (`success` while it runs, `oom-kill`, ... once it ended);
    /// `None` when systemd gave none.
    pub result: Option<String>,
    /// How the last run that failed ended, from the journal ([`stops`]); `None` when the
    /// journal has none or is not readable.
    pub last: Option<LastStop>,
}

impl Restarts {
    /// How the last run that ended ended: the journal's record, else a `Result` that is not
    /// `success` (a unit failed or waiting for its restart).
    pub fn last_stop(&self) -> Option<LastStop> {
        self.last.clone().or_else(|| {
            self.result
                .as_ref()
                .filter(|r| *r != "success")
                .map(|r| LastStop {
                    result: r.clone(),
                    exit: None,
                })
        })
    }
}

/// How a run ended, as systemd logged it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastStop {
    /// `UNIT_RESULT`: `oom-kill` (the kernel killed it past `MemoryMax=`, as systemd sees it
    /// on cgroup v2), `signal`, `timeout` (a recycle after `max_lifetime`), `exit-code`, ...
    pub result: String,
    /// How its main process ended, when systemd logged it: `killed by SIGKILL`, `exited with
    /// status 1`, `dumped core (SIGSEGV)`.
    pub exit: Option<String>,
}

/// systemd's message ids (`sd-messages.h`): a unit's run failed (`UNIT_RESULT`), a unit's
/// process ended (`EXIT_CODE`, `EXIT_STATUS`), the OOM killer killed a process of a unit.
const UNIT_FAILURE_RESULT: &str = "d9b373ed55a64feb8242e02dbe79a49c";
const UNIT_PROCESS_EXIT: &str = "98e322203f7a4ed290d09fe03c09fe15";
const UNIT_OUT_OF_MEMORY: &str = "fe6faa94e7774663a0da52717891d8ef";

/// How many journal entries [`stops`] reads per unit: the last failure, its process exit and
/// its OOM kill, and one more run's.
const ENTRIES_PER_UNIT: u32 = 6;

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

/// The script reading, for each of `units` (those systemd restarted), the journal entries
/// that say how its last failed runs ended, as JSON lines; `None` for upstart or no units.
/// For `systemd-user` the user's own journal (`--user`: the user manager logs there); for
/// `systemd` the system journal, which the SSH user reads only as a member of
/// `systemd-journal` (or `adm`): without it the script prints nothing useful, and status
/// shows the counts alone. Same-field matches are alternatives, different fields must all
/// match: these messages of this unit.
pub fn stops(sup: Supervisor, units: &[String]) -> Option<Script> {
    let (user, field) = match sup {
        Supervisor::Upstart => return None,
        _ if units.is_empty() => return None,
        Supervisor::SystemdUser => (true, "USER_UNIT"),
        Supervisor::Systemd => (false, "UNIT"),
    };
    let mut s = Script::new("supervisor.stops");
    for unit in units {
        let mut args: Vec<String> = Vec::new();
        if user {
            args.push("--user".into());
        }
        args.extend(["-o", "json", "--no-pager", "-n"].map(str::to_owned));
        args.push(ENTRIES_PER_UNIT.to_string());
        for id in [UNIT_FAILURE_RESULT, UNIT_PROCESS_EXIT, UNIT_OUT_OF_MEMORY] {
            args.push(format!("MESSAGE_ID={id}"));
        }
        args.push(format!("{field}={unit}"));
        s = s.cmd("journalctl", args);
    }
    Some(s)
}

/// Reads the output of [`stops`]: per unit, the last failed run (the last `UNIT_RESULT`), with
/// its main process's end and an OOM kill logged in the same run (same invocation id). Lines
/// that are not journal entries (a warning of journalctl) are skipped.
pub fn parse_stops(stdout: &str) -> Vec<(String, LastStop)> {
    struct Entry {
        unit: String,
        invocation: String,
        id: String,
        fields: serde_json::Map<String, serde_json::Value>,
    }
    let text = |fields: &serde_json::Map<String, serde_json::Value>, key: &str| {
        fields
            .get(key)
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let entries: Vec<Entry> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| match v {
            serde_json::Value::Object(fields) => Some(fields),
            _ => None,
        })
        .filter_map(|fields| {
            let unit = [text(&fields, "UNIT"), text(&fields, "USER_UNIT")]
                .into_iter()
                .find(|u| !u.is_empty())?;
            let invocation = [
                text(&fields, "INVOCATION_ID"),
                text(&fields, "USER_INVOCATION_ID"),
            ]
            .into_iter()
            .find(|i| !i.is_empty())
            .unwrap_or_default();
            let id = text(&fields, "MESSAGE_ID");
            Some(Entry {
                unit,
                invocation,
                id,
                fields,
            })
        })
        .collect();
    let mut out: Vec<(String, LastStop)> = Vec::new();
    for (i, failure) in entries.iter().enumerate().rev() {
        if failure.id != UNIT_FAILURE_RESULT || out.iter().any(|(u, _)| *u == failure.unit) {
            continue;
        }
        let same_run = |e: &&Entry| {
            e.unit == failure.unit
                && (e.invocation == failure.invocation || e.invocation.is_empty())
        };
        // The entries of that run logged before its result, the latest first.
        let before: Vec<&Entry> = entries[..i].iter().rev().filter(same_run).collect();
        let mut result = text(&failure.fields, "UNIT_RESULT");
        if result.is_empty() {
            continue;
        }
        if before.iter().any(|e| e.id == UNIT_OUT_OF_MEMORY) && result == "signal" {
            result = "oom-kill".into();
        }
        let exit = before
            .iter()
            .find(|e| e.id == UNIT_PROCESS_EXIT)
            .and_then(|e| {
                exit_text(
                    &text(&e.fields, "EXIT_CODE"),
                    &text(&e.fields, "EXIT_STATUS"),
                )
            });
        out.push((failure.unit.clone(), LastStop { result, exit }));
    }
    out.reverse();
    out
}

/// `killed` `9` -> `killed by SIGKILL`; `exited` `1` -> `exited with status 1`; `dumped` `11`
/// -> `dumped core (SIGSEGV)`.
fn exit_text(code: &str, status: &str) -> Option<String> {
    let signal = || {
        let name = match status {
            "1" => "SIGHUP",
            "2" => "SIGINT",
            "3" => "SIGQUIT",
            "4" => "SIGILL",
            "6" => "SIGABRT",
            "7" => "SIGBUS",
            "8" => "SIGFPE",
            "9" => "SIGKILL",
            "11" => "SIGSEGV",
            "13" => "SIGPIPE",
            "14" => "SIGALRM",
            "15" => "SIGTERM",
            _ => return format!("signal {status}"),
        };
        name.to_owned()
    };
    match code {
        _ if status.is_empty() => None,
        "exited" => Some(format!("exited with status {status}")),
        "killed" => Some(format!("killed by {}", signal())),
        "dumped" => Some(format!("dumped core ({})", signal())),
        _ => None,
    }
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
                    result: Some("oom-kill".into()),
                    last: None,
                },
                Restarts {
                    unit: "a-web@5001.service".into(),
                    count: 0,
                    result: Some("success".into()),
                    last: None,
                },
            ]
        );
    }

    #[test]
    fn one_journalctl_per_restarted_unit_for_its_failures_exits_and_oom_kills() {
        let units = [
            "a-web@5000.service".to_owned(),
            "a-web@5001.service".to_owned(),
        ];
        insta::assert_snapshot!(stops(Supervisor::Systemd, &units).unwrap().render(), @r"
        # deliver: supervisor.stops
        set -eu
        journalctl -o json --no-pager -n 6 MESSAGE_ID=d9b373ed55a64feb8242e02dbe79a49c MESSAGE_ID=98e322203f7a4ed290d09fe03c09fe15 MESSAGE_ID=fe6faa94e7774663a0da52717891d8ef UNIT=a-web@5000.service
        journalctl -o json --no-pager -n 6 MESSAGE_ID=d9b373ed55a64feb8242e02dbe79a49c MESSAGE_ID=98e322203f7a4ed290d09fe03c09fe15 MESSAGE_ID=fe6faa94e7774663a0da52717891d8ef UNIT=a-web@5001.service
        ");
        let user = stops(Supervisor::SystemdUser, &units[..1])
            .unwrap()
            .render();
        assert!(
            user.contains("journalctl --user -o json")
                && user.contains(" USER_UNIT=a-web@5000.service\n"),
            "{user}"
        );
        assert_eq!(stops(Supervisor::Upstart, &units), None);
        assert_eq!(stops(Supervisor::Systemd, &[]), None);
    }

    fn entry(unit: &str, run: &str, id: &str, extra: &str) -> String {
        format!(
            r#"{{"UNIT":"{unit}","INVOCATION_ID":"{run}","MESSAGE_ID":"{id}","_PID":"1"{extra}}}"#
        )
    }

    #[test]
    fn the_last_failed_run_of_each_unit_with_how_its_process_ended() {
        // As systemd 252 logs them (oldest first): web@5000 was recycled (timeout), then
        // killed by the kernel past MemoryMax= on cgroup v1 (systemd sees a SIGKILL: signal);
        // web@5001 on cgroup v2, where systemd sees the OOM kill; a line that is no entry.
        let out = [
            entry(
                "a-web@5000.service",
                "r1",
                UNIT_FAILURE_RESULT,
                r#","UNIT_RESULT":"timeout""#,
            ),
            entry(
                "a-web@5000.service",
                "r2",
                UNIT_PROCESS_EXIT,
                r#","EXIT_CODE":"killed","EXIT_STATUS":"9""#,
            ),
            entry(
                "a-web@5000.service",
                "r2",
                UNIT_FAILURE_RESULT,
                r#","UNIT_RESULT":"signal""#,
            ),
            "-- No entries --".to_owned(),
            entry("a-web@5001.service", "s1", UNIT_OUT_OF_MEMORY, ""),
            entry(
                "a-web@5001.service",
                "s1",
                UNIT_PROCESS_EXIT,
                r#","EXIT_CODE":"killed","EXIT_STATUS":"9""#,
            ),
            entry(
                "a-web@5001.service",
                "s1",
                UNIT_FAILURE_RESULT,
                r#","UNIT_RESULT":"oom-kill""#,
            ),
            // A run that crashed, then a newer one whose exit is not logged yet: that exit is
            // not the older run's.
            entry(
                "a-worker@5100.service",
                "t1",
                UNIT_PROCESS_EXIT,
                r#","EXIT_CODE":"dumped","EXIT_STATUS":"11""#,
            ),
            entry(
                "a-worker@5100.service",
                "t2",
                UNIT_FAILURE_RESULT,
                r#","UNIT_RESULT":"exit-code""#,
            ),
        ]
        .join("\n");
        let stop = |result: &str, exit: Option<&str>| LastStop {
            result: result.into(),
            exit: exit.map(Into::into),
        };
        assert_eq!(
            parse_stops(&out),
            [
                (
                    "a-web@5000.service".to_owned(),
                    stop("signal", Some("killed by SIGKILL"))
                ),
                (
                    "a-web@5001.service".to_owned(),
                    stop("oom-kill", Some("killed by SIGKILL"))
                ),
                ("a-worker@5100.service".to_owned(), stop("exit-code", None)),
            ]
        );
        // The user manager's fields.
        let user = r#"{"USER_UNIT":"a-web@5000.service","USER_INVOCATION_ID":"u1","MESSAGE_ID":"d9b373ed55a64feb8242e02dbe79a49c","UNIT_RESULT":"timeout"}"#;
        assert_eq!(
            parse_stops(user),
            [("a-web@5000.service".to_owned(), stop("timeout", None))]
        );
        assert_eq!(parse_stops(""), []);
        assert_eq!(exit_text("exited", "1").unwrap(), "exited with status 1");
        assert_eq!(exit_text("dumped", "11").unwrap(), "dumped core (SIGSEGV)");
        assert_eq!(exit_text("killed", "64").unwrap(), "killed by signal 64");
        assert_eq!(exit_text("killed", ""), None);
    }

    #[test]
    fn the_last_stop_is_the_journal_s_else_a_result_that_is_not_success() {
        let mut r = Restarts {
            unit: "a-web@5000.service".into(),
            count: 1,
            result: Some("success".into()),
            last: None,
        };
        assert_eq!(r.last_stop(), None);
        r.result = Some("signal".into());
        assert_eq!(r.last_stop().unwrap().result, "signal");
        r.last = Some(LastStop {
            result: "oom-kill".into(),
            exit: None,
        });
        assert_eq!(r.last_stop().unwrap().result, "oom-kill");
    }
}
