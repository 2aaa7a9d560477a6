//! A host's network fails: silent (its link down) during the build or after another host
//! switched, down from the start, or its SSH session reset.

use std::time::{Duration, Instant};

use super::{
    app_with_a_slow_next_boot, app_with_a_slow_next_build, assert_serves, commit_random,
    lock_and_releases, spawn, wait_for_process, wait_for_switch, Run, Throttled, Unlinked,
};
use crate::support::{App, APP};
use crate::testbed::Testbed;

#[test]
fn a_host_gone_silent_during_the_build_is_named_within_seconds_and_the_others_are_cleaned() {
    let tb = Testbed::up(3);
    let (app, first, before) = app_with_a_slow_next_build(&tb, &["h1", "h2", "h3"], 4);
    let child = spawn(&app, &[]);
    wait_for_process(&tb, "h2", "sleep 4");
    let _down = Unlinked::now("h2");
    // Keepalives every 5 s, 3 unanswered: 15 s, plus the step in flight.
    Run::finish(child, Instant::now(), Duration::from_secs(60)).expect(
        "silent during the build",
        1,
        Duration::from_secs(25),
        "h2",
        &["FAILED in build", "no answer"],
    );
    for host in ["h1", "h3"] {
        assert_eq!(lock_and_releases(&tb, host), before, "{host}");
        assert_serves(&tb, host, &first);
    }
}

#[test]
fn a_host_unreachable_from_the_start_is_named_within_the_connect_timeout() {
    let tb = Testbed::up(2);
    let (app, first, before) = app_with_a_slow_next_build(&tb, &["h1", "h2"], 0);
    let _down = Unlinked::now("h2");
    // The test bed's ssh_config: ConnectTimeout 5.
    Run::deliver(&app, Duration::from_secs(60)).expect(
        "unreachable from the start",
        1,
        Duration::from_secs(10),
        "h2",
        &["connect"],
    );
    assert_eq!(lock_and_releases(&tb, "h1"), before, "h1 untouched");
    assert_serves(&tb, "h1", &first);
}

#[test]
fn a_host_gone_silent_after_another_switched_is_named_and_the_switched_host_reverted() {
    let tb = Testbed::up(2);
    let (app, first, next) = app_with_a_slow_next_boot(&tb, 1000);
    let child = spawn(&app, &[]);
    // Rolling, one host at a time: h2 goes silent while h1 rolls, before its own turn.
    wait_for_switch(&tb, "h1", &next);
    let _down = Unlinked::now("h2");
    // h1 is reverted. h2's switch round trip got no answer: whether `current` moved there
    // cannot be known, so h2 is "not reverted" and named (SPEC §2: exit 5, a human looks),
    // never reported as back where it was.
    Run::finish(child, Instant::now(), Duration::from_secs(60)).expect(
        "silent after h1 switched",
        5,
        Duration::from_secs(30),
        "h2",
        &["FAILED in switch", "no answer"],
    );
    assert_serves(&tb, "h1", &first);
}

#[test]
fn a_host_whose_session_is_reset_during_the_build_is_named_at_once() {
    let tb = Testbed::up(2);
    let (app, first, before) = app_with_a_slow_next_build(&tb, &["h1", "h2"], 3);
    let child = spawn(&app, &[]);
    wait_for_process(&tb, "h2", "sleep 3");
    // h2 is named at once; the run then waits for h1's build (the rest of its 3 s) before
    // it cleans up: h2 closed the session (it did not go silent), so deliver connects again
    // to remove its half release and its lock there too.
    let run = reset("h2", &tb, child);
    run.expect(
        "session reset during the build",
        1,
        Duration::from_secs(10),
        "h2",
        &["FAILED in build", "connection lost"],
    );
    run.says("h2 | connected again to clean up");
    for host in ["h1", "h2"] {
        assert_eq!(lock_and_releases(&tb, host), before, "{host}");
        assert_serves(&tb, host, &first);
    }
    // Nothing left to take over: the next deploy just runs.
    let next = app.ok(&[], 0);
    assert!(!next.contains("took over the lock"), "{next}");
    for host in ["h1", "h2"] {
        assert_serves(&tb, host, &app.git(&["rev-parse", "HEAD"]));
    }
}

#[test]
fn a_host_whose_session_is_reset_after_it_switched_is_reached_again_and_reverted() {
    let tb = Testbed::up(2);
    let (app, first, next) = app_with_a_slow_next_boot(&tb, 1000);
    let child = spawn(&app, &[]);
    // h1 switched and boots the new release (1 s) when the host closes deliver's session.
    wait_for_switch(&tb, "h1", &next);
    // A new session reverts h1 (exit 4, not 5: every host serves what it served before).
    let run = reset("h1", &tb, child);
    run.expect(
        "session reset after h1 switched",
        4,
        Duration::from_secs(15),
        "h1",
        &["FAILED in switch", "connection lost"],
    );
    run.says("h1 | connected again to clean up");
    run.says("h1 | reverted to the previous release");
    for host in ["h1", "h2"] {
        assert_serves(&tb, host, &first);
    }
}

#[test]
fn a_host_gone_silent_or_reset_during_the_push_is_named_and_every_host_it_can_reach_cleaned() {
    let tb = Testbed::up(2);
    let app = App::new(&tb, &["h1", "h2"]);
    app.ok(&[], 0);
    let first = app.git(&["rev-parse", "HEAD"]);
    let before = lock_and_releases(&tb, "h1");
    // 2 MB that do not compress, at 4 Mbit/s: a push to h2 of about 4 s.
    let _slow = Throttled::now("h2", "4mbit");
    let unpacking = format!("git --git-dir=[^ ]*{APP}/repo.git unpack-objects");

    // Silent: h2's link goes down mid-push. h2 is named once its keepalives go unanswered;
    // h1 is cleaned (no lock, no release of this run). h2 cannot be reached to clean up.
    commit_random(&app, "silent.bin", 2 << 20);
    let child = spawn(&app, &[]);
    wait_for_process(&tb, "h2", &unpacking);
    let down = Unlinked::now("h2");
    Run::finish(child, Instant::now(), Duration::from_secs(60)).expect(
        "silent during the push",
        1,
        Duration::from_secs(25),
        "h2",
        &["FAILED in push", "no answer"],
    );
    drop(down);
    assert_eq!(lock_and_releases(&tb, "h1"), before, "h1");
    assert_serves(&tb, "h1", &first);
    // The silent run's session on h2 may live on until sshd notices: its lock too. Taken
    // over once that session is gone, or by hand:
    app.ok(&["unlock"], 0);
    // That session's `git unpack-objects` may still wait for the rest of the pack: gone
    // with its sshd, so that the wait below sees the next run's.
    tb.exec("h2", "pkill -u app -x sshd; pkill -u app -f unpack-objects");
    super::wait_until(
        "no unpack-objects left on h2",
        Duration::from_secs(10),
        || {
            !tb.exec("h2", "pgrep -u app -f unpack-objects")
                .status
                .success()
        },
    );

    // Reset: h2's sshd killed mid-push. Named at once; deliver connects again and cleans h2.
    commit_random(&app, "reset.bin", 2 << 20);
    let child = spawn(&app, &[]);
    wait_for_process(&tb, "h2", &unpacking);
    let run = reset("h2", &tb, child);
    run.expect(
        "session reset during the push",
        1,
        Duration::from_secs(10),
        "h2",
        &["FAILED in push", "connection lost"],
    );
    run.says("h2 | connected again to clean up");
    for host in ["h1", "h2"] {
        assert_eq!(lock_and_releases(&tb, host), before, "{host}");
        assert_serves(&tb, host, &first);
    }
}

/// Closes deliver's SSH session on `host` from the host's side (its sshd killed: a reset,
/// not silence) and waits for the run to end.
fn reset(host: &str, tb: &Testbed, child: std::process::Child) -> Run {
    let out = tb.exec(host, "pkill -u app -x sshd");
    assert!(out.status.success(), "{host}: pkill: {out:?}");
    Run::finish(child, Instant::now(), Duration::from_secs(60))
}
