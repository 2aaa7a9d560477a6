//! `deliver rollback [ENV] [--to RELEASE_ID [--force]] [--dry-run]`: a rollout of a release
//! already on the hosts (the newest before `current` that no failed rollout marked, or
//! `--to`), with no push and no hooks. It refuses, naming the hosts, when that release is
//! missing anywhere, or (`--to` without `--force`) marked failed anywhere (exit 1: hosts were
//! asked, nothing changed).

use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};

use super::deploy::{holder, now_unix, who};
use super::held::Held;
use super::hosts;
use super::input_check;
use super::local_hooks;
use super::project::{beside, load_config, Project};
use super::UsageError;
use crate::cli::RollbackArgs;
use crate::deploy::{self, interrupt, Request};
use crate::outcome::Outcome;
use crate::plan::facts::{self, Facts};
use crate::plan::layout::Layout;
use crate::plan::{inspect, log::Action};
use crate::procfile;
use crate::release_id::ReleaseId;
use crate::remote::Remote;
use crate::ui::event::Reporter;
use crate::ui::Ui;

pub fn run(args: &RollbackArgs, config_path: &Path, ui: &Ui) -> Result<Outcome> {
    run_with(args, config_path, ui, &Kind::Rollback)
}

/// What a run of this pipeline does with the release it ships.
pub enum Kind {
    /// To the release before `current` (or `--to`).
    Rollback,
    /// The release every host runs, restarted (`deliver env`).
    Restart,
    /// The release every host runs, with these instance counts (`deliver scale`).
    Scale(crate::plan::scale::Counts),
}

/// A restart of the running formation without a new release (`deliver env`): a rollout of
/// the release every host runs, to itself (forced past the no-op), through the same
/// pipeline: lock, health-gated rolling restart through the rollout core with the proxy's
/// drain hooks, revert (to that same release) on failure. No local hooks run. Refused when
/// the hosts run different releases or none.
pub fn restart(
    env: Option<&str>,
    lock_wait: Option<std::time::Duration>,
    config_path: &Path,
    ui: &Ui,
) -> Result<Outcome> {
    let args = RollbackArgs {
        env: env.map(str::to_owned),
        to: None,
        force: false,
        lock_wait,
        dry_run: false,
    };
    run_with(&args, config_path, ui, &Kind::Restart)
}

/// The pipeline of `rollback`, `env`'s restart and `scale`: a rollout of a release already
/// on every host.
pub fn run_with(args: &RollbackArgs, config_path: &Path, ui: &Ui, kind: &Kind) -> Result<Outcome> {
    let config = load_config(config_path)?;
    let env = config.environment(args.env.as_deref())?.clone();
    hosts::own_upstream(&config, &env)?;
    let to = args
        .to
        .as_deref()
        .map(|id| {
            id.parse::<ReleaseId>()
                .map_err(|e| UsageError(format!("--to `{id}`: {e}")))
        })
        .transpose()?;
    let held = Arc::new(Held::new(Arc::from(ui.reporter())));
    let proxy_addresses = hosts::proxy_addresses(&env, &env.hosts)?;
    let connected =
        hosts::connect_run(&env, &env.hosts, held.as_ref()).context("connecting to the hosts")?;
    let shown = Arc::clone(&held) as Arc<dyn Reporter>;
    let mut remotes = hosts::shown(connected.apps, &shown, ui.verbose);
    let proxies = hosts::shown(connected.proxies, &shown, ui.verbose);
    let layout = Layout::new(&env.deploy_to);
    let all_facts = gather(&mut remotes, &layout, &env)?;
    let target = match kind {
        Kind::Rollback => choose(&remotes, &all_facts, to.as_ref(), args.force)?,
        Kind::Restart | Kind::Scale(_) => {
            let what = if matches!(kind, Kind::Restart) {
                "restart"
            } else {
                "scale"
            };
            let Some(current) = current_everywhere(&remotes, &all_facts, what)? else {
                ui.note(&format!("nothing is deployed yet: nothing to {what}"));
                return Ok(Outcome::Done);
            };
            current
        }
    };
    let sha = all_facts[0]
        .release(&target)
        .and_then(|r| r.revision.clone())
        .ok_or_else(|| anyhow!("{}: release {target} has no REVISION", remotes[0].host()))?;
    let (types, procfile_path) =
        release_procfile(remotes[0].as_mut(), &layout, &target, config_path)?;
    // Checked as `check --offline` checks it, with the release's Procfile: before anything
    // changes on a host (only facts were read), bad input exits 2 (issue 12).
    let project = Project {
        config,
        types,
        procfile_path,
    };
    input_check::checked_formation(&project, &env, input_check::ANY_CPUS).with_context(|| {
        format!(
            "release {target} cannot run with {}: refusing to roll back",
            config_path.display()
        )
    })?;
    if let Kind::Scale(counts) = kind {
        super::scale::check_counts(&project, &env, counts).with_context(|| {
            format!("release {target} runs {}", project.procfile_path.display())
        })?;
    }
    let types = project.types;
    let now = now_unix();
    let request = Request {
        types,
        action: match kind {
            Kind::Rollback => Action::Rollback,
            Kind::Restart => Action::Restart,
            Kind::Scale(_) => Action::Scale,
        },
        lock_wait: args.lock_wait,
        holder_json: holder(&target, now),
        who: who(),
        sha,
        repo: None,
        // A restart restarts even what runs already; a scale with nothing to change is a
        // no-op.
        force: matches!(kind, Kind::Restart),
        dry_run: args.dry_run,
        batch: env.rollout.batch,
        now_unix: now,
        release: target,
        scale: match kind {
            Kind::Scale(counts) => counts.clone(),
            Kind::Rollback | Kind::Restart => crate::plan::scale::Counts::new(),
        },
        proxy_addresses,
        env,
    };
    let remotes = deploy::Remotes {
        apps: remotes,
        proxies,
    };
    go(&request, remotes, &held, args.dry_run, config_path)
}

/// Reports the start and runs the rollout (around the local hooks for a rollback).
fn go(
    request: &Request,
    remotes: deploy::Remotes,
    held: &Arc<Held>,
    dry_run: bool,
    config_path: &Path,
) -> Result<Outcome> {
    let names: Vec<String> = remotes.apps.iter().map(|r| r.host().to_string()).collect();
    held.open(&deploy::start_event(request, &names));
    let reporter = Arc::clone(held) as Arc<dyn Reporter>;
    // Local hooks run around deploys and rollbacks, not the restarts of `env` and `scale`.
    if request.action != Action::Rollback {
        interrupt::catch_interrupts();
        return Ok(deploy::run(request, remotes, reporter.as_ref()));
    }
    let hooks = local_hooks::Context::of(request, &names, config_path);
    local_hooks::around(&request.env.hooks, &hooks, dry_run, &reporter, |reporter| {
        interrupt::catch_interrupts();
        Ok(deploy::run(request, remotes, reporter.as_ref()))
    })
}

/// The Procfile of release `target`, read on `remote` (the first host), parsed; errors name
/// the local Procfile's path (where the user fixes it), the release and the host.
fn release_procfile(
    remote: &mut dyn Remote,
    layout: &Layout,
    target: &ReleaseId,
    config_path: &Path,
) -> Result<(Vec<procfile::ProcessType>, std::path::PathBuf)> {
    let out = remote
        .run(&inspect::procfile(layout, target), &mut |_, _| {})
        .map_err(|e| anyhow!("{e}"))?;
    if out.status != 0 {
        bail!("{}: release {target} has no Procfile", remote.host());
    }
    let procfile_path = beside(config_path, "Procfile");
    let types = procfile::parse(&out.stdout).map_err(|e| {
        anyhow!(
            "{}:{}: {} (the Procfile of release {target} on {})",
            procfile_path.display(),
            e.line,
            e.message,
            remote.host()
        )
    })?;
    Ok((types, procfile_path))
}

/// Facts of every host, in parallel.
fn gather(
    remotes: &mut [Box<dyn Remote>],
    layout: &Layout,
    env: &crate::config::Environment,
) -> Result<Vec<Facts>> {
    let script = facts::gather(layout, &env.app, env.supervisor, facts::Depth::Layout);
    crate::parallel::each(remotes.iter_mut(), |r| {
        let host = r.host().to_string();
        let out = r.run(&script, &mut |_, _| {}).map_err(|e| anyhow!("{e}"))?;
        facts::parse(&out.stdout).map_err(|e| anyhow!("{host}: {e}"))
    })
    .into_iter()
    .collect()
}

/// The release every host runs (a restart's), `None` when none runs any, or an error
/// naming what each runs.
fn current_everywhere(
    remotes: &[Box<dyn Remote>],
    all: &[Facts],
    what: &str,
) -> Result<Option<ReleaseId>> {
    if all.iter().all(|f| f.current.is_none()) {
        return Ok(None);
    }
    let runs: Vec<String> = remotes
        .iter()
        .zip(all)
        .map(|(r, f)| {
            let current = f
                .current
                .as_ref()
                .map_or("nothing".to_owned(), ToString::to_string);
            format!("{}: {current}", r.host())
        })
        .collect();
    match all[0].current.clone() {
        Some(current) if all.iter().all(|f| f.current.as_ref() == Some(&current)) => {
            Ok(Some(current))
        }
        _ => bail!(
            "cannot {what}: the hosts do not all run one release ({}); deploy instead",
            runs.join(", ")
        ),
    }
}

/// `--to`, else the newest release before the first host's `current` that is marked failed
/// on no host; it must be complete on every host, and (unless `force`) marked failed on none.
fn choose(
    remotes: &[Box<dyn Remote>],
    all: &[Facts],
    to: Option<&ReleaseId>,
    force: bool,
) -> Result<ReleaseId> {
    let first = &all[0];
    let failed_on = |id: &ReleaseId| -> Vec<&str> {
        remotes
            .iter()
            .zip(all)
            .filter(|(_, f)| f.release(id).is_some_and(|r| r.failed))
            .map(|(r, _)| r.host())
            .collect()
    };
    let target = if let Some(id) = to {
        let marked = failed_on(id);
        if !marked.is_empty() && !force {
            bail!(
                "release {id} is marked failed on {} (a rollout of it was reverted): refusing                  to roll back to it; --force does anyway",
                marked.join(", ")
            );
        }
        id.clone()
    } else {
        let current = first.current.clone().ok_or_else(|| {
            anyhow!(
                "{}: nothing is deployed: no release to roll back from",
                remotes[0].host()
            )
        })?;
        let releases = first.complete_releases();
        let before = releases.iter().position(|r| *r == current).unwrap_or(0);
        let skipped: Vec<&ReleaseId> = releases[..before]
            .iter()
            .rev()
            .take_while(|r| !failed_on(r).is_empty())
            .collect();
        match releases[..before].iter().rev().nth(skipped.len()) {
            Some(id) => id.clone(),
            None if skipped.is_empty() => bail!(
                "{}: no release before the current one ({current}); name one with --to",
                remotes[0].host()
            ),
            None => bail!(
                "{}: every release before the current one ({current}) is marked failed; name                  one with --to (and --force)",
                remotes[0].host()
            ),
        }
    };
    let missing: Vec<&str> = remotes
        .iter()
        .zip(all)
        .filter(|(_, f)| !f.complete_releases().contains(&target))
        .map(|(r, _)| r.host())
        .collect();
    if !missing.is_empty() {
        bail!(
            "release {target} is not on {}: refusing to roll back (see `deliver releases`)",
            missing.join(", ")
        );
    }
    Ok(target)
}
