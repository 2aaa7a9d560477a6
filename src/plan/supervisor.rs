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

use std::fmt::Write as _;

use super::layout::Layout;
use super::script::Script;
use crate::config::{AppName, Supervisor};
use crate::render::RenderedFile;
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

/// Installs the units [`stage_units`] wrote into `.deliver/units.new/`: removes the files of
/// the previous install (listed in `.deliver/units/`, and only `<app>.*`/`<app>-*` ones)
/// that are not in the new set, copies the new ones into the supervisor's directory,
/// reloads, enables `<app>.target` (systemd), and then makes `.deliver/units.new/` the new
/// `.deliver/units/`. Exits [`NO_UNITS`] when nothing was staged. For upstart, stop instances that
/// go away (`stop_removed`) before this: their jobs are unknown afterwards.
pub fn install_units(sup: Supervisor, app: &AppName, layout: &Layout) -> Script {
    let units = quote(&layout.units());
    let units_new = quote(&layout.units_new());
    let app_q = quote(app.as_str());
    let mut s = Script::new("supervisor.install_units");
    if sup == Supervisor::SystemdUser {
        s = s.then(user_bus());
    }
    s = s.raw(
        "refuse to install an empty set: the caller stages the rendered units first (stage_units)",
        format!(
            "if [ ! -d {units_new} ]; then\n  \
             echo \"deliver: no units in \"{units_new} >&2\n  \
             exit {NO_UNITS}\n\
             fi"
        ),
    );
    let (remove, copy) = match sup {
        Supervisor::SystemdUser => (
            format!("rm -f {}/\"$n\"", quote(USER_UNIT_DIR)),
            format!("cp \"$f\" {}/\"$n\"", quote(USER_UNIT_DIR)),
        ),
        Supervisor::Systemd => (
            format!("sudo -n {RM} -f {SYSTEM_UNIT_DIR}/\"$n\""),
            format!("sudo -n {TEE} {SYSTEM_UNIT_DIR}/\"$n\" <\"$f\" >/dev/null"),
        ),
        Supervisor::Upstart => (
            format!("sudo -n {RM} -f {UPSTART_JOB_DIR}/\"$n\""),
            format!("sudo -n {TEE} {UPSTART_JOB_DIR}/\"$n\" <\"$f\" >/dev/null"),
        ),
    };
    if sup == Supervisor::SystemdUser {
        s = s.cmd("mkdir", ["-p", USER_UNIT_DIR]);
    }
    s = s
        .raw(
            "stale units: installed last time, gone from the new set; only this app's names",
            format!(
                "for f in {units}/*; do\n  \
                 [ -f \"$f\" ] || continue\n  \
                 n=${{f##*/}}\n  \
                 case $n in {app_q}.*|{app_q}-*) ;; *) continue ;; esac\n  \
                 [ -e {units_new}/\"$n\" ] || {remove}\n\
                 done"
            ),
        )
        .raw(
            if sup == Supervisor::SystemdUser {
                "a glob: every staged unit"
            } else {
                "a glob: every staged unit; tee writes as root what this user reads, so root \
                 never opens a path this user controls"
            },
            format!(
                "for f in {units_new}/*; do\n  \
                 [ -f \"$f\" ] || continue\n  \
                 n=${{f##*/}}\n  \
                 {copy}\n\
                 done"
            ),
        );
    let target = format!("{app}.target");
    s = match sup {
        // `enable` reloads the manager by itself (~40 ms): with --no-reload first, the one
        // daemon-reload after it does for both.
        Supervisor::SystemdUser => s
            .cmd("systemctl", ["--user", "enable", "--no-reload", &target])
            .cmd("systemctl", ["--user", "daemon-reload"]),
        Supervisor::Systemd => s
            .cmd("sudo", ["-n", SYSTEMCTL, "daemon-reload"])
            .cmd("sudo", ["-n", SYSTEMCTL, "enable", &target]),
        Supervisor::Upstart => s.cmd("sudo", ["-n", INITCTL, "reload-configuration"]),
    };
    s.raw(
        "recorded as installed last, once reloaded and enabled: a failure before leaves the \
         old record, so the next run installs again",
        format!("rm -rf {units}\nmv {units_new} {units}"),
    )
}

/// Keeps a copy of the installed units (`.deliver/units.prev/`) before new ones are
/// installed, so that a revert can put them back with [`restore_previous`].
pub fn keep_previous(layout: &Layout) -> Script {
    let prev = previous_dir(layout);
    Script::new("supervisor.keep_previous")
        .cmd("rm", ["-rf", &prev])
        .raw(
            "nothing to keep on a first deploy",
            format!(
                "if [ -d {units} ]; then cp -a {units} {prev}; fi",
                units = quote(&layout.units()),
                prev = quote(&prev)
            ),
        )
}

/// Stages the units kept by [`keep_previous`] for [`install_units`] (a revert). A first
/// deploy kept none: then nothing is staged and `install_units` exits `NO_UNITS`.
pub fn restore_previous(layout: &Layout) -> Script {
    let prev = previous_dir(layout);
    Script::new("supervisor.restore_previous")
        .cmd("rm", ["-rf", &layout.units_new()])
        .raw(
            "a first deploy kept no previous units",
            format!(
                "if [ -d {prev} ]; then mv {prev} {new}; fi",
                prev = quote(&prev),
                new = quote(&layout.units_new())
            ),
        )
}

fn previous_dir(layout: &Layout) -> String {
    format!("{}.prev", layout.units())
}

/// Writes `units` into `.deliver/units.new/` for [`install_units`], all of them in this one
/// script (one round trip, however many units): the directory is emptied first (leftovers of
/// an interrupted run), then each file gets exactly its rendered bytes, mode 0644. Each file's
/// contents are one shell-quoted argument of the `printf` builtin: no `printf` process, so no
/// command line holds them and no length limit applies.
pub fn stage_units(layout: &Layout, units: &[RenderedFile]) -> Script {
    let dir = layout.units_new();
    let s = Script::new("supervisor.stage_units")
        .cmd("rm", ["-rf", &dir])
        .cmd("mkdir", ["-p", &dir]);
    if units.is_empty() {
        return s;
    }
    let mut text = String::from("(\numask 022");
    let mut shown = text.clone();
    for unit in units {
        let path = quote(&format!("{dir}/{}", unit.name));
        let _ = write!(text, "\nprintf '%s' {} >{path}", quote(&unit.contents));
        let _ = write!(
            shown,
            "\nprintf '%s' '<{} bytes: deliver export shows them>' >{path}",
            unit.contents.len()
        );
    }
    text.push_str("\n)");
    shown.push_str("\n)");
    s.raw_hidden(
        "every unit, byte for byte: printf is a shell builtin; 0644 in a subshell, so the \
         umask of what follows in the same round trip is unchanged",
        text,
        shown,
    )
}

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
mod tests {
    #[test]
    fn previous_units_are_kept_and_restored_for_install() {
        let sandbox = crate::plan::sandbox::Sandbox::new();
        let layout = Layout::new("~/shop");
        let units = sandbox.path("shop/.deliver/units");
        std::fs::create_dir_all(&units).unwrap();
        std::fs::write(units.join("shop.target"), "old").unwrap();
        sandbox.run(&keep_previous(&layout)).ok();
        std::fs::write(units.join("shop.target"), "new").unwrap();
        sandbox.run(&restore_previous(&layout)).ok();
        let staged = sandbox.path("shop/.deliver/units.new/shop.target");
        assert_eq!(std::fs::read_to_string(staged).unwrap(), "old");
        // A first deploy: nothing kept, nothing staged.
        let fresh = Layout::new("~/other");
        sandbox.run(&keep_previous(&fresh)).ok();
        sandbox.run(&restore_previous(&fresh)).ok();
        assert!(!sandbox.path("other/.deliver/units.new").exists());
    }

    use std::path::Path;
    use std::process::{Command, Stdio};

    use super::*;
    use crate::plan::sandbox::Sandbox;
    use crate::render::example::Example;

    fn app() -> AppName {
        Example::new().env.app
    }

    fn units(sup: Supervisor) -> Vec<String> {
        let example = Example::new();
        example
            .formation
            .instances_of("web")
            .iter()
            .map(|i| crate::render::unit_name(sup, &example.env.app, i))
            .collect()
    }

    /// Every script of one supervisor, one after the other.
    fn all_scripts(sup: Supervisor) -> String {
        let layout = Layout::new("~/shop");
        let units = units(sup);
        [
            install_units(sup, &app(), &layout),
            start(sup, &units),
            stop(sup, &units),
            restart(sup, &units),
            stop_removed(sup, &units),
            is_active(sup, &units),
        ]
        .iter()
        .map(Script::render)
        .collect::<Vec<_>>()
        .join("\n")
    }

    #[test]
    fn the_scripts_for_systemd_user() {
        insta::assert_snapshot!(
            "supervisor_systemd_user",
            all_scripts(Supervisor::SystemdUser)
        );
    }

    #[test]
    fn the_scripts_for_systemd() {
        insta::assert_snapshot!("supervisor_systemd", all_scripts(Supervisor::Systemd));
    }

    #[test]
    fn the_scripts_for_upstart() {
        insta::assert_snapshot!("supervisor_upstart", all_scripts(Supervisor::Upstart));
    }

    /// The example's units as a deploy renders them for user `app` in `/home/app/shop`.
    fn example_units(sup: Supervisor) -> Vec<RenderedFile> {
        let example = Example::new();
        let target = crate::render::Target {
            env: &example.env,
            formation: &example.formation,
            user: "app",
            deploy_path: "/home/app/shop",
            bank: crate::release::Bank::Base,
        };
        match sup {
            Supervisor::Upstart => crate::render::upstart(&target),
            _ => crate::render::systemd(&target, sup == Supervisor::SystemdUser),
        }
        .unwrap()
    }

    #[test]
    fn the_staging_script() {
        insta::assert_snapshot!(
            "stage_units",
            super::stage_units(
                &Layout::new("~/shop"),
                &example_units(Supervisor::SystemdUser)
            )
            .render()
        );
    }

    #[test]
    fn shown_staging_gives_sizes_not_contents() {
        let units = example_units(Supervisor::SystemdUser);
        let script = super::stage_units(&Layout::new("~/shop"), &units);
        let shown = script.render_masked();
        // The example's `[env]` GREETING is in every service unit that is sent, in none shown.
        assert!(script.render().contains("Environment=\"GREETING="));
        assert!(!shown.contains("GREETING"), "{shown}");
        for unit in &units {
            assert!(
                shown.contains(&format!(
                    "printf '%s' '<{} bytes: deliver export shows them>' >shop/.deliver/units.new/{}",
                    unit.contents.len(),
                    unit.name
                )),
                "{shown}"
            );
        }
    }

    #[test]
    fn staging_writes_every_unit_byte_for_byte_in_one_script() {
        let sandbox = Sandbox::new();
        let layout = Layout::new("~/shop");
        sandbox.sh("mkdir -p shop/.deliver/units.new && echo old > shop/.deliver/units.new/stale");
        let hostile = "x'\"; touch pwned #$(touch pwned2)`touch pwned3`\\n %s %% \\ \n\nno newline at the end";
        let mut units = example_units(Supervisor::Systemd);
        units.push(RenderedFile {
            name: "shop-evil@.service".into(),
            contents: hostile.into(),
        });
        sandbox
            .run(
                &Script::new("t")
                    .raw("a umask that would hide the mode", "umask 077")
                    .then(super::stage_units(&layout, &units)),
            )
            .ok();
        let mut names: Vec<String> = units.iter().map(|u| u.name.clone()).collect();
        names.sort();
        assert_eq!(
            sandbox.sh("ls shop/.deliver/units.new"),
            format!("{}\n", names.join("\n"))
        );
        for unit in &units {
            let path = sandbox.path(&format!("shop/.deliver/units.new/{}", unit.name));
            assert_eq!(
                std::fs::read_to_string(&path).unwrap(),
                unit.contents,
                "{}",
                unit.name
            );
            let mode = std::os::unix::fs::PermissionsExt::mode(
                &std::fs::metadata(&path).unwrap().permissions(),
            );
            assert_eq!(mode & 0o777, 0o644, "{}", unit.name);
        }
        for f in ["pwned", "pwned2", "pwned3"] {
            assert!(!sandbox.path(f).exists(), "{f}");
        }
    }

    #[test]
    fn empty_unit_lists() {
        insta::assert_snapshot!(super::stage_units(&Layout::new("~/shop"), &[]).render(), @r"
        # deliver: supervisor.stage_units
        set -eu
        rm -rf shop/.deliver/units.new
        mkdir -p shop/.deliver/units.new
        ");
        for sup in [
            Supervisor::SystemdUser,
            Supervisor::Systemd,
            Supervisor::Upstart,
        ] {
            for s in [
                start(sup, &[]),
                stop(sup, &[]),
                restart(sup, &[]),
                stop_removed(sup, &[]),
                is_active(sup, &[]),
            ] {
                assert_eq!(s.render(), format!("# deliver: {}\nset -eu\n", s.name));
            }
        }
    }

    #[test]
    fn the_sudo_rules() {
        for sup in [
            Supervisor::SystemdUser,
            Supervisor::Systemd,
            Supervisor::Upstart,
        ] {
            insta::assert_snapshot!(
                format!("sudo_rules_{}", sup.as_str()),
                sudo_rules(sup, &app(), "app")
            );
        }
    }

    #[test]
    fn parse_states_reads_systemd_and_upstart_answers() {
        let states = parse_states(
            "a\tactive\nb\tinactive\nc\tfailed\nd\tactivating\ne\t\nf\tstart/running\n\
             g\tstop/waiting\nh\tstart/pre-start\ni\tdeactivating\nj\treloading\n",
        )
        .unwrap();
        let got: Vec<UnitState> = states.into_iter().map(|(_, s)| s).collect();
        assert_eq!(
            got,
            [
                UnitState::Active,
                UnitState::Inactive,
                UnitState::Failed,
                UnitState::Activating,
                UnitState::Other(String::new()),
                UnitState::Active,
                UnitState::Inactive,
                UnitState::Activating,
                UnitState::Deactivating,
                UnitState::Other("reloading".into()),
            ]
        );
        assert_eq!(
            parse_states("oops\n").unwrap_err(),
            "unit states: expected `unit<TAB>state`, got `oops`"
        );
    }

    /// Stub `sudo`, `systemctl` and `initctl` that log their arguments to `calls` and answer
    /// `active` / `start/running` to state questions.
    fn stubs(sandbox: &Sandbox) -> std::path::PathBuf {
        sandbox.stub(
            "sudo",
            "printf 'sudo %s\\n' \"$*\" >>\"$HOME/calls\"\ncase \"$3\" in /etc/*) cat >/dev/null ;; esac",
        );
        sandbox.stub(
            "systemctl",
            "printf 'systemctl %s\\n' \"$*\" >>\"$HOME/calls\"\n\
             case \" $* \" in *\" show \"*|*\" is-active \"*) echo active ;; esac",
        );
        sandbox.stub(
            "journalctl",
            "printf 'journalctl %s\\n' \"$*\" >>\"$HOME/calls\"",
        );
        sandbox.stub(
            "initctl",
            "printf 'initctl %s\\n' \"$*\" >>\"$HOME/calls\"\n\
             [ \"$1\" = status ] && echo \"$2 start/running, process 42\"; true",
        )
    }

    fn calls(sandbox: &Sandbox) -> String {
        std::fs::read_to_string(sandbox.path("calls")).unwrap_or_default()
    }

    /// `.deliver/units/` and the installed dir hold an old set (`shop-old` and a foreign
    /// unit among them); `.deliver/units.new/` the new one.
    fn stage_units(sandbox: &Sandbox, sup: Supervisor, installed: &str) {
        let (old, new) = if sup == Supervisor::Upstart {
            (
                "shop.conf shop-old.conf other.conf",
                "shop.conf shop-web.conf",
            )
        } else {
            (
                "shop.target shop-old@.service other.service",
                "shop.target shop-web@.service",
            )
        };
        sandbox.sh(&format!(
            "set -e; mkdir -p shop/.deliver/units shop/.deliver/units.new {installed}\n\
             for f in {old}; do\n  \
             echo old > shop/.deliver/units/$f; echo old > {installed}/$f\n\
             done\n\
             for f in {new}; do echo new > shop/.deliver/units.new/$f; done"
        ));
    }

    #[test]
    fn install_replaces_this_apps_units_and_leaves_others() {
        let sandbox = Sandbox::new();
        let bin = stubs(&sandbox);
        stage_units(&sandbox, Supervisor::SystemdUser, USER_UNIT_DIR);
        let layout = Layout::new("~/shop");
        let ran = sandbox.run_with_path(
            &install_units(Supervisor::SystemdUser, &app(), &layout),
            Some(&bin),
        );
        ran.ok();
        assert_eq!(
            sandbox.sh(&format!("cd {USER_UNIT_DIR} && head -n 9 *")),
            "==> other.service <==\nold\n\n==> shop-web@.service <==\nnew\n\n\
             ==> shop.target <==\nnew\n"
        );
        assert_eq!(sandbox.sh("ls shop/.deliver"), "units\n");
        assert_eq!(
            sandbox.sh("ls shop/.deliver/units"),
            "shop-web@.service\nshop.target\n"
        );
        assert_eq!(
            calls(&sandbox),
            "systemctl --user enable --no-reload shop.target\nsystemctl --user daemon-reload\n"
        );
    }

    #[test]
    fn is_active_output_parses_for_every_supervisor() {
        let sandbox = Sandbox::new();
        let bin = stubs(&sandbox);
        for sup in [
            Supervisor::SystemdUser,
            Supervisor::Systemd,
            Supervisor::Upstart,
        ] {
            let units = units(sup);
            let ran = sandbox
                .run_with_path(&is_active(sup, &units), Some(&bin))
                .ok();
            let states = parse_states(&ran.stdout).unwrap();
            assert_eq!(
                states,
                units
                    .iter()
                    .map(|u| (u.clone(), UnitState::Active))
                    .collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn install_without_staged_units_exits_no_units() {
        let sandbox = Sandbox::new();
        let bin = stubs(&sandbox);
        let ran = sandbox.run_with_path(
            &install_units(Supervisor::SystemdUser, &app(), &Layout::new("~/shop")),
            Some(&bin),
        );
        assert_eq!(ran.status, NO_UNITS);
        assert_eq!(calls(&sandbox), "");
    }

    /// `PROGRAM ARGS` entries of a rule file's `NOPASSWD:` list.
    fn rule_entries(rules: &str) -> Vec<(String, String)> {
        let list = rules
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n")
            .replace("\\\n", " ");
        let list = list.split_once("NOPASSWD:").expect("a NOPASSWD list").1;
        list.split(", ")
            .map(|entry| {
                let entry = entry.split_whitespace().collect::<Vec<_>>().join(" ");
                let (program, args) = entry.split_once(' ').unwrap_or((&entry, ""));
                (program.to_owned(), args.to_owned())
            })
            .collect()
    }

    /// sudoers matching: `^...$` is an extended regex, else `*` is a wildcard.
    fn allowed(entries: &[(String, String)], command: &str) -> bool {
        let (program, args) = command.split_once(' ').unwrap_or((command, ""));
        entries
            .iter()
            .filter(|(p, _)| p == program)
            .any(|(_, pattern)| {
                let regex = if pattern.starts_with('^') {
                    pattern.clone()
                } else {
                    let escaped: String = pattern
                        .chars()
                        .map(|c| match c {
                            '*' => ".*".to_owned(),
                            c if c.is_ascii_alphanumeric() || c == ' ' => c.to_string(),
                            c => format!("\\{c}"),
                        })
                        .collect();
                    format!("^{escaped}$")
                };
                let mut grep = Command::new("grep")
                    .args(["-Eq", "-e", &regex])
                    .stdin(Stdio::piped())
                    .spawn()
                    .expect("grep");
                std::io::Write::write_all(&mut grep.stdin.take().unwrap(), args.as_bytes())
                    .unwrap();
                grep.wait().unwrap().success()
            })
    }

    #[test]
    fn every_sudo_command_matches_the_sudo_rules() {
        for (sup, installed) in [
            (Supervisor::Systemd, SYSTEM_UNIT_DIR),
            (Supervisor::Upstart, UPSTART_JOB_DIR),
        ] {
            let sandbox = Sandbox::new();
            let bin = stubs(&sandbox);
            // The stubs never touch /etc: the staged "installed" copies live in the sandbox.
            stage_units(&sandbox, sup, "etc-copy");
            let layout = Layout::new("~/shop");
            let units = units(sup);
            let formation = Example::new().formation;
            for script in [
                install_units(sup, &app(), &layout),
                start(sup, &units),
                stop(sup, &units),
                restart(sup, &units),
                stop_removed(sup, &units),
                crate::plan::inspect::logs(sup, &app(), &formation, None, 10, true),
            ] {
                sandbox.run_with_path(&script, Some(&bin)).ok();
            }
            let sudo: Vec<String> = calls(&sandbox)
                .lines()
                .filter_map(|l| l.strip_prefix("sudo -n "))
                .map(str::to_owned)
                .collect();
            assert!(sudo.len() >= 6, "{sudo:?}");
            let old = if sup == Supervisor::Upstart {
                "shop-old.conf"
            } else {
                "shop-old@.service"
            };
            assert!(
                sudo.contains(&format!("{RM} -f {installed}/{old}")),
                "{sudo:?}"
            );
            let entries = rule_entries(&sudo_rules(sup, &app(), "app"));
            for command in &sudo {
                assert!(
                    allowed(&entries, command),
                    "{}: not allowed: {command}",
                    sup.as_str()
                );
            }
            assert!(calls(&sandbox)
                .lines()
                .all(|l| !l.starts_with("sudo ") || l.starts_with("sudo -n ")));
            let denied = format!("{SYSTEMCTL} stop nginx.service");
            assert!(!allowed(&entries, &denied));
        }
    }

    #[test]
    fn the_systemd_rules_pass_visudo() {
        let visudo = Path::new("/usr/sbin/visudo");
        // sudo's own syntax check, where sudo is installed (the test bed installs it).
        if !visudo.exists() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        for sup in [Supervisor::Systemd, Supervisor::Upstart] {
            let file = dir.path().join("rules");
            std::fs::write(&file, sudo_rules(sup, &app(), "app")).unwrap();
            let out = Command::new(visudo).arg("-cf").arg(&file).output().unwrap();
            assert!(
                out.status.success(),
                "{}: {}{}",
                sup.as_str(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    #[test]
    fn a_restart_systemd_refused_for_its_start_limit_is_reset_and_tried_once_more() {
        let sandbox = Sandbox::new();
        // systemctl refuses the first restart (as after too many starts in a row), then works.
        let bin = sandbox.stub(
            "systemctl",
            "printf 'systemctl %s\\n' \"$*\" >>\"$HOME/calls\"\n\
             if [ \"$2\" = restart ] && [ ! -e \"$HOME/refused\" ]; then\n  \
             touch \"$HOME/refused\"; echo 'start of the service was attempted too often' >&2; exit 1\n\
             fi",
        );
        let units = ["shop-web@5000.service".to_owned()];
        let ran = sandbox.run_with_path(&restart(Supervisor::SystemdUser, &units), Some(&bin));
        assert_eq!(ran.status, 0, "{}", ran.stderr);
        assert_eq!(
            calls(&sandbox),
            "systemctl --user restart shop-web@5000.service\n\
             systemctl --user reset-failed shop-web@5000.service\n\
             systemctl --user restart shop-web@5000.service\n"
        );
        // A restart that works costs one call.
        std::fs::remove_file(sandbox.path("calls")).unwrap();
        sandbox
            .run_with_path(&restart(Supervisor::SystemdUser, &units), Some(&bin))
            .ok();
        assert_eq!(
            calls(&sandbox),
            "systemctl --user restart shop-web@5000.service\n"
        );
    }
}
