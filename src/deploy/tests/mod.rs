//! Orchestration against recorded hosts: the ordered scripts per host, and a failure
//! injected at each step for exits 1, 3, 4 and 5 (STYLE §5). Real hosts: the test bed.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{run, Request};
use crate::config::{Config, RolloutMode};
use crate::outcome::Outcome;
use crate::plan::log::Action;
use crate::plan::{lock, release_dir, Script};
use crate::procfile;
use crate::release_id::ReleaseId;
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
    /// A proxy host: its first round trip answers the proxy preflight (every right there).
    proxy: bool,
    /// Nothing deployed yet: no `current`, no release.
    fresh: bool,
    /// The counts `deliver scale` recorded: `TYPE=N`.
    scale: Vec<&'static str>,
    /// The first switch's round trip (forward) exits 1; later ones (the way back) pass.
    fail_first_swap: bool,
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
        if !self.behaviour.fresh {
            let _ = write!(out, "current=releases/{id}\nrelease={id}\t{sha}\n");
            let _ = writeln!(out, "tip={sha}\trefs/releases/{id}");
        }
        for unit in &self.behaviour.wants {
            let _ = writeln!(out, "wants={unit}");
        }
        for record in &self.behaviour.scale {
            let _ = writeln!(out, "scale={}", record.replacen('=', "\t", 1));
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
            if self.behaviour.fail_first_swap && self.swaps == 1 {
                return Ok(Output {
                    status: 1,
                    stdout: String::new(),
                    stderr: "systemctl: failed to reload\n".into(),
                });
            }
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
        let stdout = if self.behaviour.proxy && script.name.starts_with("lock.acquire") {
            "write=yes\ntest=yes\nreload=yes\nnginx=/usr/sbin/nginx\n\
             systemctl=/usr/bin/systemctl\nuser=app\n"
                .to_string()
        } else if script.name.starts_with("lock.acquire") || script.name.starts_with("facts") {
            self.facts()
        } else if script.name == "proxy.connections" {
            // No connection left on any port asked for (`sport = :PORT` in the script).
            let text = script.render();
            text.split("sport = :")
                .skip(1)
                .filter_map(|rest| {
                    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    (!digits.is_empty()).then(|| format!("{digits} 0\n"))
                })
                .collect()
        } else if script.name == "supervisor.is_active" {
            // Every unit asked about is active: `printf '%s\t%s\n' UNIT "$(...)"` per unit.
            script
                .render()
                .lines()
                .filter_map(|l| l.strip_prefix("printf '%s\\t%s\\n' "))
                .filter_map(|rest| rest.split(' ').next())
                .fold(String::new(), |mut out, unit| {
                    let _ = writeln!(out, "{unit}\tactive");
                    out
                })
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
    request_with(mode, "")
}

/// [`request`] with `extra` tables at the end of its deliver.toml (e.g. `[proxy]`).
fn request_with(mode: &str, extra: &str) -> Request {
    let toml = format!(
        "app = \"shop\"\n[processes]\nweb = 2\n[health]\ndeadline = \"300ms\"\ntimeout = \"100ms\"\ninterval = \"10ms\"\n\
         [rollout]\nmode = \"{mode}\"\n[environments.prod]\nhosts = [\"h1\", \"h2\"]\n{extra}"
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
        batch: crate::config::BatchSize::Count(1),
        holder_json: "{}".into(),
        lock_wait: None,
        who: "me@laptop".into(),
        now_unix: 1_795_400_000,
        scale: crate::plan::scale::Counts::new(),
        proxy_addresses: Vec::new(),
    }
}

type Logs = Vec<Arc<Mutex<Vec<String>>>>;

/// The rendered scripts of `h1` and `h2`, from a run of `req` on hosts behaving so.
fn scripts_of(
    req: &Request,
    behaviours: [Behaviour; 2],
    events: &Events,
) -> (Outcome, Vec<Vec<String>>, Logs) {
    let mut remotes: Vec<Box<dyn Remote>> = Vec::new();
    let mut scripts = Vec::new();
    let mut logs = Vec::new();
    for (name, b) in ["h1", "h2"].into_iter().zip(behaviours) {
        let (r, log) = Recorder::new(name, b);
        scripts.push(Arc::clone(&r.scripts));
        remotes.push(Box::new(r));
        logs.push(log);
    }
    let outcome = run(req, remotes, events);
    let scripts = scripts.iter().map(|s| s.lock().unwrap().clone()).collect();
    (outcome, scripts, logs)
}

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

mod failed_mark;
mod failures;
mod proxy;
mod release_command;
mod rollout;
mod scale;
