//! Read-mostly commands: `deliver releases` ([`releases`] + [`parse_releases`]), `deliver
//! logs` ([`logs`]) and `deliver run` ([`run_in_current`]). Pure: builds scripts and parses their
//! output; no I/O.

use std::collections::BTreeMap;

use super::failed::{self, Mark};
use super::layout::Layout;
use super::release_dir::app_environment;
use super::script::Script;
use super::supervisor::{TAIL, UPSTART_LOG_DIR};
use crate::config::{AppName, EnvVarName, Supervisor};
use crate::release::Formation;
use crate::release_id::ReleaseId;
use crate::render;
use crate::shell::quote;

/// `run`: there is no `current` release to run in (nothing deployed yet).
pub const NO_CURRENT: i32 = 72;

/// One line of [`releases`] output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRow {
    pub id: ReleaseId,
    /// From `REVISION`; `None`: an incomplete release.
    pub revision: Option<String>,
    /// When the release was made complete (`REVISION`'s mtime, else the dir's), unix seconds.
    pub mtime: Option<u64>,
    pub current: bool,
    /// A failed rollout marked it (`plan::failed`): its mark, or an empty one when the file
    /// holds no mark deliver wrote.
    pub failed: Option<Mark>,
}

/// Prints `current=<link>` (when there is one), then per release dir
/// `release=<ID>\t<sha or empty>\t<mtime>`, followed by `failed=<ID>\t<mark>` when a failed
/// rollout marked it (the mark's one line, read with the `read` builtin).
pub fn releases(layout: &Layout) -> Script {
    Script::new("inspect.releases").raw(
        "a glob that matches nothing stays literal: hence the tests; stat -c is GNU",
        format!(
            "if [ -L {current} ]; then printf 'current=%s\\n' \"$(readlink {current})\"; fi\n\
             for d in {releases}/*/; do\n  \
             [ -d \"$d\" ] || continue\n  \
             d=${{d%/}}\n  \
             r=$(sed -n 1p \"$d/REVISION\" 2>/dev/null || true)\n  \
             if [ -f \"$d/REVISION\" ]; then m=$(stat -c %Y \"$d/REVISION\"); else m=$(stat -c %Y \"$d\"); fi\n  \
             printf 'release=%s\\t%s\\t%s\\n' \"${{d##*/}}\" \"$r\" \"$m\"\n  \
             if [ -e \"$d/{marker}\" ]; then\n    \
             f=\n    \
             {{ read -r f <\"$d/{marker}\"; }} 2>/dev/null || true\n    \
             printf 'failed=%s\\t%s\\n' \"${{d##*/}}\" \"$f\"\n  \
             fi\n\
             done",
            marker = failed::MARKER,
            current = quote(&layout.current()),
            releases = quote(&layout.releases()),
        ),
    )
}

/// Prints the Procfile of release `id` (what a rollback to it runs).
pub fn procfile(layout: &Layout, id: &ReleaseId) -> Script {
    Script::new("inspect.procfile").cmd("cat", [format!("{}/Procfile", layout.release(id))])
}

/// Reads [`releases`] output: release ids in order, oldest first (other dirs are skipped).
pub fn parse_releases(stdout: &str) -> Result<Vec<ReleaseRow>, String> {
    let mut current = None;
    let mut rows = Vec::new();
    for line in stdout.lines() {
        if let Some(link) = line.strip_prefix("current=") {
            current = link.strip_prefix("releases/").map(str::to_owned);
        } else if let Some(record) = line.strip_prefix("release=") {
            let mut fields = record.split('\t');
            let (Some(name), Some(revision), Some(mtime), None) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            else {
                return Err(format!(
                    "releases: expected `release=ID<TAB>SHA<TAB>MTIME`, got `{line}`"
                ));
            };
            let Ok(id) = name.parse::<ReleaseId>() else {
                continue;
            };
            rows.push(ReleaseRow {
                id,
                revision: (!revision.is_empty()).then(|| revision.to_owned()),
                mtime: mtime.parse().ok(),
                current: false,
                failed: None,
            });
        } else if let Some(record) = line.strip_prefix("failed=") {
            let (name, mark) = record.split_once('\t').unwrap_or((record, ""));
            if let Some(row) = rows.iter_mut().find(|r| r.id.as_str() == name) {
                row.failed = Some(Mark::parse(mark).unwrap_or_default());
            }
        } else {
            return Err(format!("releases: unexpected line `{line}`"));
        }
    }
    for row in &mut rows {
        row.current = current.as_deref() == Some(row.id.as_str());
    }
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(rows)
}

/// The supervisor's log of the app's processes (of type `only` when given), the last `lines`
/// lines, following when `follow`. systemd: `journalctl -u <app>-<type>@* ...` per Procfile
/// type (systemd-user: `journalctl --user --user-unit ...`; a user reads its own journal
/// without sudo); upstart: `sudo -n tail` of `/var/log/upstart/<app>-<type>-<N>.log` per
/// instance job.
pub fn logs(
    sup: Supervisor,
    app: &AppName,
    formation: &Formation,
    only: Option<&str>,
    lines: u32,
    follow: bool,
) -> Script {
    let s = Script::new("inspect.logs");
    let types = formation
        .types
        .iter()
        .filter(|t| only.is_none_or(|only| t.name == only));
    match sup {
        Supervisor::SystemdUser | Supervisor::Systemd => {
            let mut args: Vec<String> = Vec::new();
            if sup == Supervisor::SystemdUser {
                args.push("--user".into());
            }
            // `--user-unit` says "user unit" on every systemd version (`--user -u` only
            // means it since v230).
            let unit_flag = if sup == Supervisor::SystemdUser {
                "--user-unit"
            } else {
                "-u"
            };
            for t in types {
                args.push(unit_flag.into());
                args.push(format!("{app}-{}@*", t.name));
            }
            args.extend(["-n".into(), lines.to_string()]);
            if follow {
                args.push("-f".into());
            }
            args.extend(["-o".into(), "short-iso".into(), "--no-pager".into()]);
            s.cmd("journalctl", args)
        }
        Supervisor::Upstart => {
            let files: Vec<String> = types
                .flat_map(|t| formation.instances_of(&t.name))
                .map(|i| format!("{UPSTART_LOG_DIR}/{}.log", render::upstart_job(app, &i)))
                .collect();
            if files.is_empty() {
                return s;
            }
            let mut args: Vec<String> = vec!["-n".into(), TAIL.into()];
            args.extend(["-n".into(), lines.to_string()]);
            if follow {
                args.push("-F".into());
            }
            args.extend(files);
            s.cmd("sudo", args)
        }
    }
}

/// Runs `command` (with `sh -c`, as ssh would) in `current` with `env` and `shared/.env`;
/// stdin is /dev/null and the script's status is the command's. Exits [`NO_CURRENT`] when
/// nothing is deployed.
pub fn run_in_current(
    layout: &Layout,
    env: &BTreeMap<EnvVarName, String>,
    command: &str,
) -> Script {
    let s = Script::new("inspect.run").raw(
        "nothing deployed: a named exit",
        format!(
            "if [ ! -d {current} ]; then echo 'deliver: no current release' >&2; exit {NO_CURRENT}; fi",
            current = quote(&layout.current())
        ),
    );
    app_environment(s, layout, env)
        .cmd("cd", [layout.current()])
        .raw(
            "the command replaces the script's shell; stdin is the script, hence /dev/null",
            format!("exec sh -c {} </dev/null", quote(command)),
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::sandbox::Sandbox;
    use crate::render::example::Example;

    #[test]
    fn the_scripts() {
        let layout = Layout::new("~/shop");
        let example = Example::new();
        let app = &example.env.app;
        let f = &example.formation;
        insta::assert_snapshot!("inspect_releases", releases(&layout).render());
        insta::assert_snapshot!(
            "inspect_run",
            run_in_current(&layout, &example.env.vars, "bin/console $X").render()
        );
        insta::assert_snapshot!(
            "inspect_logs",
            [
                logs(Supervisor::SystemdUser, app, f, None, 100, true),
                logs(Supervisor::Systemd, app, f, Some("web"), 20, false),
                logs(Supervisor::Upstart, app, f, Some("web"), 20, true),
            ]
            .iter()
            .map(Script::render)
            .collect::<Vec<_>>()
            .join("\n")
        );
    }

    #[test]
    fn releases_lists_ids_revisions_times_and_current() {
        let sandbox = Sandbox::new();
        let layout = Layout::new("~/shop");
        assert_eq!(
            parse_releases(&sandbox.run(&releases(&layout)).ok().stdout),
            Ok(vec![])
        );
        sandbox.sh(
            "mkdir -p shop/releases/20240102000000-2222222 shop/releases/20240101000000-1111111 \
             shop/releases/other \
             && echo 1111111111111111111111111111111111111111 \
                > shop/releases/20240101000000-1111111/REVISION \
             && touch -d @1704067200 shop/releases/20240101000000-1111111/REVISION \
             && ln -s releases/20240101000000-1111111 shop/current",
        );
        let rows = parse_releases(&sandbox.run(&releases(&layout)).ok().stdout).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].id.as_str(), "20240101000000-1111111");
        assert_eq!(
            rows[0].revision.as_deref(),
            Some("1111111111111111111111111111111111111111")
        );
        assert_eq!(rows[0].mtime, Some(1_704_067_200));
        assert!(rows[0].current);
        assert_eq!(rows[1].id.as_str(), "20240102000000-2222222");
        assert_eq!(rows[1].revision, None);
        assert!(rows[1].mtime.is_some());
        assert!(!rows[1].current);
        let mark = failed::Mark::new(1_704_153_600, "h1: web@5000 never healthy", "me@here");
        sandbox.run(&failed::mark(&layout, &rows[1].id, &mark)).ok();
        sandbox.sh("mkdir shop/releases/20240103000000-3333333 && : >shop/releases/20240103000000-3333333/.deliver-failed");
        let rows = parse_releases(&sandbox.run(&releases(&layout)).ok().stdout).unwrap();
        assert_eq!(rows[0].failed, None);
        assert_eq!(rows[1].failed.as_ref(), Some(&mark));
        assert_eq!(rows[2].failed.as_ref().map(|m| m.why.as_str()), Some(""));
        assert!(parse_releases("release=x\n").is_err());
        assert!(parse_releases("hello\n").is_err());
    }

    #[test]
    fn run_uses_current_the_env_and_shared_env() {
        let sandbox = Sandbox::new();
        let layout = Layout::new("~/shop");
        let env = BTreeMap::from([(
            EnvVarName::new("X").unwrap(),
            "$(touch pwned) \"q\" 'y'".to_owned(),
        )]);
        let ran = sandbox.run(&run_in_current(&layout, &env, "true"));
        assert_eq!(ran.status, NO_CURRENT);
        sandbox.sh("mkdir -p shop/releases/20240101000000-1111111 shop/shared \
             && ln -s releases/20240101000000-1111111 shop/current \
             && printf 'SECRET=s3cret\\n' > shop/shared/.env");
        let ran = sandbox
            .run(&run_in_current(
                &layout,
                &env,
                "printf '%s|%s|%s' \"$X\" \"$SECRET\" \"$(basename \"$(pwd -P)\")\"",
            ))
            .ok();
        assert_eq!(
            ran.stdout,
            "$(touch pwned) \"q\" 'y'|s3cret|20240101000000-1111111"
        );
        assert!(!sandbox.path("pwned").exists());
        assert_eq!(
            sandbox.run(&run_in_current(&layout, &env, "exit 3")).status,
            3
        );
    }
}
