//! The `[release] command` on the test bed (issue 13, SPEC §9): a failing one switches
//! nothing and leaves no release dir; one that succeeds runs once, on its host only, in the
//! new release with `[env]` and `shared/.env`; `--skip-release-command` and `rollback` do
//! not run it. Needs root (the test bed).
// See: issue 13

use crate::support::{on, shown, text, App, Test, APP};
use crate::testbed::Testbed;

const HOSTS: [&str; 2] = ["h1", "h2"];

/// Each host's `current` and releases.
fn state(tb: &Testbed) -> Vec<(String, String)> {
    HOSTS
        .iter()
        .map(|h| {
            (
                on(tb, h, &format!("readlink {APP}/current")),
                on(tb, h, &format!("ls {APP}/releases")),
            )
        })
        .collect()
}

/// deliver.toml with `[release]` running `command` on h2, `MARK_ENV` in `[env]`.
fn release_on_h2(app: &App, command: &str) {
    let command = toml::Value::String(command.to_owned());
    app.config_env(
        &format!("[release]\ncommand = {command}\nhost = \"h2\"\n"),
        &[("MARK_ENV", "from-env")],
    );
}

#[test]
fn release_command_runs_once_on_its_host_before_switching() {
    let tb = Testbed::up(2);
    let app = App::new(&tb, &HOSTS);
    app.ok(&[], 0);
    for h in HOSTS {
        on(
            &tb,
            h,
            &format!("printf 'FROM_DOTENV=from-dotenv\\n' > {APP}/shared/.env; rm -f marker"),
        );
    }
    let before = state(&tb);

    // A failing release command: exit 1, nothing switched, no new release dir anywhere.
    release_on_h2(&app, "echo migrating; exit 3");
    app.commit("a release command that fails");
    let out = app.deliver(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", shown(&out));
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(all.contains("h2 | migrating"), "{}", shown(&out));
    assert!(
        all.contains("h2: release: release.command exited 3"),
        "{}",
        shown(&out)
    );
    assert_eq!(state(&tb), before);

    // One that writes a marker: on h2 only, once, with [env], shared/.env, the new release.
    release_on_h2(
        &app,
        "echo \"$MARK_ENV $FROM_DOTENV $(basename \"$PWD\")\" >> ~/marker",
    );
    app.commit("a release command that writes a marker");
    let json = app.ok(&["--json"], 0);
    let events: Vec<&str> = json
        .lines()
        .filter(|l| l.contains("\"event\":\"release."))
        .collect();
    assert_eq!(events.len(), 2, "release.start and release.done: {json}");
    assert!(
        events[0].contains("\"event\":\"release.start\",") && events[0].contains("\"host\":\"h2\""),
        "{}",
        events[0]
    );
    assert!(
        events[1].contains("\"event\":\"release.done\","),
        "{}",
        events[1]
    );
    let current = on(&tb, "h2", &format!("basename $(readlink {APP}/current)"));
    assert_eq!(
        on(&tb, "h1", &format!("basename $(readlink {APP}/current)")),
        current
    );
    assert_ne!(format!("releases/{current}"), before[1].0);
    let marker = format!("from-env from-dotenv {current}");
    assert_eq!(on(&tb, "h2", "cat marker"), marker);
    assert_eq!(
        on(&tb, "h1", "test -e marker && echo there || echo none"),
        "none"
    );

    // --skip-release-command deploys without it; rollback never runs it.
    std::fs::write(app.path().join("skipped"), "x").unwrap();
    app.commit("deployed without the release command");
    app.ok(&["deploy", "--skip-release-command"], 0);
    let skipped = on(&tb, "h2", &format!("basename $(readlink {APP}/current)"));
    assert_ne!(skipped, current);
    app.ok(&["rollback"], 0);
    assert_eq!(
        on(&tb, "h2", &format!("basename $(readlink {APP}/current)")),
        current
    );
    assert_eq!(on(&tb, "h2", "cat marker"), marker);
    assert_eq!(
        on(&tb, "h1", "test -e marker && echo there || echo none"),
        "none"
    );
}

#[test]
fn release_command_config_and_hosts_are_checked_before_any_host_is_contacted() {
    let toml = "app = \"shop\"\nhosts = [\"h1\", \"h2\"]\n[release]\ncommand = \"bin/migrate\"\n";
    Test::new()
        .toml(&format!("{toml}host = \"h3\"\n"))
        .procfile("web: node server.js\n")
        .args(["check", "--offline"])
        .status(2)
        .stderr(
            "deliver.toml:5:8: release.host `h3` is not a host of environment `default` (its \
             hosts: h1, h2)",
        )
        .run();
    // --hosts leaving out the release command's host (h1 by default): exit 2, nothing run.
    Test::new()
        .toml(toml)
        .procfile("web: node server.js\n")
        .args(["deploy", "--hosts", "h2"])
        .status(2)
        .stderr("--hosts leaves out h1, where the release command runs")
        .run();
}
