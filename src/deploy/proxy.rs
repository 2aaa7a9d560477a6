//! The managed proxy (SPEC §6, §7): the nginx hosts of `[proxy] hosts`, locked with the app
//! hosts, checked before anything switches (they must take the file and run exactly
//! `sudo -n nginx -t` and `sudo -n systemctl reload nginx`), and told about every change of
//! what serves: an instance marked `down` and drained before it stops, put back once
//! healthy, added or dropped when the formation changes. [`Proxies`] is the rollout core's
//! [`InstanceHooks`] for that; without `[proxy]` it holds no host and does nothing.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::rollout::{self, InstanceHooks};
use super::state::{millis, Host, Session, Step, StepError};
use super::Request;
use crate::config::RolloutMode;
use crate::parallel;
use crate::plan::lock;
use crate::plan::proxy::{self as plan_proxy, Preflight};
use crate::release::{Bank, Instance};
use crate::render::{self, ProxiedHost, ServerState, UpstreamServer};
use crate::ui::event::{Event, Reporter};

/// How often a drain looks at the instance's connections.
const DRAIN_POLL: Duration = Duration::from_millis(50);

/// Why a proxy host could not be opened.
pub enum Refused {
    Held(String),
    Failed(String),
}

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

    /// Whether there is a proxy to manage.
    pub fn managed(&self) -> bool {
        self.managed
    }

    /// Lock + preflight on every proxy host, in parallel (nothing with `--dry-run`). A proxy
    /// host that is also one of `app_hosts` is locked already (the same lock directory): it
    /// only gets the preflight. The failures, by host.
    pub fn open(&self, req: &Request, app_hosts: &[String]) -> Vec<(String, Refused)> {
        if req.dry_run {
            return Vec::new();
        }
        let mut state = self.state();
        let config = req.env.proxy.as_ref().map_or("", |p| p.config.as_str());
        let results = parallel::each(state.sessions.iter_mut(), |s| {
            let also_app = app_hosts.contains(&s.name());
            let script = if also_app {
                plan_proxy::preflight(config)
            } else {
                lock::acquire(&s.layout, &req.holder_json).then(plan_proxy::preflight(config))
            };
            let out = s
                .query(&script)
                .map_err(|e| Refused::Failed(e.to_string()))?;
            if out.status == lock::HELD && !also_app {
                return Err(Refused::Held(out.stdout.trim().to_string()));
            }
            if !also_app {
                s.phase = super::state::Phase::Locked;
            }
            if out.status != 0 {
                return Err(Refused::Failed(format!(
                    "proxy check exited {}: {}",
                    out.status,
                    out.stderr.trim()
                )));
            }
            let preflight = Preflight::parse(&out.stdout).map_err(Refused::Failed)?;
            let missing = preflight.missing();
            if missing.is_empty() {
                return Ok(());
            }
            let mut reason = missing
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            if missing.iter().any(|m| m.needs_sudo_rule()) {
                let _ = write!(
                    reason,
                    "; add to sudoers (visudo -f /etc/sudoers.d/deliver-proxy): {}",
                    preflight.sudo_rule(&preflight.user).trim_end()
                );
            }
            Err(Refused::Failed(reason))
        });
        state
            .sessions
            .iter()
            .zip(results)
            .filter_map(|(s, r)| r.err().map(|e| (s.name(), e)))
            .collect()
    }

    /// What nginx sees of each app host when the rollout begins: the instances of the health
    /// process it runs now (none where nothing is deployed yet), all serving.
    pub fn start(&self, req: &Request, hosts: &[Host]) {
        let process = &req.env.health.process;
        let mut state = self.state();
        state.hosts = hosts
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let running = if h.facts.current.is_none() {
                    Vec::new()
                } else {
                    rollout::running_before(&req.env, &req.types, &h.facts)
                        .unwrap_or_else(|| h.target.instances(&req.env))
                };
                let servers = running
                    .iter()
                    .filter(|i| &i.type_name == process)
                    .map(|i| UpstreamServer {
                        port: i.port,
                        bank: Bank::Base,
                        state: ServerState::Serving,
                    })
                    .collect();
                let address = req
                    .proxy_addresses
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| h.session.name());
                (h.session.name(), ProxiedHost { address, servers })
            })
            .collect();
        state.written = state.hosts.iter().map(|(_, h)| h.clone()).collect();
    }

    /// The upstream file as it stands.
    fn render(req: &Request, state: &State) -> Result<String, StepError> {
        let hosts: Vec<ProxiedHost> = state.hosts.iter().map(|(_, h)| h.clone()).collect();
        render::nginx_managed(&req.env, &hosts).map_err(|e| StepError::Target(e.to_string()))
    }

    /// The script a run would send each proxy host for the upstream of `hosts`' targets
    /// (`--dry-run`), by proxy host.
    pub fn dry_run_scripts(
        &self,
        req: &Request,
        hosts: &[Host],
    ) -> Vec<(String, crate::plan::Script)> {
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
                servers: h
                    .target
                    .instances(&req.env)
                    .iter()
                    .filter(|i| &i.type_name == process)
                    .map(|i| UpstreamServer {
                        port: i.port,
                        bank: Bank::Base,
                        state: ServerState::Serving,
                    })
                    .collect(),
            })
            .collect();
        let Ok(contents) = render::nginx_managed(&req.env, &target) else {
            return Vec::new();
        };
        proxy
            .hosts
            .iter()
            .map(|h| (h.to_string(), plan_proxy::apply(&proxy.config, &contents)))
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
        for f in flips {
            for port in &f.old {
                Proxies::set(&mut state, &f.host, *port, ServerState::Down);
            }
            for port in &f.new {
                Proxies::set(&mut state, &f.host, *port, ServerState::Serving);
            }
        }
        Proxies::apply(req, &mut state, reporter)
    }

    /// `surge`, after a flip some proxy host refused: every proxy host back on the old banks
    /// (those that took the flip reload again; the others kept their previous file).
    pub fn unflip(&self, req: &Request, flips: &[Flip], reporter: &dyn Reporter) {
        let mut state = self.state();
        for f in flips {
            for port in &f.new {
                Proxies::set(&mut state, &f.host, *port, ServerState::Absent);
            }
            for port in &f.old {
                Proxies::set(&mut state, &f.host, *port, ServerState::Serving);
            }
        }
        // Best effort: a host that refuses again still serves its previous file, the old
        // banks; it is reported.
        if let Err(e) = Proxies::apply(req, &mut state, reporter) {
            for session in &state.sessions {
                session.report_failure(reporter, Step::Revert, &e);
            }
        }
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
    pub fn tidy(&self, req: &Request, reporter: &dyn Reporter) -> Result<(), StepError> {
        let mut state = self.state();
        if self.managed && Proxies::unwritten(&state) {
            Proxies::apply(req, &mut state, reporter)?;
        }
        Ok(())
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

/// The context a hook needs besides the host: the run's request and where events go.
pub struct ProxyHooks<'a> {
    pub proxies: &'a Proxies,
    pub req: &'a Request,
    pub reporter: &'a dyn Reporter,
}

impl ProxyHooks<'_> {
    fn serves(&self, instance: &Instance) -> bool {
        self.proxies.managed() && instance.type_name == self.req.env.health.process
    }

    /// Waits until none of `instances` (started as `units`) has an established connection,
    /// or `drain_timeout`; `instance.drained` for each.
    pub fn drain_all(
        &self,
        session: &mut Session,
        instances: &[Instance],
        units: &[String],
    ) -> Result<(), StepError> {
        let t = Instant::now();
        let ports: Vec<u16> = instances.iter().map(|i| i.port).collect();
        let script = plan_proxy::connections(&ports);
        loop {
            let out = session.query(&script)?;
            let open =
                plan_proxy::parse_connections(&out.stdout, &ports).map_err(StepError::Facts)?;
            if open.iter().all(|(_, n)| *n == 0) || t.elapsed() >= self.proxies.drain_timeout {
                for (unit, (_, n)) in units.iter().zip(open) {
                    self.reporter.event(&Event::InstanceDrained {
                        host: session.name(),
                        unit: unit.clone(),
                        ms: millis(t),
                        connections: n,
                    });
                }
                return Ok(());
            }
            std::thread::sleep(DRAIN_POLL);
        }
    }
}

impl InstanceHooks for ProxyHooks<'_> {
    fn before_stop(
        &self,
        session: &mut Session,
        instance: &Instance,
        unit: &str,
    ) -> Result<(), StepError> {
        // Only `rolling` drains one instance while the others serve; `all-at-once` would
        // take every server out together (it claims no zero downtime), and `surge` drains
        // its old bank itself, after the flip.
        if !self.serves(instance)
            || !self.proxies.drain
            || self.req.env.rollout.mode == RolloutMode::AllAtOnce
        {
            return Ok(());
        }
        let host = session.name();
        {
            let mut state = self.proxies.state();
            if Proxies::state_of(&state, &host, instance.port) != ServerState::Serving {
                // Not listed yet (a new instance): nothing to drain.
                return Ok(());
            }
            Proxies::set(&mut state, &host, instance.port, ServerState::Down);
            Proxies::apply(self.req, &mut state, self.reporter)?;
        }
        self.drain_all(session, std::slice::from_ref(instance), &[unit.to_string()])
    }

    fn after_healthy(
        &self,
        session: &mut Session,
        instance: &Instance,
        _unit: &str,
    ) -> Result<(), StepError> {
        if !self.serves(instance) {
            return Ok(());
        }
        let mut state = self.proxies.state();
        if Proxies::set(
            &mut state,
            &session.name(),
            instance.port,
            ServerState::Serving,
        ) {
            Proxies::apply(self.req, &mut state, self.reporter)?;
        }
        Ok(())
    }

    fn after_removed(
        &self,
        session: &mut Session,
        instances: &[Instance],
    ) -> Result<(), StepError> {
        let host = session.name();
        let mut state = self.proxies.state();
        let mut changed = false;
        for instance in instances.iter().filter(|i| self.serves(i)) {
            changed |= Proxies::set(&mut state, &host, instance.port, ServerState::Absent);
        }
        if changed {
            Proxies::apply(self.req, &mut state, self.reporter)?;
        }
        Ok(())
    }
}

/// A failure of a proxy host, as `host.failed` at `lock`.
pub fn report(reporter: &dyn Reporter, host: &str, error: &str) {
    reporter.event(&Event::HostFailed {
        host: host.to_string(),
        step: Step::Lock.as_str().to_string(),
        error: error.to_string(),
    });
}

/// A proxy host refused the run before anything changed (held lock, missing rights): every
/// lock taken is released (app and proxy hosts), `deploy.failed`; exit 3 when a lock is held
/// by another run, else 1.
pub fn refused(
    req: &Request,
    sessions: &mut [Session],
    proxies: &Proxies,
    refused: Vec<(String, Refused)>,
    reporter: &dyn Reporter,
) -> crate::outcome::Outcome {
    use crate::outcome::Outcome;
    let mut held = false;
    let mut errors = Vec::new();
    for (host, r) in refused {
        let error = match r {
            Refused::Held(holder) => {
                held = true;
                format!("locked by another deploy: {holder}")
            }
            Refused::Failed(e) => e,
        };
        report(reporter, &host, &error);
        errors.push(format!("{host}: {error}"));
    }
    super::session::release_locks(sessions.iter_mut(), reporter);
    proxies.release(reporter);
    let outcome = if held {
        Outcome::Locked
    } else {
        Outcome::FailedBeforeSwitch
    };
    reporter.event(&Event::DeployFailed {
        error: errors.join("; "),
        code: outcome.code(),
        summary: super::state::summary(req, sessions.iter()),
    });
    outcome
}
