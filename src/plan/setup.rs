//! `deliver setup` on a host: creates the layout of SPEC §5 (base, `releases/`, `shared/`
//! with the linked dirs and files, `.deliver/`, the bare `repo.git`). Idempotent: running it
//! again changes nothing that exists. Pure: builds the script; no I/O.

use super::layout::{linked_path, Layout};
use super::script::{quote, Script};

/// The layout script. Directories are 0755 but `.deliver/` (lock, log) is 0700; a linked
/// file that does not exist is created empty with mode 0600; existing ones are left alone.
pub fn setup(layout: &Layout, linked_dirs: &[String], linked_files: &[String]) -> Script {
    let mut s = Script::new("setup").raw(
        "0755 directories whatever the session's umask; linked files get 0600 below",
        "umask 022",
    );
    let mut dirs = vec![layout.releases(), layout.shared()];
    dirs.extend(
        linked_dirs
            .iter()
            .map(|d| layout.shared_path(&linked_path(d))),
    );
    for file in linked_files {
        if let Some((parent, _)) = linked_path(file).rsplit_once('/') {
            dirs.push(layout.shared_path(parent));
        }
    }
    let missing = dirs
        .iter()
        .map(|d| format!("[ ! -d {} ]", quote(d)))
        .collect::<Vec<_>>()
        .join(" || ");
    let state = quote(&layout.state());
    s = s
        .raw(
            "mkdir only when one is missing: tests are builtins, and this runs on every deploy",
            format!(
                "if {missing}; then mkdir -p {}; fi",
                dirs.iter().map(|d| quote(d)).collect::<Vec<_>>().join(" ")
            ),
        )
        .raw(
            "0700: the lock, the log and the units are this user's business",
            format!("[ -d {state} ] || mkdir -p -m 0700 {state}"),
        );
    let repo = quote(&layout.repo());
    s = s.raw(
        "only when missing: the repo holds every pushed release",
        format!(
            "if [ ! -f {head} ]; then git init --bare -q {repo} </dev/null; fi",
            head = quote(&layout.join("repo.git/HEAD")),
        ),
    );
    for file in linked_files {
        s = s.raw(
            "a missing linked file is created empty, readable by this user only",
            format!(
                "if [ ! -e {f} ]; then (umask 077 && : >{f}); fi",
                f = quote(&layout.shared_path(&linked_path(file)))
            ),
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::plan::sandbox::Sandbox;

    fn linked() -> (Vec<String>, Vec<String>) {
        (
            vec!["log".into(), "tmp/pids/".into()],
            vec![".env".into(), "config/master.key".into()],
        )
    }

    fn mode(sandbox: &Sandbox, path: &str) -> u32 {
        std::fs::metadata(sandbox.path(path))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    }

    #[test]
    fn the_script() {
        let (dirs, files) = linked();
        insta::assert_snapshot!(
            "setup",
            setup(&Layout::new("~/shop"), &dirs, &files).render()
        );
    }

    #[test]
    fn setup_twice_is_idempotent() {
        let sandbox = Sandbox::new();
        let (dirs, files) = linked();
        let script = setup(&Layout::new("~/shop"), &dirs, &files);
        sandbox.run(&script).ok();
        for dir in [
            "shop/releases",
            "shop/shared/log",
            "shop/shared/tmp/pids",
            "shop/repo.git",
        ] {
            assert!(sandbox.path(dir).is_dir(), "{dir}");
        }
        assert_eq!(mode(&sandbox, "shop/.deliver"), 0o700);
        assert_eq!(mode(&sandbox, "shop/shared/.env"), 0o600);
        assert_eq!(mode(&sandbox, "shop/shared/config/master.key"), 0o600);
        sandbox.sh("git --git-dir=shop/repo.git rev-parse --is-bare-repository");

        std::fs::write(sandbox.path("shop/shared/.env"), "SECRET=1\n").unwrap();
        let listing = sandbox.sh("find shop -path shop/repo.git -prune -o -print | sort");
        let config = std::fs::read(sandbox.path("shop/repo.git/config")).unwrap();
        let again = sandbox.run(&script).ok();
        assert_eq!((again.stdout.as_str(), again.stderr.as_str()), ("", ""));
        assert_eq!(
            sandbox.sh("find shop -path shop/repo.git -prune -o -print | sort"),
            listing
        );
        assert_eq!(
            std::fs::read(sandbox.path("shop/repo.git/config")).unwrap(),
            config
        );
        assert_eq!(
            std::fs::read_to_string(sandbox.path("shop/shared/.env")).unwrap(),
            "SECRET=1\n"
        );

        // One missing directory among present ones is made again.
        sandbox.sh("rmdir shop/shared/tmp/pids");
        sandbox.run(&script).ok();
        assert!(sandbox.path("shop/shared/tmp/pids").is_dir());
    }

    #[test]
    fn hostile_paths_stay_literal() {
        let sandbox = Sandbox::new();
        let evil = "x\"; touch pwned #$(touch pwned2)`touch pwned3`'";
        let layout = Layout::new(&format!("~/{evil}"));
        sandbox
            .run(&setup(
                &layout,
                &[evil.to_owned()],
                &[format!("{evil}.env")],
            ))
            .ok();
        assert!(sandbox.path(evil).join("shared").join(evil).is_dir());
        assert!(sandbox
            .path(evil)
            .join("shared")
            .join(format!("{evil}.env"))
            .is_file());
        assert!(sandbox.path(evil).join("repo.git/HEAD").is_file());
        for f in ["pwned", "pwned2", "pwned3"] {
            assert!(!sandbox.path(f).exists(), "{f}");
        }
        assert!(!std::path::Path::new("/tmp/pwned").exists());
    }

    #[test]
    fn the_home_directory_and_absolute_paths_work_too() {
        let sandbox = Sandbox::new();
        sandbox.run(&setup(&Layout::new("~"), &[], &[])).ok();
        assert!(sandbox.path("repo.git/HEAD").is_file());
        let abs = sandbox.path("abs dir");
        sandbox
            .run(&setup(&Layout::new(abs.to_str().unwrap()), &[], &[]))
            .ok();
        assert!(abs.join("releases").is_dir());
    }
}
