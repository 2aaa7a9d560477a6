//! Units on real hosts: `deliver setup` installing the units of a first deploy (and starting
//! nothing, and leaving a running release's units alone), and `supervisor = "systemd"`, system
//! units through sudo with exactly the rules `deliver setup` prints, deployed, redeployed and
//! rolled back. Needs root (the test bed); fails, never skips, without it.

use crate::support::{on, shown, text, App, APP};
use crate::testbed::Testbed;

fn has_line(out: &str, line: &str) -> bool {
    out.lines().any(|l| l == line)
}

/// Appends a line to the app's worker.js and commits: a new commit, same units.
fn change_code(app: &App, message: &str) -> String {
    let path = app.path().join("worker.js");
    let mut s = std::fs::read_to_string(&path).unwrap();
    s.push_str("// ");
    s.push_str(message);
    s.push('\n');
    std::fs::write(&path, s).unwrap();
    app.commit(message)
}

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

    // Without the app's repository (a deliver.toml alone), setup still makes the layout and
    // checks the hosts; it says why it installed no units.
    let lone = tempfile::tempdir().unwrap();
    let config = lone.path().join("deliver.toml");
    std::fs::copy(app.path().join("deliver.toml"), &config).unwrap();
    let out = app.ok(&["-c", config.to_str().unwrap(), "setup"], 0);
    for h in ["h1", "h2"] {
        let want = format!("{h} | note     units: not installed: ");
        assert!(out.lines().any(|l| l.starts_with(&want)), "{want:?}\n{out}");
        assert_eq!(
            on(&tb, h, &format!("ls {APP}")),
            "releases\nrepo.git\nshared",
            "{h}"
        );
        assert_eq!(
            on(&tb, h, &format!("ls {user_dir} | grep {APP} || true")),
            "",
            "{h}"
        );
    }

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
    // A boot before the first deploy starts the enabled target: with no release yet, its
    // instances are skipped (their condition fails), not failed in a restart loop.
    on(&tb, "h1", &format!("systemctl --user start {APP}.target"));
    for unit in [
        format!("{APP}-web@5000.service"),
        format!("{APP}-worker@5100.service"),
    ] {
        let show = |p: &str| {
            on(
                &tb,
                "h1",
                &format!("systemctl --user show -p {p} --value {unit}"),
            )
        };
        assert_eq!(
            (show("ActiveState"), show("ConditionResult")),
            ("inactive".to_owned(), "no".to_owned()),
            "{unit}"
        );
    }
    assert_eq!(on(&tb, "h1", "pgrep -u app -x node || true"), "");
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

/// The sudoers file `deliver setup` prints for `host` (between `<<'EOF'` and `EOF`).
pub(crate) fn printed_rules(stdout: &str, host: &str) -> String {
    let prefix = format!("{host} |     ");
    let lines: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .skip_while(|l| !l.ends_with("<<'EOF'"))
        .skip(1)
        .take_while(|l| *l != "EOF")
        .collect();
    assert!(!lines.is_empty(), "no sudoers file for {host} in\n{stdout}");
    format!("{}\n", lines.join("\n"))
}

/// `deliver setup` on hosts where app lacks sudo rights: exit 1, the sudo check missing, no
/// units installed, and the sudoers file to install printed; returns that file.
fn setup_prints_the_missing_sudo_rules(tb: &Testbed, app: &App) -> String {
    let out = app.deliver(&["setup"]);
    assert_eq!(out.status.code(), Some(1), "{}", shown(&out));
    let stdout = text(&out.stdout);
    for h in ["h1", "h2"] {
        assert!(
            has_line(
                &stdout,
                &format!(
                    "{h} | MISSING  sudo: `sudo -n` may not run the systemd commands deliver needs"
                )
            ),
            "{stdout}"
        );
        assert!(
            has_line(
                &stdout,
                &format!(
                    "{h} | note     units: not installed until the host is ready (see above); \
                     `deliver setup` again then"
                )
            ),
            "{stdout}"
        );
        assert_eq!(
            on(tb, h, "ls /etc/systemd/system | grep node-app || true"),
            ""
        );
    }
    assert!(
        text(&out.stderr).contains("not ready: h1 (sudo), h2 (sudo)"),
        "{}",
        shown(&out)
    );
    let rules = printed_rules(&stdout, "h1");
    assert_eq!(rules, printed_rules(&stdout, "h2"));
    assert!(
        rules.contains("app ALL=(root) NOPASSWD: /usr/bin/systemctl daemon-reload"),
        "{rules}"
    );
    rules
}

#[test]
fn system_units_deploy_redeploy_and_roll_back_with_the_sudo_rules_setup_prints() {
    // The test bed's default rights: `systemctl daemon-reload` and unit verbs, but no `tee`
    // or `rm` of unit files. Not enough: setup says what is missing and prints the rules.
    let tb = Testbed::up(2);
    let app = App::new(&tb, &["h1", "h2"]);
    app.config("supervisor = \"systemd\"");
    let first = app.commit("system units");
    let rules = setup_prints_the_missing_sudo_rules(&tb, &app);
    drop(tb);

    // The hosts again, with exactly those rules: setup installs the system units.
    let tb = Testbed::up_with_sudo_rules(2, &rules);
    let out = app.ok(&["setup"], 0);
    for h in ["h1", "h2"] {
        assert!(
            has_line(
                &out,
                &format!("{h} | ok       sudo: `sudo -n` may run the systemd commands")
            ),
            "{out}"
        );
        let unit = on(
            &tb,
            h,
            &format!("cat /etc/systemd/system/{APP}-web@.service"),
        );
        assert!(unit.contains("\nUser=app\n"), "{h}: {unit}");
        assert_eq!(
            units_in_state(&tb, h, "systemctl", "active,activating,failed"),
            ""
        );
    }

    // First deploy: system units, running as app.
    app.ok(&[], 0);
    for h in ["h1", "h2"] {
        serves(&tb, h, &first);
        let user = on(
            &tb,
            h,
            &format!("ps -o user= -p \"$(systemctl show -p MainPID --value {APP}-web@5000)\""),
        );
        assert_eq!(user, "app", "{h}");
        assert_eq!(
            on(
                &tb,
                h,
                "ls .config/systemd/user 2>/dev/null | grep node-app || true"
            ),
            "",
            "{h}: user units next to the system ones"
        );
    }

    // A new commit with a new process type: its unit is installed through `sudo tee`.
    let procfile = app.path().join("Procfile");
    let mut types = std::fs::read_to_string(&procfile).unwrap();
    types.push_str("clock: node worker.js\n");
    std::fs::write(&procfile, types).unwrap();
    let second = change_code(&app, "a clock");
    app.ok(&[], 0);
    for h in ["h1", "h2"] {
        serves(&tb, h, &second);
        assert_eq!(
            on(&tb, h, &format!("systemctl is-active {APP}-clock@5200")),
            "active"
        );
        assert!(on(&tb, h, "ls /etc/systemd/system").contains("node-app-clock@.service"));
    }

    // Rollback: the first release with its units; the clock's unit removed through `sudo rm`.
    let out = app.ok(&["rollback"], 0);
    assert!(out.contains(&format!("rollback {} ", &first[..7])), "{out}");
    for h in ["h1", "h2"] {
        serves(&tb, h, &first);
        assert_eq!(
            on(
                &tb,
                h,
                &format!("ls /etc/systemd/system | grep {APP} | sort")
            ),
            "node-app-web@.service\nnode-app-worker@.service\nnode-app.target",
            "{h}"
        );
        assert_eq!(
            on(
                &tb,
                h,
                &format!("systemctl is-active {APP}-clock@5200 || true")
            ),
            "inactive",
            "{h}"
        );
    }
}

/// `sha`'s build answers on the web ports of `host`, and every instance is active.
fn serves(tb: &Testbed, h: &str, sha: &str) {
    for port in [5000, 5001] {
        let body = on(tb, h, &format!("curl -s --max-time 2 localhost:{port}/"));
        assert!(
            body.contains(&format!("revision={}", &sha[..7])),
            "{h}:{port} answers {body:?}, not {}",
            &sha[..7]
        );
    }
    assert_eq!(
        on(
            tb,
            h,
            &format!("systemctl is-active {APP}-web@5000 {APP}-web@5001 {APP}-worker@5100")
        ),
        "active\nactive\nactive",
        "{h}"
    );
    assert_eq!(
        on(tb, h, &format!("cat {APP}/current/REVISION")),
        sha,
        "{h}"
    );
}
