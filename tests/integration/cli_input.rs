//! Hostile or odd deliver.toml and Procfile input (issue 12): each is refused by
//! `check --offline` (and `export`) with exit 2 and the file and line at fault, never
//! accepted there only to fail later at render or deploy time.
// See: issue 12

use crate::support::Test;

const PROCFILE: &str = "
    web: node server.js
    worker: node worker.js
";

#[test]
fn a_file_that_is_not_utf8_names_the_file_line_and_column() {
    let test = Test::new().procfile(PROCFILE);
    std::fs::write(
        test.path().join("deliver.toml"),
        b"app = \"shop\"\nhosts = [\"h\xff\"]\n",
    )
    .unwrap();
    test.args(["check", "--offline"])
        .status(2)
        .stderr("deliver.toml:2:12: the file is not UTF-8 text (byte 0xff)")
        .run();

    let test = Test::new().toml("app = \"shop\"\nhosts = [\"h\"]\n");
    std::fs::write(test.path().join("Procfile"), b"web: a\nworker: \xc3(\n").unwrap();
    test.args(["export", "--format", "systemd"])
        .status(2)
        .stderr("Procfile:2:9: the file is not UTF-8 text (byte 0xc3)")
        .run();
}

#[test]
fn upstart_job_names_two_types_share_are_refused_at_the_later_type() {
    Test::new()
        .toml("app = \"shop\"\nsupervisor = \"upstart\"\nhosts = [\"h\"]\n")
        .procfile("web: a\nweb-1: b\n")
        .args(["check", "--offline"])
        .status(2)
        .stderr(
            "Procfile:2: process type `web-1` has the upstart job name `shop-web-1` of \
             instance 1 of `web` (line 1), which environment `default` runs under upstart",
        )
        .run();
    // systemd names them `shop-web@PORT` and `shop-web-1@PORT`: no clash.
    Test::new()
        .toml("app = \"shop\"\nhosts = [\"h\"]\n")
        .procfile("web: a\nweb-1: b\n")
        .args(["check", "--offline"])
        .run();
}

#[test]
fn a_health_process_the_upstream_cannot_serve_is_exit_2_with_its_line() {
    let toml =
        "app = \"shop\"\nhosts = [\"h\"]\n[health]\nprocess = \"api\"\n[proxy]\nhosts = [\"lb\"]\n";
    for args in [
        &["check", "--offline"][..],
        &["export", "--format", "systemd"],
    ] {
        Test::new()
            .toml(toml)
            .procfile(PROCFILE)
            .args(args.iter().copied())
            .status(2)
            .stderr(
                "deliver.toml:4:11: health.process `api` names no process type of the \
                 Procfile in environment `default`, so the nginx upstream would have no server",
            )
            .run();
    }
    // Without [proxy], only `export --format nginx` renders an upstream.
    Test::new()
        .toml("app = \"shop\"\nhosts = [\"h\"]\n[processes]\nweb = 0\n")
        .procfile(PROCFILE)
        .args(["export", "--format", "nginx"])
        .status(2)
        .stderr(
            "deliver.toml:1:1: health.process (by default `web`) has 0 instances in \
             environment `default`",
        )
        .run();
}

#[test]
fn a_port_base_overflow_names_the_port_base_line() {
    Test::new()
        .toml("app = \"shop\"\nhosts = [\"h\"]\nport_base = 65500\n")
        .procfile(PROCFILE)
        .args(["check", "--offline"])
        .status(2)
        .stderr("deliver.toml:3:13: process type `worker` would listen on port 65600")
        .run();
}

#[test]
fn a_deploy_to_with_a_tab_is_exit_2_from_check_and_export() {
    for args in [
        &["check", "--offline"][..],
        &["export", "--format", "upstart"],
    ] {
        Test::new()
            .toml("app = \"shop\"\nhosts = [\"h\"]\ndeploy_to = \"~/a\\tb\"\n")
            .procfile(PROCFILE)
            .args(args.iter().copied())
            .status(2)
            .stderr("deliver.toml:3:13: deploy_to `~/a\tb` contains a tab")
            .run();
    }
}

#[test]
fn control_characters_in_values_are_printed_escaped() {
    let (out, _dir) = Test::new()
        .toml("app = \"sh\\u001b[2Jop\\u202e\"\nhosts = [\"h\"]\n")
        .procfile(PROCFILE)
        .args(["check", "--offline"])
        .status(2)
        .stderr("app `sh\\x1b[2Jop\\u{202e}` is not a valid app name")
        .run();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains('\u{1b}') && !stderr.contains('\u{202e}'),
        "{stderr}"
    );
}

/// A git repository in `test`'s directory with everything in it committed (deploy reads the
/// committed Procfile).
fn committed(test: Test) -> Test {
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .current_dir(test.path())
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(args)
            .output()
            .expect("git");
        assert!(out.status.success(), "git {args:?}: {out:?}");
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "one"]);
    test
}

#[test]
fn deploy_refuses_what_check_refuses_before_contacting_any_host() {
    // `nosuch.invalid` cannot resolve: reaching for it would exit 1 ("connecting to the
    // hosts"), not 2 with the file and line at fault.
    committed(
        Test::new()
            .toml("app = \"shop\"\nsupervisor = \"upstart\"\nhosts = [\"nosuch.invalid\"]\n")
            .procfile("web: a\nweb-1: b\n"),
    )
    .args(["deploy"])
    .status(2)
    .stderr("Procfile:2: process type `web-1` has the upstart job name `shop-web-1`")
    .run();

    let toml = "app = \"shop\"\nhosts = [\"nosuch.invalid\"]\n[health]\nprocess = \"api\"\n\
                [proxy]\nhosts = [\"nosuch-lb.invalid\"]\n";
    let (out, _dir) = committed(Test::new().toml(toml).procfile(PROCFILE))
        .args(["--json", "deploy"])
        .status(2)
        .stderr("deliver.toml:4:11: health.process `api` names no process type of the Procfile")
        .run();
    // Nothing started: no `deploy.start`, no `host.connected`.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("deploy.start"), "{stdout}");
    assert!(!stdout.contains("host."), "{stdout}");
}
