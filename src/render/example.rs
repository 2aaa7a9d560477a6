//! The example app the rendering tests use (unit tests and `tests/integration/render.rs`):
//! three process types whose commands hold every character that needs quoting, two web
//! instances, and an `[env]` value with a space, quotes, `%` and `$`. Hidden from the docs,
//! not used by the CLI; it exists because integration tests cannot build a
//! [`crate::config::AppName`] themselves.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::{Backend, Target};
use crate::config::{
    AppName, Build, EnvVarName, Environment, Health, HealthPath, HostSpec, Instances, Limits,
    Location, ProcessSetting, Proxy, Rollout, RolloutMode, Supervisor, UpstreamName,
};
use crate::procfile;
use crate::release::Formation;

/// The example Procfile: `$PORT`, `%` specifiers-to-be, single and double quotes,
/// backslashes and a command substitution.
pub const PROCFILE: &str = r#"# The example app of deliver's rendering tests.
web: node server.js --port $PORT
worker: node worker.js --queue '%default%'
clock: sh -c "echo \"tick\" $(date +%s) \\ done"
"#;

/// An `[env]` value that needs quoting in every format.
pub const GREETING: &str = r#"say "hi" to 100% of $USER's friends"#;

/// App `shop`, environment `production`, its formation on one host, and that host's user
/// and deploy path.
#[derive(Debug, Clone)]
pub struct Example {
    pub env: Environment,
    pub formation: Formation,
    pub user: String,
    pub deploy_path: String,
}

impl Example {
    /// `web` x2 (ports 5000, 5001), `worker` x1 (5100), `clock` x1 (5200), as `supervisor`
    /// would run them.
    pub fn new() -> Example {
        let env = environment();
        let types = procfile::parse(PROCFILE).expect("the example Procfile is valid");
        let formation = Formation::resolve(&types, &env.processes, env.port_base, 2)
            .expect("the example formation is valid");
        Example {
            env,
            formation,
            user: "app".to_owned(),
            deploy_path: "/home/app/shop".to_owned(),
        }
    }

    /// [`Example::new`] with `[limits]`: `web` recycled after 30 to 60 minutes
    /// and held to 512M, `worker` held to 1G; `clock` free.
    pub fn limited() -> Example {
        let mut example = Example::new();
        let limit = |process: &str, lifetime: Option<u64>, memory: u64| Limits {
            process: process.to_owned(),
            location: example.env.processes[0].location.clone(),
            max_lifetime: lifetime.map(Duration::from_secs),
            memory_max: Some(memory),
        };
        example.env.limits = vec![
            limit("web", Some(30 * 60), 512 << 20),
            limit("worker", None, 1 << 30),
        ];
        example
    }

    pub fn target(&self) -> Target<'_> {
        Target {
            env: &self.env,
            formation: &self.formation,
            user: &self.user,
            deploy_path: &self.deploy_path,
            bank: crate::release::Bank::Base,
        }
    }

    /// Three hosts: an IPv4 address, a DNS name and an IPv6 address, with the web ports.
    pub fn backends(&self) -> Vec<Backend> {
        let ports: Vec<u16> = self
            .formation
            .instances_of(&self.env.health.process)
            .iter()
            .map(|i| i.port)
            .collect();
        ["10.0.0.11", "web2.internal", "fd00::13"]
            .into_iter()
            .map(|address| Backend {
                address: address.to_owned(),
                ports: ports.clone(),
            })
            .collect()
    }
}

impl Default for Example {
    fn default() -> Self {
        Example::new()
    }
}

fn environment() -> Environment {
    let name = |n: &str| EnvVarName::new(n).expect("a valid variable name");
    let host = |user: Option<&str>, host: &str, port| HostSpec {
        user: user.map(str::to_owned),
        host: host.to_owned(),
        port,
    };
    Environment {
        name: "production".to_owned(),
        app: AppName("shop".to_owned()),
        user: Some("app".to_owned()),
        deploy_to: "~/shop".to_owned(),
        git_ref: "HEAD".to_owned(),
        keep_releases: 5,
        linked_dirs: vec!["log".to_owned(), "tmp".to_owned()],
        linked_files: vec![".env".to_owned()],
        supervisor: Supervisor::SystemdUser,
        port_base: 5000,
        cpu_share: 1.0,
        vars: BTreeMap::from([
            (name("NODE_ENV"), "production".to_owned()),
            (name("GREETING"), GREETING.to_owned()),
        ]),
        build: Build {
            hooks: vec!["npm ci --omit=dev".to_owned()],
            timeout: Duration::from_secs(600),
        },
        processes: vec![ProcessSetting {
            name: "web".to_owned(),
            instances: Instances::Count(2),
            location: Location {
                file: PathBuf::from("deliver.toml"),
                line: 12,
                column: 1,
            },
        }],
        health: Health {
            process: "web".to_owned(),
            path: HealthPath::new("/health").expect("a valid health path"),
            expect: 200,
            timeout: Duration::from_secs(2),
            interval: Duration::from_millis(250),
            deadline: Duration::from_secs(30),
        },
        rollout: Rollout {
            mode: RolloutMode::Rolling,
            batch: crate::config::BatchSize::Count(1),
            stop_timeout: Duration::from_secs(30),
        },
        proxy: Some(Proxy {
            hosts: vec![host(None, "lb1", None)],
            upstream: UpstreamName::new("shop").expect("a valid upstream name"),
            config: "/etc/nginx/conf.d/shop-upstream.conf".to_owned(),
            drain: true,
            drain_timeout: Duration::from_secs(10),
            addresses: std::collections::BTreeMap::new(),
        }),
        limits: Vec::new(),
        hooks: crate::config::Hooks::default(),
        release: None,
        hosts: vec![
            host(None, "web1.example.com", None),
            host(Some("deploy"), "web2.example.com", Some(2222)),
        ],
        sources: crate::config::Sources::default(),
    }
}
