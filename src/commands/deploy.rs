//! `deliver [deploy] [ENV] [--ref REF] [--hosts H,..] [--batch N|P%] [--force]
//! [--skip-release-command] [--dry-run]`:
//! resolves the commit locally, checks deliver.toml with the commit's Procfile as
//! `check --offline` does (exit 2 before any host is contacted), connects to every host (one
//! session each) and hands the rest to `deploy`.

use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};

use super::hosts;
use super::input_check;
use super::local_hooks;
use super::project::{beside, load_config, Project};
use super::UsageError;
use crate::cli::DeployArgs;
use crate::deploy::{self, interrupt, Request};
use crate::outcome::Outcome;
use crate::plan::{lock, log::Action};
use crate::release_id::ReleaseId;
use crate::ui::event::{Event, Reporter};
use crate::ui::Ui;

pub fn run(args: &DeployArgs, config_path: &Path, ui: &Ui) -> Result<Outcome> {
    let config = load_config(config_path)?;
    let mut env = config.environment(args.env.as_deref())?.clone();
    hosts::own_upstream(&config, &env)?;
    let selected = hosts::select(&env, &args.hosts)?;
    release_command(&mut env, &selected, args.skip_release_command, ui)?;
    let dir = config_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let repo = hosts::open_repo(dir)?;
    let git_ref = args.git_ref.as_deref().unwrap_or(&env.git_ref);
    let sha = hosts::resolve_commit(&repo, git_ref)?;
    if git_ref == "HEAD" && hosts::is_dirty(&repo) {
        ui.warn("the working tree has uncommitted changes: they are not deployed (deliver deploys commits)");
    }
    // The Procfile of the commit being deployed, not the one in the working tree.
    let types = hosts::committed_types(&repo, &sha, config_path)?;
    // What needs deliver.toml and the Procfile together, as `check --offline` checks it: bad
    // input exits 2 here, before any host is contacted (issue 12).
    let project = Project {
        config,
        types,
        procfile_path: beside(config_path, "Procfile"),
    };
    input_check::checked_formation(&project, &env, input_check::ANY_CPUS)?;
    let types = project.types;
    let now = now_unix();
    let release = ReleaseId::new(now, &sha).map_err(|e| anyhow::anyhow!("{e}"))?;
    let request = Request {
        types,
        action: Action::Deploy,
        lock_wait: args.lock_wait,
        holder_json: holder(&release, now),
        who: who(),
        release,
        sha,
        repo: Some(repo.path().to_path_buf()),
        force: args.force,
        dry_run: args.dry_run,
        batch: args.batch.unwrap_or(env.rollout.batch),
        now_unix: now,
        scale: crate::plan::scale::Counts::new(),
        proxy_addresses: hosts::proxy_addresses(&env, &selected)?,
        env,
    };
    let reporter: Arc<dyn Reporter> = Arc::from(ui.reporter());
    let names: Vec<String> = selected.iter().map(ToString::to_string).collect();
    reporter.event(&deploy::start_event(&request, &names));
    let hooks = local_hooks::Context::of(&request, &names, config_path);
    local_hooks::around(
        &request.env.hooks,
        &hooks,
        args.dry_run,
        &reporter,
        |reporter| connect_and_run(&request, &selected, &reporter, ui),
    )
}

/// The `[release] command` of this deploy: dropped with `--skip-release-command` (said
/// once); else its host must be one of the hosts deployed to (exit 2 before any host is
/// contacted when `--hosts` leaves it out).
fn release_command(
    env: &mut crate::config::Environment,
    selected: &[crate::config::HostSpec],
    skip: bool,
    ui: &Ui,
) -> Result<()> {
    if skip {
        if let Some(release) = env.release.take() {
            ui.warn(&format!(
                "--skip-release-command: the release command `{}` does not run",
                release.command
            ));
        }
        return Ok(());
    }
    match &env.release {
        Some(release) if !selected.contains(&release.host) => Err(UsageError(format!(
            "--hosts leaves out {}, where the release command runs ([release] host); add it \
             to --hosts, or pass --skip-release-command",
            release.host
        ))
        .into()),
        _ => Ok(()),
    }
}

/// Connects to the selected hosts (one session each) and runs the deploy.
fn connect_and_run(
    request: &Request,
    selected: &[crate::config::HostSpec],
    reporter: &Arc<dyn Reporter>,
    ui: &Ui,
) -> Result<Outcome> {
    let remotes = match hosts::connect_run(&request.env, selected, reporter.as_ref()) {
        Ok(r) => r,
        Err(e) => {
            reporter.event(&Event::DeployFailed {
                error: e.to_string(),
                code: Outcome::FailedBeforeSwitch.code(),
                summary: Vec::new(),
            });
            return Err(e).context("connecting to the hosts");
        }
    };
    let remotes = deploy::Remotes {
        apps: hosts::shown(remotes.apps, reporter, ui.verbose),
        proxies: hosts::shown(remotes.proxies, reporter, ui.verbose),
    };
    interrupt::catch_interrupts();
    Ok(deploy::run(request, remotes, reporter.as_ref()))
}

pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `user@machine` of whoever runs deliver, for the lock and the log.
pub fn who() -> String {
    format!("{}@{}", local_user(), machine())
}

fn local_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".to_string())
}

fn machine() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map_or_else(|_| "unknown".to_string(), |s| s.trim().to_string())
}

/// The lock's `holder.json` for this process.
pub fn holder(release: &ReleaseId, now: u64) -> String {
    holder_of(Some(release), now)
}

/// The lock's `holder.json` for this process, which may deploy no release (`setup`).
pub fn holder_of(release: Option<&ReleaseId>, now: u64) -> String {
    let command: Vec<String> = std::env::args().collect();
    holder_named(&command.join(" "), release, now)
}

/// The lock's `holder.json` for this process, running `command` (as shown to whoever finds
/// the lock held: `env set` names its keys, never its values).
pub fn holder_named(command: &str, release: Option<&ReleaseId>, now: u64) -> String {
    lock::holder_json(
        &local_user(),
        &machine(),
        std::process::id(),
        command,
        release,
        now,
    )
}
