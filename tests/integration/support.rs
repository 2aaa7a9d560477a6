//! The `Test` builder: a temporary app directory with deliver.toml, Procfile and other files,
//! then one `deliver` run whose status, stdout and stderr are checked. And [`App`], the
//! examples/node-app repository that the end-to-end tests deploy to the test bed.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use assert_cmd::Command;

use crate::testbed::Testbed;

/// Removes the common leading indentation of `text` and a leading newline, so fixtures can
/// be written indented in the test source.
pub fn unindent(text: &str) -> String {
    let text = text.strip_prefix('\n').unwrap_or(text);
    let indent = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut out: String = text
        .lines()
        .map(|l| l.get(indent..).unwrap_or("").trim_end())
        .collect::<Vec<_>>()
        .join("\n");
    out.push('\n');
    out
}

#[must_use]
pub struct Test {
    dir: tempfile::TempDir,
    args: Vec<String>,
    env: Vec<(String, String)>,
    status: i32,
    stdout: Vec<String>,
    stderr: Vec<String>,
    not_stdout: Vec<String>,
}

impl Test {
    pub fn new() -> Test {
        Test {
            dir: tempfile::tempdir().expect("temp dir"),
            args: Vec::new(),
            env: Vec::new(),
            status: 0,
            stdout: Vec::new(),
            stderr: Vec::new(),
            not_stdout: Vec::new(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn file(self, name: &str, text: &str) -> Test {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, unindent(text)).expect("write fixture");
        self
    }

    pub fn toml(self, text: &str) -> Test {
        self.file("deliver.toml", text)
    }

    pub fn procfile(self, text: &str) -> Test {
        self.file("Procfile", text)
    }

    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Test {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Test {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn status(mut self, code: i32) -> Test {
        self.status = code;
        self
    }

    /// stdout must contain `text`.
    pub fn stdout(mut self, text: &str) -> Test {
        self.stdout.push(text.into());
        self
    }

    pub fn not_stdout(mut self, text: &str) -> Test {
        self.not_stdout.push(text.into());
        self
    }

    /// stderr must contain `text`.
    pub fn stderr(mut self, text: &str) -> Test {
        self.stderr.push(text.into());
        self
    }

    /// Runs `deliver` in the temp dir and checks everything; returns the output and the
    /// directory (kept alive) for further checks.
    pub fn run(self) -> (Output, tempfile::TempDir) {
        let mut cmd = Command::cargo_bin("deliver").expect("deliver binary");
        cmd.current_dir(self.dir.path())
            .args(&self.args)
            .env_remove("NO_COLOR")
            .env("DELIVER_SSH_CONFIG", "/dev/null");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run deliver");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let shown = format!(
            "deliver {:?}\n--- status {:?}\n--- stdout\n{stdout}--- stderr\n{stderr}",
            self.args,
            out.status.code()
        );
        assert_eq!(
            out.status.code(),
            Some(self.status),
            "wrong status\n{shown}"
        );
        for s in &self.stdout {
            assert!(stdout.contains(s.as_str()), "stdout lacks {s:?}\n{shown}");
        }
        for s in &self.not_stdout {
            assert!(!stdout.contains(s.as_str()), "stdout has {s:?}\n{shown}");
        }
        for s in &self.stderr {
            assert!(stderr.contains(s.as_str()), "stderr lacks {s:?}\n{shown}");
        }
        (out, self.dir)
    }
}

/// The repository root (for examples/).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The app name of [`App`]'s deliver.toml.
pub const APP: &str = "node-app";

/// A git repository holding a copy of examples/node-app and a HOME whose `~/.ssh/config`
/// includes the test bed's: what the end-to-end tests deploy. Its deliver.toml has the
/// environment `tb` (the default) with the hosts given to [`App::new`], and `fresh` with those
/// given to [`App::with_fresh`] (hosts left undeployed, for `setup` and `check`).
pub struct App {
    dir: tempfile::TempDir,
    pub home: PathBuf,
    hosts: Vec<String>,
    fresh: Vec<String>,
}

impl App {
    pub fn new(tb: &Testbed, hosts: &[&str]) -> App {
        App::with_fresh(tb, hosts, &[])
    }

    pub fn with_fresh(tb: &Testbed, hosts: &[&str], fresh: &[&str]) -> App {
        let dir = tempfile::tempdir().expect("temp dir");
        let src = repo_root().join("examples/node-app");
        for f in [
            "server.js",
            "worker.js",
            "build.js",
            "package.json",
            "Procfile",
        ] {
            std::fs::copy(src.join(f), dir.path().join(f)).expect("copy examples/node-app");
        }
        std::fs::write(dir.path().join(".gitignore"), "/build\n/.home\n").unwrap();
        let home = dir.path().join(".home");
        std::fs::create_dir_all(home.join(".ssh")).unwrap();
        let app = App {
            dir,
            home,
            hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
            fresh: fresh.iter().map(|h| (*h).to_owned()).collect(),
        };
        app.ssh_config("", tb);
        app.config("");
        app.git(&["init", "-q", "-b", "main"]);
        app.commit("first");
        app
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes deliver.toml: the example's settings and `extra` top-level lines.
    pub fn config(&self, extra: &str) {
        self.config_env(extra, &[]);
    }

    /// As [`App::config`], with these `[env]` variables besides `NODE_ENV`.
    pub fn config_env(&self, extra: &str, env: &[(&str, &str)]) {
        self.config_with(extra, env, "");
    }

    /// As [`App::config_env`], with `rollout` lines in `[rollout]` (after `stop_timeout`),
    /// e.g. `mode = "surge"`.
    pub fn config_with(&self, extra: &str, env: &[(&str, &str)], rollout: &str) {
        let list = |hosts: &[String]| {
            hosts
                .iter()
                .map(|h| format!("{h:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut toml = format!(
            "app = \"{APP}\"\ndefault_environment = \"tb\"\nkeep_releases = 3\n\
             linked_dirs = [\"log\"]\nlinked_files = [\".env\"]\n{extra}\n\
             [env]\nNODE_ENV = \"production\"\n"
        );
        for (k, v) in env {
            let _ = writeln!(toml, "{k} = {}", toml::Value::String((*v).to_owned()));
        }
        let _ = write!(
            toml,
            "[build]\nhooks = [\"node build.js\"]\n[processes]\nweb = 2\nworker = 1\n\
             [health]\ndeadline = \"20s\"\n[rollout]\nstop_timeout = \"10s\"\n{rollout}\n\
             [environments.tb]\nhosts = [{}]\n",
            list(&self.hosts)
        );
        if !self.fresh.is_empty() {
            let _ = writeln!(
                toml,
                "[environments.fresh]\nhosts = [{}]",
                list(&self.fresh)
            );
        }
        std::fs::write(self.path().join("deliver.toml"), toml).unwrap();
    }

    /// `~/.ssh/config`: `first` lines (which win over the test bed's), then the test bed's.
    pub fn ssh_config(&self, first: &str, tb: &Testbed) {
        std::fs::write(
            self.home.join(".ssh/config"),
            format!("{first}Include {}\n", tb.ssh_config().display()),
        )
        .unwrap();
    }

    pub fn git(&self, args: &[&str]) -> String {
        let out = std::process::Command::new("git")
            .current_dir(self.path())
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
        text(&out.stdout).trim().to_string()
    }

    /// Commits everything; returns the sha.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }

    /// deliver in the app with its HOME (and no `DELIVER_*` overrides), not started yet.
    pub fn command(&self, args: &[&str]) -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_deliver"));
        command
            .current_dir(self.path())
            .args(args)
            .env("HOME", &self.home)
            .env("CI", "true")
            .env_remove("DELIVER_SSH_CONFIG")
            .env_remove("DELIVER_SSH_KEY")
            .env_remove("DELIVER_KNOWN_HOSTS")
            .stdin(Stdio::null());
        command
    }

    /// Runs deliver in the app with its HOME (and no `DELIVER_*` overrides).
    pub fn deliver(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Runs deliver, checks its exit status, returns its stdout.
    pub fn ok(&self, args: &[&str], code: i32) -> String {
        let out = self.deliver(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "deliver {args:?}\n{}",
            shown(&out)
        );
        text(&out.stdout)
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A finished command's status, stdout and stderr, for assertion messages.
pub fn shown(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    )
}

/// `cmd` as app on `host`; its stdout, trimmed.
pub fn on(tb: &Testbed, host: &str, cmd: &str) -> String {
    text(&tb.ssh(host, cmd).stdout).trim().to_string()
}

/// Ports 5000 and 5001 of `host` answer with the build of commit `sha`.
pub fn assert_answers(tb: &Testbed, host: &str, sha: &str) {
    for port in [5000, 5001] {
        let body = on(tb, host, &format!("curl -s --max-time 2 localhost:{port}/"));
        assert!(
            body.contains(&format!("revision={}", &sha[..7])),
            "{host}:{port} answers {body:?}, not revision {}",
            &sha[..7]
        );
    }
}

/// Starts a deploy of a new commit whose build sleeps `secs` more, and returns once it holds
/// the lock on `host`: another run meets that lock while it lasts.
pub fn deploy_holding_the_lock(
    tb: &Testbed,
    app: &App,
    host: &str,
    secs: u32,
) -> std::process::Child {
    deploy_holding_the_lock_with(tb, app, &[], host, secs)
}

/// As [`deploy_holding_the_lock`], with `args` for that deploy (e.g. another environment).
pub fn deploy_holding_the_lock_with(
    tb: &Testbed,
    app: &App,
    args: &[&str],
    host: &str,
    secs: u32,
) -> std::process::Child {
    let path = app.path().join("deliver.toml");
    let toml = std::fs::read_to_string(&path).unwrap();
    let slow = toml.replace(
        "hooks = [\"node build.js\"]",
        &format!("hooks = [\"node build.js\", \"sleep {secs}\"]"),
    );
    assert_ne!(slow, toml, "deliver.toml has the example's build hook");
    std::fs::write(&path, slow).unwrap();
    app.commit("a slow build");
    let holder = app
        .command(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = std::time::Instant::now();
    while on(
        tb,
        host,
        &format!("test -d {APP}/.deliver/lock && echo held"),
    ) != "held"
    {
        assert!(
            t.elapsed() < std::time::Duration::from_secs(20),
            "the holder took no lock"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    holder
}
