//! A release whose rollout failed (exit 4) is marked failed on the hosts (issue 12):
//! `releases` shows it, `rollback` skips it, `rollback --to` refuses it without `--force`,
//! and a deploy of the same commit makes a new release. Needs root (the test bed).
// See: issue 12

use crate::support::{on, shown, text, App, APP};
use crate::testbed::Testbed;

fn releases(tb: &Testbed) -> Vec<String> {
    on(tb, "h1", &format!("ls {APP}/releases"))
        .lines()
        .map(str::to_string)
        .collect()
}

fn current(tb: &Testbed) -> String {
    on(tb, "h1", &format!("readlink {APP}/current"))
}

#[test]
fn a_reverted_release_is_marked_failed_skipped_by_rollback_and_refused_by_to() {
    let tb = Testbed::up(1);
    let app = App::new(&tb, &["h1"]);
    // A short health deadline, and room for every release (pruning is not under test here).
    let toml_path = app.path().join("deliver.toml");
    let toml = std::fs::read_to_string(&toml_path).unwrap();
    let toml = toml
        .replacen("deadline = \"20s\"", "deadline = \"3s\"", 1)
        .replacen("keep_releases = 3", "keep_releases = 10", 1);
    std::fs::write(&toml_path, toml).unwrap();
    app.commit("short health deadline");
    app.ok(&[], 0);
    let good = releases(&tb);
    assert_eq!(good.len(), 1);

    // A release whose health check fails: exit 4, reverted, marked failed.
    let server = app.path().join("server.js");
    let code = std::fs::read_to_string(&server).unwrap();
    let broken = code.replacen(
        "if (req.url === \"/health\") {\n    res.writeHead(200",
        "if (req.url === \"/health\") {\n    res.writeHead(500",
        1,
    );
    assert_ne!(code, broken, "server.js: the /health answer moved");
    std::fs::write(&server, &broken).unwrap();
    app.commit("a release whose health check fails");
    app.ok(&[], 4);
    let all = releases(&tb);
    let bad = all.iter().find(|r| !good.contains(r)).unwrap().clone();
    assert_eq!(current(&tb), format!("releases/{}", good[0]));
    let mark = on(
        &tb,
        "h1",
        &format!("cat {APP}/releases/{bad}/.deliver-failed"),
    );
    let mark: serde_json::Value = serde_json::from_str(&mark).unwrap();
    assert!(mark["why"].as_str().unwrap().contains("h1"), "{mark}");
    assert!(mark["when"].is_string() && mark["by"].is_string(), "{mark}");

    // The same commit again: a new release (the marked one is never reused), failed too.
    std::thread::sleep(std::time::Duration::from_secs(1));
    app.ok(&[], 4);
    let again: Vec<String> = releases(&tb)
        .into_iter()
        .filter(|r| !all.contains(r))
        .collect();
    assert_eq!(again.len(), 1, "{again:?}");
    assert_ne!(again[0], bad);
    assert_eq!(again[0][15..], bad[15..], "same commit");

    // `releases` says so, in text and JSON.
    let listed = app.ok(&["releases"], 0);
    let line = listed.lines().find(|l| l.contains(&bad)).unwrap();
    assert!(line.contains("failed: "), "{listed}");
    let good_line = listed.lines().find(|l| l.contains(&good[0])).unwrap();
    assert!(!good_line.contains("failed"), "{listed}");
    let json = app.ok(&["--json", "releases"], 0);
    let event: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    let entries = event["releases"].as_array().unwrap();
    let entry = |id: &str| entries.iter().find(|e| e["id"] == id).unwrap();
    assert!(entry(&bad)["failed"]["why"].is_string(), "{json}");
    assert!(entry(&good[0])["failed"].is_null(), "{json}");

    // A good release on top; `rollback` skips both failed ones, back to the first.
    std::fs::write(&server, &code).unwrap();
    app.commit("healthy again");
    app.ok(&[], 0);
    let newest = current(&tb);
    let out = app.deliver(&["rollback", "--to", &bad]);
    assert_eq!(out.status.code(), Some(1), "{}", shown(&out));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("release {bad} is marked failed on h1"))
            && stderr.contains("--force"),
        "{stderr}"
    );
    assert_eq!(current(&tb), newest, "a refused rollback changed nothing");
    // --force goes ahead (and, its health still failing, is reverted: exit 4).
    let out = app.deliver(&["rollback", "--to", &bad, "--force"]);
    assert_eq!(out.status.code(), Some(4), "{}", shown(&out));
    assert_eq!(current(&tb), newest);
    app.ok(&["rollback"], 0);
    assert_eq!(current(&tb), format!("releases/{}", good[0]));

    // Pruning takes the failed releases first and keeps a good one to roll back to: with
    // keep_releases = 1, a deploy leaves its own release and the newest one before it that
    // did not fail ("healthy again"), never a failed one.
    let toml = std::fs::read_to_string(&toml_path).unwrap();
    std::fs::write(
        &toml_path,
        toml.replacen("keep_releases = 10", "keep_releases = 1", 1),
    )
    .unwrap();
    app.commit("keep one");
    app.ok(&[], 0);
    let left = releases(&tb);
    assert_eq!(left.len(), 2, "{left:?}");
    let healthy_again = newest.trim_start_matches("releases/").to_owned();
    assert!(
        left.contains(&healthy_again),
        "the good one before is kept: {left:?}"
    );
    assert!(
        !left.contains(&bad),
        "failed releases are pruned first: {left:?}"
    );
    assert!(!app.ok(&["releases"], 0).contains("failed: "));
}
