//! Failures injected into recorded hosts: held locks (exit 3), a failing hook (exit 1), a
//! health failure (exit 4), a failed revert (exit 5), and the dry run.

use super::*;

/// The `holder.json` of a lock another run holds.
const ANN_HOLDS: &str = r#"{"user":"ann","machine":"ci","pid":7,"command":"deliver deploy","release":null,"started":"2026-11-23T08:00:00Z"}"#;

#[test]
fn a_held_lock_exits_3_and_releases_only_the_locks_this_run_took() {
    let held = Behaviour {
        holder: Some(ANN_HOLDS),
        ..Behaviour::default()
    };
    let (remotes, logs) = hosts([Behaviour::default(), held]);
    let events = Events::default();
    assert_eq!(run(&request("rolling"), remotes, &events), Outcome::Locked);
    assert_eq!(log_of(&logs, 0), ["lock.acquire", "lock.release"]);
    assert_eq!(log_of(&logs, 1), ["lock.acquire"]);
    let failed = events.0.lock().unwrap().iter().find_map(|e| match e {
        Event::DeployFailed { error, code, .. } => Some((error.clone(), *code)),
        _ => None,
    });
    let (error, code) = failed.unwrap();
    assert_eq!(code, 3);
    assert!(error.contains("h2") && error.contains("ann"), "{error}");
}

#[test]
fn a_lock_held_on_the_first_host_leaves_the_others_untouched() {
    let held = Behaviour {
        holder: Some("{}"),
        ..Behaviour::default()
    };
    let (remotes, logs) = hosts([held, Behaviour::default()]);
    assert_eq!(
        run(&request("rolling"), remotes, &Events::default()),
        Outcome::Locked
    );
    assert_eq!(log_of(&logs, 0), ["lock.acquire"]);
    assert!(log_of(&logs, 1).is_empty(), "{:?}", log_of(&logs, 1));
}

#[test]
fn lock_wait_tries_again_until_it_runs_out_and_names_the_holder_once() {
    let held = Behaviour {
        holder: Some(ANN_HOLDS),
        ..Behaviour::default()
    };
    let (remotes, logs) = hosts([held, Behaviour::default()]);
    let events = Events::default();
    let request = Request {
        lock_wait: Some(Duration::from_millis(1200)),
        ..request("rolling")
    };
    let started = std::time::Instant::now();
    assert_eq!(run(&request, remotes, &events), Outcome::Locked);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(1200), "{waited:?}");
    assert!(waited < Duration::from_millis(2500), "{waited:?}");
    // Tried at once, after 0.5 s and after 1.2 s (the wait's end).
    assert_eq!(log_of(&logs, 0), ["lock.acquire"; 3]);
    assert!(log_of(&logs, 1).is_empty());
    let waiting: Vec<String> = events
        .0
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            Event::LockWaiting { host, holder, wait } => Some(format!("{host} {holder} {wait}")),
            _ => None,
        })
        .collect();
    assert_eq!(
        waiting,
        ["h1 ann@ci (pid 7) since 2026-11-23T08:00:00Z: deliver deploy 2s"]
    );
}

#[test]
fn a_failing_hook_exits_1_removes_the_release_everywhere_and_switches_nothing() {
    let broken = Behaviour {
        fail: vec![("release.prepare", release_dir::HOOK_FAILED)],
        ..Behaviour::default()
    };
    let (remotes, logs) = hosts([Behaviour::default(), broken]);
    let events = Events::default();
    assert_eq!(
        run(&request("rolling"), remotes, &events),
        Outcome::FailedBeforeSwitch
    );
    for i in 0..2 {
        let log = log_of(&logs, i);
        assert!(!log.iter().any(|s| s.starts_with("switch")), "{log:?}");
        // The release set aside with the unlock, its files deleted after.
        assert_eq!(
            log[log.len() - 2..],
            ["deploy.abort", "release.sweep"],
            "{log:?}"
        );
    }
    assert!(events.names().contains(&"host.failed h2".to_string()));
}

#[test]
fn a_health_failure_reverts_the_switched_hosts_and_exits_4() {
    let sick = Behaviour {
        unhealthy: true,
        ..Behaviour::default()
    };
    let (remotes, logs) = hosts([Behaviour::default(), sick]);
    let events = Events::default();
    assert_eq!(
        run(&request("rolling"), remotes, &events),
        Outcome::Reverted
    );
    // Both switched (h2 failed its gate after switching); both go back, h2 first.
    let names = events.names();
    let pos = |n: &str| {
        names
            .iter()
            .position(|e| e == n)
            .unwrap_or_else(|| panic!("{n}: {names:?}"))
    };
    assert!(pos("host.reverted h2") < pos("host.reverted h1"));
    // The failure names its host and step once: `host.failed` at `switch`, before the revert.
    assert!(pos("host.failed h2") < pos("host.reverted h2"));
    let failed = events.0.lock().unwrap().iter().find_map(|e| match e {
        Event::HostFailed { host, step, .. } if host == "h2" => Some(step.clone()),
        _ => None,
    });
    assert_eq!(failed.as_deref(), Some("switch"));
    for i in 0..2 {
        let swaps = log_of(&logs, i)
            .iter()
            .filter(|s| *s == "switch.swap_current")
            .count();
        assert_eq!(swaps, 2, "host {i} swapped to the new release and back");
    }
}

#[test]
fn a_switch_whose_round_trip_fails_is_put_back_without_restarting_anything() {
    let broken = Behaviour {
        fail_first_swap: true,
        ..Behaviour::default()
    };
    let (remotes, logs) = hosts([Behaviour::default(), broken]);
    let events = Events::default();
    assert_eq!(
        run(&request("rolling"), remotes, &events),
        Outcome::Reverted
    );
    // h2's switch failed part way (its units or `current` may have changed): its revert
    // sends the way back (which restores only units this run replaced) and restarts nothing.
    let h2 = log_of(&logs, 1);
    let from = h2.iter().position(|s| s == "switch.swap_current").unwrap();
    assert_eq!(
        h2[from..],
        ["switch.swap_current", "switch.swap_current", "prune"],
        "{h2:?}"
    );
    let names = events.names();
    assert!(names.contains(&"host.reverted h2".to_owned()), "{names:?}");
    assert!(names.contains(&"host.reverted h1".to_owned()), "{names:?}");
    assert!(!names.contains(&"host.switched h2".to_owned()), "{names:?}");
}

#[test]
fn a_failed_revert_exits_5() {
    let (remotes, _logs) = hosts([
        Behaviour::default(),
        Behaviour {
            always_unhealthy: true,
            ..Behaviour::default()
        },
    ]);
    // All at once: both switch together; h2's gate fails, and on the way back to its previous
    // release it is unhealthy again, so its revert fails too. h1 goes back fine.
    let mut req = request("rolling");
    req.env.rollout.mode = RolloutMode::AllAtOnce;
    let events = Events::default();
    let outcome = run(&req, remotes, &events);
    assert_eq!(outcome, Outcome::RevertFailed);
    let names = events.names();
    assert!(names.contains(&"host.reverted h1".to_string()), "{names:?}");
    assert!(
        !names.contains(&"host.reverted h2".to_string()),
        "{names:?}"
    );
}

#[test]
fn dry_run_gathers_facts_only_and_takes_no_lock() {
    let (remotes, logs) = hosts(Default::default());
    let mut req = request("rolling");
    req.dry_run = true;
    let events = Events::default();
    assert_eq!(run(&req, remotes, &events), Outcome::Done);
    assert_eq!(log_of(&logs, 0), ["facts"]);
    let printed: Vec<String> = events
        .0
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            Event::HostScript { host, script, .. } if host == "h1" => Some(script.clone()),
            _ => None,
        })
        .flat_map(|script| script.lines().map(str::to_owned).collect::<Vec<_>>())
        .collect();
    assert!(
        printed.iter().any(|l| l.contains("git --git-dir=")),
        "{printed:?}"
    );
    assert!(printed
        .iter()
        .any(|l| l.starts_with("# deliver: switch.swap_current")));
    // As a run sends it: the units (new on these hosts) are staged in the build's round trip,
    // shown by size.
    assert!(
        printed.iter().any(|l| l
            .ends_with("bytes: deliver export shows them>' >shop/.deliver/units.new/shop.target")),
        "{printed:?}"
    );
}
