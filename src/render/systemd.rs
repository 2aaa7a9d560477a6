//! systemd units (SPEC §6): a template unit `<app>-<type>@.service` per Procfile type that
//! has instances (instance name = PORT) and `<app>.target`, which wants every instance.
//! System units run as `User=`; user units (`systemctl --user`) have no `User=` and hang
//! off `default.target`.

use std::time::Duration;

use serde::Serialize;
use tera::Tera;

use crate::config::{format_size, Limits};

use super::{
    escape, formation_summary, instance_unit, quoting_error, render_template, systemd_duration,
    target_unit, template_unit, Paths, RenderError, RenderedFile, Target,
};

pub(super) const PROCESS_TEMPLATE: &str = "systemd/process@.service";
pub(super) const TARGET_TEMPLATE: &str = "systemd/app.target";

#[derive(Serialize)]
struct ProcessUnit<'a> {
    app: &'a str,
    environment: &'a str,
    type_name: &'a str,
    first_port: u16,
    user_units: bool,
    /// `User=` value (system units only), `%`-escaped.
    user: Option<String>,
    working_directory: String,
    /// `Environment=` values, quoted, sorted by name.
    environment_lines: Vec<String>,
    environment_file: String,
    /// The single `/bin/sh -c` argument, quoted.
    command: String,
    stop_timeout: String,
    /// `[limits.TYPE]`, when the type has one.
    limits: Option<UnitLimits>,
}

/// `[limits.TYPE]` as systemd values.
#[derive(Serialize)]
struct UnitLimits {
    /// `RuntimeMaxSec=` and `RuntimeRandomizedExtraSec=`.
    runtime_max: Option<String>,
    runtime_spread: Option<String>,
    /// `MemoryMax=`.
    memory_max: Option<String>,
}

#[derive(Serialize)]
struct TargetUnit<'a> {
    app: &'a str,
    environment: &'a str,
    summary: String,
    wants: Vec<String>,
    wanted_by: &'static str,
}

pub(super) fn render(
    tera: &Tera,
    target: &Target<'_>,
    user_units: bool,
) -> Result<Vec<RenderedFile>, RenderError> {
    let env = target.env;
    let app = &env.app;
    let mut files = Vec::new();
    for t in target.formation.types.iter().filter(|t| t.instances > 0) {
        let name = template_unit(app, &t.name);
        let quoting = quoting_error(&name);
        let paths = Paths::new(&name, target.deploy_path)?;
        let user = if user_units {
            None
        } else {
            escape::check_user(target.user).map_err(&quoting)?;
            Some(escape::systemd_value("the user", target.user).map_err(&quoting)?)
        };
        let environment_lines = env
            .vars
            .iter()
            .map(|(key, value)| escape::systemd_env(key, value))
            .collect::<Result<_, _>>()
            .map_err(&quoting)?;
        let unit = ProcessUnit {
            app: app.as_str(),
            environment: &env.name,
            type_name: &t.name,
            first_port: target.formation.port(t, 1),
            user_units,
            user,
            working_directory: escape::systemd_value("the deploy path", &paths.current)
                .map_err(&quoting)?,
            environment_lines,
            environment_file: escape::systemd_value("the deploy path", &paths.env_file)
                .map_err(&quoting)?,
            command: escape::systemd_exec_arg(
                &format!("the command of `{}`", t.name),
                &format!("exec {}", t.command),
            )
            .map_err(&quoting)?,
            stop_timeout: systemd_duration(
                &name,
                "rollout.stop_timeout",
                env.rollout.stop_timeout,
            )?,
            limits: env
                .limits
                .iter()
                .find(|l| l.process == t.name)
                .map(|l| unit_limits(&name, l))
                .transpose()?,
        };
        let contents = render_template(tera, PROCESS_TEMPLATE, &unit)?;
        files.push(RenderedFile { name, contents });
    }
    let unit = TargetUnit {
        app: app.as_str(),
        environment: &env.name,
        summary: formation_summary(target.formation),
        wants: target
            .formation
            .instances_on(target.bank, &env.health.process)
            .iter()
            .map(|i| instance_unit(app, i))
            .collect(),
        wanted_by: if user_units {
            "default.target"
        } else {
            "multi-user.target"
        },
    };
    files.push(RenderedFile {
        name: target_unit(app),
        contents: render_template(tera, TARGET_TEMPLATE, &unit)?,
    });
    Ok(files)
}

fn unit_limits(file: &str, limits: &Limits) -> Result<UnitLimits, RenderError> {
    let key = |k: &str| format!("limits.{}.{k}", limits.process);
    let duration = |d: Option<Duration>| {
        d.map(|d| systemd_duration(file, &key("max_lifetime"), d))
            .transpose()
    };
    Ok(UnitLimits {
        runtime_max: duration(limits.max_lifetime)?,
        runtime_spread: duration(limits.lifetime_spread())?,
        memory_max: limits.memory_max.map(format_size),
    })
}

#[cfg(test)]
mod tests {
    use super::super::example::Example;
    use super::super::systemd as render_systemd;
    use crate::config::EnvVarName;

    fn snapshot_all(user_units: bool, suffix: &str) {
        let example = Example::new();
        let files = render_systemd(&example.target(), user_units).unwrap();
        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "shop-web@.service",
                "shop-worker@.service",
                "shop-clock@.service",
                "shop.target"
            ]
        );
        for file in files {
            insta::assert_snapshot!(format!("{}_{suffix}", file.name), file.contents);
        }
    }

    #[test]
    fn system_units() {
        snapshot_all(false, "system");
    }

    #[test]
    fn user_units() {
        snapshot_all(true, "user");
    }

    #[test]
    fn limits_render_a_runtime_with_a_spread_and_a_memory_ceiling() {
        let files = render_systemd(&Example::limited().target(), true).unwrap();
        insta::assert_snapshot!("shop-web@.service_limits", files[0].contents);
        let worker = &files[1].contents;
        assert!(worker.contains("\nMemoryMax=1G\n"), "{worker}");
        assert!(!worker.contains("RuntimeMaxSec"), "{worker}");
        let clock = &files[2].contents;
        assert!(
            !clock.contains("MemoryMax") && !clock.contains("Runtime"),
            "{clock}"
        );
    }

    #[test]
    fn types_without_instances_get_no_unit() {
        let mut example = Example::new();
        example.formation.types[1].instances = 0;
        let files = render_systemd(&example.target(), false).unwrap();
        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            ["shop-web@.service", "shop-clock@.service", "shop.target"]
        );
        let target = &files[2].contents;
        assert!(target.contains(
            "\nWants=shop-web@5000.service shop-web@5001.service shop-clock@5200.service\n"
        ));
    }

    #[test]
    fn nothing_running_renders_a_target_that_wants_nothing() {
        let mut example = Example::new();
        for t in &mut example.formation.types {
            t.instances = 0;
        }
        let files = render_systemd(&example.target(), true).unwrap();
        assert_eq!(files.len(), 1);
        insta::assert_snapshot!(files[0].contents, @r"
        # Generated by deliver from the Procfile and deliver.toml (app `shop`, environment
        # `production`). Do not edit: every deploy rewrites it.
        #
        # Wants every instance of this host's formation: no instances.
        # Stopping or restarting this target does the same to each of them (they are PartOf= it).
        [Unit]
        Description=shop (no instances)

        [Install]
        WantedBy=default.target
        ");
    }

    #[test]
    fn percent_in_paths_and_odd_timeouts_are_escaped() {
        let mut example = Example::new();
        example.deploy_path = "/srv/100% shop/".to_owned();
        example.env.rollout.stop_timeout = std::time::Duration::from_millis(2500);
        let files = render_systemd(&example.target(), false).unwrap();
        let web = &files[0].contents;
        assert!(web.contains("\nWorkingDirectory=/srv/100%% shop/current\n"));
        assert!(web.contains("\nEnvironmentFile=-/srv/100%% shop/shared/.env\n"));
        assert!(web.contains("\nTimeoutStopSec=2500ms\n"));
    }

    #[test]
    fn values_systemd_cannot_take_are_errors() {
        let mut example = Example::new();
        example
            .env
            .vars
            .insert(EnvVarName::unchecked("BAD-NAME"), "x".to_owned());
        let err = render_systemd(&example.target(), false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "rendering shop-web@.service: [env] name `BAD-NAME` cannot contain characters other \
             than letters, digits and `_` (or start with a digit)"
        );

        let mut example = Example::new();
        example.user = "app user ".to_owned();
        let err = render_systemd(&example.target(), false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "rendering shop-web@.service: the user name `app user ` cannot contain characters \
             other than letters, digits, `_`, `.` and `-` (or start with `-` or `.`)"
        );
        // User units do not name the user.
        assert!(render_systemd(&example.target(), true).is_ok());

        let mut example = Example::new();
        example.env.rollout.stop_timeout = std::time::Duration::ZERO;
        let err = render_systemd(&example.target(), false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "rendering shop-web@.service: rollout.stop_timeout must be longer than 0s"
        );
    }
}
