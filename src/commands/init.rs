//! `deliver init [--hosts H,..] [--force]`: looks at the repository in the current directory
//! (Procfile, package.json, Gemfile, requirements.txt, Cargo.toml) and writes a commented
//! deliver.toml that passes `deliver check --offline`. Never overwrites without `--force`.

use std::path::Path;

use anyhow::{Context, Result};

use super::project::beside;
use super::UsageError;
use crate::cli::InitArgs;
use crate::config::{Config, HostSpec};
use crate::outcome::Outcome;
use crate::procfile;
use crate::ui::Ui;

/// What kind of app the directory holds, from its manifest files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stack {
    Node { has_build: bool, has_start: bool },
    Ruby { rack: bool },
    Python,
    Rust,
    Unknown,
}

/// What `init` found in the directory: the input of the pure [`render`].
#[derive(Debug, Clone)]
pub struct Detected {
    pub app: String,
    pub stack: Stack,
    /// Process type names of an existing Procfile, in order.
    pub procfile_types: Option<Vec<String>>,
    /// The Rust package name, for the binary path.
    pub cargo_name: Option<String>,
}

pub fn run(args: &InitArgs, config_path: &Path, ui: &Ui) -> Result<Outcome> {
    for h in &args.hosts {
        h.parse::<HostSpec>()
            .map_err(|e| UsageError(format!("--hosts: `{h}`: {e}")))?;
    }
    if config_path.exists() && !args.force {
        return Err(UsageError(format!(
            "{} already exists; pass --force to overwrite it",
            config_path.display()
        ))
        .into());
    }
    let dir = config_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let procfile_path = beside(config_path, "Procfile");
    let detected = detect(dir, &procfile_path)?;
    if detected.procfile_types.is_none() {
        if let Some(line) = guess_procfile(&detected) {
            std::fs::write(&procfile_path, format!("{line}\n"))
                .with_context(|| format!("writing {}", procfile_path.display()))?;
            ui.note(&format!(
                "wrote {} (`{line}`): check the command",
                procfile_path.display()
            ));
        } else {
            ui.warn(&format!(
                "no Procfile in {}: write one (`web: <command listening on $PORT>`) before deploying",
                dir.display()
            ));
        }
    }
    let text = render(&detected, &args.hosts);
    // What we write must parse: a bug here would hand the user a broken file.
    Config::parse(config_path, &text).context("the generated deliver.toml does not parse")?;
    std::fs::write(config_path, &text)
        .with_context(|| format!("writing {}", config_path.display()))?;
    ui.note(&format!(
        "wrote {} for app `{}` ({})",
        config_path.display(),
        detected.app,
        stack_name(detected.stack)
    ));
    ui.note("next: edit the hosts, then `deliver check --offline` and `deliver setup`");
    Ok(Outcome::Done)
}

fn detect(dir: &Path, procfile_path: &Path) -> Result<Detected> {
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
    let procfile_types = match std::fs::read_to_string(procfile_path).ok() {
        Some(text) => Some(
            procfile::parse(&text)
                .map_err(|e| {
                    UsageError(format!(
                        "{}:{}: {}",
                        procfile_path.display(),
                        e.line,
                        e.message
                    ))
                })?
                .into_iter()
                .map(|t| t.name)
                .collect(),
        ),
        None => None,
    };
    let mut cargo_name = None;
    let stack = if let Some(pkg) = read("package.json") {
        let json: serde_json::Value = serde_json::from_str(&pkg).unwrap_or_default();
        let script = |s: &str| json.pointer(&format!("/scripts/{s}")).is_some();
        Stack::Node {
            has_build: script("build"),
            has_start: script("start"),
        }
    } else if read("Gemfile").is_some() {
        Stack::Ruby {
            rack: dir.join("config.ru").exists(),
        }
    } else if read("requirements.txt").is_some() {
        Stack::Python
    } else if let Some(cargo) = read("Cargo.toml") {
        cargo_name = cargo
            .parse::<toml::Table>()
            .ok()
            .and_then(|t| t.get("package")?.get("name")?.as_str().map(str::to_string));
        Stack::Rust
    } else {
        Stack::Unknown
    };
    let dir_name = std::fs::canonicalize(dir)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    Ok(Detected {
        app: app_name_from(&dir_name),
        stack,
        procfile_types,
        cargo_name,
    })
}

/// A directory name made into a valid app name: lowercase, `[a-z0-9-]`, starting with a
/// letter, at most 32 characters; `app` when nothing is left.
pub fn app_name_from(dir_name: &str) -> String {
    let mut name = String::new();
    for c in dir_name.chars().flat_map(char::to_lowercase) {
        let c = if c.is_ascii_alphanumeric() { c } else { '-' };
        if name.is_empty() && !c.is_ascii_lowercase() {
            continue;
        }
        if c == '-' && name.ends_with('-') {
            continue;
        }
        name.push(c);
    }
    let name: String = name.trim_end_matches('-').chars().take(32).collect();
    let name = name.trim_end_matches('-').to_string();
    if name.is_empty() {
        "app".to_string()
    } else {
        name
    }
}

fn stack_name(stack: Stack) -> &'static str {
    match stack {
        Stack::Node { .. } => "Node.js: package.json",
        Stack::Ruby { .. } => "Ruby: Gemfile",
        Stack::Python => "Python: requirements.txt",
        Stack::Rust => "Rust: Cargo.toml",
        Stack::Unknown => "no manifest recognised",
    }
}

fn guess_procfile(d: &Detected) -> Option<String> {
    match d.stack {
        Stack::Node {
            has_start: true, ..
        } => Some("web: npm start".to_string()),
        Stack::Ruby { rack: true } => {
            Some("web: bundle exec rackup -o 0.0.0.0 -p $PORT".to_string())
        }
        Stack::Rust => d
            .cargo_name
            .as_ref()
            .map(|n| format!("web: ./target/release/{n}")),
        _ => None,
    }
}

fn build_hooks(d: &Detected) -> Vec<&'static str> {
    match d.stack {
        Stack::Node { has_build, .. } => {
            let mut hooks = vec!["npm ci --omit=dev"];
            if has_build {
                hooks.push("npm run build");
            }
            hooks
        }
        Stack::Ruby { .. } => vec![
            "bundle config set --local deployment true",
            "bundle install",
        ],
        Stack::Python => vec![
            "python3 -m venv .venv",
            ".venv/bin/pip install -r requirements.txt",
        ],
        Stack::Rust => vec!["cargo build --release --locked"],
        Stack::Unknown => vec![],
    }
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn toml_list(items: &[&str]) -> String {
    let items: Vec<String> = items.iter().map(|s| toml_string(s)).collect();
    format!("[{}]", items.join(", "))
}

/// The commented deliver.toml for what was detected, from `templates/init/`. Pure.
pub fn render(d: &Detected, hosts: &[String]) -> String {
    let types = d.procfile_types.clone().unwrap_or_default();
    let health_process = if types.is_empty() || types.iter().any(|t| t == "web") {
        "web"
    } else {
        types[0].as_str()
    };
    let hosts: Vec<&str> = if hosts.is_empty() {
        vec!["web1.example.com"]
    } else {
        hosts.iter().map(String::as_str).collect()
    };
    let env: &[&str] = match d.stack {
        Stack::Node { .. } => &["NODE_ENV = \"production\""],
        Stack::Ruby { .. } => &["RACK_ENV = \"production\""],
        Stack::Python => &["PYTHONUNBUFFERED = \"1\""],
        Stack::Rust | Stack::Unknown => &[],
    };
    let mut ctx = tera::Context::new();
    ctx.insert("stack", stack_name(d.stack));
    ctx.insert("app", &toml_string(&d.app));
    ctx.insert("app_bare", &d.app);
    ctx.insert("env", env);
    ctx.insert("hooks", &toml_list(&build_hooks(d)));
    ctx.insert(
        "types",
        &types.iter().map(|t| toml_key(t)).collect::<Vec<_>>(),
    );
    ctx.insert("health_process", &toml_string(health_process));
    ctx.insert("hosts", &toml_list(&hosts));
    tera::Tera::one_off(TEMPLATE, &ctx, false).expect("templates/init/deliver.toml.tera renders")
}

const TEMPLATE: &str = include_str!("../../templates/init/deliver.toml.tera");

/// A TOML key: bare when it can be, else quoted.
fn toml_key(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        k.to_string()
    } else {
        toml_string(k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_config_parses_for_every_stack() {
        let stacks = [
            Stack::Node {
                has_build: true,
                has_start: true,
            },
            Stack::Ruby { rack: true },
            Stack::Python,
            Stack::Rust,
            Stack::Unknown,
        ];
        for stack in stacks {
            for types in [
                None,
                Some(vec!["web".to_string()]),
                Some(vec!["clock".into(), "my-worker".into()]),
            ] {
                let d = Detected {
                    app: "my-app".into(),
                    stack,
                    procfile_types: types.clone(),
                    cargo_name: Some("my-app".into()),
                };
                let text = render(&d, &["deploy@web2:2222".to_string()]);
                let config = Config::parse(Path::new("deliver.toml"), &text)
                    .unwrap_or_else(|e| panic!("{stack:?} {types:?}: {e}\n{text}"));
                let env = config.environment(None).unwrap();
                assert_eq!(env.hosts[0].to_string(), "deploy@web2:2222");
                let listed: Vec<&str> = env.processes.iter().map(|p| p.name.as_str()).collect();
                assert_eq!(
                    listed,
                    types
                        .iter()
                        .flatten()
                        .map(String::as_str)
                        .collect::<Vec<_>>()
                );
                if types.as_deref() == Some(&["clock".to_string(), "my-worker".to_string()]) {
                    assert_eq!(env.health.process, "clock");
                }
            }
        }
    }

    #[test]
    fn directory_names_become_valid_app_names() {
        assert_eq!(app_name_from("node-app"), "node-app");
        assert_eq!(app_name_from("My Shop_2"), "my-shop-2");
        assert_eq!(app_name_from("2fast"), "fast");
        assert_eq!(app_name_from("..."), "app");
        assert_eq!(app_name_from(&"x".repeat(40)), "x".repeat(32));
    }
}
