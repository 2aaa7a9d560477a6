//! Loading what every command needs from disk: `deliver.toml` and the `Procfile` beside it.
//! The parsing itself is pure (`config::`, `procfile::`); this file only reads the files and
//! turns "missing" into errors that name the path.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::UsageError;
use crate::config::Config;
use crate::procfile::{self, ProcessType};

/// The resolved config, the Procfile's types, and where they came from.
#[derive(Debug)]
pub struct Project {
    pub config: Config,
    pub types: Vec<ProcessType>,
    pub procfile_path: PathBuf,
}

impl Project {
    pub fn load(config_path: &Path) -> Result<Project> {
        let config = load_config(config_path)?;
        let procfile_path = beside(config_path, "Procfile");
        let text = read(
            &procfile_path,
            "a Procfile with lines like `web: node server.js`",
        )?;
        let types = procfile::parse(&text).map_err(|e| {
            UsageError(format!(
                "{}:{}: {}",
                procfile_path.display(),
                e.line,
                e.message
            ))
        })?;
        Ok(Project {
            config,
            types,
            procfile_path,
        })
    }
}

/// The file `name` in the directory of deliver.toml, written as the user would write it
/// (`Procfile`, not `./Procfile`).
pub fn beside(config_path: &Path, name: &str) -> PathBuf {
    match config_path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && dir != Path::new(".") => dir.join(name),
        _ => PathBuf::from(name),
    }
}

pub fn load_config(path: &Path) -> Result<Config> {
    let text = read(path, "run `deliver init` to write one")?;
    Ok(Config::parse(path, &text)?)
}

fn read(path: &Path, hint: &str) -> Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(UsageError(format!("{} not found ({hint})", path.display())).into())
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// This machine's CPU count, for `"auto"` when `--cpus` is not given.
pub fn local_cpus() -> u32 {
    std::thread::available_parallelism()
        .ok()
        .and_then(|n| u32::try_from(n.get()).ok())
        .unwrap_or(1)
}
