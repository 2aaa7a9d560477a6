//! Renders process-supervisor units and the nginx upstream from `templates/*.tera`, which are
//! embedded in the binary. Pure: takes resolved values, returns file names and contents.
//! Output is deterministic (no timestamps, sorted inputs) so that a deploy can compare what
//! it renders with what a host runs. All quoting is done in `escape` before a value
//! reaches a template; the templates only lay the lines out.

mod escape;
#[doc(hidden)]
pub mod example;
mod nginx;
#[cfg(test)]
mod proptests;
mod systemd;
#[cfg(test)]
mod unquote;
mod upstart;

pub use nginx::{ProxiedHost, ServerState, UpstreamServer};

use std::time::Duration;

use serde::Serialize;
use tera::Tera;

use crate::config::{AppName, Environment, Supervisor};
use crate::release::{Formation, Instance};

/// One rendered file: its name (no directory) and contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    pub name: String,
    pub contents: String,
}

#[derive(Debug, thiserror::Error)]
#[error("rendering {template}: {message}")]
pub struct RenderError {
    pub template: String,
    pub message: String,
}

/// What the units run and where: one host's view of an environment.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub env: &'a Environment,
    pub formation: &'a Formation,
    /// The app user on the host (`User=` of system units).
    pub user: &'a str,
    /// Absolute `deploy_to` on the host (`~` already expanded against the user's home).
    pub deploy_path: &'a str,
    /// The port bank the health process serves on (`surge` alternates it): the target wants
    /// its instances there.
    pub bank: crate::release::Bank,
}

/// One host's instances of the health-checked process, for the nginx upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    /// Address nginx connects to (IP or DNS name).
    pub address: String,
    pub ports: Vec<u16>,
}

/// `<app>-<type>@.service` per Procfile type with instances, plus `<app>.target`.
/// `user_units`: render for `systemctl --user` (no `User=`, `WantedBy=default.target`).
pub fn systemd(target: &Target<'_>, user_units: bool) -> Result<Vec<RenderedFile>, RenderError> {
    systemd::render(&engine()?, target, user_units)
}

/// `<app>.conf`, `<app>-<type>.conf`, `<app>-<type>-<N>.conf`.
pub fn upstart(target: &Target<'_>) -> Result<Vec<RenderedFile>, RenderError> {
    upstart::render(&engine()?, target)
}

/// `<upstream>-upstream.conf`: the upstream block plus the proxy settings, valid inside
/// `http {}` (nginx conf.d).
pub fn nginx(env: &Environment, backends: &[Backend]) -> Result<Vec<RenderedFile>, RenderError> {
    nginx::render(&engine()?, env, backends)
}

/// The upstream file a deploy or rollback writes at `proxy.config` on each proxy host (SPEC
/// §6), from each app host's real formation: every instance of `health.process` that serves,
/// `down` for one being drained, on the port of its bank. Same layout and settings as
/// [`nginx`]; contents only (the path is `proxy.config`). Fails without `[proxy]`, with no
/// server to list, or on an address that is not one.
pub fn nginx_managed(env: &Environment, hosts: &[ProxiedHost]) -> Result<String, RenderError> {
    nginx::render_managed(&engine()?, env, hosts)
}

/// Renders every file a deploy to `target`'s environment could write, for the renderers'
/// refusals: the units of each supervisor and, with `[proxy]`, the upstream of every
/// instance of `health.process` on every host (at its `proxy.addresses` entry, else as
/// written). `check --offline` runs it so that input no renderer takes is refused before a
/// deploy (issue 12).
pub fn check_all(target: &Target<'_>) -> Result<(), RenderError> {
    let env = target.env;
    systemd(target, false)?;
    systemd(target, true)?;
    upstart(target)?;
    if let Some(proxy) = &env.proxy {
        let ports: Vec<u16> = target
            .formation
            .instances_of(&env.health.process)
            .iter()
            .map(|i| i.port)
            .collect();
        let backends: Vec<Backend> = env
            .hosts
            .iter()
            .map(|h| Backend {
                address: proxy
                    .address_of(h)
                    .map_or_else(|| h.host.clone(), str::to_owned),
                ports: ports.clone(),
            })
            .collect();
        nginx(env, &backends)?;
    }
    Ok(())
}

/// What the supervisor calls one instance: its systemd unit (`<app>-<type>@<port>.service`)
/// or its upstart job (`<app>-<type>-<N>`). Every command that names an instance uses this.
pub fn unit_name(supervisor: Supervisor, app: &AppName, instance: &Instance) -> String {
    match supervisor {
        Supervisor::Upstart => upstart_job(app, instance),
        Supervisor::Systemd | Supervisor::SystemdUser => instance_unit(app, instance),
    }
}

/// The systemd unit of one instance: `<app>-<type>@<port>.service`.
pub fn instance_unit(app: &AppName, instance: &Instance) -> String {
    format!("{app}-{}@{}.service", instance.type_name, instance.port)
}

/// The type and port of an [`instance_unit`] name of `app`; `None` for any other name.
pub fn parse_instance_unit<'a>(app: &AppName, unit: &'a str) -> Option<(&'a str, u16)> {
    let (type_name, port) = unit
        .strip_prefix(app.as_str())?
        .strip_prefix('-')?
        .strip_suffix(".service")?
        .rsplit_once('@')?;
    Some((type_name, port.parse().ok()?))
}

/// The systemd template unit of a process type: `<app>-<type>@.service`.
pub fn template_unit(app: &AppName, type_name: &str) -> String {
    format!("{app}-{type_name}@.service")
}

/// The systemd target that wants every instance: `<app>.target`.
pub fn target_unit(app: &AppName) -> String {
    format!("{app}.target")
}

/// The upstart job of one instance: `<app>-<type>-<N>` (its file adds `.conf`).
pub fn upstart_job(app: &AppName, instance: &Instance) -> String {
    format!("{app}-{}-{}", instance.type_name, instance.number)
}

/// Template name (as the errors show it) and source, embedded at build time.
const TEMPLATES: &[(&str, &str)] = &[
    (
        systemd::PROCESS_TEMPLATE,
        include_str!("../../templates/systemd/process@.service.tera"),
    ),
    (
        systemd::TARGET_TEMPLATE,
        include_str!("../../templates/systemd/app.target.tera"),
    ),
    (
        upstart::APP_TEMPLATE,
        include_str!("../../templates/upstart/app.conf.tera"),
    ),
    (
        upstart::PROCESS_TEMPLATE,
        include_str!("../../templates/upstart/process.conf.tera"),
    ),
    (
        upstart::INSTANCE_TEMPLATE,
        include_str!("../../templates/upstart/instance.conf.tera"),
    ),
    (
        nginx::UPSTREAM_TEMPLATE,
        include_str!("../../templates/nginx/upstream.conf.tera"),
    ),
];

/// A tera instance holding every template. Built per call: parsing six small templates
/// costs microseconds, and it keeps `render` free of global state.
fn engine() -> Result<Tera, RenderError> {
    let mut tera = Tera::default();
    // Nothing we render is HTML: values are quoted by `escape` for their own syntax.
    tera.autoescape_on(Vec::new());
    tera.add_raw_templates(TEMPLATES.iter().copied())
        .map_err(|e| RenderError {
            template: "templates".to_owned(),
            message: error_chain(&e),
        })?;
    Ok(tera)
}

/// Renders the template `name` with `context`.
fn render_template(
    tera: &Tera,
    name: &str,
    context: &impl Serialize,
) -> Result<String, RenderError> {
    let context = tera::Context::from_serialize(context).map_err(|e| RenderError {
        template: name.to_owned(),
        message: error_chain(&e),
    })?;
    tera.render(name, &context).map_err(|e| RenderError {
        template: name.to_owned(),
        message: error_chain(&e),
    })
}

/// tera puts the useful part of a message in its sources.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

/// A value that cannot be written into `file`, as a [`RenderError`].
fn quoting_error(file: &str) -> impl Fn(escape::EscapeError) -> RenderError {
    let file = file.to_owned();
    move |e| RenderError {
        template: file.clone(),
        message: e.to_string(),
    }
}

/// The remote directories the units point at, checked and with no trailing `/`.
struct Paths {
    /// `<deploy_path>/current`
    current: String,
    /// `<deploy_path>/shared/.env`
    env_file: String,
}

impl Paths {
    fn new(file: &str, deploy_path: &str) -> Result<Paths, RenderError> {
        if !deploy_path.starts_with('/') {
            return Err(RenderError {
                template: file.to_owned(),
                message: format!("the deploy path `{deploy_path}` is not absolute"),
            });
        }
        let base = deploy_path.trim_end_matches('/');
        Ok(Paths {
            current: format!("{base}/current"),
            env_file: format!("{base}/shared/.env"),
        })
    }
}

/// `TimeoutStopSec=` and friends: whole seconds as `30s`, else `1500ms`, else `250us`.
/// Zero is an error: systemd reads `0` as "no timeout at all".
fn systemd_duration(file: &str, what: &str, d: Duration) -> Result<String, RenderError> {
    if d.is_zero() {
        return Err(RenderError {
            template: file.to_owned(),
            message: format!("{what} must be longer than 0s"),
        });
    }
    Ok(if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d.subsec_nanos().is_multiple_of(1_000_000) {
        format!("{}ms", d.as_millis())
    } else {
        // systemd counts in microseconds; round up so a grace period never shrinks.
        format!("{}us", d.as_nanos().div_ceil(1000))
    })
}

/// How many of each type run, for headers and descriptions: `web x2, worker x1`.
fn formation_summary(formation: &Formation) -> String {
    let running: Vec<String> = formation
        .types
        .iter()
        .filter(|t| t.instances > 0)
        .map(|t| {
            let auto = match (t.auto, formation.auto_cpus) {
                (true, Some(cpus)) => format!(" (auto, {cpus} CPUs)"),
                _ => String::new(),
            };
            format!("{} x{}{auto}", t.name, t.instances)
        })
        .collect();
    if running.is_empty() {
        "no instances".to_owned()
    } else {
        running.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_use_the_largest_exact_unit() {
        let d = |d| systemd_duration("f", "stop_timeout", d).unwrap();
        assert_eq!(d(Duration::from_secs(30)), "30s");
        assert_eq!(d(Duration::from_secs(120)), "120s");
        assert_eq!(d(Duration::from_millis(1500)), "1500ms");
        assert_eq!(d(Duration::from_millis(1)), "1ms");
        assert_eq!(d(Duration::from_micros(250)), "250us");
        assert_eq!(d(Duration::from_nanos(1)), "1us");
        assert_eq!(
            systemd_duration("f", "stop_timeout", Duration::ZERO)
                .unwrap_err()
                .to_string(),
            "rendering f: stop_timeout must be longer than 0s"
        );
    }

    #[test]
    fn deploy_path_must_be_absolute_and_loses_trailing_slashes() {
        let paths = Paths::new("f", "/home/app/shop//").unwrap();
        assert_eq!(paths.current, "/home/app/shop/current");
        assert_eq!(paths.env_file, "/home/app/shop/shared/.env");
        let root = Paths::new("f", "/").unwrap();
        assert_eq!(root.current, "/current");
        assert_eq!(
            Paths::new("f", "~/shop").err().unwrap().to_string(),
            "rendering f: the deploy path `~/shop` is not absolute"
        );
    }

    #[test]
    fn unit_and_job_names() {
        let example = example::Example::new();
        let app = &example.env.app;
        let web1 = &example.formation.instances()[1];
        assert_eq!(instance_unit(app, web1), "shop-web@5001.service");
        assert_eq!(
            parse_instance_unit(app, "shop-web@5001.service"),
            Some(("web", 5001))
        );
        assert_eq!(parse_instance_unit(app, "shop.target"), None);
        assert_eq!(parse_instance_unit(app, "other-web@5001.service"), None);
        assert_eq!(template_unit(app, "web"), "shop-web@.service");
        assert_eq!(target_unit(app), "shop.target");
        assert_eq!(upstart_job(app, web1), "shop-web-2");
    }

    #[test]
    fn summary_counts_running_types() {
        let example = example::Example::new();
        assert_eq!(
            formation_summary(&example.formation),
            "web x2, worker x1, clock x1"
        );
        let mut formation = example.formation.clone();
        formation.types[0].auto = true;
        formation.auto_cpus = Some(3);
        formation.types[2].instances = 0;
        assert_eq!(
            formation_summary(&formation),
            "web x2 (auto, 3 CPUs), worker x1"
        );
        for t in &mut formation.types {
            t.instances = 0;
        }
        assert_eq!(formation_summary(&formation), "no instances");
    }

    #[test]
    fn every_template_parses() {
        let tera = engine().unwrap();
        let mut names: Vec<&str> = tera.get_template_names().collect();
        names.sort_unstable();
        assert_eq!(names.len(), TEMPLATES.len());
    }
}
