//! Helpers for the tests of `deliver.toml` parsing (the SPEC example, a minimal file):
//! parse a text as `deliver.toml` and look at the error or the environments.

use std::path::{Path, PathBuf};

use super::{Config, ConfigError, Environment, HostSpec, Instances, Location, ProcessSetting};

/// The smallest valid file; value tests append one key after it (line 3 on).
pub(super) const BASE: &str = "app = \"shop\"\nhosts = [\"web1\"]\n";

pub(super) fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(Path::new("deliver.toml"), text)
}

pub(super) fn error(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

/// The error of `BASE` followed by `extra`.
pub(super) fn error_with(extra: &str) -> String {
    error(&format!("{BASE}{extra}"))
}

pub(super) fn only_env(text: &str) -> Environment {
    let config = parse(text).unwrap();
    config.environment(None).unwrap().clone()
}

pub(super) fn env_named(text: &str, name: &str) -> Environment {
    parse(text)
        .unwrap()
        .environment(Some(name))
        .unwrap()
        .clone()
}

pub(super) fn host(text: &str) -> HostSpec {
    text.parse().unwrap()
}

pub(super) fn at(line: usize, column: usize) -> Location {
    Location {
        file: PathBuf::from("deliver.toml"),
        line,
        column,
    }
}

pub(super) fn setting(name: &str, instances: Instances, location: Location) -> ProcessSetting {
    ProcessSetting {
        name: name.to_owned(),
        instances,
        location,
    }
}

/// Asserts the error of `BASE` followed by each `extra`, without the file name.
pub(super) fn assert_errors(cases: &[(&str, &str)]) {
    for (extra, want) in cases {
        assert_eq!(error_with(extra), format!("deliver.toml:{want}"), "{extra}");
    }
}

/// SPEC §3, verbatim but for `[rollout]`, whose `surge` mode and percentages come with
/// issues 10 and 11.
pub(super) const SPEC_EXAMPLE: &str = r#"app = "shop"                        # required; [a-z][a-z0-9-]{0,31}; names units, dirs, lock
default_environment = "production"
user = "app"                        # SSH user when a host does not name one
deploy_to = "~/shop"                # default "~/<app>"
ref = "HEAD"                        # what `deliver` deploys when --ref is not given
keep_releases = 5                   # >= 1
linked_dirs = ["log", "tmp"]        # live in shared/, symlinked into every release
linked_files = [".env"]             # idem; a missing one is created empty, mode 0600
supervisor = "systemd-user"         # systemd-user | systemd | upstart
port_base = 5000                    # PORT = port_base + 100*type_index + (instance-1)

[env]                               # plain environment for every process (never secrets)
NODE_ENV = "production"

[build]
hooks = ["npm ci --omit=dev", "npm run build"]   # run in the new release dir, in order
timeout = "10m"                     # per hook

[processes]                         # instances per host; a Procfile type not listed gets 1; 0 = off
web = "auto"                        # "auto": one per CPU core of the host minus one, 1..100
worker = 1

[health]                            # gate for each restarted instance of `process`
process = "web"
path = "/health"                    # GET http://127.0.0.1:$PORT<path> through the SSH connection
expect = 200
timeout = "2s"                      # per attempt
interval = "250ms"
deadline = "30s"                    # give up -> rollout failure -> revert

[rollout]
mode = "rolling"                    # rolling | all-at-once
batch = 1                           # hosts switched at the same time
stop_timeout = "30s"                # SIGTERM grace before SIGKILL (TimeoutStopSec)

[proxy]                             # optional: nginx in front, on its own host(s), managed by deliver
hosts = ["lb1"]                     # reached like app hosts: one SSH session each, strict keys
upstream = "shop"                   # default: the app name
config = "/etc/nginx/conf.d/shop-upstream.conf"   # the file deliver owns on each proxy host
drain = true                        # default true: take an instance out of the upstream
                                    # (reload) before it stops; false: rely on next_upstream
drain_timeout = "10s"               # how long in-flight requests may take to finish
addresses = { web3 = "10.0.0.13" }  # optional: how the proxy reaches a host (default: the
                                    # address deliver connects to, after ~/.ssh/config)

[environments.production]
hosts = ["web1.example.com", "deploy@web2.example.com:2222", "web3"]  # or ~/.ssh/config aliases

[environments.staging]
hosts = ["staging"]
processes = { web = 1 }
"#;
