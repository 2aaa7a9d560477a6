//! Is a host ready for deploys? The checks `deliver setup` and `deliver check` share, judged
//! from one host's facts: git, systemd, the user manager and linger (systemd-user) or the
//! sudo rights (systemd, upstart). Each missing piece comes with exactly what an admin runs
//! on that host to fix it. Pure: facts in, checks out; printing is in [`print`].

use super::fleet::{self, HostResult};
use anyhow::{anyhow, Result};

use crate::config::{Environment, Supervisor};
use crate::plan::facts::Facts;
use crate::plan::supervisor::sudo_rules;
use crate::shell::quote;
use crate::ui::event::Event;
use crate::ui::record::{Check, CheckState, HostReadiness};
use crate::ui::Ui;

/// The checks of the host that answered `facts`, for deploying `env` there.
pub fn assess(env: &Environment, facts: &Facts) -> Vec<Check> {
    let user = if facts.user.is_empty() {
        "USER"
    } else {
        facts.user.as_str()
    };
    let mut checks = vec![match &facts.git {
        Some(version) => Check::ok("git", version),
        None => Check::missing(
            "git",
            "not found: deliver pushes each release into a git repository on the host",
            "sudo apt-get install -y git    # or the host's package manager",
        ),
    }];
    let sup = env.supervisor;
    if sup != Supervisor::Upstart {
        checks.push(match &facts.systemd {
            Some(version) => Check::ok("systemd", version),
            None => Check::missing(
                "systemd",
                format!(
                    "systemctl not found: supervisor `{}` needs systemd",
                    sup.as_str()
                ),
                "# a host without systemd: set supervisor = \"upstart\" in deliver.toml if it \
                 runs upstart",
            ),
        });
    }
    let linger_fix = format!("sudo loginctl enable-linger {}", quote(user));
    match sup {
        Supervisor::SystemdUser => {
            checks.push(match facts.user_manager.as_deref() {
                None | Some("offline" | "unknown") => Check::missing(
                    "user manager",
                    format!(
                        "`systemctl --user` gets no answer: no systemd user manager runs for {user}"
                    ),
                    linger_fix.clone(),
                ),
                Some(answer @ "degraded") => Check::ok(
                    "user manager",
                    format!("{answer} (a user unit failed: `systemctl --user --failed`)"),
                ),
                Some(answer) => Check::ok("user manager", answer),
            });
            checks.push(if facts.linger {
                Check::ok("linger", "on")
            } else {
                Check::missing(
                    "linger",
                    format!("off: {user}'s units would stop when {user} has no session"),
                    linger_fix,
                )
            });
        }
        Supervisor::Systemd | Supervisor::Upstart => {
            checks.push(if facts.sudo == Some(true) {
                Check::ok(
                    "sudo",
                    format!("`sudo -n` may run the {} commands", sup.as_str()),
                )
            } else {
                Check::missing(
                    "sudo",
                    format!(
                        "`sudo -n` may not run the {} commands deliver needs",
                        sup.as_str()
                    ),
                    install_sudo_rules(&sudo_rules(sup, &env.app, user), env.app.as_str()),
                )
            });
        }
    }
    checks
}

/// The commands that install `rules` as `/etc/sudoers.d/deliver-<app>`, checked by visudo
/// before they take effect (a broken sudoers file locks everyone out of sudo).
fn install_sudo_rules(rules: &str, app: &str) -> String {
    let file = format!("/etc/sudoers.d/deliver-{app}");
    let tmp = format!("/tmp/deliver-{app}.sudoers");
    format!(
        "cat >{tmp} <<'EOF'\n{rules}EOF\n\
         sudo visudo -cf {tmp} && sudo install -m 0440 -o root -g root {tmp} {file} && rm {tmp}"
    )
}

/// True when nothing is missing.
pub fn ready(checks: &[Check]) -> bool {
    checks.iter().all(|c| c.state != CheckState::Missing)
}

/// `HOST | ok       name: detail` per check, then the fixes (each once) an admin runs.
pub fn print(ui: &Ui, host: &str, checks: &[Check]) {
    for c in checks {
        let mark = match c.state {
            CheckState::Ok => "ok     ",
            CheckState::Note => "note   ",
            CheckState::Missing => "MISSING",
        };
        ui.result(&format!("{host} | {mark}  {}: {}", c.name, c.detail));
    }
    let mut fixes: Vec<&str> = Vec::new();
    for fix in checks.iter().filter_map(|c| c.fix.as_deref()) {
        if !fixes.contains(&fix) {
            fixes.push(fix);
        }
    }
    if fixes.is_empty() {
        return;
    }
    ui.result(&format!("{host} | an admin runs on {host}:"));
    for line in fixes.iter().flat_map(|f| f.lines()) {
        ui.result(&format!("{host} |     {line}"));
    }
}

/// Prints every host's checks (an `event` per host under --json), then which hosts are not
/// ready; fails naming them, and the hosts that could not be checked (as `step`).
pub fn report(
    ui: &Ui,
    step: &str,
    event: fn(HostReadiness) -> Event,
    results: &[HostResult<Vec<Check>>],
) -> Result<()> {
    let mut not_ready = Vec::new();
    for r in results {
        let Ok(checks) = &r.result else { continue };
        if ui.json {
            ui.event(&event(HostReadiness {
                host: r.host.clone(),
                ready: ready(checks),
                checks: checks.clone(),
            }));
        } else {
            print(ui, &r.host, checks);
        }
        if !ready(checks) {
            let missing: Vec<&str> = checks
                .iter()
                .filter(|c| c.state == CheckState::Missing)
                .map(|c| c.name.as_str())
                .collect();
            not_ready.push(format!("{} ({})", r.host, missing.join(", ")));
        }
    }
    let reached = results.iter().filter(|r| r.result.is_ok()).count();
    if not_ready.is_empty() && reached == results.len() {
        ui.out(&format!("{reached} of {reached} hosts ready"));
    }
    let unreachable = fleet::failures(ui, step, results);
    if not_ready.is_empty() {
        return unreachable;
    }
    let not_ready = format!(
        "not ready: {} (an admin runs the commands printed above)",
        not_ready.join(", ")
    );
    Err(match unreachable {
        Ok(()) => anyhow!(not_ready),
        Err(e) => anyhow!("{e}\n{not_ready}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::example::Example;

    fn facts() -> Facts {
        Facts {
            user: "app".into(),
            git: Some("git version 2.39.2".into()),
            systemd: Some("systemd 252 (252.38-1)".into()),
            user_manager: Some("running".into()),
            linger: true,
            ..Facts::default()
        }
    }

    fn env(sup: Supervisor) -> Environment {
        let mut env = Example::new().env;
        env.supervisor = sup;
        env
    }

    #[test]
    fn a_ready_systemd_user_host_passes_every_check() {
        let checks = assess(&env(Supervisor::SystemdUser), &facts());
        let names: Vec<&str> = checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["git", "systemd", "user manager", "linger"]);
        assert!(ready(&checks), "{checks:?}");
    }

    #[test]
    fn no_linger_and_no_user_manager_say_what_root_runs() {
        let f = Facts {
            linger: false,
            user_manager: None,
            ..facts()
        };
        let checks = assess(&env(Supervisor::SystemdUser), &f);
        assert!(!ready(&checks));
        let fixes: Vec<&str> = checks.iter().filter_map(|c| c.fix.as_deref()).collect();
        assert_eq!(
            fixes,
            [
                "sudo loginctl enable-linger app",
                "sudo loginctl enable-linger app"
            ]
        );
    }

    #[test]
    fn missing_sudo_rights_print_the_sudoers_file_to_install() {
        let f = Facts {
            sudo: Some(false),
            git: None,
            ..facts()
        };
        let checks = assess(&env(Supervisor::Systemd), &f);
        let names: Vec<&str> = checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["git", "systemd", "sudo"]);
        let sudo = checks[2].fix.as_deref().unwrap();
        assert!(sudo.starts_with("cat >/tmp/deliver-shop.sudoers <<'EOF'\n# deliver: "));
        assert!(sudo.contains("\napp ALL=(root) NOPASSWD: /usr/bin/systemctl daemon-reload"));
        assert!(sudo.ends_with(
            "\nEOF\nsudo visudo -cf /tmp/deliver-shop.sudoers && sudo install -m 0440 -o root -g \
             root /tmp/deliver-shop.sudoers /etc/sudoers.d/deliver-shop && rm \
             /tmp/deliver-shop.sudoers"
        ));
        assert!(checks[0].fix.is_some());
        let ok = Facts {
            sudo: Some(true),
            ..facts()
        };
        assert!(ready(&assess(&env(Supervisor::Upstart), &ok)));
    }
}
