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
    pub fn open(
        &self,
        req: &Request,
        app_hosts: &[String],
        reporter: &dyn Reporter,
    ) -> Vec<(String, Refused)> {
        if req.dry_run {
            return Vec::new();
        }
        let mut state = self.state();
        let config = req.env.proxy.as_ref().map_or("", |p| p.config.as_str());
        let results = parallel::each(state.sessions.iter_mut(), |s| {
            let also_app = app_hosts.contains(&s.name());
            let script = if also_app {
                checks(config)
            } else {
                lock::acquire(&s.layout, &req.holder_json).then(checks(config))
            };
            let out = s
                .query(&script)
                .map_err(|e| Refused::Failed(e.to_string()))?;
            crate::deploy::session::report_takeover(req, s, &out.stderr, reporter);
            // Our own app session's lock, reached under another name (an alias, a user@):
            // the holder is this very run.
            let ours = out.status == lock::HELD
                && out.stdout.lines().next().map(str::trim) == Some(req.holder_json.trim());
            if out.status == lock::HELD && !also_app && !ours {
                return Err(Refused::Held(out.stdout.trim().to_string()));
            }
            if ours {
                // The preflight did not run after a held lock: ask it alone.
                let again = s
                    .query(&checks(config))
                    .map_err(|e| Refused::Failed(e.to_string()))?;
                return judge(&again.stdout);
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
            judge(&out.stdout)
        });
        state
            .sessions
            .iter()
            .zip(results)
            .filter_map(|(s, r)| r.err().map(|e| (s.name(), e)))
            .collect()
    }
}

/// The preflight, then (changing nothing either) whether nginx takes its configuration as
/// it is: a proxy already broken by another file would refuse deliver's first write after
/// hosts switched.
fn checks(config: &str) -> crate::plan::Script {
    plan_proxy::preflight(config).raw(
        "nginx -t as it stands (the rule the preflight checks allows it); its report prefixed",
        "if out=$(sudo -n nginx -t 2>&1 </dev/null); then echo valid=yes\n\
         else echo valid=no; printf '%s\\n' \"$out\" | sed 's/^/nginx-t=/'; fi",
    )
}

/// What a proxy host lacks, from the output of [`checks`]: each missing right (with the
/// sudoers line when sudo is what lacks), or nginx's report when its configuration fails.
fn judge(stdout: &str) -> Result<(), Refused> {
    let (extra, rest): (Vec<&str>, Vec<&str>) = stdout
        .lines()
        .partition(|l| l.starts_with("valid=") || l.starts_with("nginx-t="));
    let preflight = Preflight::parse(&rest.join("\n")).map_err(Refused::Failed)?;
    let missing = preflight.missing();
    if missing.is_empty() {
        if extra.contains(&"valid=no") {
            let report: Vec<&str> = extra
                .iter()
                .filter_map(|l| l.strip_prefix("nginx-t="))
                .collect();
            return Err(Refused::Failed(format!(
                "`sudo -n nginx -t` fails before deliver changes anything: {}",
                report.join(" | ")
            )));
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    const ALLOWED: &str = "write=yes\ntest=yes\nreload=yes\nnginx=/usr/sbin/nginx\n\
                           systemctl=/usr/bin/systemctl\nuser=app\n";

    fn reason(stdout: &str) -> String {
        match judge(stdout) {
            Err(Refused::Failed(reason)) => reason,
            Err(Refused::Held(_)) => panic!("held"),
            Ok(()) => String::new(),
        }
    }

    #[test]
    fn a_proxy_host_is_judged_on_its_rights_then_on_its_nginx_config() {
        assert_eq!(reason(&format!("{ALLOWED}valid=yes\n")), "");
        let broken = reason(&format!(
            "{ALLOWED}valid=no\nnginx-t=nginx: [emerg] unknown directive \"x\"\n\
             nginx-t=nginx: configuration file /etc/nginx/nginx.conf test failed\n"
        ));
        assert!(
            broken.starts_with("`sudo -n nginx -t` fails before deliver changes anything: ")
                && broken.contains("unknown directive"),
            "{broken}"
        );
        let denied = reason(
            "write=no\ntest=no\nreload=no\nnginx=/usr/sbin/nginx\nsystemctl=/usr/bin/systemctl\n\
             user=deploy\nvalid=no\n",
        );
        assert!(
            denied.contains("not writable")
                && denied.ends_with(
                    "add to sudoers (visudo -f /etc/sudoers.d/deliver-proxy): deploy ALL=(root) \
                     NOPASSWD: /usr/sbin/nginx -t, /usr/bin/systemctl reload nginx"
                ),
            "{denied}"
        );
    }
}
