//! Test support: runs scripts with the local `sh -s` the way `remote::` runs them on a host
//! (script on stdin, the home directory as working directory), in a temporary home. Only
//! compiled for tests; it does the I/O the builders themselves never do.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::Script;

/// What a script run returned.
#[derive(Debug)]
pub struct Ran {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// Panics with the script's output unless it exited 0.
    pub fn ok(self) -> Ran {
        assert_eq!(
            self.status, 0,
            "script failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// A temporary home directory.
pub struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn home(&self) -> &Path {
        self.dir.path()
    }

    /// A path under the home directory.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Runs `script` with `sh -s` in the home directory, `HOME` pointing there.
    pub fn run(&self, script: &Script) -> Ran {
        self.run_with_path(script, None)
    }

    /// [`Sandbox::run`] with `bin` (a directory of stub programs) first in `PATH`.
    pub fn run_with_path(&self, script: &Script, bin: Option<&Path>) -> Ran {
        let path = std::env::var("PATH").unwrap_or_default();
        let path = match bin {
            Some(bin) => format!("{}:{path}", bin.display()),
            None => path,
        };
        let mut child = Command::new("sh")
            .arg("-s")
            .env("PATH", path)
            .current_dir(self.home())
            .env("HOME", self.home())
            .env("USER", "app")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sh");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(script.render().as_bytes())
            .expect("write script");
        let out = child.wait_with_output().expect("wait for sh");
        Ran {
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Writes an executable `name` into `bin/` of the sandbox (created if needed); returns
    /// that directory, for [`Sandbox::run_with_path`].
    pub fn stub(&self, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let bin = self.path("bin");
        std::fs::create_dir_all(&bin).expect("bin dir");
        let file = bin.join(name);
        std::fs::write(&file, format!("#!/bin/sh\n{body}\n")).expect("write stub");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        bin
    }

    /// A git repository `src` with `files` committed, pushed into `<base>/repo.git` (created
    /// if missing) as `refs/releases/<id>`; returns the commit's sha.
    pub fn commit(&self, base: &str, id: &str, files: &[(&str, &str)]) -> String {
        let src = self.path("src");
        for (name, contents) in files {
            let file = src.join(name);
            std::fs::create_dir_all(file.parent().expect("a parent")).expect("mkdir");
            std::fs::write(file, contents).expect("write");
        }
        let repo = crate::shell::quote(&format!("{base}/repo.git"));
        self.sh(&format!(
            "set -e; [ -f {repo}/HEAD ] || git init -q --bare {repo}\n\
             cd src; [ -d .git ] || git init -q; git add -A; git commit -q -m commit\n\
             git push -q ../{repo} HEAD:refs/releases/{id}"
        ));
        self.sh("git -C src rev-parse HEAD").trim().to_owned()
    }

    /// Runs a command in the home directory; panics when it fails.
    pub fn sh(&self, text: &str) -> String {
        let out = Command::new("sh")
            .arg("-c")
            .arg(text)
            .current_dir(self.home())
            .env("HOME", self.home())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .output()
            .expect("sh");
        assert!(
            out.status.success(),
            "`{text}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}
