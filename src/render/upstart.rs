//! upstart jobs (SPEC §6), the classic foreman set: `<app>.conf` follows the runlevels,
//! `<app>-<type>.conf` follows the app job, and `<app>-<type>-<N>.conf` runs instance N of a
//! type with its own `PORT`, as `setuid <user>` in `<deploy_path>/current`.

use serde::Serialize;
use tera::Tera;

use super::{
    escape, formation_summary, quoting_error, render_template, upstart_job, Paths, RenderError,
    RenderedFile, Target,
};

pub(super) const APP_TEMPLATE: &str = "upstart/app.conf";
pub(super) const PROCESS_TEMPLATE: &str = "upstart/process.conf";
pub(super) const INSTANCE_TEMPLATE: &str = "upstart/instance.conf";

#[derive(Serialize)]
struct AppJob<'a> {
    app: &'a str,
    environment: &'a str,
    summary: String,
}

#[derive(Serialize)]
struct ProcessJob<'a> {
    app: &'a str,
    environment: &'a str,
    type_name: &'a str,
    instances: u32,
}

#[derive(Serialize)]
struct InstanceJob<'a> {
    app: &'a str,
    environment: &'a str,
    type_name: &'a str,
    number: u32,
    port: u16,
    kill_timeout: u64,
    /// `NAME=value` arguments of `env` stanzas, quoted, sorted by name.
    environment_lines: &'a [String],
    user: String,
    working_directory: String,
    /// The release path for `sh` (the pre-start test).
    current_shell: String,
    environment_file: &'a str,
    /// The single `/bin/sh -c` argument, quoted.
    command: String,
}

pub(super) fn render(tera: &Tera, target: &Target<'_>) -> Result<Vec<RenderedFile>, RenderError> {
    let env = target.env;
    let app = &env.app;
    let app_file = format!("{app}.conf");
    let paths = Paths::new(&app_file, target.deploy_path)?;
    let quoting = quoting_error(&app_file);
    let environment_lines: Vec<String> = env
        .vars
        .iter()
        .map(|(name, value)| {
            escape::check_env_name(name)?;
            let value = escape::upstart_arg(&format!("the value of `{name}`"), value)?;
            Ok(format!("{name}={value}"))
        })
        .collect::<Result<_, escape::EscapeError>>()
        .map_err(&quoting)?;
    escape::check_user(target.user).map_err(&quoting)?;
    let user = escape::upstart_arg("the user", target.user).map_err(&quoting)?;
    let working_directory =
        escape::upstart_arg("the deploy path", &paths.current).map_err(&quoting)?;
    // upstart counts whole seconds; round up so the grace period never shrinks.
    let stop = env.rollout.stop_timeout;
    let kill_timeout = (stop.as_secs() + u64::from(stop.subsec_nanos() > 0)).max(1);
    // The shell prelude that stands in for systemd's EnvironmentFile=-<path>.
    let env_file = crate::shell::quote(&paths.env_file);
    let prelude = format!("if [ -r {env_file} ]; then set -a; . {env_file}; set +a; fi; ");

    let mut files = vec![RenderedFile {
        name: app_file,
        contents: render_template(
            tera,
            APP_TEMPLATE,
            &AppJob {
                app: app.as_str(),
                environment: &env.name,
                summary: formation_summary(target.formation),
            },
        )?,
    }];
    for t in target.formation.types.iter().filter(|t| t.instances > 0) {
        files.push(RenderedFile {
            name: format!("{app}-{}.conf", t.name),
            contents: render_template(
                tera,
                PROCESS_TEMPLATE,
                &ProcessJob {
                    app: app.as_str(),
                    environment: &env.name,
                    type_name: &t.name,
                    instances: t.instances,
                },
            )?,
        });
    }
    for instance in target.formation.instances() {
        let name = format!("{}.conf", upstart_job(app, &instance));
        let command = escape::upstart_exec_word(
            &format!("the command of `{}`", instance.type_name),
            &format!(
                "{prelude}exec {}",
                target
                    .formation
                    .types
                    .iter()
                    .find(|t| t.name == instance.type_name)
                    .expect("instances come from the formation's types")
                    .command
            ),
        )
        .map_err(quoting_error(&name))?;
        let job = InstanceJob {
            app: app.as_str(),
            environment: &env.name,
            type_name: &instance.type_name,
            number: instance.number,
            port: instance.port,
            kill_timeout,
            environment_lines: &environment_lines,
            user: user.clone(),
            working_directory: working_directory.clone(),
            current_shell: crate::shell::quote(&paths.current),
            environment_file: &paths.env_file,
            command,
        };
        files.push(RenderedFile {
            contents: render_template(tera, INSTANCE_TEMPLATE, &job)?,
            name,
        });
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::super::example::Example;
    use super::super::upstart as render_upstart;

    #[test]
    fn job_set() {
        let example = Example::new();
        let files = render_upstart(&example.target()).unwrap();
        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "shop.conf",
                "shop-web.conf",
                "shop-worker.conf",
                "shop-clock.conf",
                "shop-web-1.conf",
                "shop-web-2.conf",
                "shop-worker-1.conf",
                "shop-clock-1.conf",
            ]
        );
        for file in files {
            insta::assert_snapshot!(file.name.clone(), file.contents);
        }
    }

    #[test]
    fn kill_timeout_rounds_up_to_whole_seconds() {
        let mut example = Example::new();
        example.env.rollout.stop_timeout = std::time::Duration::from_millis(2500);
        let files = render_upstart(&example.target()).unwrap();
        assert!(files[4].contents.contains("\nkill timeout 3\n"));
        example.env.rollout.stop_timeout = std::time::Duration::from_millis(1);
        let files = render_upstart(&example.target()).unwrap();
        assert!(files[4].contents.contains("\nkill timeout 1\n"));
    }

    #[test]
    fn paths_with_spaces_are_quoted_for_upstart_and_the_shell() {
        let mut example = Example::new();
        example.deploy_path = "/srv/my shop".to_owned();
        let files = render_upstart(&example.target()).unwrap();
        let web = &files[4].contents;
        assert!(web.contains("\nchdir \"/srv/my shop/current\"\n"), "{web}");
        assert!(
            web.contains(
                "exec /bin/sh -c 'if [ -r '\\''/srv/my shop/shared/.env'\\'' ]; then set -a; . \
             '\\''/srv/my shop/shared/.env'\\''; set +a; fi; exec node server.js --port $PORT'\n"
            ),
            "{web}"
        );
    }

    #[test]
    fn pre_start_stops_the_job_until_a_release_exists() {
        let dir = tempfile::tempdir().unwrap();
        let mut example = Example::new();
        example.deploy_path = dir.path().join("my 'shop").to_str().unwrap().to_owned();
        let files = render_upstart(&example.target()).unwrap();
        let web = &files[4].contents;
        let mut script = web
            .lines()
            .skip_while(|l| *l != "pre-start script")
            .skip(1)
            .take_while(|l| *l != "end script")
            .collect::<Vec<_>>()
            .join("\n");
        script.push('\n');
        assert!(script.contains("stop"), "{web}");
        // upstart runs the block with sh; `stop` stands in for initctl's.
        let run = || {
            let out = std::process::Command::new("sh")
                .arg("-e")
                .arg("-c")
                .arg(format!(
                    "stop() {{ echo stopped; }}\n{script}echo started\n"
                ))
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            String::from_utf8(out.stdout).unwrap()
        };
        assert_eq!(run(), "stopped\n");
        std::fs::create_dir_all(dir.path().join("my 'shop/current")).unwrap();
        assert_eq!(run(), "started\n");
    }

    #[test]
    fn bad_user_is_an_error() {
        let mut example = Example::new();
        example.user = "a:b".to_owned();
        assert_eq!(
            render_upstart(&example.target()).unwrap_err().to_string(),
            "rendering shop.conf: the user name `a:b` cannot contain characters other than \
             letters, digits, `_`, `.` and `-` (or start with `-` or `.`)"
        );
    }
}
