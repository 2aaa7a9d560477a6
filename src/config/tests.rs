//! Tests of whole files: the SPEC example, defaults, the merge of environments, unknown
//! keys, types and syntax, locations, and checks across sections. Tests of one section's
//! values are in its file.

use std::collections::BTreeMap;
use std::time::Duration;

use super::test_support::*;
use super::*;

#[test]
fn spec_example_parses_into_the_expected_values() {
    let config = parse(SPEC_EXAMPLE).unwrap();
    assert_eq!(config.app.as_str(), "shop");
    assert_eq!(config.default_environment.as_deref(), Some("production"));
    let names: Vec<&str> = config
        .environments
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(names, ["production", "staging"]);

    let production = config.environment(None).unwrap();
    assert_eq!(production.name, "production");
    assert_eq!(production.app.as_str(), "shop");
    assert_eq!(production.user.as_deref(), Some("app"));
    assert_eq!(production.deploy_to, "~/shop");
    assert_eq!(production.git_ref, "HEAD");
    assert_eq!(production.keep_releases, 5);
    assert_eq!(production.linked_dirs, ["log", "tmp"]);
    assert_eq!(production.linked_files, [".env"]);
    assert_eq!(production.supervisor, Supervisor::SystemdUser);
    assert_eq!(production.port_base, 5000);
    assert_eq!(
        production.vars,
        BTreeMap::from([(
            EnvVarName::new("NODE_ENV").unwrap(),
            "production".to_owned()
        )])
    );
    assert_eq!(
        production.build,
        Build {
            hooks: vec!["npm ci --omit=dev".to_owned(), "npm run build".to_owned()],
            timeout: Duration::from_secs(600),
        }
    );
    assert_eq!(
        production.processes,
        [
            setting("web", Instances::Auto, at(20, 1)),
            setting("worker", Instances::Count(1), at(21, 1)),
        ]
    );
    assert_eq!(
        production.health,
        Health {
            process: "web".to_owned(),
            path: HealthPath::new("/health").unwrap(),
            expect: 200,
            timeout: Duration::from_secs(2),
            interval: Duration::from_millis(250),
            deadline: Duration::from_secs(30),
        }
    );
    assert_eq!(
        production.rollout,
        Rollout {
            mode: RolloutMode::Rolling,
            batch: crate::config::BatchSize::Count(1),
            stop_timeout: Duration::from_secs(30),
        }
    );
    assert_eq!(
        production.proxy,
        Some(Proxy {
            hosts: vec![host("lb1")],
            upstream: UpstreamName::new("shop").unwrap(),
            config: "/etc/nginx/conf.d/shop-upstream.conf".to_owned(),
            drain: true,
            drain_timeout: Duration::from_secs(10),
            addresses: [("web3".to_owned(), "10.0.0.13".to_owned())].into(),
        })
    );
    assert_eq!(
        production.hosts,
        [
            host("web1.example.com"),
            host("deploy@web2.example.com:2222"),
            host("web3")
        ]
    );

    let staging = config.environment(Some("staging")).unwrap();
    assert_eq!(staging.hosts, [host("staging")]);
    assert_eq!(
        staging.processes,
        [
            setting("web", Instances::Count(1), at(51, 15)),
            setting("worker", Instances::Count(1), at(21, 1)),
        ]
    );
    assert_eq!(staging.health, production.health);
    assert_eq!(staging.proxy, production.proxy);
}

#[test]
fn defaults_apply_when_keys_are_missing() {
    let env = only_env(BASE);
    assert_eq!(env.name, "default");
    assert_eq!(env.user, None);
    assert_eq!(env.deploy_to, "~/shop");
    assert_eq!(env.git_ref, "HEAD");
    assert_eq!(env.keep_releases, 5);
    assert!(env.linked_dirs.is_empty() && env.linked_files.is_empty());
    assert_eq!(env.supervisor, Supervisor::SystemdUser);
    assert_eq!(env.port_base, 5000);
    assert!(env.vars.is_empty());
    assert_eq!(
        env.build,
        Build {
            hooks: Vec::new(),
            timeout: Duration::from_secs(600)
        }
    );
    assert!(env.processes.is_empty());
    assert_eq!(
        env.health,
        Health {
            process: "web".to_owned(),
            path: HealthPath::new("/health").unwrap(),
            expect: 200,
            timeout: Duration::from_secs(2),
            interval: Duration::from_millis(250),
            deadline: Duration::from_secs(30),
        }
    );
    assert_eq!(
        env.rollout,
        Rollout {
            mode: RolloutMode::Rolling,
            batch: crate::config::BatchSize::Count(1),
            stop_timeout: Duration::from_secs(30)
        }
    );
    assert_eq!(env.proxy, None);
    assert_eq!(env.hosts, [host("web1")]);
}

#[test]
fn environment_tables_merge_key_by_key_over_the_top_level() {
    let text = r#"app = "shop"
user = "app"
hosts = ["web1"]
[env]
A = "top"
B = "top"
[build]
hooks = ["make"]
timeout = "5m"
[health]
path = "/up"
timeout = "1s"
[proxy]
hosts = ["lb1"]
drain = true
[environments.production]
user = "deploy"
[environments.production.env]
B = "production"
C = "production"
[environments.production.build]
hooks = ["make release"]
[environments.production.health]
deadline = "60s"
[environments.production.proxy]
upstream = "shop-prod"
[environments.staging]
hosts = ["staging1", "staging2"]
"#;
    let production = env_named(text, "production");
    assert_eq!(production.user.as_deref(), Some("deploy"));
    assert_eq!(production.hosts, [host("web1")]);
    let env: Vec<(&str, &str)> = production
        .vars
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        env,
        [("A", "top"), ("B", "production"), ("C", "production")]
    );
    assert_eq!(production.build.hooks, ["make release"]);
    assert_eq!(production.build.timeout, Duration::from_secs(300));
    assert_eq!(production.health.path, "/up");
    assert_eq!(production.health.timeout, Duration::from_secs(1));
    assert_eq!(production.health.deadline, Duration::from_secs(60));
    let proxy = production.proxy.unwrap();
    assert_eq!(proxy.hosts, [host("lb1")]);
    assert_eq!(proxy.upstream, "shop-prod");
    assert!(proxy.drain);

    let staging = env_named(text, "staging");
    assert_eq!(staging.user.as_deref(), Some("app"));
    assert_eq!(staging.hosts, [host("staging1"), host("staging2")]);
    assert_eq!(staging.health.deadline, Duration::from_secs(30));
    assert_eq!(staging.build.hooks, ["make"]);
    assert_eq!(staging.proxy.unwrap().upstream, "shop");
}

#[test]
fn without_environments_there_is_one_named_default() {
    let config = parse(BASE).unwrap();
    assert_eq!(config.environments.len(), 1);
    assert_eq!(config.environment(Some("default")).unwrap().name, "default");
}

#[test]
fn hostile_values_are_kept_verbatim_for_the_remote_layer_to_quote() {
    let env = only_env(&format!(
        "{BASE}deploy_to = \"x\\\"; touch /tmp/pwned #\"\n[env]\nGREETING = \"$(id) `x` 'y'\"\n"
    ));
    assert_eq!(env.deploy_to, "x\"; touch /tmp/pwned #");
    assert_eq!(env.vars["GREETING"], "$(id) `x` 'y'");
}

#[test]
fn misspelt_key_suggests_the_valid_one_at_its_line_and_column() {
    insta::assert_snapshot!(
        error_with("keep_relases = 3\n"),
        @"deliver.toml:3:1: unknown key `keep_relases`; did you mean `keep_releases`?"
    );
    assert_eq!(
        error(&format!(
            "{BASE}[environments.production]\n  keep_relases = 3\n"
        )),
        "deliver.toml:4:3: unknown key `environments.production.keep_relases`; did you mean \
             `keep_releases`?"
    );
}

#[test]
fn unknown_keys_are_refused_in_every_table() {
    let cases = [
        (
            "[build]\nhook = []\n",
            "deliver.toml:4:1: unknown key `build.hook`; did you mean `hooks`?",
        ),
        (
            "[health]\ndeadlin = \"1s\"\n",
            "deliver.toml:4:1: unknown key `health.deadlin`; did you mean `deadline`?",
        ),
        (
            "[rollout]\nstop-timeout = \"1s\"\n",
            "deliver.toml:4:1: unknown key `rollout.stop-timeout`; did you mean \
                 `stop_timeout`?",
        ),
        (
            "[proxy]\nhosts = [\"lb\"]\nupstreams = \"x\"\n",
            "deliver.toml:5:1: unknown key `proxy.upstreams`; did you mean `upstream`?",
        ),
        (
            "[environments.production.health]\npaht = \"/\"\n",
            "deliver.toml:4:1: unknown key `environments.production.health.paht`; did you \
                 mean `path`?",
        ),
        (
            "[environments.production]\nsecrets = 1\n",
            "deliver.toml:4:1: unknown key `environments.production.secrets`",
        ),
        (
            "database = \"pg\"\n",
            "deliver.toml:3:1: unknown key `database`",
        ),
    ];
    for (extra, want) in cases {
        assert_eq!(error_with(extra), want, "{extra}");
    }
}

#[test]
fn env_and_processes_keys_are_free_form() {
    let env = only_env(&format!(
        "{BASE}[env]\nANYTHING_GOES = \"1\"\n[processes]\nwhatever-type = 3\n"
    ));
    assert_eq!(env.vars["ANYTHING_GOES"], "1");
    assert_eq!(env.processes[0].name, "whatever-type");
    assert_eq!(env.processes[0].instances, Instances::Count(3));
}

#[test]
fn wrong_types_name_the_key_the_expected_type_and_the_location() {
    let cases = [
        (
            "keep_releases = \"5\"\n",
            "deliver.toml:3:17: keep_releases must be an integer, found a string",
        ),
        (
            "linked_dirs = \"log\"\n",
            "deliver.toml:3:15: linked_dirs must be an array of strings, found a string",
        ),
        (
            "health = \"/health\"\n",
            "deliver.toml:3:10: health must be a table, found a string",
        ),
        (
            "[proxy]\nhosts = [\"lb1\"]\ndrain = \"no\"\n",
            "deliver.toml:5:9: proxy.drain must be a boolean (true or false), found a string",
        ),
        (
            "[environments]\nproduction = 1\n",
            "deliver.toml:4:14: environments.production must be a table, found an integer",
        ),
        (
            "[processes]\nweb = true\n",
            "deliver.toml:4:7: processes.web must be an integer from 0 to 100 or \"auto\", \
                 found a boolean",
        ),
    ];
    for (extra, want) in cases {
        assert_eq!(error_with(extra), want, "{extra}");
    }
    assert_eq!(
        error("app = 1\n"),
        "deliver.toml:1:7: app must be a string, found an integer"
    );
}

#[test]
fn toml_syntax_errors_carry_their_location() {
    insta::assert_snapshot!(
        error_with("[health]\ndeadline = 5s\n"),
        @"deliver.toml:4:13: invalid TOML: expected newline, `#`"
    );
    assert_eq!(
        error_with("x = \"unterminated\n"),
        "deliver.toml:3:18: invalid TOML: invalid basic string"
    );
    assert_eq!(
        error_with("[health]\ndeadline = \"5s\"\ndeadline = \"6s\"\n"),
        "deliver.toml:5:1: invalid TOML: duplicate key `deadline` in table `health`"
    );
}

#[test]
fn columns_count_characters_not_bytes() {
    assert_eq!(
        error_with("env = { A = \"ééé\", 1B = \"x\" }\n"),
        "deliver.toml:3:20: env.1B is not a valid environment variable name: letters, \
             digits and `_`, not starting with a digit ([A-Za-z_][A-Za-z0-9_]*)"
    );
}

#[test]
fn enumerations_list_the_valid_values_and_suggest_the_nearest() {
    insta::assert_snapshot!(
        error_with("supervisor = \"systemd_user\"\n"),
        @"deliver.toml:3:14: supervisor must be one of systemd-user, systemd, upstart; got `systemd_user`; did you mean `systemd-user`?"
    );
    assert_eq!(
        error_with("[rollout]\nmode = \"blue-green\"\n"),
        "deliver.toml:4:8: rollout.mode must be one of surge, rolling, all-at-once; got \
             `blue-green`"
    );
    let env = only_env(&format!(
        "{BASE}supervisor = \"upstart\"\n[rollout]\nmode = \"all-at-once\"\n"
    ));
    assert_eq!(env.supervisor, Supervisor::Upstart);
    assert_eq!(env.rollout.mode, RolloutMode::AllAtOnce);
}

#[test]
fn locations_of_implicit_tables_fall_back_to_their_key() {
    assert_eq!(
        error("app = \"shop\"\nenvironments.staging.user = \"app\"\n"),
        "deliver.toml:2:14: environment `staging` has no hosts; set hosts = [\"...\"] in \
             [environments.staging] or at the top level"
    );
}
