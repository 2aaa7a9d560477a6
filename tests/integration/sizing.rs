//! Sizing (SPEC §10) as a user meets it: `cpu_share` and `[limits.TYPE]` checked offline
//! with the file, line and key at fault (exit 2), and what `check --offline` prints; on the
//! test bed, two apps sharing a 4-core host and what `status` and `check` say of it.

use crate::support::{on, App, Test, APP};
use crate::testbed::Testbed;

const PROCFILE: &str = "
    web: node server.js
    worker: node worker.js
";

#[test]
fn check_offline_resolves_auto_with_the_share_and_shows_the_limits() {
    Test::new()
        .toml(
            r#"
            app = "shop"
            hosts = ["web1"]
            cpu_share = 0.5

            [processes]
            web = "auto"

            [limits.web]
            max_lifetime = "30m"
            memory_max = "512M"
            "#,
        )
        .procfile(PROCFILE)
        .args(["check", "--offline", "--cpus", "8"])
        .stdout("web        3 instances (auto)  ports 5000-5002")
        .stdout("\"auto\" resolved with 8 CPUs x cpu_share 0.5 (--cpus)")
        .stdout("web        limits: recycled after 30m (+ up to 30m), restarted past 512M")
        .run();
}

#[test]
fn a_limit_of_no_procfile_type_names_the_table_and_lists_the_types() {
    Test::new()
        .toml(
            r#"
            app = "shop"
            hosts = ["web1"]

            [limits.wbe]
            memory_max = "1G"
            "#,
        )
        .procfile(PROCFILE)
        .args(["check", "--offline"])
        .status(2)
        .stderr("deliver.toml:4:9: limits.wbe names no process type of the Procfile (it has `web`, `worker`)")
        .run();
}

#[test]
fn bad_shares_sizes_and_upstart_limits_are_errors_naming_the_key() {
    let cases = [
        (
            "cpu_share = 0",
            "deliver.toml:3:13: cpu_share must be more than 0 and at most 1",
        ),
        (
            "[limits.web]\nmemory_max = \"512MB\"",
            "deliver.toml:4:14: limits.web.memory_max: invalid size `512MB`",
        ),
        (
            "[limits.web]\nmax_lifetime = \"half an hour\"",
            "deliver.toml:4:16: limits.web.max_lifetime: invalid duration",
        ),
        (
            "supervisor = \"upstart\"\n[limits.web]\nmax_lifetime = \"30m\"",
            "deliver.toml:5:16: limits.web.max_lifetime needs systemd",
        ),
    ];
    for (extra, want) in cases {
        Test::new()
            .toml(&format!("app = \"shop\"\nhosts = [\"web1\"]\n{extra}\n"))
            .procfile(PROCFILE)
            .args(["check", "--offline"])
            .status(2)
            .stderr(want)
            .run();
    }
}

/// Writes and commits `app`'s deliver.toml for one of the apps of a shared host: `name`,
/// its own ports, `web = "auto"` with `extra` top-level lines (the share), no worker.
fn auto_web(app: &App, name: &str, port_base: u16, extra: &str) {
    app.config(&format!("{extra}\nport_base = {port_base}"));
    let path = app.path().join("deliver.toml");
    let toml = std::fs::read_to_string(&path).unwrap();
    let toml = toml
        .replace(&format!("app = \"{APP}\""), &format!("app = \"{name}\""))
        .replace("web = 2\nworker = 1", "web = \"auto\"\nworker = 0");
    std::fs::write(&path, toml).unwrap();
    app.commit(name);
}

#[test]
fn two_apps_with_half_the_cores_each_run_one_web_each_on_a_4_core_host() {
    let tb = Testbed::up(1);
    // h1 looks like a 4-core server to its SSH sessions (GNU nproc honours OMP_NUM_THREADS,
    // which sshd's PAM stack reads from /etc/environment), as in deploy.rs.
    assert!(tb
        .exec("h1", "echo OMP_NUM_THREADS=4 >>/etc/environment")
        .status
        .success());
    assert_eq!(on(&tb, "h1", "nproc"), "4");
    let one = App::new(&tb, &["h1"]);
    auto_web(&one, APP, 5000, "cpu_share = 0.5");
    let two = App::new(&tb, &["h1"]);
    auto_web(&two, "other-app", 6000, "cpu_share = 0.5");
    one.ok(&[], 0);
    two.ok(&[], 0);

    // N-1 = 3, x 0.5 = 1.5: one web each.
    let running = on(
        &tb,
        "h1",
        "systemctl --user list-units --plain --no-legend --state=active '*-web@*' | cut -d' ' -f1",
    );
    assert_eq!(
        running,
        "node-app-web@5000.service\nother-app-web@6000.service"
    );

    // Either app's status shows both on that host, against its cores.
    for app in [&one, &two] {
        let out = app.ok(&["status"], 0);
        assert!(
            out.contains("h1 |   cores 4 cores: ")
                && out.contains("node-app 1 (user:app)")
                && out.contains("other-app 1 (user:app)")
                && out.contains("; 2 instances of 3"),
            "{out}"
        );
        assert!(!out.contains("warning"), "{out}");
    }
    let json = one.ok(&["--json", "status"], 0);
    let status: serde_json::Value = json
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["event"] == "host.status")
        .unwrap_or_else(|| panic!("no host.status in {json}"));
    let cores = &status["cores"];
    assert_eq!(cores["cpus"], 4, "{status}");
    assert_eq!(cores["room"], 3, "{status}");
    assert_eq!(cores["instances"], 2, "{status}");
    assert_eq!(cores["over"], false, "{status}");
    let mut apps: Vec<(String, u64)> = cores["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["app"].as_str().unwrap().to_owned(),
                a["instances"].as_u64().unwrap(),
            )
        })
        .collect();
    apps.sort();
    assert_eq!(
        apps,
        [("node-app".to_owned(), 1), ("other-app".to_owned(), 1)]
    );

    // A third app taking every core would make them fight: check says so.
    let three = App::new(&tb, &["h1"]);
    auto_web(&three, "greedy", 7000, "");
    three.ok(&[], 0);
    let out = one.deliver(&["check"]);
    let shown = crate::support::shown(&out);
    assert!(
        shown.contains("5 instances of deliver apps on 4 cores: more than the 3"),
        "{shown}"
    );
}
