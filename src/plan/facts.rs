//! The first script of every command on every host: one round trip that reports everything
//! the client decides with (home, user, CPUs, git, systemd, linger, sudo, the layout, the
//! releases, the repo's tips, the installed units' hashes, the lock), and [`parse`] for its
//! output. The script never fails because something is absent: a fresh host answers with
//! `repo=no` and no releases. Pure: builds the script text and parses text; no I/O.
//!
//! Output: one `key=value` line per fact, in this order, lists as repeated keys, records with
//! tab-separated fields. The first line is `deliver-facts=1`, the last `end=ok` (a cut-off
//! answer is an error, not a fresh host):
//!
//! ```text
//! deliver-facts=1
//! home=/home/app                  $HOME
//! user=app                        the name `id` prints
//! uid=1000                        the uid `id` prints
//! nproc=4                         empty when unknown
//! git=git version 2.39.2          first line of `git --version`, empty when absent (*)
//! systemd=systemd 252 (252.22-1)  first line of `systemctl --version`, empty when absent (*)
//! xdg_runtime_dir=/run/user/1000  as the session had it (systemd-user only) (*)
//! user_manager=running            `systemctl --user is-system-running` (systemd-user only) (*)
//! sudo=yes|no                     may run the supervisor's sudo commands (systemd, upstart) (*)
//! linger=yes|no                   /var/lib/systemd/linger/<user> exists
//! repo=yes|no                     <base>/repo.git/HEAD exists
//! current=releases/<ID>           readlink <base>/current (absent: no line)
//! release=<ID>\t<sha>             per dir in releases/; sha from REVISION, empty when missing or
//!                                 still building (`release_dir::BUILDING`)
//! failed=<ID>                     after its release line, when a failed rollout marked it
//!                                 (`releases/<ID>/.deliver-failed`, see `plan::failed`)
//! set_aside=yes                   when releases/ holds a dir `release_dir::set_aside` moved
//!                                 there and no sweep deleted yet
//! tip=<sha>\trefs/releases/<ID>   per ref in repo.git
//! tips_error=<status>             for-each-ref failed (a damaged repo)
//! unit=<sha256>\t<file name>      per file in .deliver/units/
//! wants=<unit>                    per unit a `Wants=` line of an installed `*.target` names
//!                                 (the running formation, for stopping removed instances)
//! scale=<type>\t<count>           per line of .deliver/scale: the counts `deliver scale` set
//!                                 (`plan::scale`)
//! app=<owner>\t<app>\t<count>      per deliver app on the host, this one included: the
//!                                 instances its installed target wants (`neighbours.rs`)
//! lock=yes|no                     .deliver/lock exists
//! holder=<json>                   .deliver/lock/holder.json on one line (when present)
//! end=ok
//! ```
//!
//! (*): only at [`Depth::Readiness`] (`setup`, `check`); the commands that run on every deploy
//! ask at [`Depth::Layout`], whose script starts no process but `id`, `nproc`, `readlink`,
//! `git for-each-ref` and one `sha256sum`.

use std::collections::BTreeMap;

use super::failed;
use super::layout::Layout;
use super::neighbours::{self, Neighbour};
use super::script::Script;
use super::supervisor;
use crate::config::{AppName, Supervisor};
use crate::release_id::ReleaseId;
use crate::shell::quote;

/// The first line of the facts output: the format's version.
pub const HEADER: &str = "deliver-facts=1";

/// The last line: the answer is complete.
pub const END: &str = "end=ok";

/// Everything one host told us.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Facts {
    /// `$HOME`: what relative layout paths are relative to.
    pub home: String,
    pub user: String,
    pub uid: Option<u32>,
    /// `nproc`, for `"auto"` instance counts.
    pub cpus: Option<u32>,
    /// First line of `git --version`; `None` when git is missing.
    pub git: Option<String>,
    /// First line of `systemctl --version`; `None` when systemd is missing.
    pub systemd: Option<String>,
    /// `XDG_RUNTIME_DIR` as the SSH session set it (systemd-user only).
    pub xdg_runtime_dir: Option<String>,
    /// The user manager's `is-system-running` answer (`running`, `degraded`, ...); `None`
    /// when it did not answer or was not asked (not systemd-user).
    pub user_manager: Option<String>,
    /// `loginctl enable-linger` was done for the user.
    pub linger: bool,
    /// The supervisor's sudo rights (`sudo -n -l`); `None` when not asked (systemd-user).
    pub sudo: Option<bool>,
    /// `repo.git` exists: the layout was set up.
    pub repo: bool,
    /// What `current` points at, as `readlink` prints it.
    pub current_link: Option<String>,
    /// `current`'s release, when it points at `releases/<ID>`.
    pub current: Option<ReleaseId>,
    /// The release directories, oldest first.
    pub releases: Vec<ReleaseFact>,
    /// Entries of `releases/` that are not release ids (left alone by deliver).
    pub strays: Vec<String>,
    /// The refs in `repo.git`.
    pub tips: Vec<Tip>,
    /// `git for-each-ref` failed with this status (a damaged repo).
    pub tips_error: Option<i32>,
    /// File name -> sha256 (hex) of the units installed for the current release.
    pub units: BTreeMap<String, String>,
    /// The instance units the installed target wants: what runs now.
    pub wants: Vec<String>,
    /// The counts `deliver scale` set over deliver.toml's (`plan::scale`); empty when none.
    pub scale: super::scale::Counts,
    /// Every deliver app whose installed target this user can read, this one included.
    pub neighbours: Vec<Neighbour>,
    /// The deploy lock, when it is taken.
    pub lock: Option<LockFact>,
    /// releases/ holds dirs set aside for deletion (`release_dir::set_aside`) that no sweep
    /// deleted yet (a run cut off before its sweep).
    pub set_aside: bool,
}

/// One release directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseFact {
    pub id: ReleaseId,
    /// The full sha in `REVISION`; `None`: an incomplete release (never made current).
    pub revision: Option<String>,
    /// A failed rollout marked it (`plan::failed`): never "the previous release".
    pub failed: bool,
}

/// One ref in the bare repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tip {
    pub sha: String,
    pub refname: String,
}

/// A taken lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockFact {
    /// `holder.json`, as written (`None`: the holder had not written it yet, or crashed).
    pub holder: Option<String>,
}

impl Facts {
    /// The commits the host already has, for an incremental push.
    pub fn tip_shas(&self) -> Vec<String> {
        self.tips.iter().map(|t| t.sha.clone()).collect()
    }

    /// The release `id`, if its directory exists.
    pub fn release(&self, id: &ReleaseId) -> Option<&ReleaseFact> {
        self.releases.iter().find(|r| &r.id == id)
    }

    /// The ids of the complete releases (with a `REVISION`), oldest first.
    pub fn complete_releases(&self) -> Vec<ReleaseId> {
        self.releases
            .iter()
            .filter(|r| r.revision.is_some())
            .map(|r| r.id.clone())
            .collect()
    }

    /// The ids of the releases a failed rollout marked, oldest first.
    pub fn failed_releases(&self) -> Vec<ReleaseId> {
        self.releases
            .iter()
            .filter(|r| r.failed)
            .map(|r| r.id.clone())
            .collect()
    }

    /// The sha `current` runs, from its `REVISION`.
    pub fn current_revision(&self) -> Option<&str> {
        let current = self.current.as_ref()?;
        self.release(current)?.revision.as_deref()
    }
}

/// How much a facts script asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// What deploy, rollback, status and logs decide with: the user, CPUs, the layout, the
    /// releases, the tips, the units and the lock. Shell builtins except for `id`, `nproc`,
    /// `readlink`, `git for-each-ref` and one `sha256sum`: every process is paid on every
    /// host by every command.
    Layout,
    /// Also what `setup` and `check` report: the git and systemd versions, the user
    /// manager's state (systemd-user) or the sudo rights (systemd, upstart).
    Readiness,
}

/// The facts script for the layout at `layout`; `supervisor` says which of the systemd
/// user manager (systemd-user) and sudo rights (systemd, upstart, for `app`'s units) to
/// probe, `depth` whether to (see [`Depth`]).
pub fn gather(layout: &Layout, app: &AppName, sup: Supervisor, depth: Depth) -> Script {
    let base = |rel: &str| quote(&layout.join(rel));
    let mut s = Script::new("facts")
        .cmd("printf", ["%s\\n", HEADER])
        .raw(
            "one `id` answers both: uid=1000(app) gid=...; `id -un` when it prints no name",
            concat!(
                "deliver_id=$(id 2>/dev/null || true)\n",
                "deliver_uid=${deliver_id#uid=}\n",
                "deliver_uid=${deliver_uid%%[!0-9]*}\n",
                "case $deliver_id in\n",
                "uid=*'('*')'*) deliver_user=${deliver_id#*(}; deliver_user=${deliver_user%%)*} ;;\n",
                "*) deliver_user=$(id -un 2>/dev/null || true) ;;\n",
                "esac",
            ),
        )
        .raw(
            "the host's answers; each falls back to empty instead of failing",
            concat!(
                "printf 'home=%s\\nuser=%s\\nuid=%s\\n' \"${HOME-}\" \"$deliver_user\" \"$deliver_uid\"\n",
                "printf 'nproc=%s\\n' \"$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || true)\"",
            ),
        );
    if depth == Depth::Readiness {
        s = s.then(readiness(sup, app));
    }
    s.raw(
        "lingering keeps the user manager (and its units) running without a session",
        "if [ -e \"/var/lib/systemd/linger/$deliver_user\" ]; then echo linger=yes; else echo linger=no; fi",
    )
    .raw(
        "the layout, which may not exist yet",
        format!(
            "if [ -f {head} ]; then echo repo=yes; else echo repo=no; fi\n\
             if [ -L {current} ]; then printf 'current=%s\\n' \"$(readlink {current})\"; fi",
            head = base("repo.git/HEAD"),
            current = base("current"),
        ),
    )
    .raw(
        "a glob that matches nothing stays literal: hence the -d test; `read` is a builtin",
        format!(
            "for d in {releases}/*/; do\n  \
             [ -d \"$d\" ] || continue\n  \
             d=${{d%/}}\n  \
             r=\n  \
             if [ -f \"$d/REVISION\" ] && [ ! -e \"$d/{building}\" ]; then {{ read -r r <\"$d/REVISION\"; }} 2>/dev/null || true; fi\n  \
             printf 'release=%s\\t%s\\n' \"${{d##*/}}\" \"$r\"\n  \
             if [ -e \"$d/{marker}\" ]; then printf 'failed=%s\\n' \"${{d##*/}}\"; fi\n\
             done\n\
             for d in {releases}/{aside}*; do\n  \
             if [ -e \"$d\" ]; then printf 'set_aside=yes\\n'; break; fi\n\
             done",
            releases = base("releases"),
            marker = failed::MARKER,
            building = super::release_dir::BUILDING,
            aside = super::release_dir::SET_ASIDE,
        ),
    )
    .raw(
        "the commits the host has, so that a push sends only what is missing",
        format!(
            "if [ -f {head} ]; then\n  \
             git --git-dir={repo} for-each-ref '--format=tip=%(objectname)%09%(refname)' \
             refs/releases </dev/null || printf 'tips_error=%s\\n' \"$?\"\n\
             fi",
            head = base("repo.git/HEAD"),
            repo = base("repo.git"),
        ),
    )
    .raw(
        "hashes of the installed units, to tell whether freshly rendered ones differ (one \
         sha256sum for all, run in the directory: a name with a backslash in the path would \
         make it escape the line)",
        format!(
            "set --\n\
             for f in {units}/*; do\n  \
             if [ -f \"$f\" ]; then set -- \"$@\" \"${{f##*/}}\"; fi\n\
             done\n\
             if [ $# -gt 0 ]; then\n  \
             deliver_sums=$(cd {units} && sha256sum -- \"$@\")\n  \
             printf '%s\\n' \"$deliver_sums\" | while read -r h f; do printf 'unit=%s\\t%s\\n' \"$h\" \"$f\"; done\n\
             fi",
            units = base(".deliver/units"),
        ),
    )
    .raw(
        "the instances the installed target wants: the formation that runs now (set -f: a \
         unit name is no glob; a file a deploy replaces meanwhile is no error)",
        format!(
            "for f in {units}/*.target; do\n  \
             [ -f \"$f\" ] || continue\n  \
             {{ while IFS= read -r l || [ -n \"$l\" ]; do\n    \
             case $l in Wants=*) set -f; for u in ${{l#Wants=}}; do printf 'wants=%s\\n' \"$u\"; done; set +f ;; esac\n  \
             done <\"$f\"; }} 2>/dev/null || true\n\
             done",
            units = base(".deliver/units"),
        ),
    )
    .raw(
        "the counts `deliver scale` set",
        super::scale::facts_lines(layout),
    )
    .then(neighbours::scan())
    .raw(
        "holder.json on one line (JSON needs no newlines); a lock released meanwhile is no error",
        format!(
            "if [ -d {lock} ]; then\n  \
             echo lock=yes\n  \
             if [ -f {holder} ]; then\n    \
             h=\n    \
             {{ while IFS= read -r l || [ -n \"$l\" ]; do h=$h$l; done <{holder}; }} 2>/dev/null || true\n    \
             printf 'holder=%s\\n' \"$h\"\n  \
             fi\n\
             else\n  \
             echo lock=no\n\
             fi",
            lock = base(".deliver/lock"),
            holder = base(".deliver/lock/holder.json"),
        ),
    )
    .cmd("printf", ["%s\\n", END])
}

/// The [`Depth::Readiness`] questions: tools, and the user manager or the sudo rights.
fn readiness(sup: Supervisor, app: &AppName) -> Script {
    let s = Script::new("facts.readiness").raw(
        "the tools deliver needs there",
        concat!(
            "printf 'git=%s\\n' \"$(git --version 2>/dev/null | sed -n 1p)\"\n",
            "printf 'systemd=%s\\n' \"$(systemctl --version 2>/dev/null | sed -n 1p)\"",
        ),
    );
    match sup {
        Supervisor::SystemdUser => {
            s
                .raw(
                    "before the fallback below fills it in",
                    "printf 'xdg_runtime_dir=%s\\n' \"${XDG_RUNTIME_DIR-}\"",
                )
                .then(supervisor::user_bus())
                .raw(
                    "prints running, degraded, ... or nothing when the manager does not answer",
                    "printf 'user_manager=%s\\n' \"$(systemctl --user is-system-running 2>/dev/null || true)\"",
                )
        }
        Supervisor::Systemd | Supervisor::Upstart => {
            let probes = supervisor::sudo_probes(sup, app)
                .iter()
                .map(|cmd| {
                    let words: Vec<String> = cmd.iter().map(|w| quote(w)).collect();
                    format!("sudo -n -l {} >/dev/null 2>&1", words.join(" "))
                })
                .collect::<Vec<_>>()
                .join(" &&\n  ");
            s.raw(
                "`sudo -l CMD` checks a rule without running it; -n: never ask for a password. \
                 One command of each kind deliver runs as root",
                format!("if {probes}; then\n  echo sudo=yes\nelse\n  echo sudo=no\nfi"),
            )
        }
    }
}

#[path = "facts_parse.rs"]
mod parse;
pub use parse::parse;

#[cfg(test)]
#[path = "facts_tests.rs"]
mod tests;
