//! Faults on the test bed (issue 12): a host silent, unreachable or reset (`network`), a
//! release that never becomes healthy (`app`), signals, `kill -9` and a second deploy
//! (`signals`), SIGINT and SIGTERM in each phase of a run (`interrupts`), a full disk
//! (`disk`), and the proxy host gone silent during a drain or a surge flip (`proxy`). Each case asserts the exit code, that the output names the host and the
//! step, how soon deliver exits (generous bounds: hangs, not benchmarks), and on every host
//! deliver can reach: `current` at a complete release serving its version, no lock, no
//! release dir left from the failed run. The helpers are here.

mod app;
mod disk;
mod interrupts;
mod network;
mod proxy;
mod signals;

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::{assert_answers, on, shown, text, App, APP};
use crate::testbed::Testbed;

/// The machine's end of `host`'s link (testbed.sh: veth `dtb-hIv` on the bridge).
fn link(host: &str) -> String {
    format!("dtb-{host}v")
}

/// Takes `host`'s link down (`false`): its packets are dropped without a word, as when a
/// server or its network dies; or up again.
fn set_link(host: &str, up: bool) {
    let state = if up { "up" } else { "down" };
    let out = Command::new("ip")
        .args(["link", "set", &link(host), state])
        .output()
        .expect("ip");
    assert!(
        out.status.success(),
        "ip link set {} {state}: {}",
        link(host),
        text(&out.stderr)
    );
}

/// Takes `host`'s link down until the guard drops (the test ends, whatever happened).
struct Unlinked(&'static str);

impl Unlinked {
    fn now(host: &'static str) -> Unlinked {
        let guard = Unlinked(host);
        set_link(host, false);
        guard
    }
}

impl Drop for Unlinked {
    fn drop(&mut self) {
        set_link(self.0, true);
    }
}

/// deliver in the app, spawned.
fn spawn(app: &App, args: &[&str]) -> Child {
    app.command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn deliver")
}

/// Sends `signal` (`INT`, `TERM`) to `child`.
fn signal(child: &Child, signal: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success(), "kill -{signal}");
}

/// A finished run: its exit code, stdout and stderr together, how long it ran after the
/// fault, and the whole output for assertion messages.
struct Run {
    code: Option<i32>,
    all: String,
    took: Duration,
    shown: String,
}

impl Run {
    /// Waits for `child` at most `limit` after `since` (then kills it and fails the test: it
    /// hangs).
    fn finish(mut child: Child, since: Instant, limit: Duration) -> Run {
        loop {
            if child.try_wait().expect("try_wait").is_some() {
                let took = since.elapsed();
                return Run::of(&child.wait_with_output().expect("output"), took);
            }
            if since.elapsed() > limit {
                let _ = child.kill();
                let out = child.wait_with_output().expect("output");
                panic!(
                    "deliver still ran after {limit:?}: it hangs\n{}",
                    shown(&out)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `deliver` in the app, run to its end (at most `limit`).
    fn deliver(app: &App, limit: Duration) -> Run {
        let t = Instant::now();
        Run::finish(spawn(app, &[]), t, limit)
    }

    fn of(out: &Output, took: Duration) -> Run {
        Run {
            code: out.status.code(),
            all: format!("{}{}", text(&out.stdout), text(&out.stderr)),
            took,
            shown: shown(out),
        }
    }

    /// Asserts that the output has `line`.
    fn says(&self, line: &str) {
        assert!(self.all.contains(line), "no `{line}`\n{}", self.shown);
    }

    /// Exit `code` within `within`, and a line naming `host` with each of `parts` (the step,
    /// why). Prints the figures for the table.
    fn expect(&self, fault: &str, code: i32, within: Duration, host: &str, parts: &[&str]) {
        eprintln!(
            "{fault}: exit {:?} after {:.1} s",
            self.code,
            self.took.as_secs_f64()
        );
        assert_eq!(self.code, Some(code), "{fault}\n{}", self.shown);
        assert!(
            self.took < within,
            "{fault}: exited after {:?}\n{}",
            self.took,
            self.shown
        );
        let line = self
            .all
            .lines()
            .find(|l| l.contains(host) && parts.iter().all(|p| l.contains(p)));
        assert!(
            line.is_some(),
            "{fault}: no line names {host} with {parts:?}\n{}",
            self.shown
        );
        eprintln!("  {}", line.unwrap_or_default());
        if std::env::var_os("FAULTS_SHOW").is_some() {
            eprintln!("{}", self.shown);
        }
    }
}

/// Waits until `host` runs a process of app's whose command line starts with `pattern` (an
/// ERE). Anchored: the shell that runs this `pgrep` has `pattern` in its own command line.
/// Looked at from inside the host, not over SSH: a throttled link would delay the look.
fn wait_for_process(tb: &Testbed, host: &str, pattern: &str) {
    let t = Instant::now();
    while text(
        &tb.exec(
            host,
            &format!("pgrep -u app -f '^{pattern}' >/dev/null && echo yes"),
        )
        .stdout,
    )
    .trim()
        != "yes"
    {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "{host}: no {pattern} running"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until `host`'s `current` points at a release of commit `sha`.
fn wait_for_switch(tb: &Testbed, host: &str, sha: &str) {
    let t = Instant::now();
    while !on(tb, host, &format!("readlink {APP}/current")).ends_with(&sha[..7]) {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "{host}: `current` never moved to {sha}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What a host keeps of deliver's run: its lock dir, and the release dirs.
fn lock_and_releases(tb: &Testbed, host: &str) -> (String, String) {
    (
        on(
            tb,
            host,
            &format!("ls -d {APP}/.deliver/lock 2>/dev/null || true"),
        ),
        on(tb, host, &format!("ls {APP}/releases")),
    )
}

/// No deploy lock on `host`.
fn assert_no_lock(tb: &Testbed, host: &str) {
    let lock = on(
        tb,
        host,
        &format!("ls -d {APP}/.deliver/lock 2>/dev/null || true"),
    );
    assert_eq!(lock, "", "{host}: a lock is left");
}

/// `host` after a failed run: no lock; `current` at a complete release (`REVISION`, written
/// last) of `sha`, which its web instances serve; and every release dir complete.
fn assert_serves(tb: &Testbed, host: &str, sha: &str) {
    assert_no_lock(tb, host);
    let revision = on(tb, host, &format!("cat {APP}/current/REVISION"));
    assert_eq!(
        revision, sha,
        "{host}: `current` is not the release of {sha}"
    );
    assert_answers(tb, host, sha);
    assert_no_half_made_release(tb, host);
}

/// Every release dir on `host` is complete (`REVISION`, no building marker).
fn assert_no_half_made_release(tb: &Testbed, host: &str) {
    let half_made = on(
        tb,
        host,
        &format!(
            "for d in {APP}/releases/*/; do \
             [ -f \"$d/REVISION\" ] && [ ! -e \"$d/.deliver-building\" ] || echo \"$d\"; done"
        ),
    );
    assert_eq!(half_made, "", "{host}: half-made release dirs");
}

/// Replaces `from` with `to` in the app's `file` (which must hold it).
fn edit(app: &App, file: &str, from: &str, to: &str) {
    let path = app.path().join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{file} lacks {from:?}");
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

/// The app deployed on `hosts`, whose next commit's build (its hooks) also sleeps `secs`
/// on every host. The sha deployed, and what `h1` keeps (no lock, its releases).
fn app_with_a_slow_next_build(
    tb: &Testbed,
    hosts: &[&str],
    secs: u32,
) -> (App, String, (String, String)) {
    let app = App::new(tb, hosts);
    app.ok(&[], 0);
    let sha = app.git(&["rev-parse", "HEAD"]);
    let before = lock_and_releases(tb, "h1");
    edit(
        &app,
        "deliver.toml",
        "hooks = [\"node build.js\"]",
        &format!("hooks = [\"node build.js\", \"sleep {secs}\"]"),
    );
    app.commit("a slow build");
    // A `sleep` an earlier test's killed run left behind would pass for this run's build in
    // `wait_for_process`.
    for host in hosts {
        tb.exec(host, "pkill -u app -x sleep || true");
    }
    (app, sha, before)
}

/// The app deployed on h1 and h2; its next commit boots each web instance in `boot_ms`, so
/// that a rolling switch (one host, one instance at a time) lasts long enough to hit. The
/// sha deployed, and the next one.
fn app_with_a_slow_next_boot(tb: &Testbed, boot_ms: u32) -> (App, String, String) {
    let app = App::new(tb, &["h1", "h2"]);
    app.ok(&[], 0);
    let first = app.git(&["rev-parse", "HEAD"]);
    app.config_env("", &[("BOOT_DELAY_MS", &boot_ms.to_string())]);
    let next = app.commit("slow to boot");
    (app, first, next)
}

/// Waits until `done` holds, at most `limit` (then fails the test, saying `what`).
fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let t = Instant::now();
    while !done() {
        assert!(t.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Slows `host`'s link to `rate` (a `tc` rate, e.g. `2mbit`) for what the machine sends it,
/// until the guard drops: a push then lasts long enough to hit.
struct Throttled(&'static str);

impl Throttled {
    fn now(host: &'static str, rate: &str) -> Throttled {
        let out = Command::new("tc")
            .args([
                "qdisc",
                "replace",
                "dev",
                &link(host),
                "root",
                "tbf",
                "rate",
            ])
            .args([rate, "burst", "16kb", "latency", "50ms"])
            .output()
            .expect("tc");
        assert!(out.status.success(), "tc: {}", text(&out.stderr));
        Throttled(host)
    }
}

impl Drop for Throttled {
    fn drop(&mut self) {
        let _ = Command::new("tc")
            .args(["qdisc", "del", "dev", &link(self.0), "root"])
            .output();
    }
}

/// Puts `dir` (under app's home on `host`, e.g. `node-app/releases`) on a tmpfs of its own
/// with what it holds, then fills that tmpfs but `room_kb`: a write there that needs more
/// fails with ENOSPC, while everything in it stays readable. Running processes keep what
/// they opened.
fn fill_disk(tb: &Testbed, host: &str, dir: &str, room_kb: u32) {
    let out = tb.exec(
        host,
        &format!(
            "set -e\n\
             d=/home/app/{dir}\n\
             keep=$(mktemp -d)\n\
             cp -a \"$d/.\" \"$keep/\"\n\
             mount -t tmpfs -o size=8m,mode=0755,uid=$(id -u app),gid=$(id -g app) full \"$d\"\n\
             cp -a \"$keep/.\" \"$d/\"\n\
             rm -rf \"$keep\"\n\
             dd if=/dev/zero of=\"$d/.filler\" bs=4k 2>/dev/null || true\n\
             truncate -s -{room_kb}K \"$d/.filler\"\n\
             [ $(( $(stat -f -c '%a * %S' \"$d\") / 1024 )) -le $(( {room_kb} + 4 )) ]"
        ),
    );
    assert!(out.status.success(), "{host}: fill {dir}: {out:?}");
}

/// Commits `bytes` random bytes (which do not compress) as `name` in the app; the sha.
fn commit_random(app: &App, name: &str, bytes: usize) -> String {
    let mut blob = vec![0u8; bytes];
    let mut urandom = std::fs::File::open("/dev/urandom").expect("/dev/urandom");
    std::io::Read::read_exact(&mut urandom, &mut blob).expect("random bytes");
    std::fs::write(app.path().join(name), blob).unwrap();
    app.commit(&format!("{bytes} random bytes in {name}"))
}

/// Frees what [`fill_disk`] took on `host` (the tmpfs stays).
fn free_disk(tb: &Testbed, host: &str, dir: &str) {
    let out = tb.exec(host, &format!("rm -f /home/app/{dir}/.filler"));
    assert!(out.status.success(), "{host}: free {dir}: {out:?}");
}
