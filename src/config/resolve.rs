//! Raw -> resolved: merge environments over the top level, apply defaults, validate.

use std::path::Path;

use super::{Config, ConfigError, Environment};

pub(super) fn resolve(file: &Path, text: &str) -> Result<Config, ConfigError> {
    let _ = (file, text);
    todo!("issue 3: config")
}

pub(super) fn pick_environment<'c>(
    config: &'c Config,
    name: Option<&str>,
) -> Result<&'c Environment, ConfigError> {
    let _ = (config, name);
    todo!("issue 3: config")
}
