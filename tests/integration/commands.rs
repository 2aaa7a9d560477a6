//! The host commands end to end on the test bed: `setup` and online `check` on a fresh host,
//! then, after a real deploy of examples/node-app, `releases`, `status`, `run`, `logs` and
//! `unlock`, in plain output and `--json`; and `trust` adding new host keys and refusing a
//! changed one. Needs root (the test bed); fails, never skips, without it.

use std::path::Path;

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
