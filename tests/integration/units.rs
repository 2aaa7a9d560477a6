//! Units on real hosts: `deliver setup` installing the units of a first deploy (and starting
//! nothing, and leaving a running release's units alone). Needs root (the test bed); fails,
//! never skips, without it.

use crate::support::{on, shown, text, App, APP};
use crate::testbed::Testbed;

/// Replaces `from` by `to` in the app's deliver.toml (which must contain it).
fn edit_config(app: &App, from: &str, to: &str) {
    let path = app.path().join("deliver.toml");
    let toml = std::fs::read_to_string(&path).unwrap();
    assert!(toml.contains(from), "{from:?} not in\n{toml}");
    std::fs::write(&path, toml.replace(from, to)).unwrap();
}

/// The instance units of the app in any of these states, one per line (empty: none).
fn units_in_state(tb: &Testbed, host: &str, systemctl: &str, states: &str) -> String {
    on(
        tb,
        host,
        &format!(
            "{systemctl} list-units --all --plain --no-legend --state={states} '{APP}-*' \
             | cut -d' ' -f1"
        ),
    )
}

#[test]
fn setup_installs_the_units_of_a_first_deploy_and_starts_nothing() {
    let tb = Testbed::up(2);
    // h2 looks like a 4-core server (GNU nproc honours OMP_NUM_THREADS): `"auto"` gives it
    // more web instances than h1, so each host gets its own target.
    let out = tb.exec("h2", "echo OMP_NUM_THREADS=4 >>/etc/environment");
    assert!(out.status.success());
    let app = App::new(&tb, &["h1", "h2"]);
    edit_config(&app, "web = 2", "web = \"auto\"");
    let first = app.commit("auto");
    let user_dir = ".config/systemd/user";

    let out = app.ok(&["setup"], 0);
    for h in ["h1", "h2"] {
        let want = format!(
            "{h} | ok       units: installed from commit {}, nothing started: ",
            &first[..7]
        );
        assert!(out.lines().any(|l| l.starts_with(&want)), "{want:?}\n{out}");
        let unit = on(&tb, h, &format!("systemctl --user cat {APP}-web@.service"));
        assert!(
            unit.contains("WorkingDirectory=/home/app/node-app/current"),
            "{h}: {unit}"
        );
        assert_eq!(
            on(&tb, h, &format!("systemctl --user is-enabled {APP}.target")),
            "enabled",
            "{h}"
        );
        // Installed as the deploy records them, and nothing runs.
        assert_eq!(
            on(
                &tb,
                h,
                &format!(
                    "cmp {user_dir}/{APP}.target {APP}/.deliver/units/{APP}.target && echo same"
                )
            ),
            "same",
            "{h}"
        );
        assert_eq!(
            units_in_state(&tb, h, "systemctl --user", "active,activating,failed"),
            "",
            "{h}: setup started something"
        );
        assert_eq!(on(&tb, h, "pgrep -u app -x node || true"), "", "{h}");
        assert_eq!(on(&tb, h, &format!("ls {APP}/releases")), "", "{h}");
    }
    let target = |h: &str| on(&tb, h, &format!("cat {user_dir}/{APP}.target"));
    assert!(
        target("h2").contains("node-app-web@5002.service"),
        "{}",
        target("h2")
    );
    assert!(
        !target("h1").contains("node-app-web@5001.service"),
        "{}",
        target("h1")
    );

    // Again: nothing to install.
    let out = app.ok(&["setup"], 0);
    let want = format!(
        "h1 | ok       units: installed, as commit {} renders them: ",
        &first[..7]
    );
    assert!(out.lines().any(|l| l.starts_with(&want)), "{want:?}\n{out}");

    first_deploy_keeps_the_installed_units(&tb, &app, &first);
    differing_units_wait_for_the_next_deploy(&tb, &app);
}

fn first_deploy_keeps_the_installed_units(tb: &Testbed, app: &App, first: &str) {
    app.ok(&[], 0);
    for (h, webs) in [("h1", 1), ("h2", 3)] {
        assert_eq!(on(tb, h, &format!("cat {APP}/current/REVISION")), first);
        let active = units_in_state(tb, h, "systemctl --user", "active");
        assert_eq!(
            active.lines().filter(|u| u.contains("-web@")).count(),
            webs,
            "{h}: {active}"
        );
        assert!(
            active.contains("node-app-worker@5100.service"),
            "{h}: {active}"
        );
        let body = on(tb, h, "curl -s --max-time 2 localhost:5000/");
        assert!(
            body.contains(&format!("revision={}", &first[..7])),
            "{h}: {body}"
        );
        assert_eq!(
            on(tb, h, &format!("ls {APP}/.deliver")),
            "log.jsonl\nunits",
            "{h}: the deploy installed the units again"
        );
    }
}

fn differing_units_wait_for_the_next_deploy(tb: &Testbed, app: &App) {
    let user_dir = ".config/systemd/user";
    // Units that differ on a host with a running release: setup says so and leaves them
    // (and the processes) alone; the next deploy installs them.
    edit_config(app, "stop_timeout = \"10s\"", "stop_timeout = \"12s\"");
    let second = app.commit("a longer stop timeout");
    let pid = |h: &str| {
        on(
            tb,
            h,
            &format!("systemctl --user show -p MainPID --value {APP}-web@5000"),
        )
    };
    let pid_before = pid("h1");
    let installed = |h: &str| {
        on(
            tb,
            h,
            &format!("grep ^TimeoutStopSec {user_dir}/{APP}-web@.service"),
        )
    };
    let out = app.ok(&["setup"], 0);
    for h in ["h1", "h2"] {
        let want = format!(
            "{h} | note     units: differ from the installed ones (commit {} renders them \
             otherwise); left alone under the running release (releases/",
            &second[..7]
        );
        assert!(out.lines().any(|l| l.starts_with(&want)), "{want:?}\n{out}");
        assert!(
            out.contains("the next `deliver deploy` installs them"),
            "{out}"
        );
        assert_eq!(installed(h), "TimeoutStopSec=10s", "{h}");
    }
    assert_eq!(pid("h1"), pid_before);
    let out = app.deliver(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert!(
        !text(&out.stdout).contains("nothing to do"),
        "{}",
        shown(&out)
    );
    for h in ["h1", "h2"] {
        assert_eq!(installed(h), "TimeoutStopSec=12s", "{h}");
        assert_eq!(on(tb, h, &format!("cat {APP}/current/REVISION")), second);
    }
    assert_ne!(pid("h1"), pid_before);
}
