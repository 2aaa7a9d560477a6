//! A deploy's ordered scripts on healthy recorded hosts: the steps, the units staged in the
//! build round trip, the no-op, a shrinking formation.

use std::sync::Arc;

use super::*;

#[test]
fn rolling_deploy_runs_each_step_in_order_on_each_host() {
    let (remotes, logs) = hosts(Default::default());
    let events = Events::default();
    assert_eq!(run(&request("rolling"), remotes, &events), Outcome::Done);
    let h1 = log_of(&logs, 0);
    assert_eq!(
        h1,
        [
            "lock.acquire",
            "push 0123456 refs/releases/20261123021320-0123456 having fedcba9",
            "release.prepare",
            "switch.swap_current",
            "supervisor.restart",
            "GET :5000/health",
            "supervisor.restart",
            "GET :5001/health",
            "supervisor.is_active",
            "prune",
        ],
        "{h1:#?}"
    );
    // The worker restarts with the first web instance, so that its second of "stays active"
    // runs while the web instances boot; it is checked after them.
    let units: Vec<String> = events
        .0
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            Event::InstanceRestarted { host, unit } if host == "h1" => Some(unit.clone()),
            Event::InstanceHealthy { host, unit, .. } if host == "h1" => {
                Some(format!("healthy {unit}"))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        units,
        [
            "shop-web@5000.service",
            "shop-worker@5100.service",
            "healthy shop-web@5000.service",
            "shop-web@5001.service",
            "healthy shop-web@5001.service",
            "healthy shop-worker@5100.service",
        ],
        "{units:#?}"
    );
    let names = events.names();
    // h1 switches and restarts completely before h2 switches (batch 1).
    let pos = |n: &str| {
        names
            .iter()
            .position(|e| e == n)
            .unwrap_or_else(|| panic!("{n}: {names:?}"))
    };
    assert!(pos("host.switched h1") < pos("host.switched h2"));
    assert!(pos("instance.healthy h1") < pos("host.switched h2"));
    assert_eq!(names.last().unwrap(), "deploy.done");
}

/// The units a deploy of `req` renders for a recorded host, and their hashes.
pub(super) fn rendered_units(
    req: &Request,
) -> (Vec<crate::render::RenderedFile>, Vec<(String, String)>) {
    let (r, _) = Recorder::new("h1", Behaviour::default());
    let facts = crate::plan::facts::parse(&r.facts()).unwrap();
    let layout = crate::plan::Layout::new(&req.env.deploy_to);
    let units = crate::deploy::target::host_target(
        &req.env,
        &req.types,
        &layout,
        &facts,
        (
            crate::release::Bank::Base,
            &crate::plan::scale::Counts::new(),
        ),
    )
    .unwrap()
    .units;
    let hashes = units
        .iter()
        .map(|u| {
            (
                u.name.clone(),
                crate::deploy::target::sha256_hex(u.contents.as_bytes()),
            )
        })
        .collect();
    (units, hashes)
}

#[test]
fn changed_units_are_staged_in_the_build_round_trip_all_at_once() {
    let (r, log) = Recorder::new("h1", Behaviour::default());
    let scripts = Arc::clone(&r.scripts);
    let (r2, _) = Recorder::new("h2", Behaviour::default());
    let req = request("rolling");
    assert_eq!(
        run(
            &req,
            vec![Box::new(r) as Box<dyn Remote>, Box::new(r2)],
            &Events::default()
        ),
        Outcome::Done
    );
    let log = log.lock().unwrap().clone();
    let scripts = scripts.lock().unwrap().clone();
    assert!(log.iter().all(|l| !l.starts_with("upload")), "{log:?}");
    let (units, _) = rendered_units(&req);
    assert_eq!(units.len(), 3);
    let staging: Vec<&String> = scripts
        .iter()
        .filter(|s| s.contains(" >shop/.deliver/units.new/"))
        .collect();
    assert_eq!(staging.len(), 1, "{log:?}");
    assert!(staging[0].starts_with("# deliver: release.prepare\n"));
    for u in &units {
        let line = format!(
            "printf '%s' {} >{}",
            crate::shell::quote(&u.contents),
            crate::shell::quote(&format!("shop/.deliver/units.new/{}", u.name))
        );
        assert!(staging[0].contains(&line), "{}: not staged", u.name);
    }
}

#[test]
fn same_commit_and_same_units_is_a_noop_that_only_locks_and_unlocks() {
    // Hosts that run this commit with exactly the units a deploy renders have nothing to do.
    let installed = Behaviour {
        current_sha: Some(SHA),
        units: rendered_units(&request("rolling")).1,
        ..Behaviour::default()
    };
    let (remotes, logs) = hosts([installed.clone(), installed.clone()]);
    let events = Events::default();
    assert_eq!(run(&request("rolling"), remotes, &events), Outcome::Done);
    assert_eq!(log_of(&logs, 0), ["lock.acquire", "lock.release"]);
    assert!(events.names().contains(&"deploy.noop".to_string()));
    // --force deploys anyway; another commit too.
    let mut forced = request("rolling");
    forced.force = true;
    let (remotes, logs) = hosts([installed.clone(), installed.clone()]);
    assert_eq!(run(&forced, remotes, &Events::default()), Outcome::Done);
    assert!(log_of(&logs, 0).contains(&"switch.swap_current".to_string()));
    // Same commit, but units changed (e.g. [processes] edited): not a no-op.
    let stale = Behaviour {
        units: vec![("shop.target".into(), "0".repeat(64))],
        ..installed
    };
    let (remotes, logs) = hosts([stale.clone(), stale]);
    assert_eq!(
        run(&request("rolling"), remotes, &Events::default()),
        Outcome::Done
    );
    assert!(log_of(&logs, 1).contains(&"switch.swap_current".to_string()));
}

#[test]
fn instances_that_left_the_formation_stop_after_the_new_ones_are_up() {
    let b = Behaviour {
        wants: vec![
            "shop-web@5000.service",
            "shop-web@5001.service",
            "shop-web@5002.service",
            "shop-worker@5100.service",
        ],
        ..Behaviour::default()
    };
    let (remotes, logs) = hosts([b.clone(), b]);
    assert_eq!(
        run(&request("rolling"), remotes, &Events::default()),
        Outcome::Done
    );
    let log = log_of(&logs, 0);
    let stop = log
        .iter()
        .position(|s| s == "supervisor.stop_removed")
        .expect("stopped");
    // After every new instance was restarted and every web one answered its health check;
    // the worker's "stays active" second is checked once the next host is done (SPEC §7:
    // it never blocks the next batch), so it may come after.
    let last_restart = log.iter().rposition(|s| s == "supervisor.restart").unwrap();
    let last_health = log.iter().rposition(|s| s.starts_with("GET ")).unwrap();
    assert!(stop > last_restart && stop > last_health, "{log:?}");
    let gate = log
        .iter()
        .rposition(|s| s == "supervisor.is_active")
        .unwrap();
    assert!(gate < log.len() - 1, "gated before the end: {log:?}");
}

#[test]
fn a_workers_stays_active_second_does_not_hold_up_the_next_host() {
    let (remotes, logs) = hosts(Default::default());
    let events = Events::default();
    assert_eq!(run(&request("rolling"), remotes, &events), Outcome::Done);
    let names = events.names();
    let pos = |n: &str| {
        names
            .iter()
            .position(|e| e == n)
            .unwrap_or_else(|| panic!("{n}: {names:?}"))
    };
    // h2 switches before h1's worker is checked; h1 is done only then.
    let h1_worker_ok = names
        .iter()
        .rposition(|n| n == "instance.healthy h1")
        .unwrap();
    assert!(pos("host.switched h2") < h1_worker_ok, "{names:?}");
    assert!(h1_worker_ok < pos("host.done h1"), "{names:?}");
    assert_eq!(log_of(&logs, 0).last().unwrap(), "prune");
}

#[test]
fn a_rollback_restarts_and_gates_through_the_same_rollout_as_a_deploy() {
    let (remotes, logs) = hosts(Default::default());
    assert_eq!(
        run(&request("rolling"), remotes, &Events::default()),
        Outcome::Done
    );
    let deployed = log_of(&logs, 0);
    let (remotes, logs) = hosts(Default::default());
    let mut req = request("rolling");
    req.action = Action::Rollback;
    req.repo = None;
    assert_eq!(run(&req, remotes, &Events::default()), Outcome::Done);
    // No push and no build: the units (new on these hosts) staged in a round trip of their
    // own, then the very steps of a deploy from the swap on.
    let from_swap = deployed
        .iter()
        .position(|s| s == "switch.swap_current")
        .unwrap();
    let mut expected = vec![
        "lock.acquire".to_string(),
        "supervisor.stage_units".to_string(),
    ];
    expected.extend_from_slice(&deployed[from_swap..]);
    assert_eq!(log_of(&logs, 0), expected);
}

/// Runs a script named after each hook call, so that the recorder logs it in order.
struct LoggedHooks;

impl crate::deploy::rollout::InstanceHooks for LoggedHooks {
    fn before_stop(
        &self,
        session: &mut crate::deploy::state::Session,
        _instance: &crate::release::Instance,
        unit: &str,
    ) -> Result<(), crate::deploy::state::StepError> {
        session.query(&Script::new(format!("hook.before_stop {unit}")))?;
        Ok(())
    }

    fn after_healthy(
        &self,
        session: &mut crate::deploy::state::Session,
        _instance: &crate::release::Instance,
        unit: &str,
    ) -> Result<(), crate::deploy::state::StepError> {
        session.query(&Script::new(format!("hook.after_healthy {unit}")))?;
        Ok(())
    }
}

#[test]
fn instance_hooks_run_before_each_instance_stops_and_after_it_passed_its_gate() {
    use crate::deploy::rollout::{replace, Change};
    let (recorder, log) = Recorder::new("h1", Behaviour::default());
    let req = request("rolling");
    let mut session = crate::deploy::state::Session::new(
        Box::new(recorder),
        crate::plan::Layout::new(&req.env.deploy_to),
        std::time::Instant::now(),
    );
    let formation =
        crate::release::Formation::resolve(&req.types, &req.env.processes, req.env.port_base, 2)
            .unwrap();
    let change = Change::forward(formation.instances_of("web"), None);
    replace(
        &req.env,
        &mut session,
        &change,
        &LoggedHooks,
        false,
        &Events::default(),
    )
    .unwrap();
    assert_eq!(
        log.lock().unwrap().clone(),
        [
            "hook.before_stop shop-web@5000.service",
            "supervisor.restart",
            "GET :5000/health",
            "hook.after_healthy shop-web@5000.service",
            "hook.before_stop shop-web@5001.service",
            "supervisor.restart",
            "GET :5001/health",
            "hook.after_healthy shop-web@5001.service",
        ]
    );
}

#[test]
fn a_first_deploy_starts_every_instance_of_a_type_at_once_and_gates_the_workers_together() {
    let fresh = Behaviour {
        fresh: true,
        ..Behaviour::default()
    };
    let (remotes, logs) = hosts([fresh.clone(), fresh]);
    assert_eq!(
        run(&request("rolling"), remotes, &Events::default()),
        Outcome::Done
    );
    let h1 = log_of(&logs, 0);
    assert_eq!(
        h1,
        [
            "lock.acquire",
            "push 0123456 refs/releases/20261123021320-0123456 having ",
            "release.prepare",
            "switch.swap_current",
            "supervisor.restart",
            "GET :5000/health",
            "GET :5001/health",
            "supervisor.is_active",
            "prune",
        ],
        "{h1:#?}"
    );
}
