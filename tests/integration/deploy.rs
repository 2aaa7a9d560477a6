//! `deliver deploy` end to end on the test bed: examples/node-app to three real servers
//! (sshd, systemd user units with linger, git), then the same commit (no-op), a new commit
//! with `--json`, `--dry-run`, a failing hook, a held lock, hostile config values and host
//! keys that do not match. Needs root (the test bed); fails, never skips, without it.

use std::process::{Command, Output, Stdio};

use crate::support::{assert_answers, on, shown, text, App, APP};
use crate::testbed::Testbed;

fn assert_status(out: &Output, code: i32) {
    assert_eq!(out.status.code(), Some(code), "{}", shown(out));
}

fn revision(tb: &Testbed, host: &str) -> String {
    on(tb, host, &format!("cat {APP}/current/REVISION"))
}

fn releases(tb: &Testbed, host: &str) -> Vec<String> {
    on(tb, host, &format!("ls {APP}/releases"))
        .lines()
        .map(str::to_string)
        .collect()
}

/// The app on every port of the formation answers with this commit's build.
fn assert_serves(tb: &Testbed, host: &str, sha: &str) {
    assert_answers(tb, host, sha);
    let states = on(
        tb,
        host,
        &format!("systemctl --user is-active {APP}-web@5000 {APP}-web@5001 {APP}-worker@5100"),
    );
    assert_eq!(states, "active\nactive\nactive", "{host}");
}

#[test]
fn deploys_to_three_servers_then_noop_then_a_new_commit_with_json_events() {
    let tb = Testbed::up(3);
    let app = App::new(&tb, &["h1", "h2", "h3"]);
    let first = app.git(&["rev-parse", "HEAD"]);

    let out = app.deliver(&[]);
    assert_status(&out, 0);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("h2 | deliver: hook 1/1: node build.js"),
        "{stdout}"
    );
    for h in ["h1", "h2", "h3"] {
        assert_eq!(revision(&tb, h), first, "{h}");
        let current = on(&tb, h, &format!("readlink {APP}/current"));
        assert_eq!(current, format!("releases/{}", releases(&tb, h)[0]), "{h}");
        assert!(current.ends_with(&first[..7]), "{current}");
        assert_eq!(on(&tb, h, &format!("stat -c %a {APP}/shared/.env")), "600");
        assert_eq!(
            on(&tb, h, &format!("readlink {APP}/current/log")),
            "../../shared/log"
        );
        assert_serves(&tb, h, &first);
    }

    // The same commit with the same units: nothing to do.
    let out = app.deliver(&["deploy", "tb"]);
    assert_status(&out, 0);
    assert!(
        text(&out.stdout).contains("nothing to do"),
        "{}",
        shown(&out)
    );
    assert_eq!(releases(&tb, "h1").len(), 1);

    // A one-line change, with --json: only JSON lines on stdout, carrying the events.
    std::fs::write(app.path().join("worker.js"), {
        let mut s = std::fs::read_to_string(app.path().join("worker.js")).unwrap();
        s.push_str("// a one-line change\n");
        s
    })
    .unwrap();
    let second = app.commit("second");
    let out = app.deliver(&["--json", "deploy"]);
    assert_status(&out, 0);
    let events: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    let release = events[0]["release"].as_str().unwrap().to_string();
    for e in &events {
        assert!(e["ts"].is_string() && e["event"].is_string(), "{e}");
        assert_eq!(e["release"], release.as_str(), "{e}");
    }
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    for want in [
        "deploy.start",
        "host.connected",
        "host.pushed",
        "host.built",
        "host.switched",
        "host.done",
        "instance.restarted",
        "instance.healthy",
        "deploy.done",
    ] {
        assert!(names.contains(&want), "no {want} in {names:?}");
    }
    let pushed = events.iter().find(|e| e["event"] == "host.pushed").unwrap();
    assert!(
        pushed["objects"].as_u64().unwrap() <= 5,
        "not incremental: {pushed}"
    );
    for h in ["h1", "h2", "h3"] {
        assert_eq!(revision(&tb, h), second, "{h}");
        assert_serves(&tb, h, &second);
        assert_eq!(releases(&tb, h).len(), 2, "{h}");
    }

    rolls_back_and_forward(&tb, &app, &first, &second);

    // --dry-run prints the scripts and changes nothing.
    let third = app.commit("third");
    let out = app.deliver(&["deploy", "--dry-run"]);
    assert_status(&out, 0);
    assert!(
        text(&out.stdout).contains("# deliver: switch.swap_current"),
        "{}",
        shown(&out)
    );
    for h in ["h1", "h2", "h3"] {
        assert_eq!(revision(&tb, h), second, "{h}: --dry-run deployed {third}");
        assert_eq!(releases(&tb, h).len(), 2, "{h}");
        assert_eq!(
            on(&tb, h, &format!("ls -d {APP}/.deliver/lock 2>/dev/null")),
            ""
        );
    }
}

/// `rollback` goes back to the release before `current` (no push, no hooks), `--to` forward
/// again, and a release that is not on the hosts is refused, naming them.
fn rolls_back_and_forward(tb: &Testbed, app: &App, first: &str, second: &str) {
    // rollback: back to the first release, no push, no hooks; then --to the second again.
    let first_id = releases(tb, "h1")[0].clone();
    let second_id = releases(tb, "h1")[1].clone();
    let out = app.deliver(&["rollback"]);
    assert_status(&out, 0);
    assert!(
        text(&out.stdout).contains(&format!("rollback {} ", &first[..7])),
        "{}",
        shown(&out)
    );
    for h in ["h1", "h2", "h3"] {
        assert_eq!(revision(tb, h), first, "{h}");
        assert_serves(tb, h, first);
        let log = on(tb, h, &format!("tail -n 1 {APP}/.deliver/log.jsonl"));
        assert!(
            log.contains("\"action\":\"rollback\"") && log.contains(&first_id),
            "{h}: {log}"
        );
    }
    let out = app.deliver(&["rollback", "--to", &second_id]);
    assert_status(&out, 0);
    for h in ["h1", "h2", "h3"] {
        assert_eq!(revision(tb, h), second, "{h}");
        assert_serves(tb, h, second);
    }
    // A release that is not on the hosts: refused, naming them; nothing changes.
    let out = app.deliver(&["rollback", "--to", "20200101000000-abcdef1"]);
    assert_status(&out, 1);
    assert!(
        text(&out.stderr).contains("release 20200101000000-abcdef1 is not on h1, h2, h3"),
        "{}",
        shown(&out)
    );
    assert_eq!(revision(tb, "h2"), second);
}

#[test]
fn failing_hook_and_held_lock_leave_current_untouched() {
    let tb = Testbed::up(2);
    let app = App::new(&tb, &["h1", "h2"]);
    let first = app.git(&["rev-parse", "HEAD"]);
    assert_status(&app.deliver(&[]), 0);

    // A hook that fails on every host: exit 1, the new release removed, `current` kept.
    let toml = std::fs::read_to_string(app.path().join("deliver.toml")).unwrap();
    std::fs::write(
        app.path().join("deliver.toml"),
        toml.replace(
            "hooks = [\"node build.js\"]",
            "hooks = [\"node build.js\", \"echo broken >&2; exit 7\"]",
        ),
    )
    .unwrap();
    app.commit("a broken hook");
    let out = app.deliver(&[]);
    assert_status(&out, 1);
    assert!(
        text(&out.stderr).contains("FAILED in build"),
        "{}",
        shown(&out)
    );
    for h in ["h1", "h2"] {
        assert_eq!(revision(&tb, h), first, "{h}");
        assert_eq!(
            releases(&tb, h).len(),
            1,
            "{h}: the failed release was not removed"
        );
        assert_serves(&tb, h, &first);
        assert_eq!(
            on(&tb, h, &format!("ls -d {APP}/.deliver/lock 2>/dev/null")),
            ""
        );
        let log = on(&tb, h, &format!("tail -n 1 {APP}/.deliver/log.jsonl"));
        assert!(log.contains("\"result\":\"failed\""), "{h}: {log}");
    }

    // SIGINT while the hooks run: the hooks finish, the new release is removed, the lock
    // released, `current` untouched: exit 1 (nothing had switched).
    std::fs::write(
        app.path().join("deliver.toml"),
        toml.replace(
            "hooks = [\"node build.js\"]",
            "hooks = [\"node build.js\", \"sleep 3\"]",
        ),
    )
    .unwrap();
    app.commit("a slow hook");
    let child = Command::new(env!("CARGO_BIN_EXE_deliver"))
        .current_dir(app.path())
        .env("HOME", &app.home)
        .env("CI", "true")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(1));
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert_status(&out, 1);
    assert!(text(&out.stderr).contains("interrupted"), "{}", shown(&out));
    for h in ["h1", "h2"] {
        assert_eq!(revision(&tb, h), first, "{h}");
        assert_eq!(releases(&tb, h).len(), 1, "{h}");
        assert_eq!(
            on(&tb, h, &format!("ls -d {APP}/.deliver/lock 2>/dev/null")),
            ""
        );
    }

    // Another deploy holds h2's lock: exit 3 naming the holder; h1's lock is not kept.
    std::fs::write(app.path().join("deliver.toml"), &toml).unwrap();
    app.commit("fixed");
    let holder = r#"{"user":"ann","machine":"ci-7","pid":42,"command":"deliver deploy","release":null,"started":"2026-11-23T08:00:00Z"}"#;
    tb.ssh("h2", &format!("mkdir -p {APP}/.deliver/lock && printf '%s' '{holder}' > {APP}/.deliver/lock/holder.json"));
    let out = app.deliver(&[]);
    assert_status(&out, 3);
    assert!(text(&out.stderr).contains("ann"), "{}", shown(&out));
    assert_eq!(
        on(&tb, "h1", &format!("ls -d {APP}/.deliver/lock 2>/dev/null")),
        ""
    );
    assert_eq!(revision(&tb, "h1"), first);
}

#[test]
fn shell_metacharacters_in_config_values_stay_literal() {
    let tb = Testbed::up(1);
    let app = App::new(&tb, &["h1"]);
    let evil = r#"x"; touch /tmp/pwned #"#;
    app.config_env(
        "deploy_to = \"~/it's $(touch pwned2) here\"",
        &[("EVIL", evil)],
    );
    let sha = app.commit("evil values");
    let out = app.deliver(&[]);
    assert_status(&out, 0);
    let base = "it's $(touch pwned2) here";
    let got = on(
        &tb,
        "h1",
        &format!(
            "cat \"$HOME\"/\"{}\"/current/REVISION",
            base.replace('$', "\\$")
        ),
    );
    assert_eq!(got, sha);
    assert_eq!(
        on(&tb, "h1", "ls /tmp/pwned ~/pwned2 2>/dev/null; true"),
        ""
    );
    // The running process got the value byte for byte.
    let env = on(
        &tb,
        "h1",
        r"tr '\0' '\n' </proc/$(systemctl --user show -p MainPID --value node-app-web@5000)/environ",
    );
    assert!(env.lines().any(|l| l == format!("EVIL={evil}")), "{env}");
}

#[test]
fn unknown_and_changed_host_keys_are_refused_with_the_fingerprint() {
    let tb = Testbed::up(2);
    let app = App::new(&tb, &["h1"]);
    let fingerprint = {
        let out = tb.exec("h1", "ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub");
        text(&out.stdout)
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_string()
    };
    // Unknown: known_hosts is empty (the first value obtained wins in ssh_config).
    let empty = app.path().join(".home/empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    let config = app.home.join(".ssh/config");
    std::fs::write(
        &config,
        format!(
            "Host *\n  UserKnownHostsFile {}\nInclude {}\n",
            empty.display(),
            tb.ssh_config().display()
        ),
    )
    .unwrap();
    let out = app.deliver(&[]);
    assert_status(&out, 1);
    let err = text(&out.stderr);
    assert!(
        err.contains("h1") && err.contains("unknown host key") && err.contains(&fingerprint),
        "{err}"
    );
    // Changed: known_hosts has h2's key under h1's names.
    let h2_key = on(&tb, "h2", "cat /etc/ssh/ssh_host_ed25519_key.pub");
    let key: Vec<&str> = h2_key.split_whitespace().take(2).collect();
    std::fs::write(&empty, format!("h1,{} {}\n", tb.addr("h1"), key.join(" "))).unwrap();
    let out = app.deliver(&[]);
    assert_status(&out, 1);
    let err = text(&out.stderr);
    assert!(
        err.contains("CHANGED") && err.contains(&fingerprint),
        "{err}"
    );
    assert_eq!(
        on(&tb, "h1", &format!("ls {APP} 2>/dev/null")),
        "",
        "a host with a bad key was touched"
    );
}

#[test]
fn auto_instances_follow_each_hosts_cpu_count() {
    let tb = Testbed::up(2);
    // h2 looks like a 4-core server to its SSH sessions: GNU nproc honours OMP_NUM_THREADS,
    // which sshd's PAM stack reads from /etc/environment. h1 keeps this machine's 2 cores.
    let out = tb.exec("h2", "echo OMP_NUM_THREADS=4 >>/etc/environment");
    assert!(out.status.success());
    let app = App::new(&tb, &["h1", "h2"]);
    let toml = std::fs::read_to_string(app.path().join("deliver.toml")).unwrap();
    std::fs::write(
        app.path().join("deliver.toml"),
        toml.replace("web = 2", "web = \"auto\""),
    )
    .unwrap();
    app.commit("auto");
    assert_eq!(on(&tb, "h1", "nproc"), "2");
    assert_eq!(on(&tb, "h2", "nproc"), "4");
    assert_status(&app.deliver(&[]), 0);
    let running = |h: &str| {
        on(
            &tb,
            h,
            "systemctl --user list-units --plain --no-legend --state=active 'node-app-web@*' | cut -d' ' -f1",
        )
    };
    assert_eq!(running("h1"), "node-app-web@5000.service");
    assert_eq!(
        running("h2"),
        "node-app-web@5000.service\nnode-app-web@5001.service\nnode-app-web@5002.service"
    );
    // Scaling down: the instances that left the formation stop.
    std::fs::write(
        app.path().join("deliver.toml"),
        toml.replace("web = 2", "web = 1"),
    )
    .unwrap();
    app.commit("one web");
    assert_status(&app.deliver(&[]), 0);
    assert_eq!(running("h2"), "node-app-web@5000.service");
    assert_eq!(running("h1"), "node-app-web@5000.service");
}
