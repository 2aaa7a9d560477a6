//! Process-supervisor scripts: installing the rendered units, and the per-instance start,
//! stop, restart and state queries the rollout makes, for `systemd-user`
//! (`systemctl --user`), `systemd` (system units through `sudo -n`) and `upstart` (`/etc/init`
//! jobs through `sudo -n`); plus [`sudo_rules`], the sudoers lines those sudo commands need.
//! Pure: builds scripts and parses their output; no I/O.
//!
//! Units are named by the caller: systemd instance units (`shop-web@5000.service`,
//! `render::instance_unit`) or upstart instance jobs (`shop-web-1`, `render::upstart_job`).
//! Every sudo command is spelled with an absolute program path and exactly the arguments
//! [`sudo_rules`] allows, because sudoers matches the command line as typed.

use super::script::Script;
use crate::config::{AppName, Supervisor};
use crate::shell::quote;

/// `install_units` found no `.deliver/units.new/` to install (nothing was staged).
pub const NO_UNITS: i32 = 74;

/// Where `systemctl --user` looks for units, relative to the home directory.
pub const USER_UNIT_DIR: &str = ".config/systemd/user";

/// Where system units go.
pub const SYSTEM_UNIT_DIR: &str = "/etc/systemd/system";

/// Where upstart jobs go.
pub const UPSTART_JOB_DIR: &str = "/etc/init";

// The programs run as root. Absolute, because sudoers rules name absolute paths; `/bin/rm`
// is also `/usr/bin/rm` on merged-/usr systems (sudo compares the files, not just the names).
const SYSTEMCTL: &str = "/usr/bin/systemctl";
const INITCTL: &str = "/sbin/initctl";
const TEE: &str = "/usr/bin/tee";
const RM: &str = "/bin/rm";
/// Reads upstart's job logs (root-only files) for `deliver logs`.
pub(crate) const TAIL: &str = "/usr/bin/tail";

/// Where upstart writes each job's output.
pub const UPSTART_LOG_DIR: &str = "/var/log/upstart";

/// What a unit is doing, from `systemctl is-active` (or upstart's `status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnitState {
    Active,
    /// Starting (or upstart's `start/starting`, `start/pre-start`, ...).
    Activating,
    Deactivating,
    Inactive,
    Failed,
    /// Any other answer, as printed (`reloading`, `unknown`, empty when no answer).
    Other(String),
}

impl UnitState {
    fn from_answer(answer: &str) -> UnitState {
        match answer {
            "active" | "start/running" => UnitState::Active,
            "activating" => UnitState::Activating,
            "deactivating" => UnitState::Deactivating,
            "inactive" | "stop/waiting" => UnitState::Inactive,
            "failed" => UnitState::Failed,
            other if other.starts_with("start/") => UnitState::Activating,
            other if other.starts_with("stop/") => UnitState::Deactivating,
            other => UnitState::Other(other.to_owned()),
        }
    }
}

/// `systemctl --user` needs `XDG_RUNTIME_DIR` to find the user manager; an SSH session
/// without `pam_systemd` does not set it.
pub fn user_bus() -> Script {
    Script::new("supervisor.user_bus").raw(
        "systemctl --user finds the user manager through XDG_RUNTIME_DIR, which SSH sessions \
         without pam_systemd lack",
        ": \"${XDG_RUNTIME_DIR:=/run/user/$(id -u)}\"\nexport XDG_RUNTIME_DIR",
    )
}

/// The commands `facts` asks `sudo -n -l` about, one of each kind the supervisor runs as root
/// (reload, a unit verb, writing and removing a unit file): all allowed means the rules are
/// in place; the rules that allow only some are the wrong ones.
pub(crate) fn sudo_probes(sup: Supervisor, app: &AppName) -> Vec<Vec<String>> {
    let cmd = |words: &[&str]| words.iter().map(|w| (*w).to_owned()).collect::<Vec<_>>();
    match sup {
        Supervisor::Upstart => {
            let job = format!("{UPSTART_JOB_DIR}/{app}.conf");
            vec![
                cmd(&[INITCTL, "reload-configuration"]),
                cmd(&[INITCTL, "start", &format!("{app}-web")]),
                cmd(&[TEE, &job]),
                cmd(&[RM, "-f", &job]),
            ]
        }
        Supervisor::Systemd | Supervisor::SystemdUser => {
            let target = format!("{app}.target");
            let file = format!("{SYSTEM_UNIT_DIR}/{target}");
            vec![
                cmd(&[SYSTEMCTL, "daemon-reload"]),
                cmd(&[SYSTEMCTL, "restart", &target]),
                cmd(&[TEE, &file]),
                cmd(&[RM, "-f", &file]),
            ]
        }
    }
}

mod install;

pub use install::{install_units, keep_previous, restore_previous, stage_units};

/// Starts `units` (already running ones stay as they are).
pub fn start(sup: Supervisor, units: &[String]) -> Script {
    verb(sup, "start", units)
}

/// Stops `units`, each within its stop timeout (SIGTERM, then SIGKILL).
pub fn stop(sup: Supervisor, units: &[String]) -> Script {
    verb(sup, "stop", units)
}

/// Restarts `units` (starts those that were not running).
pub fn restart(sup: Supervisor, units: &[String]) -> Script {
    if sup != Supervisor::SystemdUser || units.is_empty() {
        return verb(sup, "restart", units);
    }
    let list = units.iter().map(|u| quote(u)).collect::<Vec<_>>().join(" ");
    Script::new("supervisor.restart").then(user_bus()).raw(
        "a unit systemd gave up on (started too often in a row: StartLimitBurst) is deliver's \
         to start: on a refused restart, reset-failed clears its start limit and it is tried \
         once more (nothing extra when the restart works)",
        format!(
            "systemctl --user restart {list} ||\n  \
             {{ systemctl --user reset-failed {list} || true; systemctl --user restart {list}; }}"
        ),
    )
}

fn verb(sup: Supervisor, verb: &str, units: &[String]) -> Script {
    let name = format!("supervisor.{verb}");
    if units.is_empty() {
        return Script::new(name);
    }
    match sup {
        Supervisor::SystemdUser => Script::new(name).then(user_bus()).cmd(
            "systemctl",
            ["--user", verb]
                .into_iter()
                .map(str::to_owned)
                .chain(units.iter().cloned()),
        ),
        Supervisor::Systemd => Script::new(name).cmd(
            "sudo",
            ["-n", SYSTEMCTL, verb]
                .into_iter()
                .map(str::to_owned)
                .chain(units.iter().cloned()),
        ),
        Supervisor::Upstart => units
            .iter()
            .fold(Script::new(name), |s, job| upstart_verb(s, verb, job)),
    }
}

/// upstart's `start` fails on a running job and `stop` on a stopped one; systemd's do not.
/// Asking `status` first gives the rollout the same semantics on both.
fn upstart_verb(s: Script, verb: &str, job: &str) -> Script {
    let job_q = quote(job);
    // Asking needs no root: plain `initctl` from PATH.
    let status = format!("$(initctl status {job_q} 2>/dev/null || true)");
    let stop = format!("sudo -n {INITCTL} stop {job_q} >/dev/null");
    let start = format!("sudo -n {INITCTL} start {job_q} >/dev/null");
    let text = match verb {
        "start" => format!("case \"{status}\" in *\" start/\"*) ;; *) {start} ;; esac"),
        "stop" => format!("case \"{status}\" in *\" start/\"*) {stop} ;; esac"),
        _ => format!("case \"{status}\" in *\" start/\"*) {stop} ;; esac\n{start}"),
    };
    s.raw(
        "upstart: start a running job or stop a stopped one is an error; ask its status first",
        text,
    )
}

/// Stops instances that left the formation, tolerating units the supervisor no longer knows
/// (their template may be gone) and ones that are not running.
pub fn stop_removed(sup: Supervisor, units: &[String]) -> Script {
    let mut s = Script::new("supervisor.stop_removed");
    if units.is_empty() {
        return s;
    }
    let (show, stop) = match sup {
        Supervisor::SystemdUser => {
            s = s.then(user_bus());
            ("systemctl --user", "systemctl --user stop".to_owned())
        }
        Supervisor::Systemd => ("systemctl", format!("sudo -n {SYSTEMCTL} stop")),
        Supervisor::Upstart => {
            return units.iter().fold(s, |s, job| upstart_verb(s, "stop", job));
        }
    };
    for unit in units {
        let unit = quote(unit);
        s = s.raw(
            "`stop` fails on a unit that is not loaded; `show` answers inactive for those",
            format!(
                "case \"$({show} show -p ActiveState --value {unit} 2>/dev/null || true)\" in\n  \
                 ''|inactive|failed) ;;\n  \
                 *) {stop} {unit} ;;\n\
                 esac"
            ),
        );
    }
    s
}

/// Prints `unit<TAB>state` per unit (see [`parse_states`]); never fails on a unit's state.
pub fn is_active(sup: Supervisor, units: &[String]) -> Script {
    let mut s = Script::new("supervisor.is_active");
    if sup == Supervisor::SystemdUser && !units.is_empty() {
        s = s.then(user_bus());
    }
    for unit in units {
        let unit = quote(unit);
        let (why, answer) = match sup {
            Supervisor::SystemdUser => (
                IS_ACTIVE_WHY,
                format!("$(systemctl --user is-active {unit} 2>/dev/null || true)"),
            ),
            Supervisor::Systemd => (
                IS_ACTIVE_WHY,
                format!("$(systemctl is-active {unit} 2>/dev/null || true)"),
            ),
            Supervisor::Upstart => (
                "`shop-web-1 start/running, process 42`: the goal/state word, empty for an \
                 unknown job",
                format!(
                    "$(initctl status {unit} 2>/dev/null | sed -n '1s/^[^ ]* \\([^ ,]*\\).*/\\1/p')"
                ),
            ),
        };
        s = s.raw(why, format!("printf '%s\\t%s\\n' {unit} \"{answer}\""));
    }
    s
}

const IS_ACTIVE_WHY: &str =
    "is-active exits non-zero for any state but active; its answer is what counts";

/// Reads the output of [`is_active`]: `(unit, state)` in the order asked.
pub fn parse_states(stdout: &str) -> Result<Vec<(String, UnitState)>, String> {
    stdout
        .lines()
        .map(|line| {
            let (unit, answer) = line
                .split_once('\t')
                .ok_or_else(|| format!("unit states: expected `unit<TAB>state`, got `{line}`"))?;
            Ok((unit.to_owned(), UnitState::from_answer(answer)))
        })
        .collect()
}

/// The sudoers lines an admin adds (e.g. as `/etc/sudoers.d/deliver-<app>`) so that `user`
/// can run the sudo commands of the `sup` scripts for `app`; for systemd-user, a comment
/// saying no sudo is needed (but linger is).
pub fn sudo_rules(sup: Supervisor, app: &AppName, user: &str) -> String {
    // An app name is [a-z][a-z0-9-]*: nothing in it is special to a regex or to sudoers.
    let unit = format!("{app}([-@.][-[:alnum:]@._:]*)?");
    match sup {
        Supervisor::SystemdUser => format!(
            "# app `{app}` uses systemd-user: no sudo rights are needed. Its units run while \
             {user} is not logged in\n# only with lingering, which root turns on once:\n\
             #   loginctl enable-linger {user}\n"
        ),
        Supervisor::Systemd => format!(
            "# deliver: what `{user}` runs as root for app `{app}` (supervisor systemd). Regular\n\
             # expressions (^...$) need sudo >= 1.9.10; check with `visudo -cf FILE`.\n\
             # A system unit can run anything as any user: whoever may install these units is\n\
             # as good as root. Grant it only to an account you would trust with root.\n\
             {user} ALL=(root) NOPASSWD: {SYSTEMCTL} daemon-reload, \\\n  \
             {SYSTEMCTL} ^(start|stop|restart|try-restart|reload|enable|disable)( --now)?( ({unit}))+$, \\\n  \
             {TEE} ^{SYSTEM_UNIT_DIR}/{unit}$, \\\n  \
             {RM} ^-f {SYSTEM_UNIT_DIR}/{unit}$\n"
        ),
        Supervisor::Upstart => format!(
            "# deliver: what `{user}` runs as root for app `{app}` (supervisor upstart). Written\n\
             # with wildcards for the sudo of upstart systems (no regular expressions before\n\
             # 1.9.10), and a `*` there also matches spaces. An upstart job runs as root unless\n\
             # it says otherwise: whoever may install these jobs is as good as root. Grant it\n\
             # only to an account you would trust with root.\n\
             {user} ALL=(root) NOPASSWD: {INITCTL} reload-configuration, \\\n  \
             {INITCTL} start {app}-*, {INITCTL} stop {app}-*, \\\n  \
             {TEE} {UPSTART_JOB_DIR}/{app}.conf, {TEE} {UPSTART_JOB_DIR}/{app}-*.conf, \\\n  \
             {RM} -f {UPSTART_JOB_DIR}/{app}.conf, {RM} -f {UPSTART_JOB_DIR}/{app}-*.conf, \\\n  \
             {TAIL} -n * {UPSTART_LOG_DIR}/{app}-*.log\n"
        ),
    }
}

#[cfg(test)]
mod tests;
