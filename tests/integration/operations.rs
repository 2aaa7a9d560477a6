//! Day-two operations on the test bed (issue 13, SPEC §9): the local `[hooks]` and the
//! variables they see, `deliver history` of what the test did, and `--lock-wait` in line
//! behind another deploy.

use std::time::{Duration, Instant};

use crate::support::{deploy_holding_the_lock, on, shown, text, App, APP};
use crate::testbed::Testbed;

/// The `DELIVER_*` variables a hook wrote to `file` in the project dir (sorted), then
/// removes it.
fn seen(app: &App, file: &str) -> String {
    let path = app.path().join(file);
    let vars = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
    std::fs::remove_file(path).unwrap();
    vars
}

/// What the hosts keep: the lock dir, the release dirs, the log's length.
fn host_state(tb: &Testbed, host: &str) -> String {
    on(
        tb,
        host,
        &format!(
            "ls -d {APP}/.deliver/lock 2>/dev/null; ls {APP}/releases; wc -l <{APP}/.deliver/log.jsonl"
        ),
    )
}

fn current(tb: &Testbed, host: &str) -> String {
    on(tb, host, &format!("basename \"$(readlink {APP}/current)\""))
}

fn set_toml(app: &App, from: &str, to: &str) {
    let path = app.path().join("deliver.toml");
    let toml = std::fs::read_to_string(&path).unwrap();
    assert!(toml.contains(from), "{toml}");
    std::fs::write(path, toml.replacen(from, to, 1)).unwrap();
}

const HOOKS: &str = "[hooks]\n\
    before = [\"env | grep ^DELIVER_ | sort >before.vars\"]\n\
    after = [\"env | grep ^DELIVER_ | sort >after.vars\", \"echo after-out; exit 3\"]\n\
    failed = [\"env | grep ^DELIVER_ | sort >failed.vars\"]\n";

#[test]
fn hooks_see_the_documented_variables_and_history_lists_every_run_newest_first() {
    let tb = Testbed::up(2);
    let app = App::new(&tb, &["h1", "h2"]);
    app.config(HOOKS);
    std::fs::write(app.path().join(".gitignore"), "/build\n/.home\n/*.vars\n").unwrap();
    let first = app.commit("hooks");

    // A deploy: `before` sees the run, `after` its result; a failing `after` is a warning.
    let out = app.deliver(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let release = current(&tb, "h1");
    let vars = |result: &str, action: &str, release: &str, sha: &str| {
        format!(
            "DELIVER_ACTION={action}\nDELIVER_ENV=tb\nDELIVER_HOSTS=h1,h2\n\
             DELIVER_RELEASE={release}\n{result}DELIVER_SHA={sha}\n"
        )
    };
    assert_eq!(
        seen(&app, "before.vars"),
        vars("", "deploy", &release, &first)
    );
    let deployed = "DELIVER_RESULT=deployed\n";
    assert_eq!(
        seen(&app, "after.vars"),
        vars(deployed, "deploy", &release, &first)
    );
    assert!(
        text(&out.stdout).contains("local | after-out"),
        "{}",
        shown(&out)
    );
    assert!(
        text(&out.stderr).contains("warning: after hook `echo after-out; exit 3` failed: exit 3"),
        "{}",
        shown(&out)
    );
    assert!(!app.path().join("failed.vars").exists());

    // Nothing to do: `after` runs, told so.
    app.ok(&[], 0);
    seen(&app, "before.vars");
    assert!(seen(&app, "after.vars").contains("DELIVER_RESULT=unchanged\n"));

    // A second release.
    let second = app.commit("second");
    app.ok(&[], 0);
    let second_release = current(&tb, "h1");
    seen(&app, "before.vars");
    seen(&app, "after.vars");

    // A failing `before`: exit 1, no host contacted (no lock, release or log line), `failed`
    // told.
    let kept = [host_state(&tb, "h1"), host_state(&tb, "h2")];
    set_toml(&app, "before = [", "before = [\"echo no; exit 9\", ");
    app.commit("a failing before");
    let out = app.deliver(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", shown(&out));
    assert!(
        text(&out.stderr).contains("before hook `echo no; exit 9` failed: exit 9"),
        "{}",
        shown(&out)
    );
    assert_eq!([host_state(&tb, "h1"), host_state(&tb, "h2")], kept);
    assert!(seen(&app, "failed.vars").contains("DELIVER_RESULT=failed\n"));
    assert!(!app.path().join("before.vars").exists());
    set_toml(&app, "before = [\"echo no; exit 9\", ", "before = [");

    // A release that never gets healthy: reverted (exit 4), `failed` told.
    set_toml(&app, "deadline = \"20s\"", "deadline = \"3s\"");
    // It runs but never listens (one that exits at once would hit systemd's start limit).
    std::fs::write(
        app.path().join("server.js"),
        "setInterval(() => {}, 1000);\n",
    )
    .unwrap();
    app.commit("a web process that never listens");
    let out = app.deliver(&[]);
    assert_eq!(out.status.code(), Some(4), "{}", shown(&out));
    assert!(seen(&app, "failed.vars").contains("DELIVER_RESULT=reverted\n"));
    assert!(!app.path().join("after.vars").exists());

    // A rollback: the hooks are told so.
    app.ok(&["rollback"], 0);
    let after = seen(&app, "after.vars");
    assert!(
        after.contains("DELIVER_ACTION=rollback\n")
            && after.contains(&format!("DELIVER_RELEASE={release}\n"))
            && after.contains(&format!("DELIVER_SHA={first}\n")),
        "{after}"
    );

    // History: newest first, one line per run, both hosts on each.
    let lines = app.ok(&["history"], 0);
    let rows: Vec<(String, String, String)> = lines
        .lines()
        .skip(1)
        .map(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            // WHEN is two cells (date, time): WHO ACTION RELEASE COMMIT RESULT at 2..=6.
            (cells[3].into(), cells[4].into(), cells[6].into())
        })
        .collect();
    let row = |action: &str, release: &str, result: &str| {
        (action.to_owned(), release.to_owned(), result.to_owned())
    };
    assert_eq!(rows.len(), 4, "{lines}");
    assert_eq!(rows[0], row("rollback", &release, "done"), "{lines}");
    // h1 switched and was reverted; h2, rolled after it, never switched.
    assert_eq!(
        (rows[1].0.as_str(), rows[1].2.as_str()),
        ("deploy", "mixed")
    );
    assert!(lines.contains("h1 reverted, h2 failed"), "{lines}");
    assert_eq!(rows[2], row("deploy", &second_release, "done"), "{lines}");
    assert_eq!(rows[3], row("deploy", &release, "done"), "{lines}");
    for i in [1, 3, 4] {
        assert!(lines.lines().nth(i).unwrap().ends_with("h1, h2"), "{lines}");
    }
    assert!(second_release.ends_with(&second[..7]));

    let json = app.ok(&["history", "--json", "-n", "2"], 0);
    let runs: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(runs.len(), 2, "{json}");
    assert_eq!(runs[0]["event"], "history.run");
    assert_eq!(runs[0]["action"], "rollback");
    assert_eq!(runs[0]["sha"], first.as_str());
    assert_eq!(runs[1]["result"], "mixed");
    assert_eq!(runs[1]["hosts"][0]["result"], "reverted", "{json}");
    assert_eq!(runs[1]["hosts"].as_array().unwrap().len(), 2, "{json}");
    assert!(runs[0]["ms"].as_u64().unwrap() > 0, "{json}");
}

#[test]
fn lock_wait_waits_in_line_behind_another_deploy_or_gives_up_with_exit_3() {
    let tb = Testbed::up(1);
    let app = App::new(&tb, &["h1"]);
    app.ok(&[], 0);
    let holder = deploy_holding_the_lock(&tb, &app, "h1", 9);

    let timed = |args: &[&str]| {
        let t = Instant::now();
        let out = app.deliver(args);
        (out, t.elapsed())
    };
    let (out, took) = timed(&[]);
    assert_eq!(out.status.code(), Some(3), "{}", shown(&out));
    assert!(
        took < Duration::from_secs(2),
        "exit 3 at once, not after {took:?}"
    );

    let (out, took) = timed(&["deploy", "--lock-wait", "2s"]);
    assert_eq!(out.status.code(), Some(3), "{}", shown(&out));
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(4),
        "gave up after {took:?}"
    );
    assert!(
        text(&out.stdout).contains("h1 | locked by ")
            && text(&out.stdout).contains("waiting in line"),
        "{}",
        shown(&out)
    );

    let (out, took) = timed(&["--json", "deploy", "--lock-wait", "30s"]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let events: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let waiting: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["event"] == "lock.waiting")
        .collect();
    assert_eq!(
        waiting.len(),
        1,
        "the holder is named once: {}",
        shown(&out)
    );
    assert_eq!(waiting[0]["host"], "h1");
    assert!(
        waiting[0]["holder"]["command"].is_string(),
        "{}",
        shown(&out)
    );
    // The holder deployed this commit meanwhile: nothing left to do.
    assert!(
        events.iter().any(|e| e["event"] == "deploy.noop"),
        "{}",
        shown(&out)
    );
    eprintln!("waited {took:?} in line");
    let mut holder = holder;
    assert_eq!(holder.wait().unwrap().code(), Some(0));
}
