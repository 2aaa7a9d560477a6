//! A managed proxy on recorded hosts: the drain steps of `rolling` interleaved with the app
//! hosts' restarts, and `surge`'s order (new bank up and gated, one flip, drain, old bank
//! stopped, workers restarted).

use super::*;
use crate::deploy::Remotes;

const RUNNING: [&str; 3] = [
    "shop-web@5000.service",
    "shop-web@5001.service",
    "shop-worker@5100.service",
];

/// A host running web x2 + worker.
fn running() -> Behaviour {
    Behaviour {
        wants: RUNNING.to_vec(),
        ..Behaviour::default()
    }
}

/// h1 and h2 running web x2 + worker, and the proxy host lb1.
fn with_proxy() -> (Remotes, Logs, Arc<Mutex<Vec<String>>>) {
    behind_proxy([running(), running()])
}

/// h1 and h2 as given, and the proxy host lb1 (every right there).
fn behind_proxy(apps: [Behaviour; 2]) -> (Remotes, Logs, Arc<Mutex<Vec<String>>>) {
    let (apps, logs) = hosts(apps);
    let (lb, lb_log) = Recorder::new(
        "lb1",
        Behaviour {
            proxy: true,
            ..Behaviour::default()
        },
    );
    (
        Remotes {
            apps,
            proxies: vec![Box::new(lb)],
        },
        logs,
        lb_log,
    )
}

fn proxied(mode: &str) -> Request {
    let mut req = request_with(
        mode,
        "[environments.prod.proxy]\nhosts = [\"lb1\"]\ndrain_timeout = \"1s\"\n",
    );
    req.proxy_addresses = vec!["10.0.0.1".into(), "10.0.0.2".into()];
    req
}

#[test]
fn rolling_with_a_proxy_drains_each_web_instance_before_its_restart() {
    let (remotes, logs, lb) = with_proxy();
    let events = Events::default();
    assert_eq!(run(&proxied("rolling"), remotes, &events), Outcome::Done);
    let h1 = log_of(&logs, 0);
    assert_eq!(
        h1,
        [
            "lock.acquire",
            "push 0123456 refs/releases/20261123021320-0123456 having fedcba9",
            "release.prepare",
            "switch.swap_current",
            "proxy.connections",
            "supervisor.restart",
            "GET :5000/health",
            "proxy.connections",
            "supervisor.restart",
            "GET :5001/health",
            "supervisor.is_active",
            "prune",
        ],
        "{h1:#?}"
    );
    // Per web instance of each host: down + reload, then up + reload; locked and unlocked
    // with the app hosts.
    let lb = lb.lock().unwrap().clone();
    let applies = lb.iter().filter(|s| *s == "proxy.apply").count();
    assert_eq!(applies, 8, "{lb:#?}");
    assert_eq!(lb.first().unwrap(), "lock.acquire");
    assert_eq!(lb.last().unwrap(), "lock.release");
    let names = events.names();
    assert_eq!(
        names.iter().filter(|n| *n == "instance.drained h1").count(),
        2
    );
    assert!(
        names.contains(&"proxy.reloaded lb1".to_string()),
        "{names:?}"
    );
}

#[test]
fn surge_starts_the_other_bank_flips_once_then_retires_the_old_one() {
    let (remotes, logs, lb) = with_proxy();
    let events = Events::default();
    assert_eq!(run(&proxied("surge"), remotes, &events), Outcome::Done);
    let h1 = log_of(&logs, 0);
    assert_eq!(
        h1,
        [
            "lock.acquire",
            "push 0123456 refs/releases/20261123021320-0123456 having fedcba9",
            "release.prepare",
            "switch.swap_current",
            "supervisor.restart",
            "GET :5050/health",
            "GET :5051/health",
            "proxy.connections",
            "supervisor.stop_removed",
            "supervisor.is_active",
            "prune",
        ],
        "{h1:#?}"
    );
    // One flip per batch (of one host), one tidy write at the end.
    let lb = lb.lock().unwrap().clone();
    assert_eq!(
        lb,
        [
            "lock.acquire",
            "proxy.apply",
            "proxy.apply",
            "proxy.apply",
            "lock.release"
        ],
        "{lb:#?}"
    );
}

#[test]
fn a_proxy_without_the_rights_stops_the_run_before_anything_switches() {
    let (mut remotes, logs, _) = with_proxy();
    let (lb, _) = Recorder::new(
        "lb1",
        Behaviour {
            proxy: true,
            fail: vec![("lock.acquire", 1)],
            ..Behaviour::default()
        },
    );
    remotes.proxies = vec![Box::new(lb)];
    let events = Events::default();
    assert_eq!(
        run(&proxied("rolling"), remotes, &events),
        Outcome::FailedBeforeSwitch
    );
    for i in 0..2 {
        assert_eq!(log_of(&logs, i), ["lock.acquire", "lock.release"]);
    }
    assert!(events.names().contains(&"host.failed lb1".to_string()));
}

#[test]
fn surge_failing_before_the_flip_undoes_that_batch_and_reverts_the_flipped_ones() {
    let sick = Behaviour {
        unhealthy: true,
        ..running()
    };
    let (remotes, logs, lb_log) = behind_proxy([running(), sick]);
    let events = Events::default();
    assert_eq!(run(&proxied("surge"), remotes, &events), Outcome::Reverted);
    // h2's new bank never answered: stopped, `current` swapped back, workers restarted; the
    // proxy never flipped it.
    let h2 = log_of(&logs, 1);
    let after_gate = h2
        .iter()
        .rposition(|s| s == "GET :5050/health")
        .expect("gated");
    assert_eq!(
        &h2[after_gate + 1..],
        [
            "supervisor.stop_removed",
            "switch.swap_current",
            "supervisor.restart",
            "prune"
        ],
        "{h2:#?}"
    );
    // h1 had flipped: back through the rollout core, old instances up again.
    let names = events.names();
    assert!(names.contains(&"host.reverted h1".to_string()), "{names:?}");
    assert!(names.contains(&"host.reverted h2".to_string()), "{names:?}");
    let lb = lb_log.lock().unwrap().clone();
    assert_eq!(lb.last().unwrap(), "lock.release", "{lb:#?}");
}

#[test]
fn dry_run_shows_the_upstream_each_proxy_host_would_get_and_locks_nothing() {
    let (remotes, logs, lb) = with_proxy();
    let mut req = proxied("rolling");
    req.dry_run = true;
    let events = Events::default();
    assert_eq!(run(&req, remotes, &events), Outcome::Done);
    assert_eq!(log_of(&logs, 0), ["facts"]);
    assert!(
        lb.lock().unwrap().is_empty(),
        "the proxy host is not touched"
    );
    let shown: Vec<String> = events
        .0
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            Event::HostScript { host, script, .. } if host == "lb1" => Some(script.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(shown.len(), 2, "{shown:#?}");
    for server in [
        "10.0.0.1:5000",
        "10.0.0.1:5001",
        "10.0.0.2:5000",
        "10.0.0.2:5001",
    ] {
        assert!(
            shown[0].contains(&format!("server {server}")),
            "{server}: {}",
            shown[0]
        );
    }
    assert!(
        shown[1].starts_with("# deliver: proxy.apply"),
        "{}",
        shown[1]
    );
}
