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
    match std::fs::read(path) {
        Ok(bytes) => utf8(path, bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(UsageError(format!("{} not found ({hint})", path.display())).into())
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// `bytes` as text, else a usage error naming the line and column of the first byte that is
/// not UTF-8 (issue 12: it was exit 1 with no place).
fn utf8(path: &Path, bytes: Vec<u8>) -> Result<String> {
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let valid = std::str::from_utf8(valid).expect("the prefix before the error is UTF-8");
        let line_start = valid.rfind('\n').map_or(0, |i| i + 1);
        UsageError(format!(
            "{}:{}:{}: the file is not UTF-8 text (byte 0x{:02x}); save it as UTF-8",
            path.display(),
            valid.matches('\n').count() + 1,
            valid[line_start..].chars().count() + 1,
            e.as_bytes()[valid.len()]
        ))
        .into()
    })
}

/// This machine's CPU count, for `"auto"` when `--cpus` is not given.
pub fn local_cpus() -> u32 {
    std::thread::available_parallelism()
        .ok()
        .and_then(|n| u32::try_from(n.get()).ok())
        .unwrap_or(1)
}
