//! The command line of SPEC §2 as clap derive types. Parsing only: no I/O, no defaults
//! logic beyond what clap itself fills in. `commands::` turns these into behaviour.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

mod env;
mod scale;
pub use env::{EnvChangeArgs, EnvCommand, EnvListArgs, EnvSetArgs, EnvUnsetArgs};
pub use scale::ScaleArgs;

/// Deploy an app from its git repo to Linux servers over SSH, with zero-downtime restarts.
///
/// Run `deliver` (or `deliver deploy`) in the app's directory: it pushes the commit to every
/// host, builds it there, renders the process units from the Procfile and restarts the
/// processes one at a time behind nginx. Configuration lives in a committed `deliver.toml`.
#[derive(Debug, Parser)]
#[command(name = "deliver", version, propagate_version = true)]
#[command(
    override_usage = "deliver [OPTIONS] [ENV] [DEPLOY OPTIONS]\n       deliver [OPTIONS] <COMMAND>"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// Parses the command line; `deliver [ENV] [deploy flags]` becomes `deliver deploy ...`.
    pub fn parse_args<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        let mut cli = match Cli::try_parse_from(&args) {
            Ok(cli) => cli,
            // `deliver --force`: deploy flags with no environment and no command.
            Err(e) if e.kind() == clap::error::ErrorKind::UnknownArgument => {
                let implied = ImpliedDeploy::try_parse_from(&args).map_err(|_| e)?;
                return Ok(Cli {
                    global: implied.global,
                    command: Some(Command::Deploy(implied.deploy)),
                });
            }
            Err(e) => return Err(e),
        };
        if let Some(Command::Implied(rest)) = &cli.command {
            let implied = ImpliedDeploy::try_parse_from(
                std::iter::once(OsString::from("deliver")).chain(rest.iter().cloned()),
            )?;
            cli.global.merge(&implied.global);
            cli.command = Some(Command::Deploy(implied.deploy));
        }
        Ok(cli)
    }
}

/// `deliver ENV [flags]`: the deploy flags, plus globals written after the environment.
#[derive(Debug, Parser)]
#[command(name = "deliver")]
struct ImpliedDeploy {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(flatten)]
    deploy: DeployArgs,
}

/// Flags every command takes.
#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Path of the configuration file.
    #[arg(
        short,
        long,
        global = true,
        value_name = "PATH",
        default_value = DEFAULT_CONFIG
    )]
    pub config: PathBuf,

    /// Print JSON-lines events on stdout, and nothing else there.
    #[arg(long, global = true)]
    pub json: bool,

    /// Show remote commands and full hook output.
    #[arg(short, long, global = true, conflicts_with = "quiet")]
    pub verbose: bool,

    /// Print only errors and the final summary.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// When to use colours (`NO_COLOR` in the environment means never, under `auto`).
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

impl GlobalArgs {
    /// Takes over the flags set in `later` (globals written after the environment).
    fn merge(&mut self, later: &GlobalArgs) {
        if later.config != std::path::Path::new(DEFAULT_CONFIG) {
            self.config.clone_from(&later.config);
        }
        self.json |= later.json;
        self.verbose |= later.verbose;
        self.quiet |= later.quiet;
        if later.color != ColorChoice::Auto {
            self.color = later.color;
        }
    }
}

const DEFAULT_CONFIG: &str = "deliver.toml";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Deploy a commit to every host of an environment (the default command).
    Deploy(DeployArgs),
    /// Switch back to the previous (or a named) release already on the hosts.
    Rollback(RollbackArgs),
    /// Create the remote layout and check git, systemd, linger and sudo rights on each host.
    Setup(EnvArg),
    /// Validate deliver.toml and the Procfile; without --offline, also reach every host.
    Check(CheckArgs),
    /// Fetch the hosts' SSH keys, print their SHA256 fingerprints and add them to `known_hosts`.
    Trust(TrustArgs),
    /// List the releases on each host: id, commit, date, and which one is current.
    Releases(EnvArg),
    /// Show, per host, the current release and how many instances are active and healthy.
    Status(EnvArg),
    /// Show the deploys and rollbacks of an environment, newest first, from every host's log.
    History(HistoryArgs),
    /// Show the process supervisor's logs, each line prefixed by its host.
    Logs(LogsArgs),
    /// Run a command in the `current` release on every host, output prefixed by host.
    Run(RunArgs),
    /// Remove a stale deploy lock, printing who held it.
    Unlock(EnvArg),
    /// List, set or unset the variables of `shared/.env` on every host (values never shown).
    #[command(subcommand)]
    Env(EnvCommand),
    /// Change how many instances of a process type run on every host, without a new release.
    Scale(ScaleArgs),
    /// Render the units (or the nginx upstream) locally, to a directory or stdout.
    Export(ExportArgs),
    /// Write a commented deliver.toml for the repository in the current directory.
    Init(InitArgs),
    /// Print shell completions for SHELL.
    Completions(CompletionsArgs),
    /// `deliver ENV ...`: an environment name where a command would be; parsed as `deploy`.
    #[command(external_subcommand)]
    Implied(Vec<OsString>),
}

/// Just the environment.
#[derive(Debug, Args, Clone, Default)]
pub struct EnvArg {
    /// Environment from deliver.toml (default: `default_environment`, else the only one).
    #[arg(value_name = "ENV")]
    pub env: Option<String>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct DeployArgs {
    /// Environment from deliver.toml (default: `default_environment`, else the only one).
    #[arg(value_name = "ENV")]
    pub env: Option<String>,

    /// Commit, branch or tag to deploy (default: `ref` in deliver.toml, else HEAD).
    #[arg(long = "ref", value_name = "REF")]
    pub git_ref: Option<String>,

    /// Deploy to these hosts of the environment only (comma-separated).
    #[arg(long, value_name = "H,..", value_delimiter = ',')]
    pub hosts: Vec<String>,

    /// Hosts switched at the same time: a count, or a percentage such as 25% (overrides
    /// `rollout.batch`).
    #[arg(long, value_name = "N|P%")]
    pub batch: Option<crate::config::BatchSize>,

    /// Deploy even when every host already runs this commit with these units.
    #[arg(long)]
    pub force: bool,

    /// When a host's lock is held by another run, wait in line up to DURATION (`30s`,
    /// `5m`) instead of exiting 3 at once.
    #[arg(long, value_name = "DURATION", value_parser = crate::config::duration::parse)]
    pub lock_wait: Option<std::time::Duration>,

    /// Do not run the `[release] command` this once (an emergency: e.g. a migration that
    /// cannot succeed and a fix that must ship).
    #[arg(long)]
    pub skip_release_command: bool,

    /// Print the remote scripts instead of running them; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args, Clone)]
pub struct RollbackArgs {
    /// Environment from deliver.toml (default: `default_environment`, else the only one).
    #[arg(value_name = "ENV")]
    pub env: Option<String>,

    /// Release id to switch to (default: the newest one before `current` that is not marked
    /// failed).
    #[arg(long, value_name = "RELEASE_ID")]
    pub to: Option<String>,

    /// With --to: roll back to that release even where a failed rollout marked it failed.
    #[arg(long, requires = "to")]
    pub force: bool,

    /// When a host's lock is held by another run, wait in line up to DURATION (`30s`,
    /// `5m`) instead of exiting 3 at once.
    #[arg(long, value_name = "DURATION", value_parser = crate::config::duration::parse)]
    pub lock_wait: Option<std::time::Duration>,

    /// Print the remote scripts instead of running them; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args, Clone)]
pub struct CheckArgs {
    /// Environment to check (default: every environment when --offline, else the default one).
    #[arg(value_name = "ENV")]
    pub env: Option<String>,

    /// Validate the files only; contact no host.
    #[arg(long)]
    pub offline: bool,

    /// CPU count used to resolve `"auto"` instances offline (default: this machine's).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub cpus: Option<u32>,
}

#[derive(Debug, Args, Clone)]
pub struct TrustArgs {
    /// Environment from deliver.toml (default: `default_environment`, else the only one).
    #[arg(value_name = "ENV")]
    pub env: Option<String>,

    /// Add the keys without asking.
    #[arg(long)]
    pub yes: bool,
}

#[derive(Debug, Args, Clone)]
pub struct LogsArgs {
    /// Environment from deliver.toml (default: `default_environment`, else the only one).
    #[arg(value_name = "ENV")]
    pub env: Option<String>,

    /// Only this process type.
    #[arg(short = 'p', long = "process", value_name = "TYPE")]
    pub process: Option<String>,

    /// Number of lines per host.
    #[arg(short = 'n', long = "lines", value_name = "N")]
    pub lines: Option<u32>,

    /// Keep following the logs.
    #[arg(short, long)]
    pub follow: bool,
}

#[derive(Debug, Args, Clone)]
pub struct HistoryArgs {
    /// Environment from deliver.toml (default: `default_environment`, else the only one).
    #[arg(value_name = "ENV")]
    pub env: Option<String>,

    /// How many runs to show, newest first.
    #[arg(short = 'n', long = "runs", value_name = "N", default_value_t = 20)]
    pub runs: usize,
}

#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// Environment from deliver.toml (default: `default_environment`, else the only one).
    #[arg(value_name = "ENV")]
    pub env: Option<String>,

    /// The command to run in `current` on every host (after `--`).
    #[arg(last = true, required = true, value_name = "CMD")]
    pub cmd: Vec<String>,
}

#[derive(Debug, Args, Clone)]
pub struct ExportArgs {
    /// Environment whose hosts and processes to use (default: `default_environment`, else the
    /// only one).
    #[arg(value_name = "ENV")]
    pub env: Option<String>,

    /// What to render.
    #[arg(long, value_enum, default_value_t = ExportFormat::Systemd)]
    pub format: ExportFormat,

    /// Write the files into DIR (created if missing) instead of printing them.
    #[arg(short, long, value_name = "DIR")]
    pub output: Option<PathBuf>,

    /// CPU count used to resolve `"auto"` instances (default: this machine's).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub cpus: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// systemd system units (installed by root, `User=` set).
    Systemd,
    /// systemd user units (`~/.config/systemd/user`, needs linger).
    SystemdUser,
    /// Upstart job set.
    Upstart,
    /// nginx upstream block for the health-checked process.
    Nginx,
}

#[derive(Debug, Args, Clone)]
pub struct InitArgs {
    /// Hosts to put in the production environment (comma-separated `[user@]host[:port]`).
    #[arg(long, value_name = "H,..", value_delimiter = ',')]
    pub hosts: Vec<String>,

    /// Overwrite an existing deliver.toml.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args, Clone)]
pub struct CompletionsArgs {
    /// The shell to print completions for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    fn deploy_args(args: &[&str]) -> (GlobalArgs, DeployArgs) {
        let cli = Cli::parse_args(args.iter().copied()).unwrap();
        match cli.command {
            Some(Command::Deploy(d)) => (cli.global, d),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bare_env_means_deploy() {
        let (_, d) = deploy_args(&["deliver", "staging", "--force", "--ref", "v2"]);
        assert_eq!(d.env.as_deref(), Some("staging"));
        assert!(d.force);
        assert_eq!(d.git_ref.as_deref(), Some("v2"));
    }

    #[test]
    fn globals_work_before_and_after_the_bare_env() {
        let (g, d) = deploy_args(&[
            "deliver", "--json", "staging", "-c", "x.toml", "--color", "never",
        ]);
        assert!(g.json);
        assert_eq!(g.config, std::path::Path::new("x.toml"));
        assert_eq!(g.color, ColorChoice::Never);
        assert_eq!(d.env.as_deref(), Some("staging"));
    }

    #[test]
    fn deploy_flags_alone_mean_deploy_to_the_default_environment() {
        let (g, d) = deploy_args(&["deliver", "-q", "--force", "--dry-run"]);
        assert!(g.quiet && d.force && d.dry_run);
        assert_eq!(d.env, None);
    }

    #[test]
    fn no_arguments_is_a_command_less_run() {
        let cli = Cli::parse_args(["deliver"]).unwrap();
        assert!(cli.command.is_none());
    }

    #[test]
    fn bad_deploy_flag_after_bare_env_is_a_usage_error() {
        let err = Cli::parse_args(["deliver", "staging", "--frce"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::UnknownArgument);
    }

    #[test]
    fn global_flag_before_subcommand_keeps_the_subcommand() {
        let cli = Cli::parse_args(["deliver", "--json", "check", "--offline"]).unwrap();
        assert!(cli.global.json);
        assert!(matches!(cli.command, Some(Command::Check(ref c)) if c.offline));
    }

    #[test]
    fn subcommand_wins_over_env() {
        let cli = Cli::parse_args(["deliver", "check", "--offline", "prod"]).unwrap();
        match cli.command {
            Some(Command::Check(c)) => {
                assert!(c.offline);
                assert_eq!(c.env.as_deref(), Some("prod"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hosts_are_comma_separated() {
        let cli = Cli::parse_args(["deliver", "deploy", "--hosts", "a,b@c:22"]).unwrap();
        match cli.command {
            Some(Command::Deploy(d)) => assert_eq!(d.hosts, ["a", "b@c:22"]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn run_takes_the_command_after_double_dash() {
        let cli = Cli::parse_args(["deliver", "run", "prod", "--", "ls", "-la"]).unwrap();
        match cli.command {
            Some(Command::Run(r)) => {
                assert_eq!(r.env.as_deref(), Some("prod"));
                assert_eq!(r.cmd, ["ls", "-la"]);
            }
            other => panic!("{other:?}"),
        }
    }
}
