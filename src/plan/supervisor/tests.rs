//! The supervisor scripts, run in a sandbox with stub `systemctl`/`sudo`/`initctl`, and
//! their snapshots.

use std::path::Path;
use std::process::{Command, Stdio};

use super::*;
use crate::plan::layout::Layout;
use crate::plan::sandbox::Sandbox;
use crate::render::example::Example;
use crate::render::RenderedFile;

#[test]
fn previous_units_are_kept_and_restored_for_install() {
    let sandbox = crate::plan::sandbox::Sandbox::new();
    let layout = Layout::new("~/shop");
    let units = sandbox.path("shop/.deliver/units");
    std::fs::create_dir_all(&units).unwrap();
    std::fs::write(units.join("shop.target"), "old").unwrap();
    sandbox.run(&keep_previous(&layout, &id())).ok();
    std::fs::write(units.join("shop.target"), "new").unwrap();
    sandbox.run(&restore_previous(&layout, &id())).ok();
    let staged = sandbox.path("shop/.deliver/units.new/shop.target");
    assert_eq!(std::fs::read_to_string(staged).unwrap(), "old");
    // A first deploy: nothing kept, nothing staged.
    let fresh = Layout::new("~/other");
    // (the lock, taken first, made `.deliver`)
    std::fs::create_dir_all(sandbox.path("other/.deliver")).unwrap();
    sandbox.run(&keep_previous(&fresh, &id())).ok();
    sandbox.run(&restore_previous(&fresh, &id())).ok();
    assert!(!sandbox.path("other/.deliver/units.new").exists());
    // A run that failed before keeping the units never replaced them: its revert restores
    // nothing (the copy is an older run's) and ends the script there, successfully.
    sandbox.run(&keep_previous(&layout, &id())).ok();
    std::fs::remove_dir_all(sandbox.path("shop/.deliver/units.new")).unwrap();
    let other: crate::release_id::ReleaseId = "20240201000000-1111111".parse().unwrap();
    let restore = restore_previous(&layout, &other).then(Script::new("after").raw(
        "what follows the restore in a revert: installing",
        "echo installed",
    ));
    let ran = sandbox.run(&restore).ok();
    assert_eq!(ran.stdout, "", "nothing installed");
    assert!(!sandbox.path("shop/.deliver/units.new").exists());
}

fn id() -> crate::release_id::ReleaseId {
    "20240131235959-0a1b2c3".parse().unwrap()
}

fn app() -> AppName {
    Example::new().env.app
}

fn units(sup: Supervisor) -> Vec<String> {
    let example = Example::new();
    example
        .formation
        .instances_of("web")
        .iter()
        .map(|i| crate::render::unit_name(sup, &example.env.app, i))
        .collect()
}

/// Every script of one supervisor, one after the other.
fn all_scripts(sup: Supervisor) -> String {
    let layout = Layout::new("~/shop");
    let units = units(sup);
    [
        install_units(sup, &app(), &layout),
        start(sup, &units),
        stop(sup, &units),
        restart(sup, &units),
        stop_removed(sup, &units),
        is_active(sup, &units),
    ]
    .iter()
    .map(Script::render)
    .collect::<Vec<_>>()
    .join("\n")
}

#[test]
fn the_scripts_for_systemd_user() {
    insta::assert_snapshot!(
        "supervisor_systemd_user",
        all_scripts(Supervisor::SystemdUser)
    );
}

#[test]
fn the_scripts_for_systemd() {
    insta::assert_snapshot!("supervisor_systemd", all_scripts(Supervisor::Systemd));
}

#[test]
fn the_scripts_for_upstart() {
    insta::assert_snapshot!("supervisor_upstart", all_scripts(Supervisor::Upstart));
}

/// The example's units as a deploy renders them for user `app` in `/home/app/shop`.
fn example_units(sup: Supervisor) -> Vec<RenderedFile> {
    let example = Example::new();
    let target = crate::render::Target {
        env: &example.env,
        formation: &example.formation,
        user: "app",
        deploy_path: "/home/app/shop",
        bank: crate::release::Bank::Base,
    };
    match sup {
        Supervisor::Upstart => crate::render::upstart(&target),
        _ => crate::render::systemd(&target, sup == Supervisor::SystemdUser),
    }
    .unwrap()
}

#[test]
fn the_staging_script() {
    insta::assert_snapshot!(
        "stage_units",
        super::stage_units(
            &Layout::new("~/shop"),
            &example_units(Supervisor::SystemdUser)
        )
        .render()
    );
}

#[test]
fn shown_staging_gives_sizes_not_contents() {
    let units = example_units(Supervisor::SystemdUser);
    let script = super::stage_units(&Layout::new("~/shop"), &units);
    let shown = script.render_masked();
    // The example's `[env]` GREETING is in every service unit that is sent, in none shown.
    assert!(script.render().contains("Environment=\"GREETING="));
    assert!(!shown.contains("GREETING"), "{shown}");
    for unit in &units {
        assert!(
            shown.contains(&format!(
                "printf '%s' '<{} bytes: deliver export shows them>' >shop/.deliver/units.new/{}",
                unit.contents.len(),
                unit.name
            )),
            "{shown}"
        );
    }
}

#[test]
fn staging_writes_every_unit_byte_for_byte_in_one_script() {
    let sandbox = Sandbox::new();
    let layout = Layout::new("~/shop");
    sandbox.sh("mkdir -p shop/.deliver/units.new && echo old > shop/.deliver/units.new/stale");
    let hostile =
        "x'\"; touch pwned #$(touch pwned2)`touch pwned3`\\n %s %% \\ \n\nno newline at the end";
    let mut units = example_units(Supervisor::Systemd);
    units.push(RenderedFile {
        name: "shop-evil@.service".into(),
        contents: hostile.into(),
    });
    sandbox
        .run(
            &Script::new("t")
                .raw("a umask that would hide the mode", "umask 077")
                .then(super::stage_units(&layout, &units)),
        )
        .ok();
    let mut names: Vec<String> = units.iter().map(|u| u.name.clone()).collect();
    names.sort();
    assert_eq!(
        sandbox.sh("ls shop/.deliver/units.new"),
        format!("{}\n", names.join("\n"))
    );
    for unit in &units {
        let path = sandbox.path(&format!("shop/.deliver/units.new/{}", unit.name));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            unit.contents,
            "{}",
            unit.name
        );
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&path).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o644, "{}", unit.name);
    }
    for f in ["pwned", "pwned2", "pwned3"] {
        assert!(!sandbox.path(f).exists(), "{f}");
    }
}

#[test]
fn empty_unit_lists() {
    insta::assert_snapshot!(super::stage_units(&Layout::new("~/shop"), &[]).render(), @r"
    # deliver: supervisor.stage_units
    set -eu
    rm -rf shop/.deliver/units.new
    mkdir -p shop/.deliver/units.new
    ");
    for sup in [
        Supervisor::SystemdUser,
        Supervisor::Systemd,
        Supervisor::Upstart,
    ] {
        for s in [
            start(sup, &[]),
            stop(sup, &[]),
            restart(sup, &[]),
            stop_removed(sup, &[]),
            is_active(sup, &[]),
        ] {
            assert_eq!(s.render(), format!("# deliver: {}\nset -eu\n", s.name));
        }
    }
}

#[test]
fn the_sudo_rules() {
    for sup in [
        Supervisor::SystemdUser,
        Supervisor::Systemd,
        Supervisor::Upstart,
    ] {
        insta::assert_snapshot!(
            format!("sudo_rules_{}", sup.as_str()),
            sudo_rules(sup, &app(), "app")
        );
    }
}

#[test]
fn parse_states_reads_systemd_and_upstart_answers() {
    let states = parse_states(
        "a\tactive\nb\tinactive\nc\tfailed\nd\tactivating\ne\t\nf\tstart/running\n\
         g\tstop/waiting\nh\tstart/pre-start\ni\tdeactivating\nj\treloading\n",
    )
    .unwrap();
    let got: Vec<UnitState> = states.into_iter().map(|(_, s)| s).collect();
    assert_eq!(
        got,
        [
            UnitState::Active,
            UnitState::Inactive,
            UnitState::Failed,
            UnitState::Activating,
            UnitState::Other(String::new()),
            UnitState::Active,
            UnitState::Inactive,
            UnitState::Activating,
            UnitState::Deactivating,
            UnitState::Other("reloading".into()),
        ]
    );
    assert_eq!(
        parse_states("oops\n").unwrap_err(),
        "unit states: expected `unit<TAB>state`, got `oops`"
    );
}

/// Stub `sudo`, `systemctl` and `initctl` that log their arguments to `calls` and answer
/// `active` / `start/running` to state questions.
fn stubs(sandbox: &Sandbox) -> std::path::PathBuf {
    sandbox.stub(
        "sudo",
        "printf 'sudo %s\\n' \"$*\" >>\"$HOME/calls\"\ncase \"$3\" in /etc/*) cat >/dev/null ;; esac",
    );
    sandbox.stub(
        "systemctl",
        "printf 'systemctl %s\\n' \"$*\" >>\"$HOME/calls\"\n\
         case \" $* \" in *\" show \"*|*\" is-active \"*) echo active ;; esac",
    );
    sandbox.stub(
        "journalctl",
        "printf 'journalctl %s\\n' \"$*\" >>\"$HOME/calls\"",
    );
    sandbox.stub(
        "initctl",
        "printf 'initctl %s\\n' \"$*\" >>\"$HOME/calls\"\n\
         [ \"$1\" = status ] && echo \"$2 start/running, process 42\"; true",
    )
}

fn calls(sandbox: &Sandbox) -> String {
    std::fs::read_to_string(sandbox.path("calls")).unwrap_or_default()
}

/// `.deliver/units/` and the installed dir hold an old set (`shop-old` and a foreign
/// unit among them); `.deliver/units.new/` the new one.
fn stage_units(sandbox: &Sandbox, sup: Supervisor, installed: &str) {
    let (old, new) = if sup == Supervisor::Upstart {
        (
            "shop.conf shop-old.conf other.conf",
            "shop.conf shop-web.conf",
        )
    } else {
        (
            "shop.target shop-old@.service other.service",
            "shop.target shop-web@.service",
        )
    };
    sandbox.sh(&format!(
        "set -e; mkdir -p shop/.deliver/units shop/.deliver/units.new {installed}\n\
         for f in {old}; do\n  \
         echo old > shop/.deliver/units/$f; echo old > {installed}/$f\n\
         done\n\
         for f in {new}; do echo new > shop/.deliver/units.new/$f; done"
    ));
}

#[test]
fn install_replaces_this_apps_units_and_leaves_others() {
    let sandbox = Sandbox::new();
    let bin = stubs(&sandbox);
    stage_units(&sandbox, Supervisor::SystemdUser, USER_UNIT_DIR);
    let layout = Layout::new("~/shop");
    let ran = sandbox.run_with_path(
        &install_units(Supervisor::SystemdUser, &app(), &layout),
        Some(&bin),
    );
    ran.ok();
    assert_eq!(
        sandbox.sh(&format!("cd {USER_UNIT_DIR} && head -n 9 *")),
        "==> other.service <==\nold\n\n==> shop-web@.service <==\nnew\n\n\
         ==> shop.target <==\nnew\n"
    );
    assert_eq!(sandbox.sh("ls shop/.deliver"), "units\n");
    assert_eq!(
        sandbox.sh("ls shop/.deliver/units"),
        "shop-web@.service\nshop.target\n"
    );
    assert_eq!(
        calls(&sandbox),
        "systemctl --user enable --no-reload shop.target\nsystemctl --user daemon-reload\n"
    );
}

#[test]
fn is_active_output_parses_for_every_supervisor() {
    let sandbox = Sandbox::new();
    let bin = stubs(&sandbox);
    for sup in [
        Supervisor::SystemdUser,
        Supervisor::Systemd,
        Supervisor::Upstart,
    ] {
        let units = units(sup);
        let ran = sandbox
            .run_with_path(&is_active(sup, &units), Some(&bin))
            .ok();
        let states = parse_states(&ran.stdout).unwrap();
        assert_eq!(
            states,
            units
                .iter()
                .map(|u| (u.clone(), UnitState::Active))
                .collect::<Vec<_>>()
        );
    }
}

#[test]
fn install_without_staged_units_exits_no_units() {
    let sandbox = Sandbox::new();
    let bin = stubs(&sandbox);
    let ran = sandbox.run_with_path(
        &install_units(Supervisor::SystemdUser, &app(), &Layout::new("~/shop")),
        Some(&bin),
    );
    assert_eq!(ran.status, NO_UNITS);
    assert_eq!(calls(&sandbox), "");
}

/// `PROGRAM ARGS` entries of a rule file's `NOPASSWD:` list.
fn rule_entries(rules: &str) -> Vec<(String, String)> {
    let list = rules
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("\\\n", " ");
    let list = list.split_once("NOPASSWD:").expect("a NOPASSWD list").1;
    list.split(", ")
        .map(|entry| {
            let entry = entry.split_whitespace().collect::<Vec<_>>().join(" ");
            let (program, args) = entry.split_once(' ').unwrap_or((&entry, ""));
            (program.to_owned(), args.to_owned())
        })
        .collect()
}

/// sudoers matching: `^...$` is an extended regex, else `*` is a wildcard.
fn allowed(entries: &[(String, String)], command: &str) -> bool {
    let (program, args) = command.split_once(' ').unwrap_or((command, ""));
    entries
        .iter()
        .filter(|(p, _)| p == program)
        .any(|(_, pattern)| {
            let regex = if pattern.starts_with('^') {
                pattern.clone()
            } else {
                let escaped: String = pattern
                    .chars()
                    .map(|c| match c {
                        '*' => ".*".to_owned(),
                        c if c.is_ascii_alphanumeric() || c == ' ' => c.to_string(),
                        c => format!("\\{c}"),
                    })
                    .collect();
                format!("^{escaped}$")
            };
            let mut grep = Command::new("grep")
                .args(["-Eq", "-e", &regex])
                .stdin(Stdio::piped())
                .spawn()
                .expect("grep");
            std::io::Write::write_all(&mut grep.stdin.take().unwrap(), args.as_bytes()).unwrap();
            grep.wait().unwrap().success()
        })
}

#[test]
fn every_sudo_command_matches_the_sudo_rules() {
    for (sup, installed) in [
        (Supervisor::Systemd, SYSTEM_UNIT_DIR),
        (Supervisor::Upstart, UPSTART_JOB_DIR),
    ] {
        let sandbox = Sandbox::new();
        let bin = stubs(&sandbox);
        // The stubs never touch /etc: the staged "installed" copies live in the sandbox.
        stage_units(&sandbox, sup, "etc-copy");
        let layout = Layout::new("~/shop");
        let units = units(sup);
        let formation = Example::new().formation;
        for script in [
            install_units(sup, &app(), &layout),
            start(sup, &units),
            stop(sup, &units),
            restart(sup, &units),
            stop_removed(sup, &units),
            crate::plan::inspect::logs(sup, &app(), &formation, None, 10, true),
        ] {
            sandbox.run_with_path(&script, Some(&bin)).ok();
        }
        let sudo: Vec<String> = calls(&sandbox)
            .lines()
            .filter_map(|l| l.strip_prefix("sudo -n "))
            .map(str::to_owned)
            .collect();
        assert!(sudo.len() >= 6, "{sudo:?}");
        let old = if sup == Supervisor::Upstart {
            "shop-old.conf"
        } else {
            "shop-old@.service"
        };
        assert!(
            sudo.contains(&format!("{RM} -f {installed}/{old}")),
            "{sudo:?}"
        );
        let entries = rule_entries(&sudo_rules(sup, &app(), "app"));
        for command in &sudo {
            assert!(
                allowed(&entries, command),
                "{}: not allowed: {command}",
                sup.as_str()
            );
        }
        assert!(calls(&sandbox)
            .lines()
            .all(|l| !l.starts_with("sudo ") || l.starts_with("sudo -n ")));
        let denied = format!("{SYSTEMCTL} stop nginx.service");
        assert!(!allowed(&entries, &denied));
    }
}

#[test]
fn the_systemd_rules_pass_visudo() {
    let visudo = Path::new("/usr/sbin/visudo");
    // sudo's own syntax check, where sudo is installed (the test bed installs it).
    if !visudo.exists() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for sup in [Supervisor::Systemd, Supervisor::Upstart] {
        let file = dir.path().join("rules");
        std::fs::write(&file, sudo_rules(sup, &app(), "app")).unwrap();
        let out = Command::new(visudo).arg("-cf").arg(&file).output().unwrap();
        assert!(
            out.status.success(),
            "{}: {}{}",
            sup.as_str(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_restart_systemd_refused_for_its_start_limit_is_reset_and_tried_once_more() {
    let sandbox = Sandbox::new();
    // systemctl refuses the first restart (as after too many starts in a row), then works.
    let bin = sandbox.stub(
        "systemctl",
        "printf 'systemctl %s\\n' \"$*\" >>\"$HOME/calls\"\n\
         if [ \"$2\" = restart ] && [ ! -e \"$HOME/refused\" ]; then\n  \
         touch \"$HOME/refused\"; echo 'start of the service was attempted too often' >&2; exit 1\n\
         fi",
    );
    let units = ["shop-web@5000.service".to_owned()];
    let ran = sandbox.run_with_path(&restart(Supervisor::SystemdUser, &units), Some(&bin));
    assert_eq!(ran.status, 0, "{}", ran.stderr);
    assert_eq!(
        calls(&sandbox),
        "systemctl --user restart shop-web@5000.service\n\
         systemctl --user reset-failed shop-web@5000.service\n\
         systemctl --user restart shop-web@5000.service\n"
    );
    // A restart that works costs one call.
    std::fs::remove_file(sandbox.path("calls")).unwrap();
    sandbox
        .run_with_path(&restart(Supervisor::SystemdUser, &units), Some(&bin))
        .ok();
    assert_eq!(
        calls(&sandbox),
        "systemctl --user restart shop-web@5000.service\n"
    );
}
