//! Taking releases off a host (`release_dir`'s): [`set_aside`] renames one out of the way
//! at once under the lock, [`sweep`] deletes what was set aside after the lock is released,
//! [`remove`] does both, and [`stop_hook`] ends a build hook a cut-off run left running.
//! Pure: builds scripts; no I/O.

use super::IS_CURRENT;
use crate::plan::layout::Layout;
use crate::plan::script::Script;
use crate::release_id::ReleaseId;
use crate::shell::quote;

/// The name a release dir takes once [`set_aside`] moved it out of the way, until [`sweep`]
/// deletes it: hidden, so that no listing of releases (facts, `releases`) sees it.
pub const SET_ASIDE: &str = ".deleting-";

/// Deletes release `id` (a half-made one, or one pruned) and its ref `refs/releases/<ID>`:
/// [`set_aside`], then [`sweep`]. Exits [`IS_CURRENT`] if `current` points at it.
pub fn remove(layout: &Layout, id: &ReleaseId) -> Script {
    set_aside(layout, id).then(sweep(layout))
}

/// Takes release `id` out of the releases at once: renamed to a hidden [`SET_ASIDE`] name
/// (a rename, however big the release), its temporary archive and its ref
/// `refs/releases/<ID>` deleted; exits [`IS_CURRENT`] if `current` points at it. The slow
/// part, deleting the files, is [`sweep`]'s: a run sends it after it released the lock, so
/// that a signal or a host lost while a big release is deleted leaves neither the lock nor a
/// release dir, only a hidden dir that the next sweep deletes.
pub fn set_aside(layout: &Layout, id: &ReleaseId) -> Script {
    let dir = quote(&layout.release(id));
    Script::new("release.remove")
        .raw(
            "never remove the live release",
            format!(
                "if [ \"$(readlink {current} 2>/dev/null || true)\" = {target} ]; then\n  \
                 echo \"deliver: \"{dir}\" is current; not removing it\" >&2\n  \
                 exit {IS_CURRENT}\n\
                 fi",
                current = quote(&layout.current()),
                target = quote(&Layout::current_target(id)),
            ),
        )
        .raw(
            "a rename in the same directory is atomic and instant; $$ keeps two runs' names \
             apart",
            format!(
                "if [ -e {dir} ]; then mv {dir} {aside}.$$; fi",
                aside = quote(&layout.join(&format!("releases/{SET_ASIDE}{id}")))
            ),
        )
        .cmd(
            "rm",
            [
                "-f",
                &layout.join(&format!("releases/.{id}.tar")),
                &layout.join(&format!("releases/.{id}.hook")),
            ],
        )
        .raw(
            "the ref kept the commit for incremental pushes; gone with the release",
            format!(
                "if [ -f {head} ]; then git --git-dir={repo} update-ref -d {r} </dev/null; fi",
                head = quote(&layout.join("repo.git/HEAD")),
                repo = quote(&layout.repo()),
                r = quote(&Layout::release_ref(id)),
            ),
        )
}

/// Ends the build hook of release `id` that may still run on the host (a run cut off by a
/// signal or a lost connection mid-build): SIGTERM to the `timeout` that runs it, which
/// passes it to the hook's process group (SIGKILL after [`super::HOOK_KILL_GRACE`]). The
/// pid comes from [`super::build`]'s file beside the release, and is signalled only while
/// it is still a `timeout` (a pid is reused once its process is gone).
pub fn stop_hook(layout: &Layout, id: &ReleaseId) -> Script {
    Script::new("release.stop_hook").raw(
        "builtins but kill; nothing to do is no error",
        format!(
            "if [ -f {pid_file} ]; then\n  \
             pid=''\n  \
             read -r pid <{pid_file} || true\n  \
             comm=''\n  \
             if [ -n \"$pid\" ]; then {{ read -r comm <\"/proc/$pid/comm\"; }} 2>/dev/null || true; fi\n  \
             if [ \"$comm\" = timeout ]; then kill -TERM \"$pid\" 2>/dev/null || true; fi\n\
             fi",
            pid_file = quote(&layout.join(&format!("releases/.{id}.hook"))),
        ),
    )
}

/// Deletes every release dir [`set_aside`] moved out of the way (this run's, and any an
/// earlier run left when it was cut off). Needs no lock: nothing else uses those dirs, and
/// two sweeps at once only race to delete the same files. Never fails.
pub fn sweep(layout: &Layout) -> Script {
    Script::new("release.sweep").raw(
        "a build may leave read-only directories (Go's module cache) that rm -rf cannot \
         empty; chmod -R does not follow the links to shared/. A glob that matches nothing \
         stays literal: hence the -e test",
        format!(
            "for d in {releases}/{SET_ASIDE}*; do\n  \
             [ -e \"$d\" ] || continue\n  \
             chmod -R u+w \"$d\" 2>/dev/null || true\n  \
             rm -rf \"$d\" 2>/dev/null || true\n\
             done",
            releases = quote(&layout.releases()),
        ),
    )
}
