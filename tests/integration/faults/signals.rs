//! Signals and rivals: SIGTERM while a host is silent, SIGINT while the first host rolls,
//! `kill -9` of a deploy then the next deploy, and two deploys at once.

use std::time::{Duration, Instant};

use super::{
    app_with_a_slow_next_boot, app_with_a_slow_next_build, assert_serves, lock_and_releases,
    signal, spawn, wait_for_process, wait_for_switch, Run, Unlinked,
};
use crate::support::{on, text, APP};
use crate::testbed::Testbed;

#[test]
fn sigterm_is_acted_on_within_a_second_while_a_host_is_silent() {
    let tb = Testbed::up(3);
    let (app, first, before) = app_with_a_slow_next_build(&tb, &["h1", "h2", "h3"], 4);
    let child = spawn(&app, &[]);
    wait_for_process(&tb, "h2", "sleep 4");
    let _down = Unlinked::now("h2");
    std::thread::sleep(Duration::from_millis(500));
    signal(&child, "TERM");
    // What waits on a host that says nothing for a second after the signal is given up (here
    // every build: `sleep` is silent); h1 and h3 answer the cleanup at once, h2 does not
    // within a second: about 2 s in all, where a dead host alone takes 15 s to be named.
    // Nothing had switched: exit 1.
    Run::finish(child, Instant::now(), Duration::from_secs(30)).expect(
        "SIGTERM while h2 is silent",
        1,
        Duration::from_secs(5),
        "h2",
        &["FAILED in build"],
    );
    for host in ["h1", "h3"] {
        assert_eq!(lock_and_releases(&tb, host), before, "{host}");
        assert_serves(&tb, host, &first);
    }
}

#[test]
fn sigint_while_the_first_host_rolls_reverts_it_and_releases_every_lock() {
    let tb = Testbed::up(2);
    let (app, first, next) = app_with_a_slow_next_boot(&tb, 1000);
    let child = spawn(&app, &[]);
    wait_for_switch(&tb, "h1", &next);
    signal(&child, "INT");
    // The instance in flight boots (1 s), h1 goes back, h2 never switched.
    Run::finish(child, Instant::now(), Duration::from_secs(30)).expect(
        "SIGINT while h1 rolls",
        4,
        Duration::from_secs(10),
        "h1",
        &["reverted"],
    );
    for host in ["h1", "h2"] {
        assert_serves(&tb, host, &first);
    }
}

#[test]
fn a_second_deploy_meanwhile_exits_3_and_a_killed_deploys_lock_is_taken_over() {
    let tb = Testbed::up(2);
    let (app, _first, _before) = app_with_a_slow_next_build(&tb, &["h1", "h2"], 3);
    let mut child = spawn(&app, &[]);
    wait_for_process(&tb, "h1", "sleep 3");
    // Two deploys at once: the second meets the first's lock on h1 and touches nothing.
    let t = Instant::now();
    let rival = app.deliver(&[]);
    let all = format!("{}{}", text(&rival.stdout), text(&rival.stderr));
    eprintln!(
        "a second deploy: exit {:?} after {:.1} s",
        rival.status.code(),
        t.elapsed().as_secs_f64()
    );
    assert_eq!(rival.status.code(), Some(3), "{all}");
    assert!(
        all.lines().any(|l| l.contains("h1")
            && l.contains("lock")
            && l.contains(&format!("pid {}", child.id()))),
        "the holder (its pid) is named: {all}"
    );
    child.kill().unwrap(); // SIGKILL: no cleanup, no unlock
    child.wait().unwrap();
    for host in ["h1", "h2"] {
        // The lock stays, naming its session; that sshd ends with the connection.
        let session = on(&tb, host, &format!("cat {APP}/.deliver/lock/session"));
        let pid = session.split(' ').next().unwrap().to_owned();
        assert!(!pid.is_empty(), "{host}: the lock records its session");
        let t = Instant::now();
        while on(&tb, host, &format!("[ -e /proc/{pid} ] && echo alive")) == "alive" {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "{host}: sshd {pid} lives on"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let out = app.ok(&[], 0);
    for host in ["h1", "h2"] {
        assert!(
            out.lines().any(
                |l| l.starts_with(&format!("{host} | took over the lock of "))
                    && l.contains("deliver")
                    && l.contains("its session on the host is gone")
            ),
            "{host}: {out}"
        );
        assert_eq!(
            on(
                &tb,
                host,
                &format!("ls -d {APP}/.deliver/lock 2>/dev/null || true")
            ),
            ""
        );
    }
    let json = app.ok(&["--json", "deploy", "--force"], 0);
    assert!(
        !json.contains("lock.taken_over"),
        "nothing to take over now: {json}"
    );
}
