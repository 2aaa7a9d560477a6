//! Property tests of the renderers (issue 12): whatever Procfile command, `[env]` value and
//! deploy path the config lets through, the systemd unit and the upstart job run exactly
//! that command with exactly those values, read back with models of systemd's and libnih's
//! unquoting (`unquote.rs`) and sh's; and the nginx upstream has balanced braces and one
//! well-formed `server` line per instance. A fixed seed and case count keep CI runs the
//! same.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

use super::example::Example;
use super::unquote::{nih_token, sh_words, systemd_words};
use super::Backend;
use crate::config::EnvVarName;

fn config() -> Config {
    Config {
        cases: 256,
        rng_seed: RngSeed::Fixed(12),
        failure_persistence: None,
        ..Config::default()
    }
}

/// What a Procfile command may hold after `procfile::parse`: no line break, NUL or control
/// character but tab, not empty, no surrounding whitespace; anything else, quotes,
/// backslashes, `%`, `$`, `#` and non-ASCII included.
fn command() -> impl Strategy<Value = String> {
    "[^\\p{Cc}]{0,40}|[ -~\t]{0,40}"
        .prop_map(|s| s.replace('\t', " \t"))
        .prop_map(|s| s.trim().to_owned())
        .prop_filter("a command is not empty", |s| !s.is_empty())
}

/// What `[env]` values may hold: anything but NUL and line breaks.
fn env_value() -> impl Strategy<Value = String> {
    "[^\u{0}\n\r]{0,40}|[ -~\t\u{1b}\u{7f}\u{85}]{0,20}"
}

/// An absolute deploy path as `deploy_to` lets through (after `~` is expanded).
fn deploy_path() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        "[^\\p{Cc}/\\\\\u{200b}-\u{200f}\u{202a}-\u{202e}\u{2060}-\u{2069}\u{feff}]{1,12}",
        1..4,
    )
    .prop_map(|parts| format!("/{}", parts.join("/")))
    .prop_filter("no . or .. and no surrounding whitespace", |p| {
        p.trim() == p
            && p.split('/').all(|part| part != "." && part != "..")
            && p.split('/').all(|part| part.trim() == part)
    })
}

fn example(command: &str, value: &str, path: &str) -> Example {
    let mut example = Example::new();
    example.formation.types[0].command = command.to_owned();
    example
        .env
        .vars
        .insert(EnvVarName::new("VALUE").unwrap(), value.to_owned());
    example.deploy_path = path.to_owned();
    example
}

/// The values of the lines of `unit` that start with `key=`.
fn values<'u>(unit: &'u str, key: &str) -> Vec<&'u str> {
    unit.lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .collect()
}

/// `NAME=value` of each `[env]` variable and `extra`, sorted.
fn assignments(example: &Example, extra: Option<&str>) -> Vec<String> {
    let mut all: Vec<String> = example
        .env
        .vars
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .chain(extra.map(str::to_owned))
        .collect();
    all.sort();
    all
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn systemd_runs_the_command_and_env_exactly(
        command in command(), value in env_value(), path in deploy_path()
    ) {
        let example = example(&command, &value, &path);
        for user_units in [false, true] {
            let files = super::systemd(&example.target(), user_units).unwrap();
            let web = &files[0].contents;
            let exec = values(web, "ExecStart");
            prop_assert_eq!(exec.len(), 1);
            prop_assert_eq!(
                systemd_words(exec[0], true),
                vec!["/bin/sh".to_owned(), "-c".to_owned(), format!("exec {command}")]
            );
            // `PORT=%i` is the one specifier deliver writes on purpose.
            let mut env: Vec<String> = values(web, "Environment")
                .into_iter()
                .filter(|v| *v != "PORT=%i")
                .flat_map(|v| systemd_words(v, false))
                .collect();
            env.sort();
            prop_assert_eq!(env, assignments(&example, None));
        }
    }

    #[test]
    fn upstart_runs_the_command_and_env_exactly(
        command in command(), value in env_value(), path in deploy_path()
    ) {
        let example = example(&command, &value, &path);
        let files = super::upstart(&example.target()).unwrap();
        let web = &files.iter().find(|f| f.name == "shop-web-1.conf").unwrap().contents;
        let exec: Vec<&str> = web.lines().filter_map(|l| l.strip_prefix("exec ")).collect();
        prop_assert_eq!(exec.len(), 1);
        let (line, comment) = nih_token(exec[0], false, false);
        prop_assert_eq!(comment, "");
        let words = sh_words(&line);
        prop_assert_eq!(&words[..2], &["/bin/sh".to_owned(), "-c".to_owned()]);
        let script = &words[2];
        let ran = script.split_once("; fi; exec ").map(|(_, c)| c);
        prop_assert_eq!(ran, Some(command.as_str()));
        let mut env: Vec<String> = web
            .lines()
            .filter_map(|l| l.strip_prefix("env "))
            .map(|arg| {
                let (value, rest) = nih_token(arg, true, true);
                assert_eq!(rest, "", "{arg}");
                value
            })
            .collect();
        env.sort();
        prop_assert_eq!(env, assignments(&example, Some("PORT=5000")));
        let chdir: Vec<&str> = web.lines().filter_map(|l| l.strip_prefix("chdir ")).collect();
        prop_assert_eq!(nih_token(chdir[0], true, true).0, format!("{path}/current"));
    }

    #[test]
    fn nginx_upstream_is_balanced_with_one_server_line_per_instance(
        hosts in proptest::collection::vec(
            ("[a-z0-9][a-z0-9.-]{0,20}|[0-9a-f:]{2,20}", proptest::collection::vec(1_u16.., 1..4)),
            1..4,
        )
    ) {
        let example = Example::new();
        let backends: Vec<Backend> = hosts
            .iter()
            .map(|(address, ports)| Backend { address: address.clone(), ports: ports.clone() })
            .collect();
        let Ok(files) = super::nginx(&example.env, &backends) else {
            // Refused (an address nginx would not take): nothing written, nothing to check.
            return Ok(());
        };
        let text = &files[0].contents;
        let code: Vec<&str> = text
            .lines()
            .map(|l| l.split('#').next().unwrap_or(""))
            .collect();
        let mut depth = 0_i32;
        for c in code.iter().flat_map(|l| l.chars()) {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
            prop_assert!(depth >= 0);
        }
        prop_assert_eq!(depth, 0);
        let servers: Vec<String> = code
            .iter()
            .filter_map(|l| l.trim().strip_prefix("server "))
            .map(|rest| {
                let rest = rest.strip_suffix(" max_fails=1 fail_timeout=2s;").expect(rest);
                assert!(!rest.contains([' ', ';', '{', '}', '#', '\'', '"']), "{rest}");
                rest.to_owned()
            })
            .collect();
        let want: Vec<String> = hosts
            .iter()
            .flat_map(|(address, ports)| {
                let address = if address.contains(':') {
                    format!("[{address}]")
                } else {
                    address.clone()
                };
                ports.iter().map(move |p| format!("{address}:{p}"))
            })
            .collect();
        prop_assert_eq!(servers, want);
    }
}
