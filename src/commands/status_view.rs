//! What `deliver status` shows of one host: the plain lines and the `host.status` event,
//! from the states `status.rs` gathered. No I/O.

use std::fmt::Write as _;

use crate::plan::restarts::{LastStop, Restarts};
use crate::plan::supervisor::UnitState;
use crate::release::{Bank, SURGE_OFFSET};
use crate::release_id::ReleaseId;
use crate::sizing::CoreUse;
use crate::ui::event::Event;
use crate::ui::record::{self, AppInstances, Cores, ProcessStatus};

/// What one host runs.
pub(super) struct HostStatus {
    pub(super) current: Option<ReleaseId>,
    pub(super) sha: Option<String>,
    pub(super) cpus: u32,
    /// The deploy lock's holder, when it is taken.
    pub(super) lock: Option<String>,
    /// Where the health process serves (`surge` alternates it).
    pub(super) bank: Bank,
    pub(super) types: Vec<TypeStatus>,
    /// The host's cores and every deliver app's instances there.
    pub(super) cores: CoreUse,
}

pub(super) struct TypeStatus {
    pub(super) name: String,
    /// Whether its instances are health-checked (`health.process`).
    pub(super) checked: bool,
    /// deliver.toml's count, when `deliver scale` set this one (`plan::scale`).
    pub(super) configured: Option<u32>,
    pub(super) units: Vec<UnitStatus>,
}

pub(super) struct UnitStatus {
    pub(super) unit: String,
    pub(super) port: u16,
    pub(super) state: UnitState,
    /// `None`: not health-checked (another type, or not active); `Some(Err)`: what failed.
    pub(super) health: Option<Result<(), String>>,
    /// systemd's restart count and last result (`None`: upstart, or not answered).
    pub(super) restarts: Option<Restarts>,
}

impl TypeStatus {
    fn active(&self) -> usize {
        self.units
            .iter()
            .filter(|u| u.state == UnitState::Active)
            .count()
    }

    fn healthy(&self) -> usize {
        self.units
            .iter()
            .filter(|u| matches!(u.health, Some(Ok(()))))
            .count()
    }
}

fn state_name(state: &UnitState) -> &str {
    match state {
        UnitState::Active => "active",
        UnitState::Activating => "activating",
        UnitState::Deactivating => "deactivating",
        UnitState::Inactive => "inactive",
        UnitState::Failed => "failed",
        UnitState::Other(answer) if answer.is_empty() => "unknown",
        UnitState::Other(answer) => answer,
    }
}

/// `20261123084423-abc1234  web 2/2 active 2/2 healthy  worker 1/1 active`, then a line per
/// instance that is not active or not healthy or that systemd restarted by itself, the lock
/// when it is held, and the host's cores against every deliver app's instances (with a
/// warning when they take more than N-1).
pub(super) fn lines(status: &HostStatus) -> Vec<String> {
    let mut head = vec![status
        .current
        .as_ref()
        .map_or_else(|| "no current release".to_owned(), ToString::to_string)];
    let mut details = Vec::new();
    for t in &status.types {
        let total = t.units.len();
        let scaled = t
            .configured
            .map_or_else(String::new, |n| format!(" (scaled; deliver.toml {n})"));
        if total == 0 {
            head.push(format!("{} off{scaled}", t.name));
            continue;
        }
        let mut part = format!("{} {}/{total} active", t.name, t.active());
        if t.checked {
            let _ = write!(part, " {}/{total} healthy", t.healthy());
        }
        part.push_str(&scaled);
        head.push(part);
        for u in &t.units {
            match &u.health {
                _ if u.state != UnitState::Active => {
                    details.push(format!("  {} {}", u.unit, state_name(&u.state)));
                }
                Some(Err(e)) => details.push(format!("  {} unhealthy: {e}", u.unit)),
                _ => {}
            }
            if let Some(r) = u.restarts.as_ref().filter(|r| r.count > 0) {
                let last = r
                    .last_stop()
                    .map_or_else(String::new, |stop| match stop.exit {
                        Some(exit) => format!(", last stop: {} ({exit})", stop.result),
                        None => format!(", last stop: {}", stop.result),
                    });
                details.push(format!(
                    "  {} restarted by systemd {} time{}{last}",
                    u.unit,
                    r.count,
                    if r.count == 1 { "" } else { "s" }
                ));
            }
        }
    }
    if status.bank == Bank::Surge {
        head.push(format!("surge bank (PORT + {SURGE_OFFSET})"));
    }
    let mut out = vec![head.join("  ")];
    out.extend(details);
    if let Some(holder) = &status.lock {
        out.push(format!("  locked by {holder}"));
    }
    out.push(format!("  cores {}", status.cores.summary()));
    if let Some(warning) = status.cores.warning() {
        out.push(format!("  warning: {warning}"));
    }
    out
}

fn last_stop(u: &UnitStatus) -> Option<LastStop> {
    u.restarts.as_ref().and_then(Restarts::last_stop)
}

/// The `host.status` event of `host`.
pub(super) fn event(host: &str, status: &HostStatus) -> Event {
    let processes = status
        .types
        .iter()
        .map(|t| ProcessStatus {
            name: t.name.clone(),
            instances: t.units.len(),
            active: t.active(),
            healthy: t.checked.then(|| t.healthy()),
            configured: t.configured,
            units: t
                .units
                .iter()
                .map(|u| record::UnitStatus {
                    unit: u.unit.clone(),
                    port: u.port,
                    state: state_name(&u.state).to_owned(),
                    healthy: u.health.as_ref().map(Result::is_ok),
                    health_error: u.health.as_ref().and_then(|h| h.clone().err()),
                    restarts: u.restarts.as_ref().map(|r| r.count),
                    last_result: last_stop(u).map(|stop| stop.result),
                    last_exit: last_stop(u).and_then(|stop| stop.exit),
                })
                .collect(),
        })
        .collect();
    Event::HostStatus {
        host: host.to_owned(),
        current: status.current.as_ref().map(|id| id.as_str().to_owned()),
        sha: status.sha.clone(),
        cpus: status.cpus,
        lock: status.lock.clone(),
        bank: match status.bank {
            Bank::Base => "base",
            Bank::Surge => "surge",
        },
        processes,
        cores: Cores {
            cpus: status.cores.cpus,
            room: status.cores.room(),
            instances: status.cores.total(),
            over: status.cores.over(),
            apps: status
                .cores
                .apps
                .iter()
                .map(|a| AppInstances {
                    owner: a.owner.clone(),
                    app: a.app.clone(),
                    instances: a.instances,
                })
                .collect(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(unit: &str, state: UnitState, health: Option<Result<(), String>>) -> UnitStatus {
        UnitStatus {
            unit: unit.to_owned(),
            port: 5000,
            state,
            health,
            restarts: None,
        }
    }

    fn app(app: &str, instances: u32) -> crate::plan::neighbours::Neighbour {
        crate::plan::neighbours::Neighbour {
            owner: "user:app".into(),
            app: app.into(),
            instances,
        }
    }

    /// A type's status; `web` is the checked one.
    fn of_type(name: &str, units: Vec<UnitStatus>) -> TypeStatus {
        TypeStatus {
            name: name.into(),
            checked: name == "web",
            configured: None,
            units,
        }
    }

    #[test]
    fn one_line_per_host_then_what_is_wrong() {
        let mut status = HostStatus {
            current: Some("20261123084423-abc1234".parse().unwrap()),
            sha: None,
            cpus: 2,
            lock: None,
            bank: Bank::Base,
            types: vec![
                of_type(
                    "web",
                    vec![
                        unit("a-web@5000.service", UnitState::Active, Some(Ok(()))),
                        unit("a-web@5001.service", UnitState::Active, Some(Ok(()))),
                    ],
                ),
                of_type(
                    "worker",
                    vec![unit("a-worker@5100.service", UnitState::Active, None)],
                ),
                of_type("clock", vec![]),
            ],
            cores: CoreUse {
                cpus: 4,
                apps: vec![app("a", 3)],
            },
        };
        assert_eq!(
            lines(&status),
            [
                "20261123084423-abc1234  web 2/2 active 2/2 healthy  worker 1/1 active  clock off",
                "  cores 4 cores: a 3 (user:app); 3 instances of 3"
            ]
        );
        status.current = None;
        status.types[0].units[1] = unit(
            "a-web@5001.service",
            UnitState::Active,
            Some(Err("GET /health answered 503".into())),
        );
        status.types[1].units[0] = unit("a-worker@5100.service", UnitState::Failed, None);
        // Running again after 2 restarts: its Result is the current run's (success); how the
        // last run ended is the journal's.
        status.types[0].units[0].restarts = Some(Restarts {
            unit: "a-web@5000.service".into(),
            count: 2,
            result: Some("success".into()),
            last: Some(LastStop {
                result: "oom-kill".into(),
                exit: Some("killed by SIGKILL".into()),
            }),
        });
        // Failed for good, no journal to read: its Result says how.
        status.types[1].units[0].restarts = Some(Restarts {
            unit: "a-worker@5100.service".into(),
            count: 5,
            result: Some("exit-code".into()),
            last: None,
        });
        // Restarted, no journal to read, running: the count alone.
        status.types[0].units[1].restarts = Some(Restarts {
            unit: "a-web@5001.service".into(),
            count: 1,
            result: Some("success".into()),
            last: None,
        });
        status.lock = Some("bob@laptop (pid 1)".into());
        status.types[0].configured = Some(1);
        status.types[2].configured = Some(1);
        status.cores.apps.push(app("b", 1));
        insta::assert_snapshot!(lines(&status).join("\n"), @r"
        no current release  web 2/2 active 1/2 healthy (scaled; deliver.toml 1)  worker 0/1 active  clock off (scaled; deliver.toml 1)
          a-web@5000.service restarted by systemd 2 times, last stop: oom-kill (killed by SIGKILL)
          a-web@5001.service unhealthy: GET /health answered 503
          a-web@5001.service restarted by systemd 1 time
          a-worker@5100.service failed
          a-worker@5100.service restarted by systemd 5 times, last stop: exit-code
          locked by bob@laptop (pid 1)
          cores 4 cores: a 3 (user:app), b 1 (user:app); 4 instances of 3
          warning: 4 instances of deliver apps on 4 cores: more than the 3 that leave one core free; they fight for the CPU (lower cpu_share or the counts)
        ");
        let json = serde_json::to_value(event("h1", &status)).unwrap();
        assert_eq!(json["processes"][0]["healthy"], 1);
        assert_eq!(json["processes"][1]["units"][0]["state"], "failed");
        assert!(json["processes"][1].get("healthy").is_none());
        assert_eq!(json["processes"][0]["units"][0]["restarts"], 2);
        assert_eq!(json["processes"][0]["units"][0]["last_result"], "oom-kill");
        assert_eq!(json["processes"][0]["configured"], 1);
        assert!(json["processes"][1].get("configured").is_none());
        assert_eq!(
            json["processes"][0]["units"][0]["last_exit"],
            "killed by SIGKILL"
        );
        assert!(json["processes"][0]["units"][1]
            .get("last_result")
            .is_none());
        assert_eq!(json["processes"][0]["units"][1]["restarts"], 1);
        assert_eq!(json["processes"][1]["units"][0]["last_result"], "exit-code");
        assert_eq!(json["cores"]["instances"], 4);
        assert_eq!(json["cores"]["over"], true);
        assert_eq!(json["cores"]["apps"][1]["app"], "b");
    }
}
