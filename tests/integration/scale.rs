//! `deliver scale` and `env set`'s restart on the acceptance shape of `zero_downtime` (three
//! app hosts with web = 2 and a worker, nginx in front as a managed proxy with drain), under
//! GET and POST load through that nginx: no request fails while web goes 2 -> 3, restarts
//! with a new variable and goes 3 -> 1; `status` and the upstream agree at each step; the
//! next deploy applies deliver.toml again and says so. Needs root (the test bed).

use std::process::Output;

use crate::load::{Figures, Load};
use crate::support::{shown, text};
use crate::testbed::Testbed;
use crate::zero_downtime::{
    acceptance_load, managed_proxy, nginx_errors, proxied_app, upstream_servers, ProxiedApp,
    APP_HOSTS, PROXY_HOST,
};

/// Runs `deliver args` under POSTs ([`acceptance_load`]) and GETs (16 connections) through
/// nginx at once; returns deliver's output and both loads' figures.
fn under_get_and_post(
    tb: &Testbed,
    proxied: &ProxiedApp,
    what: &str,
    args: &[&str],
) -> (Output, Figures, Figures) {
    let gets = Load::get(proxied.front, "/").connections(16);
    let ((out, posts), gets) =
        gets.during(|| acceptance_load(proxied.front).during(|| proxied.app.deliver(args)));
    eprintln!(
        "{what}: exit {:?}, POST {posts}; GET {gets}; wall {:.1} s",
        out.status.code(),
        posts.wall.as_secs_f64()
    );
    if posts.failed() + gets.failed() > 0 {
        eprint!("{}{}", text(&out.stdout), nginx_errors(tb));
    }
    (out, posts, gets)
}

/// Per app host, from `status --json`: web's (instances, active, healthy, configured).
fn web_status(proxied: &ProxiedApp) -> Vec<(String, u64, u64, u64, Option<u64>)> {
    let out = proxied.app.ok(&["status", "--json"], 0);
    out.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "host.status")
        .map(|e| {
            let web = e["processes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["type"] == "web")
                .unwrap()
                .clone();
            (
                e["host"].as_str().unwrap().to_owned(),
                web["instances"].as_u64().unwrap(),
                web["active"].as_u64().unwrap(),
                web["healthy"].as_u64().unwrap(),
                web["configured"].as_u64(),
            )
        })
        .collect()
}

/// `status` and the upstream agree: `n` healthy web instances on every app host, `n` x 3
/// servers in the upstream, none down.
fn agree(tb: &Testbed, proxied: &ProxiedApp, n: u64, configured: Option<u64>) {
    let expected: Vec<(String, u64, u64, u64, Option<u64>)> = APP_HOSTS
        .iter()
        .map(|h| ((*h).to_owned(), n, n, n, configured))
        .collect();
    assert_eq!(web_status(proxied), expected);
    let servers = upstream_servers(tb);
    assert_eq!(servers.len() as u64, n * 3, "{servers:#?}");
    assert!(servers.iter().all(|l| !l.contains(" down")), "{servers:#?}");
}

fn events_named(json: &str, name: &str) -> Vec<serde_json::Value> {
    json.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == name)
        .collect()
}

#[test]
fn scale_up_restart_and_scale_down_fail_no_get_or_post_and_status_and_upstream_agree() {
    let tb = Testbed::up_with_proxy_host(4, PROXY_HOST);
    let proxied = proxied_app(&tb, &managed_proxy(true), "mode = \"rolling\"");
    agree(&tb, &proxied, 2, None);

    // --dry-run says what would change and changes nothing.
    let dry = proxied
        .app
        .ok(&["scale", "web=3", "--dry-run", "--json"], 0);
    assert_eq!(events_named(&dry, "formation.changed").len(), 3, "{dry}");
    agree(&tb, &proxied, 2, None);

    // Bad counts: exit 2 before any host changes.
    let out = proxied.app.deliver(&["scale", "wbe=3"]);
    assert_eq!(out.status.code(), Some(2), "{}", shown(&out));
    assert!(text(&out.stderr).contains("`wbe` is no process type"));
    let out = proxied.app.deliver(&["scale", "web=0"]);
    assert_eq!(out.status.code(), Some(2), "{}", shown(&out));

    // 2 -> 3: only the new instance of each host starts; nothing else restarts.
    let (out, posts, gets) =
        under_get_and_post(&tb, &proxied, "scale web=3", &["scale", "web=3", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert_eq!((posts.failed(), gets.failed()), (0, 0), "{posts}; {gets}");
    let json = text(&out.stdout);
    let restarted: Vec<String> = events_named(&json, "instance.restarted")
        .iter()
        .map(|e| e["unit"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(restarted.len(), 3, "{restarted:?}");
    assert!(
        restarted.iter().all(|u| u.contains("web@5002")),
        "{restarted:?}"
    );
    let changed = events_named(&json, "formation.changed");
    assert_eq!(changed.len(), 3, "{json}");
    assert!(changed
        .iter()
        .all(|e| e["from"] == 2 && e["to"] == 3 && e["source"] == "scale"));
    agree(&tb, &proxied, 3, Some(2));

    // env set restarts every instance (drained, in turn) and keeps the scaled count.
    let (out, posts, gets) =
        under_get_and_post(&tb, &proxied, "env set", &["env", "set", "GREETING=hi"]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert_eq!((posts.failed(), gets.failed()), (0, 0), "{posts}; {gets}");
    agree(&tb, &proxied, 3, Some(2));

    // 3 -> 1: the dropped instances leave the upstream, drain, stop.
    let (out, posts, gets) =
        under_get_and_post(&tb, &proxied, "scale web=1", &["scale", "web=1", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert_eq!((posts.failed(), gets.failed()), (0, 0), "{posts}; {gets}");
    let json = text(&out.stdout);
    assert!(
        events_named(&json, "instance.restarted").is_empty(),
        "{json}"
    );
    assert_eq!(events_named(&json, "instance.drained").len(), 6, "{json}");
    agree(&tb, &proxied, 1, Some(2));
    let ps = tb.exec("h1", "pgrep -u app -fc 'node server.js'");
    assert_eq!(text(&ps.stdout).trim(), "1", "one web process left on h1");

    // The next deploy applies deliver.toml again and says so.
    proxied.app.commit("after scaling");
    let out = proxied.app.ok(&[], 0);
    assert!(
        out.contains(
            "h1 | web: 1 -> 2 instances (deliver.toml applies again over `deliver scale`)"
        ),
        "{out}"
    );
    agree(&tb, &proxied, 2, None);
    let history = proxied.app.ok(&["history"], 0);
    assert!(history.contains("scale"), "{history}");
}
