//! The rollout core's hooks for a managed proxy: in `rolling`, an instance of the health
//! process is marked `down` and drained before it stops, and listed again once healthy; one
//! that leaves the formation is dropped. `surge` drains its old bank through [`ProxyHooks::drain_all`].

use std::time::{Duration, Instant};

use super::{Proxies, ServerState};
use crate::config::RolloutMode;
use crate::deploy::rollout::InstanceHooks;
use crate::deploy::state::{millis, Session, StepError};
use crate::deploy::Request;
use crate::plan::connections;
use crate::release::Instance;
use crate::ui::event::{Event, Reporter};

/// How often a drain looks at the instance's connections.
const DRAIN_POLL: Duration = Duration::from_millis(50);

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
        let script = connections::established(&ports);
        loop {
            let out = session.query(&script)?;
            let open = connections::parse(&out.stdout, &ports).map_err(StepError::Facts)?;
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
            Proxies::change(self.req, &mut state, self.reporter, |state| {
                Proxies::set(state, &host, instance.port, ServerState::Down);
            })?;
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
        let host = session.name();
        if Proxies::state_of(&state, &host, instance.port) == ServerState::Serving {
            return Ok(());
        }
        Proxies::change(self.req, &mut state, self.reporter, |state| {
            Proxies::set(state, &host, instance.port, ServerState::Serving);
        })
    }

    fn after_removed(
        &self,
        session: &mut Session,
        instances: &[Instance],
    ) -> Result<(), StepError> {
        let host = session.name();
        let mut state = self.proxies.state();
        let gone: Vec<u16> = instances
            .iter()
            .filter(|i| self.serves(i))
            .map(|i| i.port)
            .filter(|port| Proxies::state_of(&state, &host, *port) != ServerState::Absent)
            .collect();
        if gone.is_empty() {
            return Ok(());
        }
        Proxies::change(self.req, &mut state, self.reporter, |state| {
            for port in gone {
                Proxies::set(state, &host, port, ServerState::Absent);
            }
        })
    }
}
