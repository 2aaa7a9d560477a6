//! Opening the proxy hosts of a run: each locked with the app hosts (unless it is one of
//! them) and asked whether it can take the upstream file and run exactly `sudo -n nginx -t`
//! and `sudo -n systemctl reload nginx`, before anything switches; and the end of a run that
//! a proxy host refused.

use std::fmt::Write as _;

use super::Proxies;
use crate::deploy::state::{Phase, Session, Step};
use crate::deploy::Request;
use crate::parallel;
use crate::plan::lock;
use crate::plan::proxy::{self as plan_proxy, Preflight};
use crate::ui::event::{Event, Reporter};

/// Why a proxy host could not be opened.
pub enum Refused {
    Held(String),
    Failed(String),
}

impl Proxies {
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
                s.phase = Phase::Locked;
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
    crate::deploy::session::release_locks(sessions.iter_mut(), reporter);
    proxies.release(reporter);
    let outcome = if held {
        Outcome::Locked
    } else {
        Outcome::FailedBeforeSwitch
    };
    reporter.event(&Event::DeployFailed {
        error: errors.join("; "),
        code: outcome.code(),
        summary: crate::deploy::state::summary(req, sessions.iter()),
    });
    outcome
}
