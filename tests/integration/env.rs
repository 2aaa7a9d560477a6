//! `deliver env list|set|unset` (SPEC §9, issue 13) on the test bed: the value set reaches
//! the web processes' environment and shows in no output (`-v --json` too) and no `list`;
//! the other lines of `shared/.env` and their order survive; every web process restarts
//! (unless `--no-restart`); `unset` removes it the same way; a held lock is exit 3 with
//! nothing changed, or a wait in line with `--lock-wait`.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::support::{deploy_holding_the_lock, on, shown, text, App, APP};
use crate::testbed::Testbed;

const SECRET: &str = "s3cr3t \"quoted\" $HOME `x` \\ 9f2e";
const HOSTS: [&str; 2] = ["h1", "h2"];

/// The environment of a web process on `host`, one `KEY=VALUE` per line.
fn web_environ(tb: &Testbed, host: &str) -> String {
    let out = tb.exec(
        host,
        "pid=$(pgrep -u app -f 'node server.js' | head -n 1); tr '\\0' '\\n' </proc/$pid/environ",
    );
    text(&out.stdout)
}

/// Every command line on the hosts (`ps` as root), sampled until [`CommandLines::stop`].
struct CommandLines {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<(usize, String)>,
}

impl CommandLines {
    fn sample() -> CommandLines {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let (mut rounds, mut seen) = (0, String::new());
            while !stopped.load(Ordering::SeqCst) {
                for host in HOSTS {
                    let out = Command::new("tests/testbed/testbed.sh")
                        .current_dir(crate::support::repo_root())
                        .args(["exec", host, "ps", "-eo", "args", "--no-headers"])
                        .stdin(Stdio::null())
                        .output()
                        .map(|o| text(&o.stdout))
                        .unwrap_or_default();
                    seen.push_str(&out);
                }
                rounds += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            (rounds, seen)
        });
        CommandLines { stop, thread }
    }

    /// What was seen; at least 3 rounds, some of them while deliver's SSH sessions were open.
    fn stop(self) -> String {
        self.stop.store(true, Ordering::SeqCst);
        let (rounds, seen) = self.thread.join().unwrap();
        assert!(rounds >= 3, "ps sampled {rounds} times");
        assert!(
            seen.contains("sshd: app") || seen.contains("sh -s"),
            "the samples caught deliver's sessions on the hosts"
        );
        seen
    }
}

/// The pids of the web processes on `host`, one a line.
fn web_pids(tb: &Testbed, host: &str) -> String {
    text(&tb.exec(host, "pgrep -u app -f 'node server.js'").stdout)
}

/// Runs deliver with `stdin` on its standard input; checks the exit code; stdout + stderr.
fn deliver_with_stdin(app: &App, args: &[&str], stdin: &str, code: i32) -> String {
    use std::io::Write;
    let mut child = app
        .command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(code), "{args:?}: {}", shown(&out));
    format!("{}{}", text(&out.stdout), text(&out.stderr))
}

#[test]
fn env_set_reaches_the_processes_shows_no_value_and_keeps_the_other_lines() {
    let tb = Testbed::up(2);
    let app = App::new(&tb, &HOSTS);
    app.ok(&[], 0);
    let before = "# kept comment\nFIRST=1\n\nLAST='2'\n";
    for host in HOSTS {
        let out = tb.ssh(
            host,
            &format!(
                "umask 077 && printf '%s' {} >{APP}/shared/.env",
                quote(before)
            ),
        );
        assert!(out.status.success(), "{}", shown(&out));
    }

    let pids_before: Vec<String> = HOSTS.iter().map(|h| web_pids(&tb, h)).collect();
    let sampler = CommandLines::sample();
    let printed = deliver_with_stdin(
        &app,
        &["-v", "--json", "env", "set", "FIRST=one", "SECRET=-"],
        &format!("{SECRET}\n"),
        0,
    );
    let seen = sampler.stop();
    assert!(!printed.contains("9f2e"), "the value shows:\n{printed}");
    assert!(
        !seen.contains("9f2e"),
        "the value shows in a command line on a host"
    );
    let history = app.ok(&["--json", "history"], 0);
    assert!(history.contains("\"action\":\"restart\""), "{history}");
    assert!(!history.contains("9f2e"), "{history}");
    assert!(printed.contains("\"event\":\"env.changed\""), "{printed}");
    assert!(
        printed.contains("\"event\":\"instance.restarted\""),
        "{printed}"
    );
    for (host, before) in HOSTS.iter().zip(&pids_before) {
        let file = on(&tb, host, &format!("cat {APP}/shared/.env"));
        assert!(
            file.starts_with("# kept comment\nFIRST=\"one\"\n\nLAST='2'\nSECRET="),
            "{host}: {file}"
        );
        assert_eq!(
            on(&tb, host, &format!("stat -c %a {APP}/shared/.env")),
            "600"
        );
        let after = web_pids(&tb, host);
        assert!(
            after.lines().all(|p| !before.lines().any(|b| b == p)),
            "{host}: every web process restarted ({before:?} then {after:?})"
        );
        let environ = web_environ(&tb, host);
        assert!(
            environ.lines().any(|l| l == format!("SECRET={SECRET}")),
            "{host}: the web process has SECRET exactly:\n{environ}"
        );
        assert!(environ.lines().any(|l| l == "FIRST=one"), "{environ}");
    }
    let listed = app.ok(&["env", "list"], 0);
    assert!(!listed.contains("9f2e"), "{listed}");
    for host in HOSTS {
        assert!(
            listed.contains(&format!("{host} | FIRST LAST SECRET")),
            "{listed}"
        );
    }

    dry_run_and_no_restart_leave_the_processes(&tb, &app);

    let out = app.deliver(&["-v", "--json", "env", "unset", "SECRET", "LATER"]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert!(!text(&out.stdout).contains("9f2e") && !text(&out.stderr).contains("9f2e"));
    for host in HOSTS {
        assert_eq!(
            on(&tb, host, &format!("cat {APP}/shared/.env")),
            "# kept comment\nFIRST=\"one\"\n\nLAST='2'"
        );
        let environ = web_environ(&tb, host);
        assert!(!environ.contains("SECRET="), "{host}: {environ}");
        assert!(environ.lines().any(|l| l == "LAST=2"), "{environ}");
    }
}

/// `--dry-run` says what would change and changes nothing; `--no-restart` changes the file
/// and leaves the processes as they were. Leaves `LATER=1` in the files.
fn dry_run_and_no_restart_leave_the_processes(tb: &Testbed, app: &App) {
    // --dry-run: says what would change, changes nothing.
    let file_before = on(tb, "h1", &format!("cat {APP}/shared/.env"));
    let out = app.ok(&["env", "set", "FIRST=dry", "--dry-run"], 0);
    assert!(out.contains("h1 | would set FIRST"), "{out}");
    assert!(!out.contains("dry"), "{out}");
    assert_eq!(on(tb, "h1", &format!("cat {APP}/shared/.env")), file_before);
    assert_eq!(
        on(
            tb,
            "h1",
            &format!("test -d {APP}/.deliver/lock || echo free")
        ),
        "free"
    );

    // --no-restart: the file changes, the processes keep what they had.
    app.ok(&["env", "set", "LATER=1", "--no-restart"], 0);
    for host in HOSTS {
        assert!(on(tb, host, &format!("cat {APP}/shared/.env")).ends_with("\nLATER=\"1\""));
        assert!(
            !web_environ(tb, host).contains("LATER="),
            "{host} restarted"
        );
    }
}

#[test]
fn env_set_while_a_deploy_holds_the_lock_is_exit_3_or_waits_in_line() {
    let tb = Testbed::up(2);
    let app = App::new(&tb, &HOSTS);
    app.ok(&[], 0);
    let mut holder = deploy_holding_the_lock(&tb, &app, "h1", 9);
    let out = app.deliver(&["env", "set", "HELD=nope"]);
    assert_eq!(out.status.code(), Some(3), "{}", shown(&out));
    assert!(text(&out.stderr).contains("locked by"), "{}", shown(&out));
    for host in HOSTS {
        let file = on(&tb, host, &format!("cat {APP}/shared/.env 2>/dev/null"));
        assert!(!file.contains("HELD"), "{host}: {file}");
    }
    // --lock-wait: in line behind the deploy, then done.
    let out = app.deliver(&[
        "env",
        "set",
        "HELD=waited",
        "--lock-wait",
        "60s",
        "--no-restart",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert!(
        text(&out.stdout).contains("waiting in line"),
        "{}",
        shown(&out)
    );
    assert!(holder.wait().unwrap().success());
    for host in HOSTS {
        let file = on(&tb, host, &format!("cat {APP}/shared/.env"));
        assert!(file.contains("HELD=\"waited\""), "{host}: {file}");
        assert_eq!(
            on(
                &tb,
                host,
                &format!("test -d {APP}/.deliver/lock || echo free")
            ),
            "free"
        );
    }
}

/// `s` in single quotes for the hosts' shell.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}
