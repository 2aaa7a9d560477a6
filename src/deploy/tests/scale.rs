//! `deliver scale`: a rollout of the release that runs, to itself, where only the instances
//! the counts add start and only those they drop stop; the counts are recorded on the host
//! in the run's last round trip, and a deploy forgets them again.

use super::*;
use crate::plan::scale::Counts;

/// Hosts running web@5000, web@5001 and worker@5100 of the current (old) release.
fn running(scale: Vec<&'static str>) -> Behaviour {
    Behaviour {
        wants: vec![
            "shop-web@5000.service",
            "shop-web@5001.service",
            "shop-worker@5100.service",
        ],
        scale,
        ..Behaviour::default()
    }
}

fn scale(counts: &[(&str, u32)]) -> Request {
    let mut req = request("rolling");
    req.action = Action::Scale;
    req.repo = None;
    req.release = ReleaseId::new(1_793_491_200, OLD_SHA).unwrap();
    req.sha = OLD_SHA.to_owned();
    req.scale = counts.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect();
    req
}

/// The rendered scripts of h1 whose first line names `name`.
fn named<'a>(scripts: &'a [String], name: &str) -> Vec<&'a String> {
    let head = format!("# deliver: {name}");
    scripts.iter().filter(|s| s.starts_with(&head)).collect()
}

#[test]
fn scaling_up_starts_only_the_added_instances_and_records_the_counts() {
    let events = Events::default();
    let b = running(vec![]);
    let (outcome, scripts, _) = scripts_of(&scale(&[("web", 3)]), [b.clone(), b], &events);
    assert_eq!(outcome, Outcome::Done);
    let h1 = &scripts[0];
    let restarts = named(h1, "supervisor.restart");
    assert_eq!(
        restarts.len(),
        1,
        "one restart, of the new instance: {restarts:?}"
    );
    assert!(
        restarts[0].contains("shop-web@5002.service"),
        "{}",
        restarts[0]
    );
    assert!(!restarts[0].contains("@5000") && !restarts[0].contains("@5001"));
    assert!(!restarts[0].contains("worker"), "{}", restarts[0]);
    assert!(named(h1, "supervisor.stop_removed").is_empty());
    let prune = named(h1, "prune")[0];
    assert!(prune.contains("web=3"), "the counts recorded: {prune}");
    let changed: Vec<String> = events
        .0
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            Event::FormationChanged {
                host,
                process,
                from,
                to,
                source,
                ..
            } => Some(format!("{host} {process} {from}->{to} {source}")),
            _ => None,
        })
        .collect();
    assert_eq!(changed, ["h1 web 2->3 scale", "h2 web 2->3 scale"]);
}

#[test]
fn scaling_down_stops_only_the_dropped_instances_and_keeps_other_scaled_counts() {
    let b = running(vec!["worker=1"]);
    let (outcome, scripts, _) =
        scripts_of(&scale(&[("web", 1)]), [b.clone(), b], &Events::default());
    assert_eq!(outcome, Outcome::Done);
    let h1 = &scripts[0];
    assert!(
        named(h1, "supervisor.restart").is_empty(),
        "nothing restarts"
    );
    let stop = named(h1, "supervisor.stop_removed");
    assert_eq!(stop.len(), 1);
    assert!(stop[0].contains("shop-web@5001.service") && !stop[0].contains("@5000"));
    let prune = named(h1, "prune")[0];
    assert!(
        prune.contains("web=1") && prune.contains("worker=1"),
        "{prune}"
    );
}

#[test]
fn scaling_to_the_counts_that_run_is_a_noop() {
    let b = Behaviour {
        units: super::rollout::rendered_units(&request("rolling")).1,
        ..running(vec![])
    };
    let events = Events::default();
    let (outcome, _, logs) = scripts_of(&scale(&[("web", 2)]), [b.clone(), b], &events);
    assert_eq!(outcome, Outcome::Done);
    assert_eq!(log_of(&logs, 0), ["lock.acquire", "lock.release"]);
    assert!(events.names().contains(&"deploy.noop".to_owned()));
}

#[test]
fn a_deploy_after_a_scale_applies_deliver_toml_says_so_and_forgets_the_record() {
    let events = Events::default();
    let b = Behaviour {
        wants: vec![
            "shop-web@5000.service",
            "shop-web@5001.service",
            "shop-web@5002.service",
            "shop-worker@5100.service",
        ],
        scale: vec!["web=3"],
        ..Behaviour::default()
    };
    let (outcome, scripts, _) = scripts_of(&request("rolling"), [b.clone(), b], &events);
    assert_eq!(outcome, Outcome::Done);
    let prune = named(&scripts[0], "prune")[0];
    assert!(prune.contains("rm -f shop/.deliver/scale"), "{prune}");
    let said: Vec<(String, bool)> = events
        .0
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            Event::FormationChanged {
                process,
                from,
                to,
                source,
                was_scaled,
                ..
            } => Some((format!("{process} {from}->{to} {source}"), *was_scaled)),
            _ => None,
        })
        .collect();
    assert_eq!(said[0], ("web 3->2 deliver.toml".to_owned(), true));
}

#[test]
fn a_restart_keeps_the_scaled_counts() {
    let b = running(vec!["web=2"]);
    let mut req = scale(&[]);
    req.action = Action::Restart;
    req.force = true;
    let facts = crate::plan::facts::parse(&Recorder::new("h1", b.clone()).0.facts()).unwrap();
    let counts = crate::deploy::target::scaled(&req, &facts);
    assert_eq!(counts, Counts::from([("web".to_owned(), 2)]));
    let (outcome, scripts, _) = scripts_of(&req, [b.clone(), b], &Events::default());
    assert_eq!(outcome, Outcome::Done);
    let prune = named(&scripts[0], "prune")[0];
    assert!(
        !prune.contains("deliver/scale"),
        "the record stays: {prune}"
    );
}

#[test]
fn a_dry_run_shows_only_what_the_scale_starts_and_stops() {
    let events = Events::default();
    let mut req = scale(&[("web", 1), ("worker", 2)]);
    req.dry_run = true;
    let b = running(vec![]);
    let (outcome, _, logs) = scripts_of(&req, [b.clone(), b], &events);
    assert_eq!(outcome, Outcome::Done);
    assert_eq!(log_of(&logs, 0), ["facts"], "a dry run only reads");
    let shown: Vec<String> = events
        .0
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            Event::HostScript { host, script, .. } if host == "h1" => Some(script.clone()),
            _ => None,
        })
        .collect();
    let restart = shown
        .iter()
        .find(|s| s.starts_with("# deliver: supervisor.restart"))
        .expect("a restart shown");
    assert!(restart.contains("shop-worker@5101.service"), "{restart}");
    assert!(!restart.contains("web@"), "{restart}");
    let stop = shown
        .iter()
        .find(|s| s.starts_with("# deliver: supervisor.stop_removed"))
        .expect("a stop shown");
    assert!(
        stop.contains("shop-web@5001.service") && !stop.contains("@5000"),
        "{stop}"
    );
}
