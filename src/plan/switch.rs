//! Switching a host to a release (SPEC §5, §7): the atomic `current` symlink swap, used by
//! deploy, revert and rollback alike. Pure: builds the script; no I/O.

use super::layout::Layout;
use super::script::Script;
use crate::release_id::ReleaseId;
use crate::shell::quote;

/// `swap_current`: `releases/<ID>/REVISION` is missing (no such release, or an incomplete
/// one); `current` was left as it was.
pub const NO_RELEASE: i32 = 70;

/// Points `current` at `releases/<ID>` in one `rename(2)`: a new symlink `current.<pid>`,
/// then `mv -T` over `current`. Exits [`NO_RELEASE`] (changing nothing) unless the release
/// is complete.
pub fn swap_current(layout: &Layout, id: &ReleaseId) -> Script {
    let mut s = require_complete(layout, id).then(link_current(layout, id));
    "switch.swap_current".clone_into(&mut s.name);
    s
}

/// The first half of [`swap_current`]: exits [`NO_RELEASE`] unless release `id` is complete.
/// A forward switch runs it before anything else it changes (the units, then `current`).
pub fn require_complete(layout: &Layout, id: &ReleaseId) -> Script {
    Script::new("switch.swap_current").raw(
        "current only ever points at a complete release",
        format!(
            "if [ ! -f {revision} ] || [ -e {building} ]; then\n  \
                 echo \"deliver: release \"{id}\" is incomplete (no REVISION, or its build never \
                 finished); current stays as it is\" >&2\n  \
                 exit {NO_RELEASE}\n\
                 fi",
            revision = quote(&layout.revision(id)),
            building =
                quote(&layout.join(&format!("releases/{id}/{}", super::release_dir::BUILDING))),
            id = quote(id.as_str()),
        ),
    )
}

/// The second half of [`swap_current`]: the atomic rename of a new link over `current`.
pub fn link_current(layout: &Layout, id: &ReleaseId) -> Script {
    let current = quote(&layout.current());
    let temp = format!("{current}.$$");
    Script::new("switch.link_current").raw(
        "a temporary link named after this shell's pid ($$), renamed over current: \
             mv -T (GNU) renames onto the link itself instead of moving into the directory it \
             points at, and rename(2) is atomic, so current is never missing or half-written",
        format!(
            "rm -f {temp}\nln -s {target} {temp}\nmv -T {temp} {current}",
            target = quote(&Layout::current_target(id)),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::release_dir;
    use crate::plan::sandbox::Sandbox;
    use crate::plan::setup::setup;

    #[test]
    fn the_script() {
        let id: ReleaseId = "20240131235959-0a1b2c3".parse().unwrap();
        insta::assert_snapshot!(
            "switch_swap_current",
            swap_current(&Layout::new("~/shop"), &id).render()
        );
    }

    #[test]
    fn prepare_then_swap_points_current_at_the_complete_release() {
        let sandbox = Sandbox::new();
        let layout = Layout::new("~/shop");
        let dirs = vec!["log".to_owned()];
        let files = vec![".env".to_owned()];
        sandbox.run(&setup(&layout, &dirs, &files)).ok();
        let first: ReleaseId = "20240101000000-1111111".parse().unwrap();
        let second: ReleaseId = "20240102000000-2222222".parse().unwrap();
        for (id, text) in [(&first, "one"), (&second, "two")] {
            let sha = sandbox.commit("shop", id.as_str(), &[("app.txt", text)]);
            sandbox
                .run(&release_dir::prepare(&layout, id, &sha, &dirs, &files))
                .ok();
            sandbox.run(&swap_current(&layout, id)).ok();
            assert_eq!(
                std::fs::read_link(sandbox.path("shop/current")).unwrap(),
                std::path::Path::new(&Layout::current_target(id))
            );
            let current = sandbox.path("shop/current");
            assert_eq!(
                std::fs::read_to_string(current.join("app.txt")).unwrap(),
                text
            );
            assert_eq!(
                std::fs::read_to_string(current.join("REVISION")).unwrap(),
                format!("{sha}\n")
            );
            assert!(current.join("log").is_dir());
            std::fs::write(current.join("log/x"), text).unwrap();
            assert_eq!(
                std::fs::read_to_string(sandbox.path("shop/shared/log/x")).unwrap(),
                text
            );
        }
        // No temporary link is left behind.
        assert_eq!(
            sandbox.sh("ls -A shop"),
            ".deliver\ncurrent\nreleases\nrepo.git\nshared\n"
        );
    }

    #[test]
    fn swap_to_an_incomplete_release_exits_no_release_and_changes_nothing() {
        let sandbox = Sandbox::new();
        let layout = Layout::new("~/shop");
        sandbox.sh(
            "mkdir -p shop/releases/20240101000000-1111111 shop/releases/20240102000000-2222222 \
             && echo 1111111 > shop/releases/20240101000000-1111111/REVISION \
             && ln -s releases/20240101000000-1111111 shop/current",
        );
        for id in ["20240102000000-2222222", "20240103000000-3333333"] {
            let ran = sandbox.run(&swap_current(&layout, &id.parse().unwrap()));
            assert_eq!(ran.status, NO_RELEASE);
            assert_eq!(
                std::fs::read_link(sandbox.path("shop/current"))
                    .unwrap()
                    .to_str(),
                Some("releases/20240101000000-1111111")
            );
        }
    }
}
