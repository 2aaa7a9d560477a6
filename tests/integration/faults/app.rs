//! A release that never becomes healthy: its web crashes at once, its health check hangs, its
//! command is missing. Each is reverted on the host where it switched (exit 4) within the
//! health deadline and a few seconds; the next host never switches.

use std::time::Duration;

use super::{assert_serves, edit, Run};
use crate::support::{on, App, APP};
use crate::testbed::Testbed;

/// A fault of the new release: its name, how the app's copy is changed, and what the failure
/// line says besides the host and the step.
struct Broken {
    fault: &'static str,
    file: &'static str,
    from: &'static str,
    to: &'static str,
    says: &'static str,
}

const BROKEN: [Broken; 3] = [
    Broken {
        fault: "crash-looping web",
        file: "server.js",
        from: "\"use strict\";\n",
        to: "\"use strict\";\nthrow new Error(\"crash at boot\");\n",
        says: "did not answer 200",
    },
    Broken {
        fault: "health check that hangs",
        file: "server.js",
        from: "if (req.url === \"/health\") {\n",
        to: "if (req.url === \"/health\") {\n    return; // never answers\n",
        says: "did not answer 200",
    },
    Broken {
        fault: "web command missing",
        file: "Procfile",
        from: "web: node server.js",
        to: "web: ./no-such-server",
        says: "did not answer 200",
    },
];

/// The health deadline of these runs: short, so that each ends soon.
const DEADLINE: Duration = Duration::from_secs(3);

#[test]
fn a_release_that_never_becomes_healthy_is_reverted_within_the_deadline() {
    let tb = Testbed::up(2);
    let app = App::new(&tb, &["h1", "h2"]);
    edit(
        &app,
        "deliver.toml",
        "deadline = \"20s\"",
        &format!("deadline = \"{}s\"", DEADLINE.as_secs()),
    );
    let first = app.commit("a short health deadline");
    app.ok(&[], 0);
    for broken in &BROKEN {
        let before = on(&tb, "h2", &format!("ls {APP}/releases"));
        edit(&app, broken.file, broken.from, broken.to);
        app.commit(broken.fault);
        // h1 switches, its first web instance fails its gate, h1 goes back; h2 never switched.
        Run::deliver(&app, Duration::from_secs(60)).expect(
            broken.fault,
            4,
            DEADLINE + Duration::from_secs(5),
            "h1",
            &["FAILED in switch", "node-app-web@5000", broken.says],
        );
        for host in ["h1", "h2"] {
            assert_serves(&tb, host, &first);
        }
        let after = on(&tb, "h2", &format!("ls {APP}/releases"));
        assert!(
            after.lines().count() <= before.lines().count() + 1,
            "{}: h2 keeps at most the failed release\n{before}\n--\n{after}",
            broken.fault
        );
        edit(&app, broken.file, broken.to, broken.from);
        // No reset between cases: the crash loop leaves web@5000 past systemd's start limit
        // (StartLimitBurst), and the next case's rollout (forward, then back) must still
        // restart it (deliver resets the limit on a refused restart).
    }
}
