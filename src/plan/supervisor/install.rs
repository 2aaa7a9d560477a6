//! Installing the rendered units: staging them (`.deliver/units.new/`), keeping the
//! installed set for a revert, and swapping them in with one manager reload.

use std::fmt::Write as _;

use super::{
    user_bus, INITCTL, NO_UNITS, RM, SYSTEMCTL, SYSTEM_UNIT_DIR, TEE, UPSTART_JOB_DIR,
    USER_UNIT_DIR,
};
use crate::config::{AppName, Supervisor};
use crate::plan::layout::Layout;
use crate::plan::script::Script;
use crate::release_id::ReleaseId;
use crate::render::RenderedFile;
use crate::shell::quote;

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
/// installed, so that a revert can put them back with [`restore_previous`]; then records
/// which run kept them (`units.prev.for`: `release`, written last; no record when there
/// were no units to keep). A revert of a run that never got that far finds another record
/// (or none) and leaves the units alone: this run did not touch them, and the copy is an
/// older run's.
pub fn keep_previous(layout: &Layout, release: &ReleaseId) -> Script {
    let prev = previous_dir(layout);
    let stamp = quote(&format!("{prev}.for"));
    Script::new("supervisor.keep_previous")
        .raw(
            "the record first: a copy without it is never restored",
            format!("rm -f {stamp}"),
        )
        .cmd("rm", ["-rf", &prev])
        .raw(
            "nothing to keep on a first deploy; printf is a builtin",
            format!(
                "if [ -d {units} ]; then\n  \
                 cp -a {units} {prev}\n  \
                 printf '%s\\n' {release} >{stamp}\n\
                 fi",
                units = quote(&layout.units()),
                prev = quote(&prev),
                release = quote(release.as_str()),
            ),
        )
}

/// Stages the units kept by [`keep_previous`] for [`install_units`] (a revert of the run of
/// `release`). When that run kept none (it failed before touching the units, or there were
/// none: a first deploy), the script ends here, successfully: the installed units are what
/// they were, and the rest of the script (installing) is skipped.
pub fn restore_previous(layout: &Layout, release: &ReleaseId) -> Script {
    let prev = previous_dir(layout);
    let stamp = quote(&format!("{prev}.for"));
    Script::new("supervisor.restore_previous")
        .raw(
            "units this run never replaced stay as they are",
            format!(
                "kept=''
                 {{ read -r kept <{stamp}; }} 2>/dev/null || true
                 if [ \"$kept\" != {release} ]; then exit 0; fi",
                release = quote(release.as_str())
            ),
        )
        .cmd("rm", ["-rf", &layout.units_new()])
        .raw(
            "a first deploy kept no previous units",
            format!(
                "if [ -d {prev} ]; then mv {prev} {new}; fi
rm -f {stamp}",
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
