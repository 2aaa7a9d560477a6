//! `deliver setup [ENV]`: creates the remote layout (SPEC §5) on every host, checks what
//! deploys need there (git, systemd, the user manager and linger, or the sudo rights),
//! printing for anything missing exactly what an admin runs, and installs the units. Exit 0
//! when every host is ready.
//!
//! The units are the ones a deploy of the environment's `git_ref` renders for each host
//! (`deploy::target::host_target`: formation from the host's CPUs, its user and home). They are
//! installed, and nothing started, only on a ready host with no `current` release. Where a
//! release runs, setup leaves its units alone and says whether they differ: a deploy's no-op
//! check compares the installed units, so units replaced under running processes would hide
//! that those still run the old ones; the next `deliver deploy` installs and restarts.

use std::path::Path;

use anyhow::{anyhow, Result};

use super::deploy::{holder_of, now_unix};
use super::fleet::{self, Fleet};
use super::hosts;
use super::readiness;
use crate::cli::EnvArg;
use crate::config::Environment;
use crate::deploy::target;
use crate::outcome::Outcome;
use crate::plan::facts::{self, Facts};
use crate::plan::lock::{self, Holder};
use crate::plan::{setup, Layout};
use crate::procfile::ProcessType;
use crate::remote::Remote;
use crate::ui::event::Event;
use crate::ui::record::Check;
use crate::ui::Ui;

pub fn run(args: &EnvArg, config_path: &Path, ui: &Ui) -> Result<Outcome> {
    let fleet = Fleet::load(config_path, args.env.as_deref(), ui)?;
    let env = &fleet.env;
    let layout = &fleet.layout;
    let dir = config_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // The units come from the committed Procfile at `ref`; without it (no repository, no
    // commit yet, no Procfile in it) setup still makes the layout and checks the hosts.
    let source = (|| -> Result<(String, Vec<ProcessType>)> {
        let repo = hosts::open_repo(dir)?;
        let sha = hosts::resolve_commit(&repo, &env.git_ref)?;
        let types = hosts::committed_types(&repo, &sha, config_path)?;
        Ok((sha, types))
    })();
    let holder = holder_of(None, now_unix());
    // One round trip per host: the layout, then the facts of the host as set up.
    let script = setup::setup(layout, &env.linked_dirs, &env.linked_files).then(facts::gather(
        layout,
        &env.app,
        env.supervisor,
        facts::Depth::Readiness,
    ));
    let results = fleet.each(|_, _, remote| {
        let facts = fleet::facts(remote, &script)?;
        let mut checks = vec![Check::ok(
            "layout",
            format!(
                "{} (repo.git, releases/, shared/)",
                layout.absolute(&facts.home)
            ),
        )];
        checks.extend(readiness::assess(env, &facts));
        let ready = readiness::ready(&checks);
        checks.push(match &source {
            Ok((sha, types)) => {
                let units = Units {
                    env,
                    types,
                    layout,
                    holder: &holder,
                };
                units.install(remote, &facts, ready, sha)?
            }
            Err(e) => Check::note(
                "units",
                format!("not installed: {e:#}; the next `deliver setup` or deploy installs them"),
            ),
        });
        Ok(checks)
    })?;
    // The proxy hosts: deliver writes nothing there before a deploy, only checks the rights.
    let mut results = results;
    results.extend(super::proxy_check::checks(&fleet)?);
    readiness::report(ui, "host.setup", Event::HostSetup, &results)?;
    Ok(Outcome::Done)
}

/// What installing one host's units needs.
struct Units<'a> {
    env: &'a Environment,
    types: &'a [ProcessType],
    layout: &'a Layout,
    holder: &'a str,
}

impl Units<'_> {
    /// Renders the host's units and installs them where nothing is deployed yet (a second
    /// round trip, only then); the `units` check says what happened.
    fn install(
        &self,
        remote: &mut dyn Remote,
        facts: &Facts,
        ready: bool,
        sha: &str,
    ) -> Result<Check> {
        let rendered = target::host_target(
            self.env,
            self.types,
            self.layout,
            facts,
            (
                target::serving_bank(self.env, self.types, facts),
                &crate::plan::scale::Counts::new(),
            ),
        )
        .map_err(|e| anyhow!("units: {e}"))?;
        let names = rendered
            .units
            .iter()
            .map(|u| u.name.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let commit = &sha[..7];
        if !rendered.changed {
            return Ok(Check::ok(
                "units",
                format!("installed, as commit {commit} renders them: {names}"),
            ));
        }
        if let Some(current) = &facts.current_link {
            return Ok(Check::note(
                "units",
                format!(
                    "differ from the installed ones (commit {commit} renders them otherwise); \
                     left alone under the running release ({current}): the next `deliver \
                     deploy` installs them"
                ),
            ));
        }
        if !ready {
            return Ok(Check::note(
                "units",
                "not installed until the host is ready (see above); `deliver setup` again then",
            ));
        }
        let script = setup::install_units(
            self.env.supervisor,
            &self.env.app,
            self.layout,
            &rendered.units,
            self.holder,
        );
        let out = remote.run(&script, &mut |_, _| {})?;
        Ok(match out.status {
            0 => Check::ok(
                "units",
                format!("installed from commit {commit}, nothing started: {names}"),
            ),
            lock::HELD => {
                let holder = Holder::parse(&out.stdout)
                    .map_or_else(|| out.stdout.trim().to_owned(), |h| h.to_string());
                Check::note(
                    "units",
                    format!(
                        "not installed: the deploy lock is held by {holder} (`deliver unlock` \
                         if it is stale)"
                    ),
                )
            }
            setup::DEPLOYED => Check::note(
                "units",
                "not installed: a release was deployed meanwhile; the next `deliver deploy` \
                 installs them",
            ),
            code => {
                return Err(anyhow!(
                    "installing the units ({names}) exited {code}: {}",
                    out.stderr.trim()
                ))
            }
        })
    }
}
