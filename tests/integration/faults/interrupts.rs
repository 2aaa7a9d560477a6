//! SIGINT and SIGTERM in each phase of a deploy that `signals` does not cover: waiting in
//! line for a lock (holding another host's), the push, the build hooks (silent, or printing
//! all along), and the last round trip (prune, log, unlock). Each signal is acted on within
//! about a second: nothing had switched, so exit 1 (or 0 once every host is deployed); no
//! lock, no release dir and no hook of the run is left, and `current` still serves.

use std::time::{Duration, Instant};

use super::{
    app_with_a_slow_next_build, assert_serves, commit_random, edit, lock_and_releases, signal,
    spawn, wait_for_process, wait_until, Run, Throttled,
};
use crate::support::{deploy_holding_the_lock_with, on, App, APP};
use crate::testbed::Testbed;

/// How soon after the signal deliver must have exited: a second to give up on a host that
/// says nothing, and the cleanup's round trips.
const PROMPT: Duration = Duration::from_millis(2500);

const SIGNALS: [&str; 2] = ["INT", "TERM"];

#[test]
fn a_signal_while_waiting_in_line_for_a_lock_exits_1_releasing_the_lock_it_held() {
    let tb = Testbed::up(2);
    let app = App::with_fresh(&tb, &["h1", "h2"], &["h2"]);
    app.ok(&[], 0);
    let first = app.git(&["rev-parse", "HEAD"]);
    let before = lock_and_releases(&tb, "h1");
    // Another deploy (environment `fresh`: h2 alone) holds h2's lock while it builds.
    let holder = deploy_holding_the_lock_with(&tb, &app, &["fresh"], "h2", 12);
    let next = app.git(&["rev-parse", "HEAD"]);
    let held = on(&tb, "h2", &format!("cat {APP}/.deliver/lock/holder.json"));
    for sig in SIGNALS {
        let child = spawn(&app, &["deploy", "--lock-wait", "60s"]);
        // The first host's lock is taken alone, then the run waits in line at h2's.
        let pid = format!("\"pid\":{}", child.id());
        wait_until(
            "h1 locked by the waiting run",
            Duration::from_secs(10),
            || {
                on(
                    &tb,
                    "h1",
                    &format!("cat {APP}/.deliver/lock/holder.json 2>/dev/null || true"),
                )
                .contains(&pid)
            },
        );
        std::thread::sleep(Duration::from_millis(700));
        signal(&child, sig);
        Run::finish(child, Instant::now(), Duration::from_secs(30)).expect(
            &format!("SIG{sig} waiting in line"),
            1,
            PROMPT,
            "h2",
            &["FAILED in lock", "interrupted"],
        );
        assert_eq!(lock_and_releases(&tb, "h1"), before, "h1");
        let still = on(&tb, "h2", &format!("cat {APP}/.deliver/lock/holder.json"));
        assert_eq!(still, held, "h2: the holder's lock is untouched");
    }
    let out = holder.wait_with_output().expect("the holder");
    assert_eq!(out.status.code(), Some(0), "the holder's deploy");
    assert_serves(&tb, "h1", &first);
    assert_serves(&tb, "h2", &next);
}

#[test]
fn a_signal_during_the_push_is_acted_on_within_a_second_and_leaves_no_trace() {
    let tb = Testbed::up(2);
    let app = App::new(&tb, &["h1", "h2"]);
    app.ok(&[], 0);
    let first = app.git(&["rev-parse", "HEAD"]);
    let before = [lock_and_releases(&tb, "h1"), lock_and_releases(&tb, "h2")];
    // 2 MB that do not compress, at 4 Mbit/s: a push to h1 of about 4 s.
    let _slow = Throttled::now("h1", "4mbit");
    for sig in SIGNALS {
        commit_random(&app, &format!("blob-{sig}.bin"), 2 << 20);
        let child = spawn(&app, &[]);
        wait_for_process(
            &tb,
            "h1",
            &format!("git --git-dir=[^ ]*{APP}/repo.git unpack-objects"),
        );
        signal(&child, sig);
        Run::finish(child, Instant::now(), Duration::from_secs(30)).expect(
            &format!("SIG{sig} during the push"),
            1,
            PROMPT,
            "h1",
            &["FAILED in push", "interrupted"],
        );
        for (host, before) in ["h1", "h2"].into_iter().zip(&before) {
            assert_eq!(&lock_and_releases(&tb, host), before, "{host}");
            assert_serves(&tb, host, &first);
        }
    }
}

/// A hook that prints a line every 100 ms for 4 s: a host that keeps talking.
const CHATTY: &str = "for i in $(seq 40); do echo tick $i; sleep 0.1; done";

#[test]
fn a_signal_during_the_build_hooks_is_acted_on_at_once_and_stops_them() {
    let tb = Testbed::up(2);
    let (app, first, _) = app_with_a_slow_next_build(&tb, &["h1", "h2"], 4);
    let before = [lock_and_releases(&tb, "h1"), lock_and_releases(&tb, "h2")];
    // A silent hook under each signal, then one that keeps printing.
    let cases = [("INT", "sleep 4"), ("TERM", "sleep 4"), ("INT", CHATTY)];
    for (sig, hook) in cases {
        if hook == CHATTY {
            edit(&app, "deliver.toml", "\"sleep 4\"", &format!("{CHATTY:?}"));
            app.commit("a build that keeps talking");
        }
        let child = spawn(&app, &[]);
        let pattern = if hook == CHATTY { "sh -c for i" } else { hook };
        wait_for_process(&tb, "h2", pattern);
        signal(&child, sig);
        Run::finish(child, Instant::now(), Duration::from_secs(30)).expect(
            &format!("SIG{sig} during the build ({hook})"),
            1,
            PROMPT,
            "h2",
            &["FAILED in build", "interrupted"],
        );
        for (host, before) in ["h1", "h2"].into_iter().zip(&before) {
            assert_eq!(&lock_and_releases(&tb, host), before, "{host}");
            assert_serves(&tb, host, &first);
        }
        // The hooks are stopped on the hosts, and leave nothing behind.
        for host in ["h1", "h2"] {
            wait_until(
                &format!("{host}: the hook ended"),
                Duration::from_secs(2),
                || {
                    on(
                        &tb,
                        host,
                        "pgrep -u app -f '^(sleep|sh -c for i)' >/dev/null || echo gone",
                    ) == "gone"
                },
            );
        }
        for (host, before) in ["h1", "h2"].into_iter().zip(&before) {
            assert_eq!(&lock_and_releases(&tb, host), before, "{host}, later");
        }
    }
}

/// Fills the oldest release on `host` with `files` empty files: pruning it then takes a
/// while.
fn inflate_oldest_release(tb: &Testbed, host: &str, files: u32) {
    let out = tb.ssh(
        host,
        &format!(
            "set -e; d={APP}/releases/$(ls {APP}/releases | head -n 1)/junk; mkdir \"$d\"; \
             cd \"$d\"; seq 1 {files} | xargs touch"
        ),
    );
    assert!(out.status.success(), "{host}: inflate: {out:?}");
}

#[test]
fn a_signal_during_the_prune_lets_the_deploy_finish_and_leaves_no_lock() {
    let tb = Testbed::up(2);
    let app = App::new(&tb, &["h1", "h2"]);
    // keep_releases = 3: the fourth deploy prunes the first release, the fifth the second.
    for n in 0..3 {
        app.commit(&format!("release {n}"));
        app.ok(&["deploy", "--force"], 0);
    }
    for sig in SIGNALS {
        inflate_oldest_release(&tb, "h1", 150_000);
        let next = app.commit(&format!("a release whose deploy prunes a big one ({sig})"));
        let child = spawn(&app, &[]);
        wait_for_process(&tb, "h1", "(chmod -R u.w|rm -rf) [^ ]*releases/");
        signal(&child, sig);
        // Every host runs the new release by then: nothing to revert, the run ends done.
        Run::finish(child, Instant::now(), Duration::from_secs(30)).expect(
            &format!("SIG{sig} during the prune"),
            0,
            PROMPT,
            "h1",
            &["deployed"],
        );
        for host in ["h1", "h2"] {
            assert_serves(&tb, host, &next);
            let (_, releases) = lock_and_releases(&tb, host);
            assert_eq!(releases.lines().count(), 3, "{host}: {releases}");
        }
    }
}
