//! The `Test` builder: a temporary app directory with deliver.toml, Procfile and other files,
//! then one `deliver` run whose status, stdout and stderr are checked.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

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
