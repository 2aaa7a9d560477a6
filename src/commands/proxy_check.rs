//! The proxy hosts' part of `deliver setup` and `deliver check` (SPEC §6): each `[proxy]`
//! host is reached like an app host and asked, changing nothing, whether this user can write
//! the upstream file at `proxy.config` and run exactly `sudo -n nginx -t` and
//! `sudo -n systemctl reload nginx`. A missing right comes with the sudoers line to add.
//! A deploy asks the same before anything switches (`deploy::proxy`).

use anyhow::{anyhow, Result};

use super::fleet::{Fleet, HostResult};
use crate::plan::proxy::{self, Missing, Preflight};
use crate::ui::record::Check;

/// The checks of every proxy host of the environment (none without `[proxy]`).
pub fn checks(fleet: &Fleet) -> Result<Vec<HostResult<Vec<Check>>>> {
    let Some(cfg) = &fleet.env.proxy else {
        return Ok(Vec::new());
    };
    let script = proxy::preflight(&cfg.config);
    fleet.each_of(&cfg.hosts, |_, reached, remote| {
        let out = remote.run(&script, &mut |_, _| {})?;
        if out.status != 0 {
            return Err(anyhow!(
                "{} exited {}: {}",
                script.name,
                out.status,
                out.stderr.trim()
            ));
        }
        let preflight = Preflight::parse(&out.stdout).map_err(|e| anyhow!(e))?;
        let mut checks = vec![Check::ok(
            "ssh",
            format!("{}, host key known ({} ms)", reached.address, reached.ms),
        )];
        checks.extend(assess(&cfg.config, &preflight));
        Ok(checks)
    })
}

/// One check per right: ok, or missing with its fix.
pub fn assess(config: &str, preflight: &Preflight) -> Vec<Check> {
    let missing = preflight.missing();
    let user = preflight.user.as_str();
    let rule = preflight.sudo_rule(user);
    let fix = |m: Missing| match m {
        Missing::Test | Missing::Reload => format!(
            "echo '{}' | sudo tee /etc/sudoers.d/deliver-proxy && sudo chmod 440 \
             /etc/sudoers.d/deliver-proxy",
            rule.trim_end()
        ),
        Missing::NoDirectory | Missing::NotWritable | Missing::Unreadable => format!(
            "sudo chgrp {user} \"$(dirname {config})\" && sudo chmod g+rwx \"$(dirname {config})\""
        ),
        Missing::NoNginx | Missing::NoSystemctl => {
            "sudo apt-get install -y nginx    # or the host's package manager".to_owned()
        }
    };
    let write = match missing.iter().find(|m| {
        matches!(
            m,
            Missing::NoDirectory | Missing::NotWritable | Missing::Unreadable
        )
    }) {
        Some(m) => Check::missing("upstream file", m.to_string(), fix(*m)),
        None => Check::ok("upstream file", format!("{config} (writable)")),
    };
    let sudo = |name: &str, m: Missing, ok: &str, tool: Missing| {
        if let Some(t) = missing.iter().find(|x| **x == tool) {
            Check::missing(name, t.to_string(), fix(*t))
        } else if missing.contains(&m) {
            Check::missing(name, m.to_string(), fix(m))
        } else {
            Check::ok(name, ok.to_owned())
        }
    };
    vec![
        write,
        sudo(
            "nginx -t",
            Missing::Test,
            "`sudo -n nginx -t` allowed",
            Missing::NoNginx,
        ),
        sudo(
            "reload",
            Missing::Reload,
            "`sudo -n systemctl reload nginx` allowed",
            Missing::NoSystemctl,
        ),
    ]
}
