//! `deliver env list|set|unset` (SPEC §9): the environment is `--env NAME`, since the
//! positional arguments are keys.

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand, Clone)]
pub enum EnvCommand {
    /// List the keys of `shared/.env` on every host (never their values).
    List(EnvListArgs),
    /// Set variables in `shared/.env` on every host (`KEY=-` reads the value from stdin).
    Set(EnvSetArgs),
    /// Remove variables from `shared/.env` on every host.
    Unset(EnvUnsetArgs),
}

#[derive(Debug, Args, Clone)]
pub struct EnvListArgs {
    /// Environment from deliver.toml (default: `default_environment`, else the only one).
    #[arg(long = "env", value_name = "NAME")]
    pub env: Option<String>,
}

/// What `set` and `unset` share.
#[derive(Debug, Args, Clone)]
pub struct EnvChangeArgs {
    /// Environment from deliver.toml (default: `default_environment`, else the only one).
    #[arg(long = "env", value_name = "NAME")]
    pub env: Option<String>,

    /// Change the file only: the processes get it at their next restart (or deploy).
    #[arg(long)]
    pub no_restart: bool,

    /// When a host's lock is held by another run, wait in line up to DURATION (`30s`,
    /// `5m`) instead of exiting 3 at once.
    #[arg(long, value_name = "DURATION", value_parser = crate::config::duration::parse)]
    pub lock_wait: Option<std::time::Duration>,

    /// Print which keys would change on each host; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args, Clone)]
pub struct EnvSetArgs {
    #[command(flatten)]
    pub change: EnvChangeArgs,

    /// `KEY=VALUE`, or `KEY=-` to read the value from stdin (one trailing newline dropped).
    #[arg(required = true, value_name = "KEY=VALUE")]
    pub pairs: Vec<String>,
}

#[derive(Debug, Args, Clone)]
pub struct EnvUnsetArgs {
    #[command(flatten)]
    pub change: EnvChangeArgs,

    /// The keys to remove.
    #[arg(required = true, value_name = "KEY")]
    pub keys: Vec<String>,
}
