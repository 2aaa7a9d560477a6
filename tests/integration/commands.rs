//! The host commands end to end on the test bed: `setup` and online `check` on a fresh host,
//! then, after a real deploy of examples/node-app, `releases`, `status`, `run`, `logs` and
//! `unlock`, in plain output and `--json`; and `trust` adding new host keys and refusing a
//! changed one. Needs root (the test bed); fails, never skips, without it.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{on, shown, text, App, APP};
use crate::testbed::Testbed;

fn has_line(out: &str, line: &str) -> bool {
    out.lines().any(|l| l == line)
}

/// Every stdout line is a JSON object with `ts` and `event`.
fn json_lines(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}"));
            assert!(v["ts"].is_string() && v["event"].is_string(), "{v}");
            v
        })
        .collect()
}

#[test]
fn host_commands_set_up_check_and_inspect_a_deployed_app() {
    let tb = Testbed::up(3);
    let app = App::with_fresh(&tb, &["h1", "h2"], &["h3"]);
    let sha = app.git(&["rev-parse", "HEAD"]);
    setup_and_check_a_fresh_host(&tb, &app);
    app.ok(&[], 0);
    let release = on(&tb, "h1", &format!("readlink {APP}/current"))
        .trim_start_matches("releases/")
        .to_owned();
    releases_and_status(&tb, &app, &release, &sha);
    run_and_logs(&app, &sha);
    unlock_removes_a_stale_lock(&tb, &app);

    // A host without linger: setup says what root runs there, and fails.
    tb.exec("h3", "loginctl disable-linger app");
    let out = app.deliver(&["setup", "fresh"]);
    assert_eq!(out.status.code(), Some(1), "{}", shown(&out));
    let stdout = text(&out.stdout);
    assert!(
        has_line(
            &stdout,
            "h3 | MISSING  linger: off: app's units would stop when app has no session"
        ),
        "{stdout}"
    );
    assert!(
        has_line(&stdout, "h3 |     sudo loginctl enable-linger app"),
        "{stdout}"
    );
    assert!(
        text(&out.stderr).contains("not ready: h3 (linger"),
        "{}",
        shown(&out)
    );
}

fn setup_and_check_a_fresh_host(tb: &Testbed, app: &App) {
    // setup on a fresh host: the layout, then every check passes.
    let out = app.ok(&["setup", "fresh"], 0);
    for line in [
        "h3 | ok       layout: /home/app/node-app (repo.git, releases/, shared/)",
        "h3 | ok       linger: on",
        "h3 | ok       user manager: running",
        "1 of 1 hosts ready",
    ] {
        assert!(has_line(&out, line), "no {line:?} in\n{out}");
    }
    assert!(out.contains("h3 | ok       git: git version "), "{out}");
    assert_eq!(
        on(tb, "h3", "ls node-app/repo.git/HEAD"),
        "node-app/repo.git/HEAD"
    );
    // check (online): the offline report, then each host reached and checked.
    let out = app.ok(&["check", "fresh"], 0);
    assert!(out.contains("deliver.toml: ok (app node-app)"), "{out}");
    let ssh = format!("h3 | ok       ssh: app@{}, host key known (", tb.addr("h3"));
    assert!(out.contains(&ssh), "{out}");
    assert!(
        has_line(&out, "h3 | ok       layout: /home/app/node-app"),
        "{out}"
    );
    assert!(
        out.contains("h3 | ok       formation: web 2, worker 1 ("),
        "{out}"
    );
}

fn releases_and_status(tb: &Testbed, app: &App, release: &str, sha: &str) {
    // releases: the one release, current, per host.
    let out = app.ok(&["releases"], 0);
    for h in ["h1", "h2"] {
        let row = out
            .lines()
            .find(|l| l.starts_with(&format!("{h} | {release}")))
            .unwrap_or_else(|| panic!("no {h} row in\n{out}"));
        assert!(row.contains(&sha[..7]) && row.ends_with(" *"), "{row}");
        assert!(out.contains(&format!("{h} | RELEASE ")), "{out}");
    }
    assert!(has_line(
        &app.ok(&["releases", "fresh"], 0),
        "h3 | no releases"
    ));
    let records = json_lines(&app.ok(&["--json", "releases"], 0));
    assert_eq!(records.len(), 2);
    for r in &records {
        assert_eq!(r["event"], "host.releases", "{r}");
        assert_eq!(r["releases"][0]["id"], release, "{r}");
        assert_eq!(r["releases"][0]["sha"], sha, "{r}");
        assert_eq!(r["releases"][0]["current"], true, "{r}");
    }

    // status: every instance active, the web ones healthy; a stopped worker is reported,
    // and status still exits 0.
    let out = app.ok(&["status"], 0);
    for h in ["h1", "h2"] {
        let want = format!("{h} | {release}  web 2/2 active 2/2 healthy  worker 1/1 active");
        assert!(has_line(&out, &want), "no {want:?} in\n{out}");
    }
    tb.ssh("h2", &format!("systemctl --user stop {APP}-worker@5100"));
    let out = app.ok(&["--json", "status"], 0);
    let records = json_lines(&out);
    assert_eq!(records.len(), 2, "{out}");
    let h2 = records.iter().find(|r| r["host"] == "h2").unwrap();
    assert_eq!(h2["event"], "host.status");
    assert_eq!(h2["current"], release);
    assert_eq!(h2["sha"], sha);
    assert_eq!(h2["processes"][0]["healthy"], 2);
    assert_eq!(h2["processes"][1]["active"], 0);
    assert_eq!(h2["processes"][1]["units"][0]["state"], "inactive");
    let out = app.ok(&["status"], 0);
    assert!(
        has_line(&out, &format!("h2 |   {APP}-worker@5100.service inactive")),
        "{out}"
    );
    tb.ssh("h2", &format!("systemctl --user start {APP}-worker@5100"));
}

fn run_and_logs(app: &App, sha: &str) {
    // run: in current, output prefixed by host; a failure anywhere is exit 1 naming it.
    let out = app.ok(&["run", "--", "cat", "REVISION"], 0);
    for h in ["h1", "h2"] {
        assert!(has_line(&out, &format!("{h} | {sha}")), "{out}");
    }
    let out = app.deliver(&["run", "--", "sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(1), "{}", shown(&out));
    assert!(
        text(&out.stderr).contains("the command failed on h1 (exit 3), h2 (exit 3)"),
        "{}",
        shown(&out)
    );
    let out = app.deliver(&["run", "fresh", "--", "true"]);
    assert_eq!(out.status.code(), Some(1), "{}", shown(&out));
    assert!(
        text(&out.stderr).contains("nothing deployed on h3"),
        "{}",
        shown(&out)
    );
    let out = app.ok(&["--json", "run", "--", "echo $NODE_ENV"], 0);
    let records = json_lines(&out);
    assert!(
        records
            .iter()
            .any(|r| r["event"] == "host.output" && r["line"] == "production"),
        "{out}"
    );

    // logs: the journal of the app's units, each line prefixed by its host.
    let out = app.ok(&["logs", "-n", "5"], 0);
    for h in ["h1", "h2"] {
        assert!(
            out.lines()
                .any(|l| l.starts_with(&format!("{h} | ")) && l.contains(&format!("{APP}-"))),
            "no {h} log line in\n{out}"
        );
    }
    let out = app.ok(&["logs", "-p", "worker", "-n", "50"], 0);
    assert!(!out.contains("web@"), "{out}");
    let out = app.deliver(&["logs", "-p", "nope"]);
    assert_eq!(out.status.code(), Some(2), "{}", shown(&out));
    assert!(
        text(&out.stderr).contains("its types: web, worker"),
        "{}",
        shown(&out)
    );
}

fn unlock_removes_a_stale_lock(tb: &Testbed, app: &App) {
    // unlock: nothing to do, then a stale lock's holder printed and the lock removed.
    let out = app.ok(&["unlock"], 0);
    assert!(has_line(&out, "h1 | not locked") && has_line(&out, "h2 | not locked"));
    let holder = r#"{"user":"ann","machine":"ci-7","pid":42,"command":"deliver deploy","release":null,"started":"2026-01-02T03:04:05Z"}"#;
    tb.ssh(
        "h2",
        &format!(
            "mkdir -p {APP}/.deliver/lock && printf '%s' '{holder}' > {APP}/.deliver/lock/holder.json"
        ),
    );
    let out = app.ok(&["unlock"], 0);
    assert!(has_line(&out, "h1 | not locked"), "{out}");
    assert!(
        out.contains(
            "h2 | removed the lock of ann@ci-7 (pid 42) since 2026-01-02T03:04:05Z: deliver \
             deploy, taken "
        ),
        "{out}"
    );
    assert_eq!(
        on(tb, "h2", &format!("ls -a {APP}/.deliver")),
        ".\n..\nlog.jsonl\nunits"
    );
    let records = json_lines(&app.ok(&["--json", "unlock"], 0));
    assert!(records
        .iter()
        .all(|r| r["event"] == "host.unlock" && r["locked"] == false));
}

#[test]
fn trust_adds_new_host_keys_and_refuses_a_changed_one() {
    let tb = Testbed::up(2);
    let app = App::with_fresh(&tb, &["h1", "h2"], &["h1"]);
    // The user's known_hosts for these hosts: a file that does not exist yet, in a
    // directory that does not either.
    let known = app.home.join(".ssh/trusted/known_hosts");
    app.ssh_config(
        &format!("Host h1 h2\n  UserKnownHostsFile {}\n", known.display()),
        &tb,
    );
    let out = app.deliver(&["check"]);
    assert_eq!(out.status.code(), Some(1), "{}", shown(&out));
    assert!(
        text(&out.stderr).contains("unknown host key"),
        "{}",
        shown(&out)
    );

    let fingerprint = |h: &str| {
        let out = tb.exec(h, "ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub");
        text(&out.stdout)
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_string()
    };
    // Not a terminal and no --yes: the keys are shown, nothing is added.
    let out = app.deliver(&["trust"]);
    assert_eq!(out.status.code(), Some(1), "{}", shown(&out));
    assert!(
        has_line(
            &text(&out.stdout),
            &format!("h1 | ssh-ed25519 {} (new)", fingerprint("h1"))
        ),
        "{}",
        shown(&out)
    );
    assert!(text(&out.stderr).contains("stdin is not a terminal"));
    assert!(!known.exists());

    let out = app.ok(&["trust", "--yes"], 0);
    for h in ["h1", "h2"] {
        let want = format!("{h} | ssh-ed25519 {} (new)", fingerprint(h));
        assert!(has_line(&out, &want), "no {want:?} in\n{out}");
    }
    assert!(
        has_line(&out, &format!("added 2 keys to {}", known.display())),
        "{out}"
    );
    let lines = std::fs::read_to_string(&known).unwrap();
    assert!(
        lines.starts_with(&format!("h1,{} ssh-ed25519 ", tb.addr("h1"))),
        "{lines}"
    );
    let mode = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    };
    assert_eq!(mode(&known), 0o600);
    assert_eq!(mode(known.parent().unwrap()), 0o700);
    app.ok(&["check"], 0);
    let records = json_lines(&app.ok(&["--json", "trust"], 0));
    assert!(records
        .iter()
        .all(|r| r["event"] == "host.key" && r["state"] == "known"));

    // h1 now offers a key that is not the known one: refused, with the way to remove it.
    let h2_key = text(&tb.ssh("h2", "cat /etc/ssh/ssh_host_ed25519_key.pub").stdout);
    let key: Vec<&str> = h2_key.split_whitespace().take(2).collect();
    std::fs::write(&known, format!("h1,{} {}\n", tb.addr("h1"), key.join(" "))).unwrap();
    let out = app.deliver(&["trust", "--yes", "fresh"]);
    assert_eq!(out.status.code(), Some(1), "{}", shown(&out));
    let stdout = text(&out.stdout);
    assert!(
        has_line(
            &stdout,
            &format!("h1 | ssh-ed25519 {} (CHANGED)", fingerprint("h1"))
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("ssh-keygen -R h1 -f {}", known.display())),
        "{stdout}"
    );
    assert!(text(&out.stderr).contains("not added"), "{}", shown(&out));
    assert_eq!(
        std::fs::read_to_string(&known).unwrap(),
        format!("h1,{} {}\n", tb.addr("h1"), key.join(" "))
    );
}

/// `App::new`'s deliver.toml with a secret-looking `[env]` value, committed.
fn with_secret_env(app: &App, name: &str, value: &str) {
    let path = app.path().join("deliver.toml");
    let toml = std::fs::read_to_string(&path).unwrap();
    let toml = toml.replacen(
        "NODE_ENV = \"production\"\n",
        &format!("NODE_ENV = \"production\"\n{name} = \"{value}\"\n"),
        1,
    );
    assert!(toml.contains(value), "{toml}");
    std::fs::write(&path, toml).unwrap();
    app.git(&["commit", "-q", "-am", "a secret in [env]"]);
}

/// stdout then stderr of `deliver args`, after checking its exit status.
fn all_output(app: &App, args: &[&str], code: i32) -> String {
    let out = app.deliver(args);
    assert_eq!(
        out.status.code(),
        Some(code),
        "deliver {args:?}\n{}",
        shown(&out)
    );
    format!("{}{}", text(&out.stdout), text(&out.stderr))
}

/// Whether `out` shows script `name` on `host` (its `# deliver: NAME` first line).
fn shows_script(out: &str, host: &str, name: &str) -> bool {
    has_line(out, &format!("{host} | $ # deliver: {name}"))
}

#[test]
fn verbose_shows_every_remote_script_by_host_and_masks_env_values() {
    const TOKEN: &str = "tok-8Hq2-not-for-logs";
    let tb = Testbed::up(2);
    let app = App::with_fresh(&tb, &["h1", "h2"], &["h2"]);
    with_secret_env(&app, "API_TOKEN", TOKEN);

    // deploy -v: each script before it runs, `HOST | $ line`, [env] values masked (the build
    // exports them in release.prepare's round trip); the hooks' output in full; the token
    // nowhere.
    let out = all_output(&app, &["-v", "deploy"], 0);
    for h in ["h1", "h2"] {
        for name in [
            "lock.acquire",
            "release.prepare",
            "switch.swap_current",
            "supervisor.restart",
            "prune",
        ] {
            assert!(shows_script(&out, h, name), "no {h} {name} in\n{out}");
        }
        assert!(has_line(&out, &format!("{h} | $ set -eu")), "{out}");
        assert!(
            has_line(&out, &format!("{h} | $ export API_TOKEN=[redacted]")),
            "{out}"
        );
        assert!(
            has_line(&out, &format!("{h} | $ export NODE_ENV=[redacted]")),
            "{out}"
        );
        assert!(
            out.lines()
                .any(|l| l.starts_with(&format!("{h} | $ # deliver: push "))),
            "{out}"
        );
        assert!(
            has_line(&out, &format!("{h} | deliver: hook 1/1: node build.js")),
            "{out}"
        );
        // The staged units are named with their sizes; their contents (with [env] in them)
        // are not shown.
        assert!(
            out.lines()
                .any(|l| l.starts_with(&format!("{h} | $ printf '%s' '<"))
                    && l.ends_with(&format!(
                    " bytes: deliver export shows them>' >{APP}/.deliver/units.new/{APP}.target"
                ))),
            "{out}"
        );
    }
    assert!(!out.contains(TOKEN), "the token was printed:\n{out}");
    assert!(
        !out.contains("production"),
        "an [env] value was printed:\n{out}"
    );
    // Masked in the output only: the running web instance has the value in its environment,
    // and `deliver run` exports it too (it prints the length, not the value).
    let environ = on(
        &tb,
        "h1",
        &format!(
            "pid=$(systemctl --user show -p MainPID --value {APP}-web@5000.service) && \
             tr '\\0' '\\n' </proc/$pid/environ | grep -c '^API_TOKEN={TOKEN}$'"
        ),
    );
    assert_eq!(environ, "1");
    let out = app.ok(&["run", "--", "sh", "-c", "echo len=${#API_TOKEN}"], 0);
    assert!(
        has_line(&out, &format!("h1 | len={}", TOKEN.len())),
        "{out}"
    );

    // Without -v: no script is shown.
    let out = all_output(&app, &["deploy", "--force"], 0);
    assert!(!out.contains(" | $ "), "{out}");
    let out = all_output(&app, &["status"], 0);
    assert!(!out.contains(" | $ "), "{out}");

    every_host_command_shows_its_scripts(&app, TOKEN);
    json_lines_carry_the_scripts_only_under_verbose(&app, TOKEN);
}

/// Every command that runs scripts shows them under -v, each host's, before its output.
fn every_host_command_shows_its_scripts(app: &App, token: &str) {
    for (args, code, names) in [
        (
            vec!["-v", "status"],
            0,
            vec!["facts", "supervisor.is_active"],
        ),
        (vec!["-v", "releases"], 0, vec!["inspect.releases"]),
        (vec!["-v", "unlock"], 0, vec!["lock.unlock"]),
        (vec!["-v", "logs", "-n", "2"], 0, vec!["inspect.logs"]),
        (vec!["-v", "run", "--", "true"], 0, vec!["inspect.run"]),
        (vec!["-v", "check"], 0, vec!["facts"]),
        (vec!["-v", "setup"], 0, vec!["setup"]),
        (
            vec!["-v", "rollback"],
            0,
            vec!["facts", "inspect.procfile", "switch.swap_current"],
        ),
    ] {
        let out = all_output(app, &args, code);
        for h in ["h1", "h2"] {
            for name in &names {
                // The Procfile is read on the first host only.
                if *name == "inspect.procfile" && h == "h2" {
                    continue;
                }
                assert!(
                    shows_script(&out, h, name),
                    "deliver {args:?}: no {h} {name} in\n{out}"
                );
            }
        }
        assert!(
            !out.contains(token),
            "deliver {args:?} printed the token:\n{out}"
        );
        assert!(!out.contains("production"), "deliver {args:?}:\n{out}");
    }
    // The status lines are still there, after the scripts.
    let out = all_output(app, &["-v", "status"], 0);
    let status = out
        .lines()
        .position(|l| l.starts_with("h1 | 2") && l.contains("web 2/2 active"))
        .unwrap_or_else(|| panic!("no h1 status line in\n{out}"));
    let script = out
        .lines()
        .position(|l| l == "h1 | $ # deliver: supervisor.is_active")
        .unwrap();
    assert!(script < status, "{out}");
}

/// --json -v: valid JSON lines only, the scripts as host.script records; --json alone: none.
fn json_lines_carry_the_scripts_only_under_verbose(app: &App, token: &str) {
    let out = app.ok(&["--json", "-v", "status"], 0);
    let records = json_lines(&out);
    for h in ["h1", "h2"] {
        let script = records
            .iter()
            .find(|r| r["event"] == "host.script" && r["host"] == h && r["name"] == "facts")
            .unwrap_or_else(|| panic!("no {h} facts script in\n{out}"));
        assert!(
            script["script"]
                .as_str()
                .unwrap()
                .starts_with("# deliver: facts\nset -eu\n"),
            "{script}"
        );
        assert!(records
            .iter()
            .any(|r| r["event"] == "host.status" && r["host"] == h));
    }
    let out = app.ok(&["--json", "-v", "run", "--", "true"], 0);
    assert!(!out.contains(token), "{out}");
    assert!(json_lines(&out).iter().any(|r| r["event"] == "host.script"
        && r["script"]
            .as_str()
            .unwrap()
            .contains("\nexport API_TOKEN=[redacted]\n")));
    // --json alone: no scripts.
    let records = json_lines(&app.ok(&["--json", "status"], 0));
    assert!(records.iter().all(|r| r["event"] != "host.script"));
}

/// Lines of a running `deliver` child's stdout, read by a thread, with a deadline per wait.
struct Follow {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Follow {
    fn start(app: &App, args: &[&str]) -> Follow {
        let mut child = app
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Follow {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits up to `within` for a line (after those seen so far) that `want` accepts.
    fn wait_for(&mut self, within: Duration, what: &str, want: impl Fn(&str) -> bool) {
        let end = Instant::now() + within;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let hit = want(&line);
                    self.seen.push(line);
                    if hit {
                        return;
                    }
                }
                Err(e) => panic!(
                    "no {what} within {within:?} ({e}); stdout so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Waits up to `within` for a line of each of `hosts` (`HOST | ...`, in any order) that
    /// `want` accepts.
    fn on_each(&mut self, hosts: &[&str], within: Duration, want: impl Fn(&str) -> bool) {
        let end = Instant::now() + within;
        let mut waiting = hosts.to_vec();
        while !waiting.is_empty() {
            let of = |l: &str, h: &str| l.starts_with(&format!("{h} | "));
            self.wait_for(
                end.saturating_duration_since(Instant::now()),
                &format!("line of {waiting:?}"),
                |l| want(l) && waiting.iter().any(|h| of(l, h)),
            );
            let line = self.seen.last().unwrap();
            waiting.retain(|h| !of(line, h));
        }
    }

    /// Sends `signal` (`INT`, `TERM`) and waits up to `within` for the exit; its status.
    fn stop(&mut self, signal: &str, within: Duration) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args([format!("-{signal}"), pid])
            .status()
            .unwrap();
        assert!(sent.success());
        let end = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() >= end {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "deliver did not exit within {within:?} of SIG{signal}; stdout:\n{}",
                    self.seen.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stderr(&mut self) -> String {
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            use std::io::Read;
            let _ = e.read_to_string(&mut err);
        }
        err
    }
}

impl Drop for Follow {
    fn drop(&mut self) {
        // A failed assertion must not leave the child behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `journalctl` processes running on `host` (as any user), one per line.
fn journalctls(tb: &Testbed, host: &str) -> String {
    text(&tb.exec(host, "pgrep -a -x journalctl || true").stdout)
        .trim()
        .to_owned()
}

/// Waits up to 5 s for `host` to have no `journalctl` left.
fn no_journalctl_left(tb: &Testbed, host: &str) {
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let left = journalctls(tb, host);
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < end,
            "{host}: journalctl still running 5 s after deliver exited:\n{left}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn logs_follow_streams_new_lines_by_host_and_stops_cleanly_on_sigint_and_sigterm() {
    let tb = Testbed::up(2);
    let app = App::with_fresh(&tb, &["h1", "h2"], &["h2"]);
    app.ok(&[], 0);

    // -n N: the last N lines of each host; -p TYPE: only that type's.
    let out = app.ok(&["logs", "-n", "3"], 0);
    for h in ["h1", "h2"] {
        let n = out
            .lines()
            .filter(|l| l.starts_with(&format!("{h} | ")))
            .count();
        assert_eq!(n, 3, "{h}: not 3 lines in\n{out}");
    }
    let out = app.ok(&["logs", "-p", "web", "-n", "200"], 0);
    for h in ["h1", "h2"] {
        assert!(
            has_line_containing(&out, h, "web listening on 5000"),
            "{h}: no web line in\n{out}"
        );
    }
    assert!(!out.contains("worker"), "{out}");

    // -f: the last line of each host first, then new lines as they come, prefixed by host.
    let mut follow = Follow::start(&app, &["logs", "-f", "-n", "1"]);
    follow.on_each(&["h1", "h2"], Duration::from_secs(20), |_| true);
    for h in ["h1", "h2"] {
        assert!(
            journalctls(&tb, h).contains("journalctl --user"),
            "{h}: no journalctl follows: {}",
            journalctls(&tb, h)
        );
        tb.ssh(h, &format!("systemctl --user restart {APP}-worker@5100"));
    }
    follow.on_each(&["h1", "h2"], Duration::from_secs(15), |l| {
        l.ends_with(": worker started")
    });
    // SIGINT: exit 0 promptly and quietly, no follower left on the hosts.
    let t = Instant::now();
    let status = follow.stop("INT", Duration::from_secs(5));
    let stderr = follow.stderr();
    assert_eq!(status.code(), Some(0), "{status:?}; stderr:\n{stderr}");
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(stderr, "", "stderr after SIGINT");
    for h in ["h1", "h2"] {
        no_journalctl_left(&tb, h);
    }

    // SIGTERM ends it the same way.
    let mut follow = Follow::start(&app, &["logs", "-f", "-n", "1", "-p", "worker"]);
    follow.on_each(&["h1", "h2"], Duration::from_secs(20), |_| true);
    let status = follow.stop("TERM", Duration::from_secs(5));
    assert_eq!(status.code(), Some(0), "{status:?}: {}", follow.stderr());
    for h in ["h1", "h2"] {
        no_journalctl_left(&tb, h);
    }
}

/// Whether a line of `out` is `host`'s and contains `part`.
fn has_line_containing(out: &str, host: &str, part: &str) -> bool {
    out.lines()
        .any(|l| l.starts_with(&format!("{host} | ")) && l.contains(part))
}
