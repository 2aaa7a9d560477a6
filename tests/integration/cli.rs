//! The command line as a user meets it: exit codes, messages that name the file, line and
//! key at fault, offline check, export, init, completions.

use crate::support::{repo_root, unindent, Test};

const TOML: &str = r#"
    app = "shop"

    [environments.production]
    hosts = ["web1", "deploy@web2.example.com:2222"]
"#;

const PROCFILE: &str = "
    web: node server.js
    worker: node worker.js
";

#[test]
fn misspelled_key_names_file_line_column_and_suggests_the_key() {
    Test::new()
        .toml(
            r#"
            app = "shop"
            keep_relases = 3

            [environments.production]
            hosts = ["web1"]
            "#,
        )
        .procfile(PROCFILE)
        .args(["check", "--offline"])
        .status(2)
        .stderr("deliver.toml:2:1:")
        .stderr("keep_relases")
        .stderr("did you mean `keep_releases`?")
        .run();
}

#[test]
fn procfile_line_without_colon_is_reported_with_its_line_number() {
    Test::new()
        .toml(TOML)
        .procfile(
            "
            # the app
            web node server.js
            ",
        )
        .args(["check", "--offline"])
        .status(2)
        .stderr("Procfile:2:")
        .stderr("web node server.js")
        .run();
}

#[test]
fn processes_key_naming_no_procfile_type_lists_the_types() {
    Test::new()
        .toml(
            r#"
            app = "shop"

            [processes]
            wbe = 2

            [environments.production]
            hosts = ["web1"]
            "#,
        )
        .procfile(PROCFILE)
        .args(["check", "--offline"])
        .status(2)
        .stderr("deliver.toml:4:")
        .stderr("wbe")
        .stderr("web")
        .stderr("worker")
        .run();
}

#[test]
fn missing_config_is_a_usage_error_naming_the_file() {
    Test::new()
        .procfile(PROCFILE)
        .args(["check", "--offline"])
        .status(2)
        .stderr("deliver.toml not found")
        .stderr("deliver init")
        .run();
}

#[test]
fn missing_procfile_is_a_usage_error_naming_the_file() {
    Test::new()
        .toml(TOML)
        .args(["check", "--offline"])
        .status(2)
        .stderr("Procfile not found")
        .run();
}

#[test]
fn unknown_environment_is_a_usage_error_listing_the_known_ones() {
    Test::new()
        .toml(TOML)
        .procfile(PROCFILE)
        .args(["check", "--offline", "staging"])
        .status(2)
        .stderr("staging")
        .stderr("production")
        .run();
}

#[test]
fn offline_check_prints_hosts_and_formation_with_ports() {
    Test::new()
        .toml(
            r#"
            app = "shop"
            port_base = 6000

            [processes]
            web = "auto"
            worker = 0

            [environments.production]
            hosts = ["web1", "deploy@web2.example.com:2222"]

            [environments.staging]
            hosts = ["staging"]
            processes = { web = 1, worker = 2 }
            "#,
        )
        .procfile(PROCFILE)
        .args(["check", "--offline", "--cpus", "4"])
        .stdout("production")
        .stdout("web1, deploy@web2.example.com:2222")
        .stdout("web        3 instances (auto)  ports 6000-6002")
        .stdout("worker     off")
        .stdout("\"auto\" resolved with 4 CPUs (--cpus)")
        .stdout("staging")
        .stdout("worker     2 instances  ports 6100-6101")
        .run();
}

#[test]
fn highest_port_beyond_65535_is_rejected() {
    Test::new()
        .toml(
            r#"
            app = "shop"
            port_base = 65500

            [environments.production]
            hosts = ["web1"]
            "#,
        )
        .procfile(PROCFILE)
        .args(["check", "--offline"])
        .status(2)
        .stderr("65600")
        .run();
}

#[test]
fn online_check_of_hosts_that_cannot_be_reached_exits_1() {
    Test::new()
        .toml(TOML)
        .procfile(PROCFILE)
        .args(["check"])
        .status(1)
        .stderr("deploy@web2.example.com:2222: cannot connect")
        .run();
}

#[test]
fn deploy_outside_a_git_repository_says_so_and_contacts_nothing() {
    Test::new()
        .toml(TOML)
        .procfile(PROCFILE)
        .status(1)
        .stderr("is not in a git repository: deliver deploys commits")
        .run();
}

#[test]
fn deploy_to_a_host_not_in_the_environment_is_a_usage_error() {
    Test::new()
        .toml(TOML)
        .procfile(PROCFILE)
        .args(["deploy", "--hosts", "web9"])
        .status(2)
        .stderr("--hosts: `web9` is not a host of environment `production` (its hosts: web1, deploy@web2.example.com:2222)")
        .run();
}

#[test]
fn environments_sharing_one_managed_upstream_are_refused_before_any_host_is_reached() {
    let toml = r#"
        app = "shop"
        [proxy]
        hosts = ["lb1"]

        [environments.production]
        hosts = ["web1", "web2"]

        [environments.staging]
        hosts = ["staging"]
        "#;
    Test::new()
        .toml(toml)
        .procfile(PROCFILE)
        .args(["deploy", "staging"])
        .status(2)
        .stderr("environments `staging` and `production` would both write /etc/nginx/conf.d/shop-upstream.conf")
        .run();
    Test::new()
        .toml(toml)
        .procfile(PROCFILE)
        .args(["check", "--offline"])
        .status(0)
        .stderr("production: the proxy's upstream file is also `staging`'s")
        .run();
}

#[test]
fn json_check_prints_only_json_lines_on_stdout() {
    let (out, _dir) = Test::new()
        .toml(TOML)
        .procfile(PROCFILE)
        .args(["--json", "check", "--offline", "--cpus", "2"])
        .run();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(!stdout.is_empty());
    for line in stdout.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        assert_eq!(v["event"], "check.environment");
        assert_eq!(v["environment"], "production");
        assert_eq!(v["formation"][0]["ports"], serde_json::json!([5000]));
    }
}

#[test]
fn export_prints_every_unit_with_a_header_per_file() {
    Test::new()
        .toml(TOML)
        .procfile(PROCFILE)
        .args(["export", "--format", "systemd-user", "--cpus", "2"])
        .stdout("# ==> shop-web@.service <==")
        .stdout("# ==> shop-worker@.service <==")
        .stdout("# ==> shop.target <==")
        .run();
}

#[test]
fn export_writes_files_into_the_output_directory() {
    let (_, dir) = Test::new()
        .toml(TOML)
        .procfile(PROCFILE)
        .args(["export", "--format", "upstart", "-o", "out", "--cpus", "2"])
        .not_stdout("==>")
        .run();
    let mut names: Vec<String> = std::fs::read_dir(dir.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "shop-web-1.conf",
            "shop-web.conf",
            "shop-worker-1.conf",
            "shop-worker.conf",
            "shop.conf"
        ]
    );
}

#[test]
fn nginx_export_resolves_ssh_config_aliases_to_their_hostname() {
    let t = Test::new()
        .toml(
            r#"
            app = "shop"

            [processes]
            web = 2

            [environments.production]
            hosts = ["h1", "10.0.0.9"]
            "#,
        )
        .procfile(PROCFILE)
        .file(
            "ssh_config",
            "
            Host h1
              HostName 10.77.0.2
              User app
            ",
        );
    let ssh_config = t.path().join("ssh_config").display().to_string();
    t.env("DELIVER_SSH_CONFIG", &ssh_config)
        .args(["export", "--format", "nginx"])
        .stdout("upstream shop {")
        .stdout("server 10.77.0.2:5000 ")
        .stdout("server 10.77.0.2:5001 ")
        .stdout("server 10.0.0.9:5001 ")
        .stdout("proxy_next_upstream error timeout http_502 http_503 http_504;")
        .not_stdout("5100")
        .run();
}

#[test]
fn init_writes_a_config_that_passes_the_offline_check() {
    let (_, dir) = Test::new()
        .file(
            "package.json",
            r#"{"name": "x", "scripts": {"start": "node server.js", "build": "node build.js"}}"#,
        )
        .args(["init", "--hosts", "web1,deploy@web2:2222"])
        .stderr("wrote deliver.toml")
        .stderr("wrote Procfile")
        .run();
    let toml = std::fs::read_to_string(dir.path().join("deliver.toml")).unwrap();
    assert!(toml.contains("npm ci --omit=dev"), "{toml}");
    assert!(toml.contains("npm run build"), "{toml}");
    assert!(
        toml.contains(r#"hosts = ["web1", "deploy@web2:2222"]"#),
        "{toml}"
    );
    let procfile = std::fs::read_to_string(dir.path().join("Procfile")).unwrap();
    assert_eq!(procfile, "web: npm start\n");
    let out = assert_cmd::Command::cargo_bin("deliver")
        .unwrap()
        .current_dir(dir.path())
        .args(["check", "--offline"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn init_keeps_an_existing_procfile_and_lists_its_types() {
    let (_, dir) = Test::new()
        .procfile("web: bundle exec puma\nsidekiq: bundle exec sidekiq\n")
        .file("Gemfile", "source 'https://rubygems.org'\n")
        .args(["init"])
        .run();
    let toml = std::fs::read_to_string(dir.path().join("deliver.toml")).unwrap();
    assert!(toml.contains("sidekiq = 1"), "{toml}");
    assert!(toml.contains("bundle install"), "{toml}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("Procfile")).unwrap(),
        "web: bundle exec puma\nsidekiq: bundle exec sidekiq\n"
    );
}

#[test]
fn init_never_overwrites_without_force() {
    let (_, dir) = Test::new()
        .toml("app = \"mine\"\n")
        .procfile(PROCFILE)
        .args(["init"])
        .status(2)
        .stderr("deliver.toml already exists; pass --force")
        .run();
    let kept = std::fs::read_to_string(dir.path().join("deliver.toml")).unwrap();
    assert_eq!(kept, "app = \"mine\"\n");
}

#[test]
fn init_with_force_overwrites() {
    Test::new()
        .toml("app = \"mine\"\n")
        .procfile(PROCFILE)
        .args(["init", "--force"])
        .stderr("wrote deliver.toml")
        .run();
}

#[test]
fn example_app_config_passes_the_offline_check() {
    let root = repo_root();
    let config = root.join("examples/node-app/deliver.toml");
    let out = assert_cmd::Command::cargo_bin("deliver")
        .unwrap()
        .args([
            "-c",
            config.to_str().unwrap(),
            "check",
            "--offline",
            "--cpus",
            "2",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("h1, h2, h3"), "{stdout}");
    assert!(stdout.contains("ports 5000-5001"), "{stdout}");
}

#[test]
fn completions_are_printed_for_bash() {
    let (out, _dir) = Test::new().args(["completions", "bash"]).run();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("_deliver()"), "{text}");
    assert!(text.contains("rollback"), "{text}");
}

#[test]
fn version_is_printed() {
    Test::new()
        .args(["--version"])
        .stdout(concat!("deliver ", env!("CARGO_PKG_VERSION")))
        .run();
}

#[test]
fn bad_flag_is_a_usage_error() {
    Test::new().args(["deploy", "--batch", "0"]).status(2).run();
}

#[test]
fn errors_are_coloured_only_when_asked_and_never_under_no_color() {
    let (out, _) = Test::new()
        .args(["--color", "always", "check", "--offline"])
        .status(2)
        .run();
    assert!(String::from_utf8_lossy(&out.stderr).contains("\x1b["));
    let (out, _) = Test::new()
        .args(["check", "--offline"])
        .env("NO_COLOR", "1")
        .status(2)
        .run();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("\x1b["));
}

#[test]
fn unindent_strips_common_indentation() {
    assert_eq!(unindent("\n    a\n      b\n"), "a\n  b\n");
}

/// Issue 3's acceptance: `export` of a 3-type Procfile whose commands hold `%`, quotes and
/// `$VAR`: every systemd unit (system and user) verifies with empty stderr, the ports follow
/// `port_base + 100*type_index + (instance-1)` and the target wants every instance.
#[test]
fn export_of_three_types_with_hostile_commands_verifies_and_wants_every_instance() {
    let analyze = crate::render::tool("systemd-analyze");
    let procfile = deliver::render::example::PROCFILE;
    let greeting = deliver::render::example::GREETING;
    for (format, user_flag) in [("systemd", None), ("systemd-user", Some("--user"))] {
        let toml = format!(
            "app = \"shop\"\nport_base = 7000\n[env]\nGREETING = {}\n[processes]\nweb = 2\nclock = 3\n[environments.production]\nhosts = [\"web1\"]\n",
            toml::Value::String(greeting.into())
        );
        let (_, dir) = Test::new()
            .toml(&toml)
            .procfile(procfile)
            .args(["export", "--format", format, "-o", "units"])
            .run();
        let units = dir.path().join("units");
        let mut names: Vec<String> = std::fs::read_dir(&units)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "shop-clock@.service",
                "shop-web@.service",
                "shop-worker@.service",
                "shop.target"
            ]
        );
        let target = std::fs::read_to_string(units.join("shop.target")).unwrap();
        let instances = [
            "shop-web@7000.service",
            "shop-web@7001.service",
            "shop-worker@7100.service",
            "shop-clock@7200.service",
            "shop-clock@7201.service",
            "shop-clock@7202.service",
        ];
        let wants: Vec<&str> = target
            .lines()
            .filter_map(|l| l.strip_prefix("Wants="))
            .flat_map(str::split_whitespace)
            .collect();
        assert_eq!(wants, instances, "{target}");
        let runtime = tempfile::tempdir().unwrap();
        let mut cmd = std::process::Command::new(&analyze);
        cmd.args(user_flag)
            .arg("verify")
            .arg(units.join("shop.target"))
            .args(instances.iter().map(|i| units.join(i)))
            .env("XDG_RUNTIME_DIR", runtime.path());
        crate::render::assert_clean(&format!("verify --format {format}"), &cmd.output().unwrap());
    }
}
