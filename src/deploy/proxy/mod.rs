//! The managed proxy (SPEC §6, §7): the nginx hosts of `[proxy] hosts`, locked with the app
//! hosts, checked before anything switches (they must take the file and run exactly
//! `sudo -n nginx -t` and `sudo -n systemctl reload nginx`), and told about every change of
//! what serves: an instance marked `down` and drained before it stops, put back once
//! healthy, added or dropped when the formation changes. [`Proxies`] is the rollout core's
//! [`InstanceHooks`] for that; without `[proxy]` it holds no host and does nothing.

mod hooks;
mod open;

pub use hooks::ProxyHooks;
pub use open::{refused, Refused};

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::rollout;
use super::state::{millis, Host, Session, Step, StepError};
use super::Request;
use crate::parallel;
use crate::plan::proxy as plan_proxy;
use crate::release::Bank;
use crate::render::{self, ProxiedHost, ServerState, UpstreamServer};
use crate::ui::event::{Event, Reporter};

/// The proxy hosts of a run and the upstream they serve.
pub struct Proxies {
    state: Mutex<State>,
    /// There are proxy hosts to manage.
    managed: bool,
    /// `[proxy] drain`: take an instance out before it stops.
    drain: bool,
    drain_timeout: Duration,
}

struct State {
    sessions: Vec<Session>,
    /// Per app host, by name: what nginx should see of it. Each server's `port` is the port
    /// the instance listens on (its bank already applied), so its `bank` is always `Base`.
    hosts: Vec<(String, ProxiedHost)>,
    /// What the proxy hosts were last given.
    written: Vec<ProxiedHost>,
}

impl Proxies {
    /// No managed proxy: every hook does nothing.
    pub fn none() -> Proxies {
        Proxies {
            state: Mutex::new(State {
                sessions: Vec::new(),
                hosts: Vec::new(),
                written: Vec::new(),
            }),
            managed: false,
            drain: false,
            drain_timeout: Duration::ZERO,
        }
    }

    pub fn new(req: &Request, sessions: Vec<Session>) -> Proxies {
        let (drain, drain_timeout) = req
            .env
            .proxy
            .as_ref()
            .map_or((false, Duration::ZERO), |p| (p.drain, p.drain_timeout));
        Proxies {
            managed: !sessions.is_empty(),
            state: Mutex::new(State {
                sessions,
                hosts: Vec::new(),
                written: Vec::new(),
            }),
            drain,
            drain_timeout,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("proxy state lock")
    }

    /// `[proxy] drain`: instances leave the upstream and drain before they stop.
    pub fn drains(&self) -> bool {
        self.drain
    }

    /// Whether there is a proxy to manage.
    pub fn managed(&self) -> bool {
        self.managed
    }

    /// What nginx sees of each app host when the rollout begins: the instances of the health
    /// process it runs now (none where nothing is deployed yet), all serving.
    ///
    /// Renders the file once, so that an upstream nginx cannot take (two hosts behind one
    /// address, ...) fails the run before anything switches.
    pub fn start(&self, req: &Request, hosts: &[Host]) -> Result<(), String> {
        if !self.managed {
            return Ok(());
        }
        let process = &req.env.health.process;
        let mut state = self.state();
        state.hosts = hosts
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let running = running(req, h);
                let servers = serving(&running, process);
                let address = req
                    .proxy_addresses
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| h.session.name());
                (h.session.name(), ProxiedHost { address, servers })
            })
            .collect();
        state.written = state.hosts.iter().map(|(_, h)| h.clone()).collect();
        // What the rollout will list: every host's target, serving.
        let mut target = state.hosts.clone();
        for ((_, t), h) in target.iter_mut().zip(hosts) {
            t.servers = serving(&h.target.instances(&req.env), process);
        }
        let target: Vec<ProxiedHost> = target.into_iter().map(|(_, h)| h).collect();
        render::nginx_managed(&req.env, &target)
            .map(drop)
            .map_err(|e| format!("the upstream for the proxy: {e}"))
    }

    /// The upstream file as it stands.
    fn render(req: &Request, state: &State) -> Result<String, StepError> {
        let hosts: Vec<ProxiedHost> = state.hosts.iter().map(|(_, h)| h.clone()).collect();
        render::nginx_managed(&req.env, &hosts).map_err(|e| StepError::Target(e.to_string()))
    }

    /// What a run would send each proxy host for the upstream of `hosts`' targets
    /// (`--dry-run`), by proxy host: the upstream file itself (`proxy.upstream`, shown whole:
    /// it holds no secret), then the script that writes and applies it (which shows the
    /// contents by size).
    pub fn dry_run_scripts(&self, req: &Request, hosts: &[Host]) -> Vec<(String, String, String)> {
        let Some(proxy) = &req.env.proxy else {
            return Vec::new();
        };
        let process = &req.env.health.process;
        let target: Vec<ProxiedHost> = hosts
            .iter()
            .enumerate()
            .map(|(i, h)| ProxiedHost {
                address: req
                    .proxy_addresses
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| h.session.name()),
                servers: serving(&h.target.instances(&req.env), process),
            })
            .collect();
        let contents = match render::nginx_managed(&req.env, &target) {
            Ok(contents) => contents,
            Err(e) => format!("# deliver: the upstream cannot be rendered: {e}\n"),
        };
        let apply = plan_proxy::apply(&proxy.config, &contents);
        proxy
            .hosts
            .iter()
            .flat_map(|h| {
                [
                    (h.to_string(), "proxy.upstream".to_owned(), contents.clone()),
                    (h.to_string(), apply.name.clone(), apply.render_masked()),
                ]
            })
            .collect()
    }

    /// Sets the state of `port` on `host` (adding the server when it was not listed);
    /// whether that changed anything.
    fn set(state: &mut State, host: &str, port: u16, to: ServerState) -> bool {
        let Some((_, h)) = state.hosts.iter_mut().find(|(name, _)| name == host) else {
            return false;
        };
        match h.servers.iter_mut().find(|s| s.port == port) {
            Some(s) if s.state == to => false,
            Some(s) => {
                s.state = to;
                true
            }
            None if to == ServerState::Absent => false,
            None => {
                h.servers.push(UpstreamServer {
                    port,
                    bank: Bank::Base,
                    state: to,
                });
                h.servers.sort_by_key(|s| s.port);
                true
            }
        }
    }

    fn state_of(state: &State, host: &str, port: u16) -> ServerState {
        state
            .hosts
            .iter()
            .find(|(name, _)| name == host)
            .and_then(|(_, h)| h.servers.iter().find(|s| s.port == port))
            .map_or(ServerState::Absent, |s| s.state)
    }

    /// Changes the state with `edit`, then writes it as [`Proxies::apply`] does; when the write
    /// fails, the state goes back to what it was, so that it keeps telling what the proxy
    /// hosts serve (a proxy host that refuses keeps its previous file).
    fn change(
        req: &Request,
        state: &mut State,
        reporter: &dyn Reporter,
        edit: impl FnOnce(&mut State),
    ) -> Result<(), StepError> {
        let before = state.hosts.clone();
        edit(state);
        let r = Proxies::apply(req, state, reporter);
        if r.is_err() {
            state.hosts = before;
        }
        r
    }

    /// Writes the upstream on every proxy host, checks and reloads it there (in parallel);
    /// `proxy.reloaded` per host.
    fn apply(req: &Request, state: &mut State, reporter: &dyn Reporter) -> Result<(), StepError> {
        let contents = Proxies::render(req, state)?;
        let config = req.env.proxy.as_ref().map_or("", |p| p.config.as_str());
        let listed: Vec<&UpstreamServer> = state
            .hosts
            .iter()
            .flat_map(|(_, h)| &h.servers)
            .filter(|s| s.state != ServerState::Absent)
            .collect();
        let (servers, down) = (
            listed.len(),
            listed
                .iter()
                .filter(|s| s.state == ServerState::Down)
                .count(),
        );
        let script = plan_proxy::apply(config, &contents);
        let results = parallel::each(state.sessions.iter_mut(), |s| {
            let t = Instant::now();
            let r = s.run(&script, reporter);
            if r.is_ok() {
                reporter.event(&Event::ProxyReloaded {
                    host: s.name(),
                    servers,
                    down,
                    ms: millis(t),
                });
            }
            r.map_err(|e| (s.name(), e))
        });
        let errors: Vec<String> = results
            .into_iter()
            .filter_map(Result::err)
            .map(|(host, e)| format!("{host}: {e}"))
            .collect();
        if errors.is_empty() {
            state.written = state.hosts.iter().map(|(_, h)| h.clone()).collect();
            Ok(())
        } else {
            Err(StepError::Proxy(errors.join("; ")))
        }
    }

    /// Releases the lock on every proxy host this run holds (best effort, reported).
    pub fn release(&self, reporter: &dyn Reporter) {
        let mut state = self.state();
        super::session::release_locks(state.sessions.iter_mut(), reporter);
    }
}

/// The servers of `instances` of the health `process`, all serving, on the ports they
/// listen on.
fn serving(instances: &[crate::release::Instance], process: &str) -> Vec<UpstreamServer> {
    instances
        .iter()
        .filter(|i| i.type_name == process)
        .map(|i| UpstreamServer {
            port: i.port,
            bank: Bank::Base,
            state: ServerState::Serving,
        })
        .collect()
}

/// The instances running on `h` before the run: none where nothing is deployed yet, else
/// what its installed target wants (or, with no record, the target's).
pub fn running(req: &Request, h: &Host) -> Vec<crate::release::Instance> {
    if h.facts.current.is_none() {
        return Vec::new();
    }
    rollout::running_before(&req.env, &req.types, &h.facts)
        .unwrap_or_else(|| h.target.instances(&req.env))
}

/// One app host's part of a `surge` flip: the ports of its health instances that stop
/// serving, and those that start.
pub struct Flip {
    pub host: String,
    pub old: Vec<u16>,
    pub new: Vec<u16>,
}

impl Proxies {
    /// `surge`: points the upstream at each host's new bank and marks its old bank `down`, in
    /// one write and one reload per proxy host.
    pub fn flip(
        &self,
        req: &Request,
        flips: &[Flip],
        reporter: &dyn Reporter,
    ) -> Result<(), StepError> {
        let mut state = self.state();
        Proxies::change(req, &mut state, reporter, |state| {
            for f in flips {
                for port in &f.old {
                    Proxies::set(state, &f.host, *port, ServerState::Down);
                }
                for port in &f.new {
                    Proxies::set(state, &f.host, *port, ServerState::Serving);
                }
            }
        })
    }

    /// `surge`, after a flip some proxy host refused: every proxy host back on the old banks
    /// (those that took the flip reload again; the others kept their previous file).
    pub fn unflip(
        &self,
        req: &Request,
        flips: &[Flip],
        reporter: &dyn Reporter,
    ) -> Result<(), StepError> {
        let mut state = self.state();
        for f in flips {
            for port in &f.new {
                Proxies::set(&mut state, &f.host, *port, ServerState::Absent);
            }
            for port in &f.old {
                Proxies::set(&mut state, &f.host, *port, ServerState::Serving);
            }
        }
        Proxies::apply(req, &mut state, reporter)
    }

    /// `surge`: the old bank stopped: left out of the next write (no reload for it alone).
    pub fn forget(&self, host: &str, ports: &[u16]) {
        let mut state = self.state();
        for port in ports {
            Proxies::set(&mut state, host, *port, ServerState::Absent);
        }
    }

    /// Writes the upstream once more if it still lists servers that no longer run (`surge`'s
    /// last batch leaves its old bank `down` in the file).
    ///
    /// Every host runs its target by then, and what is left in the file is only `down`:
    /// a failure here is reported (`host.failed` at `finish`) and does not fail the run.
    pub fn tidy(&self, req: &Request, reporter: &dyn Reporter) {
        let mut state = self.state();
        if self.managed && Proxies::unwritten(&state) {
            if let Err(e) = Proxies::apply(req, &mut state, reporter) {
                for session in &state.sessions {
                    session.report_failure(reporter, Step::Finish, &e);
                }
            }
        }
    }

    /// The state differs from what the proxy hosts were last given.
    fn unwritten(state: &State) -> bool {
        state.written
            != state
                .hosts
                .iter()
                .map(|(_, h)| h.clone())
                .collect::<Vec<_>>()
    }
}
