//! `deliver setup [ENV]`: creates the remote layout (SPEC §5) on every host and checks what
//! deploys need there (git, systemd, the user manager and linger, or the sudo rights),
//! printing for anything missing exactly what an admin runs. Exit 0 when every host is ready.

use std::path::Path;

use anyhow::Result;

use super::fleet::{self, Fleet};
use super::readiness::{self, Check};
use crate::cli::EnvArg;
use crate::outcome::Outcome;
use crate::plan::{facts, setup};
use crate::ui::Ui;

pub fn run(args: &EnvArg, config_path: &Path, ui: &Ui) -> Result<Outcome> {
    let fleet = Fleet::load(config_path, args.env.as_deref(), ui)?;
    let env = &fleet.env;
    let layout = &fleet.layout;
    // One round trip per host: the layout, then the facts of the host as set up.
    let script = setup::setup(layout, &env.linked_dirs, &env.linked_files).then(facts::gather(
        layout,
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
        Ok(checks)
    })?;
    readiness::report(ui, "host.setup", &results)?;
    Ok(Outcome::Done)
}
