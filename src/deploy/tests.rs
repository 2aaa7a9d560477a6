//! Orchestration against recorded hosts: the ordered scripts per host, and a failure
//! injected at each step for exits 1, 3, 4 and 5 (STYLE §5). Real hosts: the test bed.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::engine::{run, Request};
use crate::config::{Config, RolloutMode};
use crate::outcome::Outcome;
use crate::plan::log::Action;
use crate::plan::{lock, release_dir, Script};
use crate::procfile;
use crate::release::ReleaseId;
use crate::remote::{Output, PushStats, Remote, RemoteError, Stream};
use crate::ui::event::{Event, Reporter};

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";
const OLD_SHA: &str = "fedcba9876543210fedcba9876543210fedcba98";

/// What a recorded host answers to each script, by the script's name.
#[derive(Clone, Default)]
struct Behaviour {
    /// Exit status for scripts whose name starts with the key.
    fail: Vec<(&'static str, i32)>,
    /// The host already runs this commit (with no units installed: so units differ).
    current_sha: Option<&'static str>,
    /// Health answers 500 while the new release is live (after an odd number of swaps).
    unhealthy: bool,
    /// Health answers 500 whatever runs: the revert fails too.
    always_unhealthy: bool,
    /// Stdout of the lock script when it is held.
    holder: Option<&'static str>,
    /// Installed units as the facts report them: file name -> sha256.
    units: Vec<(String, String)>,
    /// The instances the installed target wants (the running formation).
    wants: Vec<&'static str>,
}

struct Recorder {
    host: String,
    log: Arc<Mutex<Vec<String>>>,
    behaviour: Behaviour,
    /// Every script it ran, rendered.
    scripts: Arc<Mutex<Vec<String>>>,
    swaps: usize,
}

impl Recorder {
    fn new(host: &str, behaviour: Behaviour) -> (Recorder, Arc<Mutex<Vec<String>>>) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let r = Recorder {
            host: host.to_string(),
            log: Arc::clone(&log),
            behaviour,
            scripts: Arc::default(),
            swaps: 0,
        };
        (r, log)
    }

    fn facts(&self) -> String {
        let mut out = String::from(
            "deliver-facts=1\nhome=/home/app\nuser=app\nuid=1001\nnproc=2\ngit=git version 2.39\n\
             systemd=systemd 252\nlinger=yes\nrepo=yes\n",
        );
        let sha = self.behaviour.current_sha.unwrap_or(OLD_SHA);
        let id = ReleaseId::new(1_793_491_200, sha).unwrap();
        let _ = write!(out, "current=releases/{id}\nrelease={id}\t{sha}\n");
        let _ = writeln!(out, "tip={sha}\trefs/releases/{id}");
        for unit in &self.behaviour.wants {
            let _ = writeln!(out, "wants={unit}");
        }
        for (name, hash) in &self.behaviour.units {
            let _ = writeln!(out, "unit={hash}\t{name}");
        }
        out.push_str("lock=no\nend=ok\n");
        out
    }
}

impl Remote for Recorder {
    fn host(&self) -> &str {
        &self.host
    }

    fn run(
        &mut self,
        script: &Script,
        on_line: &mut dyn FnMut(Stream, &str),
    ) -> Result<Output, RemoteError> {
        self.log.lock().unwrap().push(script.name.clone());
        self.scripts.lock().unwrap().push(script.render());
        if script.name == "switch.swap_current" {
            self.swaps += 1;
        }
        if script.name.starts_with("lock.acquire") {
            if let Some(holder) = self.behaviour.holder {
                return Ok(Output {
                    status: lock::HELD,
                    stdout: holder.to_string(),
                    stderr: String::new(),
                });
            }
        }
        if let Some((_, status)) = self
            .behaviour
            .fail
            .iter()
            .find(|(name, _)| script.name.starts_with(name))
        {
            on_line(Stream::Stderr, "something broke");
            return Ok(Output {
                status: *status,
                stdout: String::new(),
                stderr: "something broke\n".into(),
            });
        }
        let stdout = if script.name.starts_with("lock.acquire") || script.name.starts_with("facts")
        {
            self.facts()
        } else if script.name == "supervisor.is_active" {
            "unit\tactive\n".to_string()
        } else {
            String::new()
        };
        Ok(Output {
            status: 0,
            stdout,
            stderr: String::new(),
        })
    }

    fn upload(&mut self, path: &str, _contents: &[u8], mode: i32) -> Result<(), RemoteError> {
        self.log.lock().unwrap().push(format!(
            "upload {} {mode:o}",
            path.rsplit('/').next().unwrap()
        ));
        Ok(())
    }

    fn push(
        &mut self,
        _repo: &Path,
        commit: &str,
        _git_dir: &str,
        refname: &str,
        remote_tips: &[String],
    ) -> Result<PushStats, RemoteError> {
        self.log.lock().unwrap().push(format!(
            "push {} {refname} having {}",
            &commit[..7],
            remote_tips
                .iter()
                .map(|t| &t[..7])
                .collect::<Vec<_>>()
                .join(",")
        ));
        Ok(PushStats {
            objects: 3,
            bytes: 300,
        })
    }

    fn http_get(&mut self, port: u16, path: &str, _timeout: Duration) -> Result<u16, RemoteError> {
        self.log.lock().unwrap().push(format!("GET :{port}{path}"));
        let new_live = self.swaps % 2 == 1;
        let sick = self.behaviour.always_unhealthy || (self.behaviour.unhealthy && new_live);
        Ok(if sick { 500 } else { 200 })
    }
}

#[derive(Default)]
struct Events(Mutex<Vec<Event>>);

impl Reporter for Events {
    fn event(&self, event: &Event) {
        self.0.lock().unwrap().push(event.clone());
    }
}

impl Events {
    fn names(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|e| {
                let v = serde_json::to_value(e).unwrap();
                let host = v
                    .get("host")
                    .and_then(|h| h.as_str())
                    .map(|h| format!(" {h}"));
                format!(
                    "{}{}",
                    v["event"].as_str().unwrap(),
                    host.unwrap_or_default()
                )
            })
            .filter(|n| !n.starts_with("host.output"))
            .collect()
    }
}

fn request(mode: &str) -> Request {
    let toml = format!(
        "app = \"shop\"\n[processes]\nweb = 2\n[health]\ndeadline = \"300ms\"\ntimeout = \"100ms\"\ninterval = \"10ms\"\n\
         [rollout]\nmode = \"{mode}\"\n[environments.prod]\nhosts = [\"h1\", \"h2\"]\n"
    );
    let config = Config::parse(Path::new("deliver.toml"), &toml).unwrap();
    Request {
        env: config.environment(None).unwrap().clone(),
        types: procfile::parse("web: node server.js\nworker: node worker.js\n").unwrap(),
        action: Action::Deploy,
        release: ReleaseId::new(1_795_400_000, SHA).unwrap(),
        sha: SHA.to_string(),
        repo: Some("/repo".into()),
        force: false,
        dry_run: false,
        batch: 1,
        holder_json: "{}".into(),
        who: "me@laptop".into(),
        now_unix: 1_795_400_000,
    }
}

type Logs = Vec<Arc<Mutex<Vec<String>>>>;

fn hosts(behaviours: [Behaviour; 2]) -> (Vec<Box<dyn Remote>>, Logs) {
    let mut remotes: Vec<Box<dyn Remote>> = Vec::new();
    let mut logs = Vec::new();
    for (name, b) in ["h1", "h2"].into_iter().zip(behaviours) {
        let (r, log) = Recorder::new(name, b);
        remotes.push(Box::new(r));
        logs.push(log);
    }
    (remotes, logs)
}

fn log_of(logs: &Logs, i: usize) -> Vec<String> {
    logs[i].lock().unwrap().clone()
}

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
            "supervisor.restart",
            "supervisor.is_active",
            "prune",
        ],
        "{h1:#?}"
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
fn rendered_units(req: &Request) -> (Vec<crate::render::RenderedFile>, Vec<(String, String)>) {
    let (r, _) = Recorder::new("h1", Behaviour::default());
    let facts = crate::plan::facts::parse(&r.facts()).unwrap();
    let layout = crate::plan::Layout::new(&req.env.deploy_to);
    let units = super::engine::host_units(&req.env, &req.types, &layout, &facts)
        .unwrap()
        .units;
    let hashes = units
        .iter()
        .map(|u| {
            (
                u.name.clone(),
                super::engine::sha256_hex(u.contents.as_bytes()),
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
        run(&req, vec![Box::new(r), Box::new(r2)], &Events::default()),
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
            crate::plan::script::quote(&u.contents),
            crate::plan::script::quote(&format!("shop/.deliver/units.new/{}", u.name))
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
    let last_gate = log
        .iter()
        .rposition(|s| s == "supervisor.is_active")
        .unwrap();
    assert!(stop > last_gate, "{log:?}");
}

#[test]
fn a_held_lock_exits_3_and_releases_only_the_locks_this_run_took() {
    let held = Behaviour {
        holder: Some(
            r#"{"user":"ann","machine":"ci","pid":7,"command":"deliver deploy","release":null,"started":"2026-11-23T08:00:00Z"}"#,
        ),
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
        assert_eq!(log.last().unwrap(), "deploy.abort", "{log:?}");
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
    for i in 0..2 {
        let swaps = log_of(&logs, i)
            .iter()
            .filter(|s| *s == "switch.swap_current")
            .count();
        assert_eq!(swaps, 2, "host {i} swapped to the new release and back");
    }
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
