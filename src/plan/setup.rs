//! `deliver setup` on a host: creates the layout of SPEC §5 (base, `releases/`, `shared/`
//! with the linked dirs and files, `.deliver/`, the bare `repo.git`). Idempotent: running it
//! again changes nothing that exists. Then [`install_units`] installs the rendered units on a
//! host that has no release yet. Pure: builds the scripts; no I/O.

use super::layout::{linked_path, Layout};
use super::script::Script;
use super::{lock, supervisor};
use crate::config::{AppName, Supervisor};
use crate::render::RenderedFile;
use crate::shell::quote;

/// `install_units`: the host has a `current` release (deployed since its facts were read):
/// nothing was installed.
pub const DEPLOYED: i32 = 80;

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

/// Installs `units` (rendered as a deploy renders them for this host) on a host that has no
/// `current` release yet, starting nothing: under the deploy lock (exits `lock::HELD` when
/// another command holds it), and only while there is still no `current` (else exits
/// [`DEPLOYED`]: the running release's units are a deploy's to replace, or its no-op check,
/// which compares the installed units, would miss what runs). Stages and installs in this one
/// round trip; the lock is released on every exit, failures included.
pub fn install_units(
    sup: Supervisor,
    app: &AppName,
    layout: &Layout,
    units: &[RenderedFile],
    holder_json: &str,
) -> Script {
    let release = lock::remove(layout);
    Script::new("setup.install_units")
        .then(lock::acquire(layout, holder_json))
        .raw(
            "the lock is ours from here: released however the script ends",
            format!("trap {} EXIT", quote(&release)),
        )
        .raw(
            "a deploy may have made a release current since the facts were read",
            format!(
                "if [ -L {current} ] || [ -e {current} ]; then\n  \
                 echo \"deliver: \"{current}\" exists: units left to the next deploy\" >&2\n  \
                 exit {DEPLOYED}\n\
                 fi",
                current = quote(&layout.current())
            ),
        )
        .then(supervisor::stage_units(layout, units))
        .then(supervisor::install_units(sup, app, layout))
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

    fn units() -> Vec<RenderedFile> {
        ["shop.target", "shop-web@.service"]
            .iter()
            .map(|n| RenderedFile {
                name: (*n).to_owned(),
                contents: format!("[Unit]\nDescription={n}\n"),
            })
            .collect()
    }

    fn app() -> AppName {
        crate::render::example::Example::new().env.app
    }

    #[test]
    fn the_install_script() {
        insta::assert_snapshot!(
            "setup_install_units",
            install_units(
                Supervisor::SystemdUser,
                &app(),
                &Layout::new("~/shop"),
                &units(),
                "{}"
            )
            .render()
        );
    }

    /// `systemctl` that logs its arguments to `calls`.
    fn systemctl(sandbox: &Sandbox) -> std::path::PathBuf {
        sandbox.stub(
            "systemctl",
            "printf 'systemctl %s\\n' \"$*\" >>\"$HOME/calls\"",
        )
    }

    #[test]
    fn units_are_installed_before_the_first_release_and_nothing_starts() {
        let sandbox = Sandbox::new();
        let bin = systemctl(&sandbox);
        let layout = Layout::new("~/shop");
        sandbox.run(&setup(&layout, &[], &[])).ok();
        let script = install_units(Supervisor::SystemdUser, &app(), &layout, &units(), "{}");
        sandbox.run_with_path(&script, Some(&bin)).ok();
        assert_eq!(
            sandbox.sh("cat .config/systemd/user/shop.target"),
            "[Unit]\nDescription=shop.target\n"
        );
        assert_eq!(
            sandbox.sh("ls shop/.deliver"),
            "units\n",
            "the lock is released"
        );
        assert_eq!(
            std::fs::read_to_string(sandbox.path("calls")).unwrap(),
            "systemctl --user enable --no-reload shop.target\nsystemctl --user daemon-reload\n"
        );
    }

    #[test]
    fn a_current_release_or_a_held_lock_installs_nothing() {
        let sandbox = Sandbox::new();
        let bin = systemctl(&sandbox);
        let layout = Layout::new("~/shop");
        sandbox.run(&setup(&layout, &[], &[])).ok();
        let script = install_units(Supervisor::SystemdUser, &app(), &layout, &units(), "{}");
        sandbox.sh("mkdir -p shop/.deliver/lock && echo '{\"user\":\"ann\"}' >shop/.deliver/lock/holder.json");
        let held = sandbox.run_with_path(&script, Some(&bin));
        assert_eq!(held.status, lock::HELD);
        assert_eq!(held.stdout, "{\"user\":\"ann\"}\n");
        assert!(
            sandbox.path("shop/.deliver/lock/holder.json").is_file(),
            "not ours to release"
        );
        sandbox.sh("rm -r shop/.deliver/lock && ln -s releases/x shop/current");
        let deployed = sandbox.run_with_path(&script, Some(&bin));
        assert_eq!(deployed.status, DEPLOYED, "{}", deployed.stderr);
        assert!(deployed.stderr.contains("units left to the next deploy"));
        assert_eq!(
            sandbox.sh("ls shop/.deliver"),
            "",
            "lock released, nothing staged"
        );
        assert!(!sandbox.path(".config/systemd/user").exists());
        assert!(!sandbox.path("calls").exists());
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
