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
        Testbed::start(n, "", None, "unified")
    }

    /// As `up`, and each host's systemd runs with the hybrid cgroup layout, the controllers of
    /// this machine's cgroup v1 hierarchies (memory among them) rooted at a cgroup of the
    /// host's own: there `MemoryMax=` is enforced where the default hosts' cgroup2 has no
    /// memory controller (`TB_HOST_CGROUP=hybrid`).
    pub(crate) fn up_with_cgroup_v1(n: usize) -> Testbed {
        Testbed::start(n, "", None, "hybrid")
    }

    /// As `up`, but in every host `app`'s sudo rights are exactly `rules`, a sudoers file
    /// (such as the one `deliver setup` prints), instead of the test bed's own rules; an empty
    /// `rules` grants none (`TB_SUDO_RULES`).
    pub(crate) fn up_with_sudo_rules(n: usize, rules: &str) -> Testbed {
        Testbed::start(n, "", Some(rules), "unified")
    }

    /// As `up`, and `proxy` (one of the hosts, e.g. `h3`) also runs nginx on port 80: there
    /// app may write `/etc/nginx/conf.d/*.conf` and run `sudo -n nginx -t` and
    /// `sudo -n systemctl reload nginx`. The `[proxy] hosts` of a `deliver.toml`.
    pub(crate) fn up_with_proxy_host(n: usize, proxy: &str) -> Testbed {
        Testbed::start(n, proxy, None, "unified")
    }

    fn start(n: usize, proxy_hosts: &str, sudo_rules: Option<&str>, cgroup: &str) -> Testbed {
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
        let rules_file = bed.state.join("sudo_rules.wanted");
        let rules_env = match sudo_rules {
            Some(rules) => {
                std::fs::write(&rules_file, rules).expect("write the sudo rules");
                rules_file.into_os_string()
            }
            None => "".into(),
        };
        let up = bed
            .script()
            .args(["up", &n.to_string()])
            .env("TB_PROXY_HOSTS", proxy_hosts)
            .env("TB_SUDO_RULES", rules_env)
            .env("TB_HOST_CGROUP", cgroup)
            .output()
            .expect("run testbed.sh up");
        check_output(&up, &format!("testbed.sh up {n}"));
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

/// On a proxy host, as app: an upstream of h1 and h2 where nginx includes `conf.d/*.conf`,
/// checked and reloaded through sudo.
const PROXY_HOST_SETUP: &str = "cat >/etc/nginx/conf.d/app-upstream.conf <<'EOF'
upstream app { server h1:5000; server h2:5000; }
server { listen 8080; location / { proxy_pass http://app; } }
EOF
sudo -n nginx -t 2>/dev/null && sudo -n systemctl reload nginx";

#[test]
fn three_hosts_take_ssh_git_push_user_units_sudo_rules_and_nginx_in_front() {
    let tb = Testbed::up_with_proxy_host(3, "h3");
    assert_eq!(tb.hosts(), ["h1", "h2", "h3"]);
    ssh_checks_host_keys_strictly(&tb);
    // Root inside a host (the fixture's back door) sees systemd as PID 1.
    let out = tb.exec("h1", "cat /proc/1/comm; id -u");
    assert_eq!(stdout(&out), "systemd\n0\n", "{}", stderr(&out));
    git_push_lands_the_commit_on_each_host(&tb);
    // A `systemctl --user` unit on each host, started as app (linger: no session needed).
    for h in &tb.hosts() {
        let out = tb.ssh(h, WEB_UNIT);
        assert_eq!(stdout(&out), "active\n", "{h}: {}", stderr(&out));
    }
    sudo_allows_only_the_app_units_and_the_proxy_reload(&tb);
    nginx_on_the_machine_serves_each_backend(&tb);
    nginx_on_the_proxy_host_serves_the_others(&tb);
}

#[test]
fn dropping_the_guard_ends_the_hosts() {
    let tb = Testbed::up(1);
    let pid = std::fs::read_to_string(tb.state.join("h1/pid")).unwrap();
    let stat = format!("/proc/{}/stat", pid.trim());
    assert!(running(&stat), "h1's PID 1 ({}) is not running", pid.trim());
    drop(tb);
    assert!(
        !running(&stat),
        "h1's PID 1 ({}) outlived the guard",
        pid.trim()
    );
}

#[test]
fn a_cgroup_v1_host_runs_systemd_hybrid_with_its_own_memory_cgroup_and_leaves_none() {
    let tb = Testbed::up_with_cgroup_v1(1);
    // systemd in h1 sees the hybrid layout, each hierarchy rooted at h1's own cgroup.
    let out = tb.exec(
        "h1",
        "stat -fc %T /sys/fs/cgroup /sys/fs/cgroup/unified /sys/fs/cgroup/memory \
         /sys/fs/cgroup/systemd",
    );
    assert_eq!(
        stdout(&out),
        "tmpfs\ncgroup2fs\ncgroupfs\ncgroupfs\n",
        "{}",
        stderr(&out)
    );
    let pid1 = stdout(&tb.exec("h1", "cat /proc/1/cgroup"));
    for want in [
        "0::/init.scope".to_owned(),
        format!("{}:memory:/init.scope", v1_id("memory")),
        format!("{}:name=systemd:/init.scope", v1_id("name=systemd")),
    ] {
        assert!(pid1.lines().any(|l| l == want), "{want:?} not in\n{pid1}");
    }
    // Its systemd writes MemoryMax= where the kernel enforces it.
    let out = tb.exec(
        "h1",
        "systemd-run -q --unit=capped -p MemoryMax=20M sleep 60 && \
         cat /sys/fs/cgroup/memory/system.slice/capped.service/memory.limit_in_bytes",
    );
    assert_eq!(stdout(&out), "20971520\n", "{}", stderr(&out));
    let mine = "/sys/fs/cgroup/memory/deliver-testbed/h1/system.slice/capped.service";
    assert!(Path::new(mine).is_dir(), "{mine}: not h1's own");
    drop(tb);
    let left: Vec<PathBuf> = std::fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .map(|d| d.unwrap().path().join("deliver-testbed"))
        .filter(|d| d.exists())
        .collect();
    assert!(left.is_empty(), "left after down: {left:?}");
}

/// The hierarchy id of a cgroup v1 `controller` (`memory`, `name=systemd`) on this machine,
/// as `/proc/PID/cgroup` numbers it.
fn v1_id(controller: &str) -> String {
    let mine = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    mine.lines()
        .find_map(|l| {
            let (id, rest) = l.split_once(':')?;
            let (names, _) = rest.split_once(':')?;
            names
                .split(',')
                .any(|n| n == controller)
                .then(|| id.to_owned())
        })
        .unwrap_or_else(|| panic!("no {controller} hierarchy in\n{mine}"))
}

/// The process of this `/proc/PID/stat` runs (a zombie does not: see testbed.sh `running`).
fn running(stat: &str) -> bool {
    std::fs::read_to_string(stat).is_ok_and(|s| {
        s.rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z'))
    })
}

fn ssh_checks_host_keys_strictly(tb: &Testbed) {
    // Each alias reaches its own host, as app, with the key in known_hosts...
    let known = std::fs::read_to_string(tb.known_hosts()).unwrap();
    for h in &tb.hosts() {
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
}

fn git_push_lands_the_commit_on_each_host(tb: &Testbed) {
    let repo = tempfile::tempdir().unwrap();
    git(repo.path(), &["init", "-q", "-b", "main"]);
    std::fs::write(repo.path().join("README"), "hello\n").unwrap();
    git(repo.path(), &["add", "README"]);
    let who = ["-c", "user.name=t", "-c", "user.email=t@t"];
    git(repo.path(), &[&who[..], &["commit", "-qm", "one"]].concat());
    let sha = stdout(&git(repo.path(), &["rev-parse", "main"]));
    for h in &tb.hosts() {
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
}

fn sudo_allows_only_the_app_units_and_the_proxy_reload(tb: &Testbed) {
    let out = tb.ssh("h2", "sudo -n systemctl daemon-reload");
    assert!(out.status.success(), "{}", stderr(&out));
    for (host, refused) in [
        ("h2", "sudo -n id"),
        ("h2", "sudo -n systemctl restart nginx"),
        ("h2", "sudo -n systemctl reload nginx"),
        ("h3", "sudo -n systemctl restart nginx"),
    ] {
        let out = tb.ssh(host, refused);
        assert!(!out.status.success(), "{host}: {refused} was allowed");
        assert!(
            stderr(&out).contains("a password is required"),
            "{host}: {refused}: {}",
            stderr(&out)
        );
    }
    // The proxy host's own rule is exercised by nginx_on_the_proxy_host_serves_the_others.
}

fn nginx_on_the_machine_serves_each_backend(tb: &Testbed) {
    let hosts = tb.hosts();
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
    // ...and in front of the upstream that `deliver export --format nginx` writes for a
    // deliver.toml whose hosts are the test bed's aliases (resolved through its ssh_config).
    let app = tempfile::tempdir().unwrap();
    std::fs::write(
        app.path().join("deliver.toml"),
        "app = \"shop\"\n[environments.testbed]\nhosts = [\"h1\", \"h2\", \"h3\"]\n",
    )
    .unwrap();
    std::fs::write(
        app.path().join("Procfile"),
        "web: python3 -m http.server $PORT\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_deliver"))
        .current_dir(app.path())
        .env("DELIVER_SSH_CONFIG", tb.ssh_config())
        .args(["export", "--format", "nginx", "-o", "nginx"])
        .output()
        .expect("run deliver export");
    check_output(&out, "deliver export --format nginx");
    let upstream = app.path().join("nginx/shop-upstream.conf");
    let text = std::fs::read_to_string(&upstream).unwrap();
    for h in &hosts {
        assert!(
            text.contains(&format!("server {}:5000 ", tb.addr(h))),
            "{text}"
        );
    }
    tb.proxy(port, [&upstream]);
    let seen = bodies_through(&front, &hosts);
    assert!(
        hosts.iter().all(|h| seen.contains(h)),
        "through the exported upstream: {seen:?}"
    );
}

fn nginx_on_the_proxy_host_serves_the_others(tb: &Testbed) {
    let out = tb.ssh("h3", PROXY_HOST_SETUP);
    check_output(&out, "h3: write the upstream, nginx -t, reload nginx");
    let want = ["h1".to_owned(), "h2".to_owned()];
    let seen = bodies_through(&format!("{}:8080", tb.addr("h3")), &want);
    assert!(
        want.iter().all(|h| seen.contains(h)) && !seen.iter().any(|b| b == "h3"),
        "through h3's nginx: {seen:?}"
    );
}
