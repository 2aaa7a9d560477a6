//! The proxy host (nginx on h4, managed through `[proxy] hosts`) goes silent, its link down,
//! in the middle of a rollout: while an instance drains in `rolling`, or while a `surge`
//! batch boots its new bank before the flip. deliver is bounded by the keepalives, names
//! the proxy host and the step, exits with the code SPEC §7 gives, releases every lock it
//! can reach, and every app host still answers on every port the proxy's upstream lists.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::{
    assert_no_half_made_release, assert_no_lock, spawn, wait_for_switch, wait_until, Run, Unlinked,
};
use crate::support::{on, text, APP};
use crate::testbed::Testbed;
use crate::zero_downtime::{managed_proxy, proxied_app, upstream_servers, APP_HOSTS, PROXY_HOST};

/// After the run, with the proxy host's link up again: no lock on any app host; each app
/// host's `current` is one of `shas` and every release dir complete; and every server the
/// proxy's upstream lists as serving answers with one of `shas` (asked from the proxy host).
fn assert_app_hosts_serve(tb: &Testbed, shas: &[&str]) {
    for host in APP_HOSTS {
        assert_no_lock(tb, host);
        let revision = on(tb, host, &format!("cat {APP}/current/REVISION"));
        assert!(
            shas.contains(&revision.as_str()),
            "{host}: `current` is {revision}"
        );
        assert_no_half_made_release(tb, host);
    }
    let servers = upstream_servers(tb);
    assert!(!servers.is_empty(), "no upstream on {PROXY_HOST}");
    for server in servers.iter().filter(|s| !s.contains(" down")) {
        let address = server
            .trim_start_matches("server ")
            .split([' ', ';'])
            .next()
            .unwrap_or_default();
        let out = tb.exec(
            PROXY_HOST,
            &format!("curl -s --max-time 2 http://{address}/"),
        );
        let body = text(&out.stdout);
        assert!(
            shas.iter()
                .any(|sha| body.contains(&format!("revision={}", &sha[..7]))),
            "{address}, listed as serving on {PROXY_HOST}, answers {body:?}\n{servers:#?}"
        );
    }
}

#[test]
fn the_proxy_host_gone_silent_during_a_drain_is_named_and_the_app_hosts_keep_serving() {
    let tb = Testbed::up_with_proxy_host(4, PROXY_HOST);
    let proxied = proxied_app(&tb, &managed_proxy(true), "mode = \"rolling\"");
    let first = proxied.app.git(&["rev-parse", "HEAD"]);
    let next = proxied
        .app
        .commit("a release rolled while the proxy goes silent");
    // A client of h1's first web instance: its drain lasts until this connection closes.
    let client = TcpStream::connect((tb.addr("h1").as_str(), 5000)).expect("connect h1:5000");
    let child = spawn(&proxied.app, &[]);
    wait_until("h1:5000 marked down", Duration::from_secs(30), || {
        upstream_servers(&tb).iter().any(|s| s.contains(" down"))
    });
    let down = Unlinked::now(PROXY_HOST);
    let t = Instant::now();
    drop(client);
    Run::finish(child, t, Duration::from_secs(60)).expect(
        "proxy silent during a drain",
        5,
        Duration::from_secs(25),
        PROXY_HOST,
        &["no answer"],
    );
    drop(down);
    assert_app_hosts_serve(&tb, &[&first, &next]);
}

#[test]
fn the_proxy_host_gone_silent_before_a_surge_flip_is_named_and_the_app_hosts_keep_serving() {
    let tb = Testbed::up_with_proxy_host(4, PROXY_HOST);
    let proxied = proxied_app(&tb, &managed_proxy(true), "");
    let first = proxied.app.git(&["rev-parse", "HEAD"]);
    // The new bank boots in 2 s: the proxy goes silent while h1's boots, before its flip.
    proxied.app.config_with(
        &managed_proxy(true),
        &[("BOOT_DELAY_MS", "2000"), ("REQUEST_DELAY_MS", "5")],
        "",
    );
    let next = proxied
        .app
        .commit("a release surged while the proxy goes silent");
    let child = spawn(&proxied.app, &[]);
    wait_for_switch(&tb, "h1", &next);
    let down = Unlinked::now(PROXY_HOST);
    Run::finish(child, Instant::now(), Duration::from_secs(60)).expect(
        "proxy silent before a surge flip",
        5,
        Duration::from_secs(25),
        PROXY_HOST,
        &["no answer"],
    );
    drop(down);
    assert_app_hosts_serve(&tb, &[&first, &next]);
}
