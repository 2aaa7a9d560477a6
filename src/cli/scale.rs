//! `deliver scale TYPE=N... [--env NAME]` (SPEC §9): the environment is `--env NAME`, since
//! the positional arguments are counts.

use clap::Args;

#[derive(Debug, Args, Clone)]
pub struct ScaleArgs {
    /// Environment from deliver.toml (default: `default_environment`, else the only one).
    #[arg(long = "env", value_name = "NAME")]
    pub env: Option<String>,

    /// `TYPE=N`: run N instances of the Procfile type TYPE on every host (0 stops it), until
    /// the next deploy or rollback applies deliver.toml again.
    #[arg(required = true, value_name = "TYPE=N")]
    pub counts: Vec<String>,

    /// When a host's lock is held by another run, wait in line up to DURATION (`30s`,
    /// `5m`) instead of exiting 3 at once.
    #[arg(long, value_name = "DURATION", value_parser = crate::config::duration::parse)]
    pub lock_wait: Option<std::time::Duration>,

    /// Print the remote scripts and the counts that would change; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}
