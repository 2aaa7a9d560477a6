//! The `[release] command` against recorded hosts: once, on its host only, after every
//! host's build and before the first swap; a failure switches nothing; a rollback and a dry
//! run never run it.

use super::*;

const RELEASE: &str = "[release]\ncommand = \"bin/migrate\"\nhost = \"h2\"\n";

/// One ordered log of script names.
type Log = Arc<Mutex<Vec<String>>>;

/// Two recorders that log every script name in one shared, ordered log; each keeps the
/// scripts it ran (rendered) apart.
fn shared_hosts(behaviours: [Behaviour; 2]) -> (Vec<Box<dyn Remote>>, Log, Logs) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut remotes: Vec<Box<dyn Remote>> = Vec::new();
    let mut scripts = Vec::new();
    for (name, behaviour) in ["h1", "h2"].into_iter().zip(behaviours) {
        let (mut r, _) = Recorder::new(name, behaviour);
        r.log = Arc::clone(&log);
        scripts.push(Arc::clone(&r.scripts));
        remotes.push(Box::new(r));
    }
    (remotes, log, scripts)
}

/// How many scripts `scripts` ran that call the release command.
fn release_runs(scripts: &Log) -> usize {
    let scripts = scripts.lock().unwrap();
    scripts
        .iter()
        .filter(|s| s.contains("release_command ") && s.contains("bin/migrate"))
        .count()
}

#[test]
fn runs_once_on_its_host_after_every_build_and_before_the_first_swap() {
    let (remotes, log, scripts) = shared_hosts(Default::default());
    let req = request_with("rolling", RELEASE);
    let events = Events::default();
    assert_eq!(run(&req, remotes, &events), Outcome::Done);
    let names = events.names();
    let said = |n: &str| names.iter().position(|e| e == n).unwrap_or(usize::MAX);
    assert!(
        said("host.built h2") < said("release.start h2")
            && said("release.start h2") < said("release.done h2")
            && said("release.done h2") < said("host.switched h1"),
        "{names:?}"
    );
    let log = log.lock().unwrap().clone();
    let at = |name: &str| log.iter().position(|s| s == name);
    let release = at("release.command").expect("the release command ran");
    assert_eq!(log.iter().filter(|s| *s == "release.command").count(), 1);
    let last_build = log.iter().rposition(|s| s == "release.prepare").unwrap();
    assert_eq!(log.iter().filter(|s| *s == "release.prepare").count(), 2);
    assert!(last_build < release, "{log:?}");
    assert!(release < at("switch.swap_current").unwrap(), "{log:?}");
    assert_eq!(
        (release_runs(&scripts[0]), release_runs(&scripts[1])),
        (0, 1)
    );
}

#[test]
fn a_failing_release_command_switches_nothing_and_names_host_and_status() {
    let failing = Behaviour {
        fail: vec![("release.command", 3)],
        ..Behaviour::default()
    };
    let (remotes, log, _) = shared_hosts([Behaviour::default(), failing]);
    let events = Events::default();
    let req = request_with("rolling", RELEASE);
    assert_eq!(run(&req, remotes, &events), Outcome::FailedBeforeSwitch);
    let log = log.lock().unwrap().clone();
    assert!(!log.iter().any(|s| s.starts_with("switch.")), "{log:?}");
    // Both hosts drop this run's release dir (and unlock).
    assert_eq!(log.iter().filter(|s| *s == "deploy.abort").count(), 2);
    let events = events.0.lock().unwrap();
    assert!(events.iter().any(|e| matches!(e,
        Event::HostFailed { host, step, .. } if host == "h2" && step == "release")));
    let error = events.iter().find_map(|e| match e {
        Event::DeployFailed { error, code, .. } => Some((error.clone(), *code)),
        _ => None,
    });
    let (error, code) = error.unwrap();
    assert_eq!(code, 1);
    assert!(
        error.starts_with("h2: release: release.command exited 3"),
        "{error}"
    );
}

#[test]
fn a_rollback_never_runs_it_and_a_dry_run_shows_it_on_its_host() {
    let (remotes, log, _) = shared_hosts(Default::default());
    let mut req = request_with("rolling", RELEASE);
    req.action = Action::Rollback;
    req.repo = None;
    assert_eq!(run(&req, remotes, &Events::default()), Outcome::Done);
    let log = log.lock().unwrap().clone();
    assert!(!log.iter().any(|s| s == "release.command"), "{log:?}");

    let (remotes, _, _) = shared_hosts(Default::default());
    let mut req = request_with("rolling", RELEASE);
    req.dry_run = true;
    let events = Events::default();
    assert_eq!(run(&req, remotes, &events), Outcome::Done);
    let shown: Vec<String> = events
        .0
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            Event::HostScript { host, name, .. } if name == "release.command" => Some(host.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(shown, ["h2"]);
}
