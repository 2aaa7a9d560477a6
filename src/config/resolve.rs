//! Raw -> resolved, for the file as a whole: `app`, `default_environment` and the
//! `[environments.NAME]` tables, each merged over the top-level settings (the merge,
//! checks and defaults of each key are its section's, in `section/`), and picking an
//! environment by name. Byte offsets become `file:line:column` here. No I/O.

use std::path::Path;

use super::raw::{self, Field, Problem, RawFile};
use super::section::Settings;
use super::{AppName, Config, ConfigError, Environment, Location};

pub(super) fn resolve(file: &Path, text: &str) -> Result<Config, ConfigError> {
    let locator = Locator { file, text };
    resolve_file(&locator).map_err(|p| locator.error(p))
}

pub(super) fn pick_environment<'c>(
    config: &'c Config,
    name: Option<&str>,
) -> Result<&'c Environment, ConfigError> {
    let names: Vec<&str> = config
        .environments
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    let error = |message: String, suggestion: Option<&str>| ConfigError {
        location: None,
        message,
        suggestion: suggestion.map(str::to_owned),
    };
    match name.or(config.default_environment.as_deref()) {
        Some(name) => config
            .environments
            .iter()
            .find(|e| e.name == name)
            .ok_or_else(|| {
                error(
                    format!(
                        "unknown environment `{name}`; the environments in {} are {}",
                        config.file.display(),
                        names.join(", ")
                    ),
                    raw::nearest(name, &names),
                )
            }),
        None => match config.environments.as_slice() {
            [only] => Ok(only),
            _ => Err(error(
                format!(
                    "{} defines several environments ({}) and no default_environment; name one \
                     on the command line (like `{}`) or set default_environment",
                    config.file.display(),
                    names.join(", "),
                    names.first().copied().unwrap_or("production"),
                ),
                None,
            )),
        },
    }
}

/// Turns byte offsets into 1-based lines and columns (columns count characters).
pub(super) struct Locator<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Locator<'_> {
    pub(super) fn location(&self, at: usize) -> Location {
        let mut at = at.min(self.text.len());
        while !self.text.is_char_boundary(at) {
            at -= 1;
        }
        let before = &self.text[..at];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Location {
            file: self.file.to_path_buf(),
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }

    fn error(&self, problem: Problem) -> ConfigError {
        let message = match problem.first_at {
            Some(at) => format!(
                "{} (the first on line {})",
                problem.message,
                self.location(at).line
            ),
            None => problem.message,
        };
        ConfigError {
            location: Some(self.location(problem.at)),
            message,
            suggestion: problem.suggestion,
        }
    }
}

fn resolve_file(locator: &Locator<'_>) -> Result<Config, Problem> {
    let raw = RawFile::parse(locator.text)?;
    let app = match &raw.app {
        Some(app) => app_name(app)?,
        None => {
            return Err(Problem::new(
                0,
                "missing required key `app` (the app name, like app = \"shop\")",
            ))
        }
    };
    let top = Settings::check(&raw.settings, locator)?;
    let mut environments = Vec::new();
    match &raw.environments {
        None => environments.push(top.finish("default", None, &app, locator)?),
        Some(list) => {
            if list.value.is_empty() {
                return Err(Problem::new(
                    list.at,
                    "environments is empty; add a table like [environments.production] with \
                     its hosts, or remove it",
                ));
            }
            for env in &list.value {
                environment_name(&env.name, env.key_at)?;
                let own = Settings::check(&env.settings, locator)?;
                let merged = top.clone().overlay(own);
                environments.push(merged.finish(&env.name, Some(env.at), &app, locator)?);
            }
        }
    }
    let default_environment = match &raw.default_environment {
        None => None,
        Some(field) => {
            let names: Vec<&str> = environments.iter().map(|e| e.name.as_str()).collect();
            if !names.contains(&field.value.as_str()) {
                return Err(Problem::new(
                    field.at,
                    format!(
                        "default_environment `{}` is not one of the environments ({})",
                        field.value,
                        names.join(", ")
                    ),
                )
                .suggest(raw::nearest(&field.value, &names)));
            }
            Some(field.value.clone())
        }
    };
    Ok(Config {
        file: locator.file.to_path_buf(),
        app,
        default_environment,
        environments,
    })
}

fn app_name(field: &Field<String>) -> Result<AppName, Problem> {
    let name = &field.value;
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && name.len() <= 32;
    if ok {
        Ok(AppName(name.clone()))
    } else {
        Err(Problem::new(
            field.at,
            format!(
                "app `{name}` is not a valid app name: a lowercase letter, then up to 31 \
                 lowercase letters, digits or `-` ([a-z][a-z0-9-]{{0,31}})"
            ),
        ))
    }
}

fn environment_name(name: &str, at: usize) -> Result<(), Problem> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(Problem::new(
            at,
            format!(
                "environment name `{name}` is not valid: lowercase letters, digits, `_` and \
                 `-`, starting with a letter or digit ([a-z0-9][a-z0-9_-]*)"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use crate::config::test_support::*;

    #[test]
    fn app_is_required_and_must_be_a_valid_name() {
        assert_eq!(
            error("hosts = [\"web1\"]\n"),
            "deliver.toml:1:1: missing required key `app` (the app name, like app = \"shop\")"
        );
        let invalid = |name: &str| {
            format!(
                "deliver.toml:1:7: app `{name}` is not a valid app name: a lowercase letter, \
                     then up to 31 lowercase letters, digits or `-` ([a-z][a-z0-9-]{{0,31}})"
            )
        };
        for name in ["Shop", "1shop", "shop_x", "", &"a".repeat(33)] {
            assert_eq!(
                error(&format!("app = \"{name}\"\nhosts = [\"h\"]\n")),
                invalid(name)
            );
        }
        assert_eq!(
            only_env(&format!("app = \"{}\"\nhosts = [\"h\"]\n", "a".repeat(32))).keep_releases,
            5
        );
    }

    #[test]
    fn environments_must_have_valid_names_and_exist() {
        assert_eq!(
            error_with("[environments.Prod]\n"),
            "deliver.toml:3:15: environment name `Prod` is not valid: lowercase letters, digits, \
                 `_` and `-`, starting with a letter or digit ([a-z0-9][a-z0-9_-]*)"
        );
        assert_eq!(
            error_with("[environments]\n"),
            "deliver.toml:3:1: environments is empty; add a table like [environments.production] \
                 with its hosts, or remove it"
        );
        assert_eq!(
            error(&format!(
                "{BASE}default_environment = \"prod\"\n[environments.production]\n"
            )),
            "deliver.toml:3:23: default_environment `prod` is not one of the environments \
                 (production); did you mean `production`?"
        );
    }

    #[test]
    fn environment_picks_the_named_then_the_default_then_the_only_one() {
        let two = parse(SPEC_EXAMPLE).unwrap();
        assert_eq!(two.environment(Some("staging")).unwrap().name, "staging");
        assert_eq!(two.environment(None).unwrap().name, "production");
        let one = parse(BASE).unwrap();
        assert_eq!(one.environment(None).unwrap().name, "default");
    }

    #[test]
    fn unknown_environment_lists_the_available_ones_and_suggests() {
        let config = parse(SPEC_EXAMPLE).unwrap();
        let err = config.environment(Some("prod")).unwrap_err();
        assert_eq!(err.location, None);
        assert_eq!(
            err.to_string(),
            "unknown environment `prod`; the environments in deliver.toml are production, \
                 staging; did you mean `production`?"
        );
        assert_eq!(
            config.environment(Some("qa")).unwrap_err().to_string(),
            "unknown environment `qa`; the environments in deliver.toml are production, staging"
        );
    }

    #[test]
    fn several_environments_without_default_ask_to_name_one() {
        let text = "app = \"shop\"\nhosts = [\"h\"]\n[environments.production]\n\
                        [environments.staging]\n";
        assert_eq!(
            parse(text)
                .unwrap()
                .environment(None)
                .unwrap_err()
                .to_string(),
            "deliver.toml defines several environments (production, staging) and no \
                 default_environment; name one on the command line (like `production`) or set \
                 default_environment"
        );
    }
}
