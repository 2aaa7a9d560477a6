//! Helpers for the tests of `deliver.toml` parsing: parse a text as `deliver.toml` and
//! look at the error or the environments.

use std::path::{Path, PathBuf};

use super::{Config, ConfigError, Environment, HostSpec, Instances, Location, ProcessSetting};

/// The smallest valid file; value tests append one key after it (line 3 on).
pub(super) const BASE: &str = "app = \"shop\"\nhosts = [\"web1\"]\n";

pub(super) fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(Path::new("deliver.toml"), text)
}

pub(super) fn error(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

/// The error of `BASE` followed by `extra`.
pub(super) fn error_with(extra: &str) -> String {
    error(&format!("{BASE}{extra}"))
}

pub(super) fn only_env(text: &str) -> Environment {
    let config = parse(text).unwrap();
    config.environment(None).unwrap().clone()
}

pub(super) fn env_named(text: &str, name: &str) -> Environment {
    parse(text)
        .unwrap()
        .environment(Some(name))
        .unwrap()
        .clone()
}

pub(super) fn host(text: &str) -> HostSpec {
    text.parse().unwrap()
}

pub(super) fn at(line: usize, column: usize) -> Location {
    Location {
        file: PathBuf::from("deliver.toml"),
        line,
        column,
    }
}

pub(super) fn setting(name: &str, instances: Instances, location: Location) -> ProcessSetting {
    ProcessSetting {
        name: name.to_owned(),
        instances,
        location,
    }
}

/// Asserts the error of `BASE` followed by each `extra`, without the file name.
pub(super) fn assert_errors(cases: &[(&str, &str)]) {
    for (extra, want) in cases {
        assert_eq!(error_with(extra), format!("deliver.toml:{want}"), "{extra}");
    }
}
