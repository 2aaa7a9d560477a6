//! Making a release on a host (SPEC §5, §7): [`prepare`] checks the pushed commit out into
//! `releases/<ID>` and links the shared paths, [`build`] runs the build hooks there,
//! [`remove`] deletes a half-made (or pruned) release and its ref, and [`run_command`] runs a
//! one-off command in a release with the app's environment (the `[release] command` of
//! SPEC §9). Pure: builds scripts; no I/O.
//!
//! Hook output: before each hook a line `deliver: hook N/M: <hook>` on stdout; on failure a
//! line `deliver: hook N/M failed with status S: <hook>` (or `... timed out after Ts: ...`)
//! on stderr, then the script exits [`HOOK_FAILED`] or [`HOOK_TIMEOUT`].

use std::collections::BTreeMap;
use std::time::Duration;

use super::layout::{linked_path, Layout};
use super::script::Script;
use crate::config::EnvVarName;
use crate::release_id::ReleaseId;
use crate::shell::quote;

/// `prepare`: `releases/<ID>` already exists; deliver never writes into an existing release.
pub const EXISTS: i32 = 66;

/// `build`: a hook exited non-zero (the stderr line names it and its status).
pub const HOOK_FAILED: i32 = 67;

/// `build`: a hook ran longer than `[build] timeout` and was killed.
pub const HOOK_TIMEOUT: i32 = 68;

/// `remove`: the release is the one `current` points at; it stays.
pub const IS_CURRENT: i32 = 69;

/// How long a hook has after SIGTERM (at its timeout) before SIGKILL.
pub const HOOK_KILL_GRACE: Duration = Duration::from_secs(10);

/// [`files`], then [`complete`]: a release with nothing to build.
///
/// # Panics
/// When `sha` is not a full hex commit id (the caller resolved it; anything else is a bug).
pub fn prepare(
    layout: &Layout,
    id: &ReleaseId,
    sha: &str,
    linked_dirs: &[String],
    linked_files: &[String],
) -> Script {
    files(layout, id, sha, linked_dirs, linked_files).then(complete(layout, id))
}

/// The marker of a release being built: [`files`] writes it with the release, [`complete`]
/// removes it once the build hooks succeeded. A release that still has it (a run killed or
/// cut off mid-build) is incomplete: never made current, never rolled back to, and pruned
/// by the next run (the facts report it without a sha).
pub const BUILDING: &str = ".deliver-building";

/// Marks the release built (removes [`BUILDING`]), after the build hooks. From the home
/// directory: a build `cd`s into the release.
pub fn complete(layout: &Layout, id: &ReleaseId) -> Script {
    Script::new("release.complete").raw(
        "built: the release is complete from here",
        format!(
            "cd\nrm -f {} {}",
            quote(&layout.join(&format!("releases/{id}/{BUILDING}"))),
            quote(&layout.join(&format!("releases/.{id}.hook")))
        ),
    )
}

/// Creates `releases/<ID>` from commit `sha` (already pushed into `repo.git`), marked
/// [`BUILDING`] until [`complete`], links each linked dir and file to `shared/` with a
/// relative symlink (a missing shared file is created empty, mode 0600), and writes
/// `REVISION` (which the build hooks may read). Exits [`EXISTS`] if the directory exists.
///
/// # Panics
/// When `sha` is not a full hex commit id (the caller resolved it; anything else is a bug).
pub fn files(
    layout: &Layout,
    id: &ReleaseId,
    sha: &str,
    linked_dirs: &[String],
    linked_files: &[String],
) -> Script {
    assert!(
        sha.len() >= 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()),
        "prepare needs a full commit sha, got {sha:?}"
    );
    let dir = layout.release(id);
    let tar = layout.join(&format!("releases/.{id}.tar"));
    let mut s = Script::new("release.prepare")
        .raw(
            "setup made it; the test spares a process",
            format!(
                "[ -d {releases} ] || mkdir -p {releases}",
                releases = quote(&layout.releases())
            ),
        )
        .raw(
            "never write into an existing release: it may be live",
            format!(
                "if [ -e {dir} ]; then\n  \
                 echo \"deliver: \"{dir}\" already exists\" >&2\n  \
                 exit {EXISTS}\n\
                 fi",
                dir = quote(&dir)
            ),
        )
        .cmd("mkdir", [dir.as_str()])
        .raw(
            "incomplete until `complete` (a builtin redirection: no process)",
            format!(": >{}", quote(&format!("{dir}/{BUILDING}"))),
        )
        // POSIX sh has no pipefail: `git archive | tar -x` would hide a failing archive, so the
        // archive goes to a file first and each side fails the script on its own.
        .cmd(
            "git",
            [
                format!("--git-dir={}", layout.repo()),
                "archive".into(),
                "--format=tar".into(),
                "-o".into(),
                tar.clone(),
                sha.into(),
            ],
        )
        // GNU tar unquotes `\` escapes in file names given to it, `-C` included: a
        // deploy_to holding `\0` would extract elsewhere (issue 12). config refuses such paths;
        // this keeps tar from reading any that slip through.
        .cmd("tar", ["--no-unquote", "-x", "-f", &tar, "-C", &dir]);
    let links: Vec<Link> = linked_dirs
        .iter()
        .map(|d| (d, false))
        .chain(linked_files.iter().map(|f| (f, true)))
        .filter_map(|(linked, file)| Link::new(layout, &dir, linked, file))
        .collect();
    // One rm, one mkdir and an ln per link: every process counts on every host.
    s = s.cmd(
        "rm",
        ["-rf".to_owned(), tar]
            .into_iter()
            .chain(links.iter().map(|l| l.in_release.clone())),
    );
    let mut dirs: Vec<String> = Vec::new();
    for d in links.iter().flat_map(|l| l.dirs.iter()) {
        if !dirs.contains(d) {
            dirs.push(d.clone());
        }
    }
    if !dirs.is_empty() {
        s = s.cmd("mkdir", std::iter::once("-p".to_owned()).chain(dirs));
    }
    for l in links.iter().filter(|l| l.file) {
        s = s.raw(
            "a linked file missing in shared/ is created empty, readable by this user only",
            format!(
                "if [ ! -e {shared} ]; then (umask 077 && : >{shared}); fi",
                shared = quote(&l.shared)
            ),
        );
    }
    for l in &links {
        s = s.cmd("ln", ["-s", &l.target, &l.in_release]);
    }
    s.raw(
        "REVISION for the build hooks; complete only without the building marker",
        format!(
            "printf '%s\\n' {} >{}",
            quote(sha),
            quote(&layout.revision(id))
        ),
    )
}

/// One linked dir or file: `in_release` is replaced by a relative symlink to `shared`.
struct Link {
    file: bool,
    in_release: String,
    shared: String,
    /// The symlink's text, relative to its directory.
    target: String,
    /// What must exist first: the link's parent in the release, and the shared dir (a linked
    /// dir) or the shared file's parent (a linked file).
    dirs: Vec<String>,
}

impl Link {
    fn new(layout: &Layout, dir: &str, linked: &str, file: bool) -> Option<Link> {
        let rel = linked_path(linked);
        if rel.is_empty() {
            return None;
        }
        let parts: Vec<&str> = rel.split('/').collect();
        let (_, parents) = parts.split_last()?;
        let shared = layout.shared_path(&rel);
        let mut dirs = Vec::new();
        if !parents.is_empty() {
            dirs.push(format!("{dir}/{}", parents.join("/")));
        }
        dirs.push(if !file {
            shared.clone()
        } else if parents.is_empty() {
            layout.shared()
        } else {
            layout.shared_path(&parents.join("/"))
        });
        Some(Link {
            file,
            in_release: format!("{dir}/{rel}"),
            // From releases/<ID>/<parents...>/ up to the base: 2 + one per parent.
            target: format!("{}shared/{rel}", "../".repeat(2 + parents.len())),
            shared,
            dirs,
        })
    }
}

/// Runs `hooks` in order in `releases/<ID>` with `env` exported, each as `sh -c <hook>`
/// under `timeout` (`[build] timeout`, rounded up to whole seconds; SIGKILL
/// [`HOOK_KILL_GRACE`] after SIGTERM), stdin from /dev/null. Stops at the first failure:
/// exits [`HOOK_FAILED`] or [`HOOK_TIMEOUT`].
pub fn build(
    layout: &Layout,
    id: &ReleaseId,
    hooks: &[String],
    env: &BTreeMap<EnvVarName, String>,
    timeout: Duration,
) -> Script {
    let mut s = Script::new("release.build");
    if hooks.is_empty() {
        return s;
    }
    s = s.cmd("cd", [layout.release(id)]);
    s = export(s, env);
    s = s.raw(
        "one function checks every hook's status: timeout's own 124, or 137 (SIGKILL after \
         the grace), is a timeout when the hook ran its full time; stdin is the script \
         itself, so hooks read /dev/null. timeout runs in the background only so that its \
         pid is known (beside the release dir): stop_hook ends it when the run is cut off",
        format!(
            "hook() {{\n  \
             printf 'deliver: hook %s/%s: %s\\n' \"$1\" \"$2\" \"$4\"\n  \
             deliver_status=0\n  \
             deliver_started=$(date +%s)\n  \
             timeout -k {grace} \"$3\" sh -c \"$4\" </dev/null &\n  \
             printf '%s\\n' \"$!\" >{pid_file}\n  \
             wait \"$!\" || deliver_status=$?\n  \
             case $deliver_status in\n  \
             0) return 0 ;;\n  \
             124|137)\n    \
             if [ $(( $(date +%s) - deliver_started )) -ge \"$3\" ]; then\n      \
             printf 'deliver: hook %s/%s timed out after %ss: %s\\n' \"$1\" \"$2\" \"$3\" \"$4\" >&2\n      \
             exit {HOOK_TIMEOUT}\n    \
             fi ;;\n  \
             esac\n  \
             printf 'deliver: hook %s/%s failed with status %s: %s\\n' \"$1\" \"$2\" \"$deliver_status\" \"$4\" >&2\n  \
             exit {HOOK_FAILED}\n\
             }}",
            grace = HOOK_KILL_GRACE.as_secs(),
            pid_file = quote(&format!("../.{id}.hook")),
        ),
    );
    let seconds = timeout_seconds(timeout).to_string();
    let total = hooks.len().to_string();
    for (i, hook) in hooks.iter().enumerate() {
        s = s.cmd(
            "hook",
            [
                (i + 1).to_string(),
                total.clone(),
                seconds.clone(),
                hook.clone(),
            ],
        );
    }
    s
}

/// Whole seconds, rounded up, at least 1 (`timeout 0` would mean no limit).
pub(crate) fn timeout_seconds(timeout: Duration) -> u64 {
    let whole = timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0);
    whole.max(1)
}

/// `export KEY=VALUE` per variable: `export` takes the quoted word as an assignment.
pub(crate) fn export(s: Script, env: &BTreeMap<EnvVarName, String>) -> Script {
    env.iter().fold(s, |s, (key, value)| {
        s.cmd("export", [format!("{key}={value}")])
    })
}

/// Exports `env`, then the variables of `shared/.env` when it exists (they win, as
/// systemd's `EnvironmentFile=` wins over `Environment=`).
pub(crate) fn app_environment(
    s: Script,
    layout: &Layout,
    env: &BTreeMap<EnvVarName, String>,
) -> Script {
    export(s, env).raw(
        "shared/.env is shell assignments; set -a exports each one",
        format!(
            "if [ -f {env_file} ]; then set -a; . {env_file}; set +a; fi",
            env_file = quote(&layout.shared_path(".env"))
        ),
    )
}

/// Runs `command` (with `sh -c`) in `releases/<ID>` with `env` and `shared/.env`, stdin
/// from /dev/null; the script's status is the command's.
pub fn run_command(
    layout: &Layout,
    id: &ReleaseId,
    env: &BTreeMap<EnvVarName, String>,
    command: &str,
) -> Script {
    app_environment(Script::new("release.run_command"), layout, env)
        .cmd("cd", [layout.release(id)])
        .raw(
            "the command replaces the script's shell; stdin is the script, hence /dev/null",
            format!("exec sh -c {} </dev/null", quote(command)),
        )
}

#[path = "release_dir_removal.rs"]
mod removal;
pub use removal::{remove, set_aside, stop_hook, sweep, SET_ASIDE};

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::plan::sandbox::Sandbox;

    const SHA: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567";

    fn id() -> ReleaseId {
        "20240131235959-0a1b2c3".parse().unwrap()
    }

    fn env() -> BTreeMap<EnvVarName, String> {
        let name = |n: &str| EnvVarName::new(n).unwrap();
        BTreeMap::from([
            (name("NODE_ENV"), "production".to_owned()),
            (
                name("GREETING"),
                "x\"; touch pwned # $(touch pwned2) 'q'".to_owned(),
            ),
        ])
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_scripts() {
        let layout = Layout::new("~/shop");
        insta::assert_snapshot!(
            "release_prepare",
            prepare(
                &layout,
                &id(),
                SHA,
                &strings(&["log", "tmp/pids/"]),
                &strings(&[".env", "config/database.yml"])
            )
            .render()
        );
        insta::assert_snapshot!(
            "release_build",
            build(
                &layout,
                &id(),
                &strings(&["npm ci --omit=dev", "npm run build"]),
                &env(),
                Duration::from_secs(600)
            )
            .render()
        );
        insta::assert_snapshot!("release_remove", remove(&layout, &id()).render());
        insta::assert_snapshot!(
            "release_run_command",
            run_command(&layout, &id(), &env(), "bin/migrate --all").render()
        );
    }

    #[test]
    fn no_hooks_is_an_empty_build() {
        let s = build(
            &Layout::new("~"),
            &id(),
            &[],
            &env(),
            Duration::from_secs(1),
        );
        assert_eq!(s.render(), "# deliver: release.build\nset -eu\n");
    }

    #[test]
    fn prepare_checks_out_the_commit_and_links_shared_paths() {
        let sandbox = Sandbox::new();
        let layout = Layout::new("~/shop");
        let sha = sandbox.commit(
            "shop",
            id().as_str(),
            &[
                ("app.txt", "hello\n"),
                ("log/.gitkeep", ""),
                ("config/database.yml", "from the repo\n"),
            ],
        );
        let dirs = strings(&["log", "./tmp//pids/"]);
        let files = strings(&[".env", "config/database.yml"]);
        sandbox
            .run(&prepare(&layout, &id(), &sha, &dirs, &files))
            .ok();
        let release = sandbox.path("shop/releases/20240131235959-0a1b2c3");
        let read = |p: &str| std::fs::read_to_string(release.join(p)).unwrap();
        let link = |p: &str| std::fs::read_link(release.join(p)).unwrap();
        assert_eq!(read("app.txt"), "hello\n");
        assert_eq!(read("REVISION"), format!("{sha}\n"));
        assert_eq!(link("log").to_str(), Some("../../shared/log"));
        assert_eq!(link("tmp/pids").to_str(), Some("../../../shared/tmp/pids"));
        assert_eq!(link(".env").to_str(), Some("../../shared/.env"));
        assert_eq!(
            link("config/database.yml").to_str(),
            Some("../../../shared/config/database.yml")
        );
        assert!(release.join("log").is_dir() && release.join("tmp/pids").is_dir());
        // The linked file replaced the committed one; shared's was created empty, 0600.
        assert_eq!(read("config/database.yml"), "");
        let meta = std::fs::metadata(sandbox.path("shop/shared/config/database.yml")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert!(!sandbox
            .path("shop/releases/.20240131235959-0a1b2c3.tar")
            .exists());
    }

    #[test]
    fn a_backslash_in_deploy_to_is_not_a_tar_escape() {
        // See: issue 12 (GNU tar read `\0` in its -C argument as an escape).
        let sandbox = Sandbox::new();
        let layout = Layout::new(r"~/victim\0");
        let sha = sandbox.commit(r"victim\0", id().as_str(), &[("app.txt", "hello\n")]);
        sandbox.run(&prepare(&layout, &id(), &sha, &[], &[])).ok();
        let release = sandbox.path(r"victim\0/releases/20240131235959-0a1b2c3");
        assert_eq!(
            std::fs::read_to_string(release.join("app.txt")).unwrap(),
            "hello\n"
        );
        assert!(!sandbox.path("victim").exists());
    }

    #[test]
    fn a_linked_file_alone_creates_shared() {
        let sandbox = Sandbox::new();
        let layout = Layout::new("~/shop");
        let sha = sandbox.commit("shop", id().as_str(), &[("a", "a")]);
        sandbox
            .run(&prepare(&layout, &id(), &sha, &[], &strings(&[".env"])))
            .ok();
        assert!(sandbox.path("shop/shared/.env").is_file());
    }

    #[test]
    fn prepare_fails_when_git_archive_fails_and_leaves_no_revision() {
        let sandbox = Sandbox::new();
        let layout = Layout::new("~/shop");
        sandbox.commit("shop", id().as_str(), &[("a", "a")]);
        let ran = sandbox.run(&prepare(&layout, &id(), &"f".repeat(40), &[], &[]));
        assert_ne!(ran.status, 0);
        assert!(!sandbox
            .path("shop/releases/20240131235959-0a1b2c3/REVISION")
            .exists());
        // The half-made release goes with `remove`, temporary archive included.
        sandbox.run(&remove(&layout, &id())).ok();
        assert_eq!(sandbox.sh("ls -A shop/releases"), "");
        assert_eq!(sandbox.sh("git --git-dir=shop/repo.git for-each-ref"), "");
    }

    #[test]
    fn prepare_never_writes_into_an_existing_release() {
        let sandbox = Sandbox::new();
        let layout = Layout::new("~/shop");
        let sha = sandbox.commit("shop", id().as_str(), &[("a", "a")]);
        sandbox.run(&prepare(&layout, &id(), &sha, &[], &[])).ok();
        let ran = sandbox.run(&prepare(&layout, &id(), &sha, &[], &[]));
        assert_eq!(ran.status, EXISTS, "{}", ran.stderr);
    }

    fn built(hooks: &[&str], timeout: Duration) -> (Sandbox, crate::plan::sandbox::Ran) {
        let sandbox = Sandbox::new();
        let layout = Layout::new("~/shop");
        let sha = sandbox.commit("shop", id().as_str(), &[("a", "a")]);
        sandbox.run(&prepare(&layout, &id(), &sha, &[], &[])).ok();
        let ran = sandbox.run(&build(&layout, &id(), &strings(hooks), &env(), timeout));
        (sandbox, ran)
    }

    #[test]
    fn hooks_run_in_order_in_the_release_with_the_env_and_no_stdin() {
        let (sandbox, ran) = built(
            &[
                "cat",
                "printf '%s|%s' \"$NODE_ENV\" \"$GREETING\" > out",
                "pwd -P > where",
            ],
            Duration::from_secs(60),
        );
        let ran = ran.ok();
        assert_eq!(
            ran.stdout,
            "deliver: hook 1/3: cat\n\
             deliver: hook 2/3: printf '%s|%s' \"$NODE_ENV\" \"$GREETING\" > out\n\
             deliver: hook 3/3: pwd -P > where\n"
        );
        let release = sandbox.path("shop/releases/20240131235959-0a1b2c3");
        assert_eq!(
            std::fs::read_to_string(release.join("out")).unwrap(),
            "production|x\"; touch pwned # $(touch pwned2) 'q'"
        );
        assert_eq!(
            std::fs::read_to_string(release.join("where"))
                .unwrap()
                .trim(),
            release.canonicalize().unwrap().to_str().unwrap()
        );
        assert!(!sandbox.path("pwned").exists() && !release.join("pwned").exists());
        assert!(!sandbox.path("pwned2").exists() && !release.join("pwned2").exists());
    }

    #[test]
    fn a_failing_hook_exits_hook_failed_and_names_the_hook() {
        let (sandbox, ran) = built(
            &["true", "echo building; exit 3", "touch never"],
            Duration::from_secs(60),
        );
        assert_eq!(ran.status, HOOK_FAILED);
        assert!(ran
            .stdout
            .ends_with("deliver: hook 2/3: echo building; exit 3\nbuilding\n"));
        assert_eq!(
            ran.stderr,
            "deliver: hook 2/3 failed with status 3: echo building; exit 3\n"
        );
        assert!(!sandbox
            .path("shop/releases/20240131235959-0a1b2c3/never")
            .exists());
    }

    #[test]
    fn a_hook_exiting_124_early_is_a_failure_not_a_timeout() {
        let (_sandbox, ran) = built(&["exit 124"], Duration::from_secs(60));
        assert_eq!(ran.status, HOOK_FAILED);
    }

    #[test]
    fn a_hook_past_its_timeout_exits_hook_timeout() {
        let started = std::time::Instant::now();
        let (_sandbox, ran) = built(&["sleep 30"], Duration::from_millis(300));
        assert_eq!(ran.status, HOOK_TIMEOUT, "{}", ran.stderr);
        assert_eq!(
            ran.stderr,
            "deliver: hook 1/1 timed out after 1s: sleep 30\n"
        );
        assert!(started.elapsed() < Duration::from_secs(20));
    }

    #[test]
    fn timeouts_round_up_to_whole_seconds() {
        assert_eq!(timeout_seconds(Duration::ZERO), 1);
        assert_eq!(timeout_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(timeout_seconds(Duration::from_secs(600)), 600);
    }

    #[test]
    fn run_command_has_the_env_and_shared_env_in_the_release() {
        let sandbox = Sandbox::new();
        let layout = Layout::new("~/shop");
        let sha = sandbox.commit("shop", id().as_str(), &[("a", "a")]);
        sandbox.run(&prepare(&layout, &id(), &sha, &[], &[])).ok();
        sandbox.sh("mkdir -p shop/shared && printf 'SECRET=s3cret\\nNODE_ENV=staging\\n' > shop/shared/.env");
        let ran = sandbox
            .run(&run_command(
                &layout,
                &id(),
                &env(),
                "printf '%s|%s|%s' \"$SECRET\" \"$NODE_ENV\" \"$(basename \"$(pwd -P)\")\"",
            ))
            .ok();
        assert_eq!(ran.stdout, "s3cret|staging|20240131235959-0a1b2c3");
        let failing = sandbox.run(&run_command(&layout, &id(), &env(), "exit 9"));
        assert_eq!(failing.status, 9);
    }

    #[test]
    fn remove_refuses_the_current_release() {
        let sandbox = Sandbox::new();
        let layout = Layout::new("~/shop");
        let sha = sandbox.commit("shop", id().as_str(), &[("a", "a")]);
        sandbox.run(&prepare(&layout, &id(), &sha, &[], &[])).ok();
        sandbox.sh("ln -s releases/20240131235959-0a1b2c3 shop/current");
        let ran = sandbox.run(&remove(&layout, &id()));
        assert_eq!(ran.status, IS_CURRENT);
        assert!(sandbox
            .path("shop/releases/20240131235959-0a1b2c3/REVISION")
            .exists());
    }

    #[test]
    fn set_aside_hides_the_release_at_once_and_sweep_deletes_it_later() {
        let sandbox = Sandbox::new();
        let layout = Layout::new("~/shop");
        let sha = sandbox.commit("shop", id().as_str(), &[("a", "a")]);
        sandbox.run(&prepare(&layout, &id(), &sha, &[], &[])).ok();
        sandbox.sh("chmod a-w shop/releases/20240131235959-0a1b2c3");
        sandbox.run(&set_aside(&layout, &id())).ok();
        // Gone from every listing of releases, and its ref too; its files still there.
        assert_eq!(sandbox.sh("ls shop/releases"), "");
        assert_eq!(sandbox.sh("git --git-dir=shop/repo.git for-each-ref"), "");
        let hidden = sandbox.sh("ls -A shop/releases");
        assert!(
            hidden.starts_with(".deleting-20240131235959-0a1b2c3."),
            "{hidden}"
        );
        let facts = sandbox.run(&crate::plan::facts::gather(
            &layout,
            &crate::config::AppName("shop".to_owned()),
            crate::config::Supervisor::SystemdUser,
            crate::plan::facts::Depth::Layout,
        ));
        assert!(facts.ok().stdout.contains("set_aside=yes\n"));
        sandbox.run(&sweep(&layout)).ok();
        assert_eq!(sandbox.sh("ls -A shop/releases"), "");
        // Nothing to sweep is no error.
        sandbox.run(&sweep(&layout)).ok();
    }

    #[test]
    fn stop_hook_ends_the_hooks_timeout_and_nothing_else() {
        let sandbox = Sandbox::new();
        let layout = Layout::new("~/shop");
        sandbox.sh("mkdir -p shop/releases");
        let pid_file = sandbox.path("shop/releases/.20240131235959-0a1b2c3.hook");
        let spawn = |args: &[&str]| {
            std::process::Command::new(args[0])
                .args(&args[1..])
                .spawn()
                .unwrap()
        };
        let mut other = spawn(&["sleep", "30"]);
        std::fs::write(&pid_file, format!("{}\n", other.id())).unwrap();
        sandbox.run(&stop_hook(&layout, &id())).ok();
        assert!(other.try_wait().unwrap().is_none(), "not a timeout: killed");
        other.kill().unwrap();
        other.wait().unwrap();
        let mut hook = spawn(&["timeout", "30", "sleep", "30"]);
        std::fs::write(&pid_file, format!("{}\n", hook.id())).unwrap();
        sandbox.run(&stop_hook(&layout, &id())).ok();
        // Ended by the SIGTERM (timeout passes it on, or dies of it if it came first).
        let t = std::time::Instant::now();
        while hook.try_wait().unwrap().is_none() {
            assert!(t.elapsed() < Duration::from_secs(5), "the timeout lives on");
            std::thread::sleep(Duration::from_millis(20));
        }
        // No pid file: nothing to do.
        std::fs::remove_file(&pid_file).unwrap();
        sandbox.run(&stop_hook(&layout, &id())).ok();
    }

    #[test]
    fn remove_empties_read_only_directories() {
        let sandbox = Sandbox::new();
        let layout = Layout::new("~/shop");
        sandbox.sh(
            "mkdir -p shop/releases/20240131235959-0a1b2c3/cache/mod && \
             touch shop/releases/20240131235959-0a1b2c3/cache/mod/f && \
             chmod -R a-w shop/releases/20240131235959-0a1b2c3/cache",
        );
        sandbox.run(&remove(&layout, &id())).ok();
        assert!(!sandbox
            .path("shop/releases/20240131235959-0a1b2c3")
            .exists());
    }

    #[test]
    fn a_release_is_marked_building_until_complete_and_cannot_go_current_before() {
        let sandbox = Sandbox::new();
        let layout = Layout::new("~/shop");
        let sha = sandbox.commit("shop", id().as_str(), &[("a", "a")]);
        sandbox.run(&files(&layout, &id(), &sha, &[], &[])).ok();
        let dir = sandbox.path("shop/releases/20240131235959-0a1b2c3");
        assert!(dir.join(BUILDING).exists());
        assert!(
            dir.join("REVISION").exists(),
            "the build hooks may read REVISION"
        );
        let facts = sandbox
            .run(&crate::plan::facts::gather(
                &layout,
                &crate::config::AppName("shop".to_owned()),
                crate::config::Supervisor::SystemdUser,
                crate::plan::facts::Depth::Layout,
            ))
            .ok();
        assert!(
            facts.stdout.contains("release=20240131235959-0a1b2c3\t\n"),
            "a release still building has no sha: {}",
            facts.stdout
        );
        let swap = sandbox.run(&crate::plan::switch::swap_current(&layout, &id()));
        assert_eq!(
            swap.status,
            crate::plan::switch::NO_RELEASE,
            "{}",
            swap.stderr
        );
        assert!(!sandbox.path("shop/current").exists());
        sandbox.run(&complete(&layout, &id())).ok();
        assert!(!dir.join(BUILDING).exists());
        sandbox
            .run(&crate::plan::switch::swap_current(&layout, &id()))
            .ok();
    }
}
