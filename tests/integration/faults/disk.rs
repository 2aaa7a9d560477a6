//! A full disk on one host: its releases directory full when the commit is checked out, or
//! its whole `deploy_to` full (no room for the lock's holder file; or room for that, not for
//! the pushed objects). Each fails the run before anything
//! switched (exit 1) naming the host and the step; every host keeps its lock-free state and
//! its `current`; once there is room again, the next deploy goes through.

use std::time::Duration;

use super::{assert_serves, commit_random, fill_disk, free_disk, lock_and_releases, Run};
use crate::support::{App, APP};
use crate::testbed::Testbed;

#[test]
fn a_full_releases_dir_fails_the_checkout_naming_the_host_and_leaves_no_trace() {
    let tb = Testbed::up(2);
    let app = App::new(&tb, &["h1", "h2"]);
    app.ok(&[], 0);
    let first = app.git(&["rev-parse", "HEAD"]);
    let before = [lock_and_releases(&tb, "h1"), lock_and_releases(&tb, "h2")];
    let releases = format!("{APP}/releases");
    fill_disk(&tb, "h2", &releases, 0);
    app.commit("a release that finds no room on h2");
    Run::deliver(&app, Duration::from_secs(60)).expect(
        "disk full during checkout",
        1,
        Duration::from_secs(10),
        "h2",
        &["FAILED in build", "No space left on device"],
    );
    for (host, before) in ["h1", "h2"].into_iter().zip(&before) {
        assert_eq!(&lock_and_releases(&tb, host), before, "{host}");
        assert_serves(&tb, host, &first);
    }
    free_disk(&tb, "h2", &releases);
    app.ok(&[], 0);
    let next = app.git(&["rev-parse", "HEAD"]);
    for host in ["h1", "h2"] {
        assert_serves(&tb, host, &next);
    }
}

#[test]
fn a_full_deploy_to_fails_the_lock_or_the_push_naming_the_host_and_leaves_no_lock() {
    let tb = Testbed::up(2);
    let app = App::new(&tb, &["h1", "h2"]);
    app.ok(&[], 0);
    let first = app.git(&["rev-parse", "HEAD"]);
    let before = [lock_and_releases(&tb, "h1"), lock_and_releases(&tb, "h2")];
    // The repo, the releases, the lock and the log all on one filesystem. Quite full: the
    // lock's holder file finds no room.
    fill_disk(&tb, "h2", APP, 0);
    app.commit("a commit that finds no room on h2");
    Run::deliver(&app, Duration::from_secs(60)).expect(
        "disk full at the lock",
        1,
        Duration::from_secs(10),
        "h2",
        &["FAILED in lock", "No space left on device"],
    );
    for (host, before) in ["h1", "h2"].into_iter().zip(&before) {
        assert_eq!(&lock_and_releases(&tb, host), before, "{host}");
        assert_serves(&tb, host, &first);
    }
    // Room for the lock and the log, not for the commit's objects.
    free_disk(&tb, "h2", APP);
    fill_disk(&tb, "h2", APP, 256);
    commit_random(&app, "big.bin", 1 << 20);
    Run::deliver(&app, Duration::from_secs(60)).expect(
        "disk full during push",
        1,
        Duration::from_secs(10),
        "h2",
        &["FAILED in push", "No space left on device"],
    );
    for (host, before) in ["h1", "h2"].into_iter().zip(&before) {
        assert_eq!(&lock_and_releases(&tb, host), before, "{host}");
        assert_serves(&tb, host, &first);
    }
    free_disk(&tb, "h2", APP);
    app.ok(&[], 0);
    let next = app.git(&["rev-parse", "HEAD"]);
    for host in ["h1", "h2"] {
        assert_serves(&tb, host, &next);
    }
}
