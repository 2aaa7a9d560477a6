//! Property tests of the deliver.toml loader and the Procfile parser (issue 12): no input
//! panics them, and whatever they accept the renderers accept too (so `check --offline`
//! passing means a deploy can write every unit). A fixed seed and case count keep CI runs
//! the same.

use std::fmt::Write as _;
use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::{Config as RunConfig, RngSeed};

use super::section::SETTINGS_KEYS;
use super::Config;
use crate::procfile;
use crate::release::{Bank, Formation};
use crate::render::{self, Target};

fn config() -> RunConfig {
    RunConfig {
        cases: 256,
        rng_seed: RngSeed::Fixed(12),
        failure_persistence: None,
        ..RunConfig::default()
    }
}

/// `s` as a TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Strings that reach the checks' edges: paths, hosts, durations, names, and anything.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[~/.a-z0-9_-]{0,20}",
        "[a-z0-9@:\\[\\]%._-]{1,24}",
        "[0-9]{1,12}(ms|s|m|h|)",
        ".{0,24}",
        "[\u{0}-\u{ff}\u{202e}\\\\]{0,12}",
    ]
}

/// A TOML value: a string, an integer, an array of strings or a table of them.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        text().prop_map(|s| toml_string(&s)),
        any::<i64>().prop_map(|i| i.to_string()),
        (0_i64..70_000).prop_map(|i| i.to_string()),
        proptest::collection::vec(text(), 0..4).prop_map(|v| {
            let items: Vec<String> = v.iter().map(|s| toml_string(s)).collect();
            format!("[{}]", items.join(", "))
        }),
        proptest::collection::vec(("[a-z_]{1,8}", text()), 0..3).prop_map(|v| {
            let items: Vec<String> = v
                .iter()
                .map(|(k, s)| format!("{k} = {}", toml_string(s)))
                .collect();
            format!("{{ {} }}", items.join(", "))
        }),
    ]
}

fn strings(item: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    proptest::collection::vec(item, 1..4).prop_map(|v| {
        let items: Vec<String> = v.iter().map(|s| toml_string(s)).collect();
        format!("[{}]", items.join(", "))
    })
}

/// A host string, plain or odd (`h:22`, a zone id, a user).
fn host() -> impl Strategy<Value = String> {
    "([a-z][a-z0-9]{0,3}@)?([a-zA-Z0-9][a-zA-Z0-9.-]{0,7}|\\[fe80::[0-9]{1,2}(%eth0)?\\])(:[1-9][0-9]{0,3})?"
}

/// `key = value` for a key deliver.toml knows: values near each check's edges (valid ones
/// often, so that what passes gets rendered), or anything.
fn entry() -> impl Strategy<Value = String> {
    let edgy = prop_oneof![
        "[a-z_][a-z0-9_-]{0,8}".prop_map(|v| ("user", toml_string(&v))),
        "(~/|/)?[^\\u{0}\\n/]{1,12}(/[^\\u{0}\\n/]{1,6}){0,2}/?"
            .prop_map(|v| ("deploy_to", toml_string(&v))),
        strings(host()).prop_map(|v| ("hosts", v)),
        strings("[a-zA-Z0-9./_-]{1,10}").prop_map(|v| ("linked_dirs", v)),
        strings("[a-zA-Z0-9./_-]{1,10}|REVISION").prop_map(|v| ("linked_files", v)),
        (1_i64..70_000).prop_map(|v| ("port_base", v.to_string())),
        proptest::sample::select(vec!["systemd", "systemd-user", "upstart"])
            .prop_map(|v| ("supervisor", toml_string(v))),
        text().prop_map(|v| ("env.A", toml_string(&v))),
        ".{0,30}".prop_map(|v| ("env.B", toml_string(&v))),
        strings(".{1,20}").prop_map(|v| ("build.hooks", v)),
        prop_oneof![
            (0_i64..102).prop_map(|v| v.to_string()),
            Just("\"auto\"".to_owned())
        ]
        .prop_map(|v| ("processes.web", v)),
        (0_i64..3).prop_map(|v| ("processes.worker", v.to_string())),
        "[0-9]{1,11}(ms|s|m|h)".prop_map(|v| ("rollout.stop_timeout", toml_string(&v))),
        proptest::sample::select(vec!["web", "worker", "api"])
            .prop_map(|v| ("health.process", toml_string(v))),
        strings(host()).prop_map(|v| ("proxy.hosts", v)),
        ("[a-z0-9]{1,6}|fe80::1%eth0", "[0-9a-f.:%a-z]{1,12}").prop_map(|(h, a)| {
            (
                "proxy.addresses",
                format!("{{ {} = {} }}", toml_string(&h), toml_string(&a)),
            )
        }),
        (
            strings(host()),
            "web1|fe80::[0-9]|fe80::1%eth0|[a-z]{1,3}",
            "10\\.0\\.0\\.[0-9]{1,2}|fe80::[0-9]|fe80::1%eth0|[a-z]{1,5}"
        )
            .prop_map(|(hosts, h, a)| {
                let addresses = format!("{{ {} = {} }}", toml_string(&h), toml_string(&a));
                (
                    "proxy",
                    format!("{{ hosts = {hosts}, addresses = {addresses} }}"),
                )
            }),
        "[a-zA-Z0-9._-]{1,8}".prop_map(|v| ("proxy.upstream", toml_string(&v))),
        "/etc/nginx/[^\\u{0}]{1,10}".prop_map(|v| ("proxy.config", toml_string(&v))),
    ];
    let any_key: Vec<&str> = SETTINGS_KEYS.to_vec();
    prop_oneof![
        9 => edgy.prop_map(|(k, v)| format!("{k} = {v}")),
        1 => (proptest::sample::select(any_key), value()).prop_map(|(k, v)| format!("{k} = {v}")),
    ]
}

fn parse(text: &str) -> Result<Config, super::ConfigError> {
    Config::parse(Path::new("deliver.toml"), text)
}

/// Renders what a deploy to every environment of `config` would write.
fn render_everything(config: &Config, procfile: &str) -> Result<(), String> {
    let types = procfile::parse(procfile).map_err(|e| e.to_string())?;
    for env in &config.environments {
        let Ok(formation) = Formation::resolve(&types, &env.processes, env.port_base, 2) else {
            continue;
        };
        let home = "/home/app";
        let deploy_path = match env.deploy_to.strip_prefix('~') {
            Some(rest) => format!("{home}{rest}"),
            None if env.deploy_to.starts_with('/') => env.deploy_to.clone(),
            None => format!("{home}/{}", env.deploy_to),
        };
        let target = Target {
            env,
            formation: &formation,
            user: env.user.as_deref().unwrap_or("app"),
            deploy_path: &deploy_path,
            bank: Bank::Base,
        };
        let serves = !formation.instances_of(&env.health.process).is_empty();
        if env.proxy.is_some() && !serves {
            continue; // check refuses it (commands::input_check::health_serves)
        }
        render::check_all(&target).map_err(|e| e.to_string())?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_text_is_parsed_or_refused_without_a_panic(text in ".{0,300}") {
        let _ = parse(&text);
    }

    #[test]
    fn any_values_are_checked_without_a_panic_and_what_passes_renders(
        entries in proptest::collection::vec(entry(), 0..5),
        env in proptest::collection::vec(entry(), 0..3),
    ) {
        let mut text = String::from("app = \"shop\"\nhosts = [\"web1\"]\n");
        let mut seen = std::collections::HashSet::new();
        for e in entries.iter().filter(|e| seen.insert(e.split(' ').next().unwrap_or("").to_owned())) {
            text.push_str(e);
            text.push('\n');
        }
        text.push_str("[environments.production]\n");
        let mut seen = std::collections::HashSet::new();
        for e in env.iter().filter(|e| seen.insert(e.split(' ').next().unwrap_or("").to_owned())) {
            text.push_str(e);
            text.push('\n');
        }
        if let Ok(config) = parse(&text) {
            let rendered = render_everything(&config, "web: node server.js\nworker: w\n");
            prop_assert!(rendered.is_ok(), "{text}\n=> {rendered:?}");
        }
    }

    #[test]
    fn any_procfile_is_parsed_or_refused_without_a_panic(text in "(.{0,40}\n){0,6}") {
        let _ = procfile::parse(&text);
    }

    #[test]
    fn procfile_lines_give_back_each_name_and_command(
        lines in proptest::collection::vec(("[A-Za-z0-9_-]{1,63}", "[^\\p{Cc}:]{1,30}"), 1..6)
    ) {
        let mut names = std::collections::HashSet::new();
        let lines: Vec<&(String, String)> = lines
            .iter()
            .filter(|(n, c)| names.insert(n.clone()) && !c.trim().is_empty())
            .collect();
        prop_assume!(!lines.is_empty());
        let mut text = String::new();
        for (n, c) in &lines {
            let _ = writeln!(text, "{n}: {c}");
        }
        let types = procfile::parse(&text).unwrap();
        for (i, ((name, command), t)) in lines.iter().zip(&types).enumerate() {
            prop_assert_eq!(&t.name, name);
            prop_assert_eq!(&t.command, command.trim());
            prop_assert_eq!(t.index, i);
            prop_assert_eq!(t.line, i + 1);
        }
    }
}
