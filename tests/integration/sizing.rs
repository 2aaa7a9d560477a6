//! Sizing (SPEC §10) as a user meets it: `cpu_share` and `[limits.TYPE]` checked offline
//! with the file, line and key at fault (exit 2), and what `check --offline` prints.

use crate::support::Test;

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
        .stdout("web        limits: recycled after 30m (+ up to 15m), restarted past 512M")
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
