//! The test bed fixture and the tests that prove the test bed itself.
//!
//! `Testbed::up(n)` starts hosts h1..hN with `tests/testbed/testbed.sh` (network, PID and mount
//! namespaces with systemd as PID 1, sshd, user `app`, sudo rules; see
//! `tests/testbed/README.md`) and returns a guard that runs `testbed.sh down` when dropped,
//! on unwind too. One test bed exists at a time on a machine: the guard holds an exclusive
//! lock on a file in the test bed's state directory, which serializes the tests of this
//! binary (threads) and of any other process (a second `cargo test`, another work tree).
//!
//! Needs root and the packages of `testbed.sh install`; without them the fixture panics and
//! says so. Traffic goes only to 127.0.0.1 and the test bed's own namespace addresses.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A running test bed of hosts h1..hN. Dropping it tears everything down.
pub(crate) struct Testbed {
    hosts: Vec<String>,
    state: PathBuf,
    // Held until after `drop` ran `down`: the next test bed starts only then.
    _lock: File,
}

impl Testbed {
    /// Starts hosts h1..hN (N = 1..=9) and waits until each one's sshd answers. Ends, first,
    /// whatever an earlier run left (a test process that was killed before its guard dropped).
    pub(crate) fn up(n: usize) -> Testbed {
        assert!((1..=9).contains(&n), "a test bed has 1 to 9 hosts, not {n}");
        assert!(
            is_root(),
            "the test bed needs root: it creates network namespaces, veth links, mounts and \
             cgroups for its hosts (see tests/testbed/README.md); run the tests as root, as CI does"
        );
        let check = script()
            .arg("check")
            .output()
            .expect("run testbed.sh check");
        assert!(
            check.status.success(),
            "the test bed cannot run on this machine:\n{}\ninstall what it needs with \
             `tests/testbed/testbed.sh install` (as root)",
            String::from_utf8_lossy(&check.stderr).trim_end()
        );
        let state = state_dir();
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&state)
            .expect("create the test bed's state directory");
        let lock = File::create(state.join("fixture.lock")).expect("open the fixture lock");
        lock.lock().expect("lock the fixture lock");
        // From here on, a panic drops the guard, and with it whatever `up` started.
        let bed = Testbed {
            hosts: (1..=n).map(|i| format!("h{i}")).collect(),
            state,
            _lock: lock,
        };
        bed.run(&["down"]);
        bed.run(&["up", &n.to_string()]);
        bed
    }

    /// The host aliases, `h1`..`hN`, as `ssh_config` names them.
    pub(crate) fn hosts(&self) -> Vec<String> {
        self.hosts.clone()
    }

    /// `ssh -F` this file: `Host hI` aliases, user `app`, the test key, strict host keys.
    pub(crate) fn ssh_config(&self) -> PathBuf {
        self.state.join("ssh_config")
    }

    /// The hosts' keys, as `hI,ADDRESS ssh-ed25519 KEY` lines.
    pub(crate) fn known_hosts(&self) -> PathBuf {
        self.state.join("known_hosts")
    }

    /// A `GIT_SSH_COMMAND` that reaches the hosts by alias (`git push h1:repo.git`).
    pub(crate) fn git_ssh_command(&self) -> String {
        format!("ssh -F {}", self.ssh_config().display())
    }

    /// The host's address, as ssh resolves the alias.
    pub(crate) fn addr(&self, host: &str) -> String {
        let out = self
            .ssh_command()
            .args(["-G", host])
            .output()
            .expect("run ssh -G");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("hostname ").map(str::to_owned))
            .unwrap_or_else(|| panic!("ssh -G {host} names no hostname"))
    }

    /// Runs `cmd` as `app` on `host` through the system `ssh -F <ssh_config>`.
    pub(crate) fn ssh(&self, host: &str, cmd: &str) -> Output {
        self.ssh_command()
            .args([host, cmd])
            .stdin(Stdio::null())
            .output()
            .expect("run ssh")
    }

    /// Runs `cmd` (a `sh -c` string) as root inside `host`: set-up and inspection that `app`
    /// may not do.
    pub(crate) fn exec(&self, host: &str, cmd: &str) -> Output {
        assert!(self.hosts.iter().any(|h| h == host), "{host} is not up");
        self.script()
            .args(["exec", host, "sh", "-c", cmd])
            .stdin(Stdio::null())
            .output()
            .expect("run testbed.sh exec")
    }

    /// nginx on 127.0.0.1:`port` in front of `ADDR:PORT` backends, or of the `upstream` in
    /// one file (what `deliver export --format nginx` writes). Again: reconfigures it.
    pub(crate) fn proxy<I, S>(&self, port: u16, upstream: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.script();
        cmd.arg("proxy").arg(port.to_string()).args(upstream);
        check_output(
            &cmd.output().expect("run testbed.sh proxy"),
            "testbed.sh proxy",
        );
    }

    fn run(&self, args: &[&str]) {
        let what = format!("testbed.sh {}", args.join(" "));
        let out = self
            .script()
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        check_output(&out, &what);
    }

    /// `testbed.sh` for this test bed's state directory.
    fn script(&self) -> Command {
        let mut cmd = script();
        cmd.env("TB_STATE", &self.state);
        cmd
    }

    fn ssh_command(&self) -> Command {
        let mut cmd = Command::new("ssh");
        cmd.arg("-F").arg(self.ssh_config());
        cmd
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        // No panic here: this also runs while a failed test unwinds.
        match self.script().arg("down").output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "testbed.sh down failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => eprintln!("testbed.sh down: {e}"),
        }
    }
}

fn script() -> Command {
    Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testbed/testbed.sh"))
}

fn check_output(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Where `testbed.sh` keeps its state, as it decides it.
fn state_dir() -> PathBuf {
    std::env::var_os("TB_STATE").map_or_else(|| "/var/lib/deliver-testbed".into(), PathBuf::from)
}

fn is_root() -> bool {
    // The effective uid, second field of `Uid:`; no libc for one number.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A port on 127.0.0.1 that nothing listened on a moment ago.
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local address").port()
}

/// One `GET path` over HTTP/1.0 (the server closes): the status code and the body.
fn http_get(addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr.parse().expect("an IP:PORT"), TIMEOUT)?;
    s.set_read_timeout(Some(TIMEOUT))?;
    s.set_write_timeout(Some(TIMEOUT))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: testbed\r\n\r\n")?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    let status = resp
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_owned());
    Ok((status, body))
}

const TIMEOUT: Duration = Duration::from_secs(2);

/// GETs `addr` until every one of `want` has answered 200 with its body, within 10 s and
/// 200 requests. Returns the bodies seen, in order.
fn bodies_through(addr: &str, want: &[String]) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    for _ in 0..200 {
        if want.iter().all(|w| seen.contains(w)) || Instant::now() > deadline {
            break;
        }
        match http_get(addr, "/") {
            Ok((200, body)) => seen.push(body.trim().to_owned()),
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    seen
}

fn git(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .expect("run git");
    check_output(&out, &format!("git {}", args.join(" ")));
    out
}

/// A user unit serving `~/www` (whose index names the host) on port 5000.
const WEB_UNIT: &str = "mkdir -p www .config/systemd/user && hostname >www/index.html &&
cat >.config/systemd/user/app-web.service <<'EOF'
[Unit]
Description=test bed backend
[Service]
ExecStart=/usr/bin/python3 -m http.server 5000 --bind 0.0.0.0 --directory %h/www
EOF
systemctl --user daemon-reload && systemctl --user start app-web &&
systemctl --user is-active app-web";

#[test]
fn three_hosts_take_ssh_git_push_user_units_sudo_rules_and_nginx_in_front() {
    let tb = Testbed::up(3);
    let hosts = tb.hosts();
    assert_eq!(hosts, ["h1", "h2", "h3"]);

    // ssh, strict host keys: each alias reaches its own host, as app.
    let known = std::fs::read_to_string(tb.known_hosts()).unwrap();
    for h in &hosts {
        assert!(
            known.lines().any(|l| l.starts_with(&format!("{h},"))),
            "{known}"
        );
        let out = tb.ssh(h, "echo $(hostname) $(id -un)");
        assert_eq!(stdout(&out), format!("{h} app\n"), "{}", stderr(&out));
    }
    // ...and with no known key for the host, ssh refuses to connect.
    let empty = tempfile::NamedTempFile::new().unwrap();
    let out = tb
        .ssh_command()
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", empty.path().display()))
        .args(["h1", "true"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Host key verification failed"),
        "{}",
        stderr(&out)
    );

    // Root inside a host (the fixture's back door) sees systemd as PID 1.
    let out = tb.exec("h1", "cat /proc/1/comm; id -u");
    assert_eq!(stdout(&out), "systemd\n0\n", "{}", stderr(&out));

    // git push into a bare repo on each host lands the very commit.
    let repo = tempfile::tempdir().unwrap();
    git(repo.path(), &["init", "-q", "-b", "main"]);
    std::fs::write(repo.path().join("README"), "hello\n").unwrap();
    git(repo.path(), &["add", "README"]);
    git(
        repo.path(),
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            "one",
        ],
    );
    let sha = stdout(&git(repo.path(), &["rev-parse", "main"]));
    for h in &hosts {
        check_output(&tb.ssh(h, "git init -q --bare repo.git"), "git init --bare");
        let out = Command::new("git")
            .arg("-C")
            .arg(repo.path())
            .args(["push", "-q", &format!("{h}:repo.git"), "main"])
            .env("GIT_SSH_COMMAND", tb.git_ssh_command())
            .output()
            .unwrap();
        check_output(&out, &format!("git push {h}:repo.git"));
        let out = tb.ssh(h, "git --git-dir=repo.git rev-parse main");
        assert_eq!(stdout(&out), sha, "{h}: {}", stderr(&out));
    }

    // A `systemctl --user` unit, started as app (linger: no login session needed).
    for h in &hosts {
        let out = tb.ssh(h, WEB_UNIT);
        assert_eq!(stdout(&out), "active\n", "{h}: {}", stderr(&out));
    }

    // sudo: systemctl on the app's own units and daemon-reload, nothing else.
    let out = tb.ssh("h2", "sudo -n systemctl daemon-reload");
    assert!(out.status.success(), "{}", stderr(&out));
    for refused in ["sudo -n id", "sudo -n systemctl restart nginx"] {
        let out = tb.ssh("h2", refused);
        assert!(!out.status.success(), "{refused} was allowed");
        assert!(
            stderr(&out).contains("a password is required"),
            "{refused}: {}",
            stderr(&out)
        );
    }

    // nginx on 127.0.0.1 in front of the three backends: 200s with each host's content.
    let port = free_port();
    let front = format!("127.0.0.1:{port}");
    let backends: Vec<String> = hosts
        .iter()
        .map(|h| format!("{}:5000", tb.addr(h)))
        .collect();
    tb.proxy(port, &backends);
    let seen = bodies_through(&front, &hosts);
    for h in &hosts {
        assert!(
            seen.contains(h),
            "no 200 from {h} through nginx; saw {seen:?}"
        );
    }
    // ...and in front of an `upstream` file that names hosts by alias, as an export would.
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), "upstream shop {\n  server h2:5000;\n}\n").unwrap();
    tb.proxy(port, [file.path()]);
    for _ in 0..6 {
        let got = http_get(&front, "/").unwrap();
        assert_eq!((got.0, got.1.trim()), (200, "h2"));
    }
}
