//! `[limits.TYPE]` on real systemd (SPEC §10): instances recycled after `max_lifetime` come
//! back by themselves through `Restart=always`, the instances of one host at different
//! moments, while GETs through nginx see no failure; `status` shows what systemd did.
//! Needs root (the test bed).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::load::Load;
use crate::support::{on, shown, text, App, APP};
use crate::testbed::Testbed;

/// The recycles systemd logged on `host`: unit -> the moments (seconds since the epoch) its
/// runtime ran out.
fn recycles(tb: &Testbed, host: &str) -> BTreeMap<String, Vec<f64>> {
    let out = tb.exec(
        host,
        "journalctl --no-pager -o short-unix | grep 'Service reached runtime time limit'",
    );
    let mut units: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for line in text(&out.stdout).lines() {
        // `1763890000.123456 h1 systemd[42]: node-app-web@5000.service: Service reached ...`
        let mut words = line.split_whitespace();
        let at: f64 = words.next().and_then(|w| w.parse().ok()).unwrap();
        let unit = words
            .find(|w| w.ends_with(".service:"))
            .unwrap_or_else(|| panic!("no unit in {line}"));
        units
            .entry(unit.trim_end_matches(':').to_owned())
            .or_default()
            .push(at);
    }
    units
}

#[test]
fn instances_past_max_lifetime_recycle_apart_while_gets_through_nginx_all_succeed() {
    let tb = Testbed::up(2);
    let hosts = ["h1", "h2"];
    let app = App::new(&tb, &hosts);
    app.config("[limits.web]\nmax_lifetime = \"3s\"");
    let path = app.path().join("deliver.toml");
    let toml = std::fs::read_to_string(&path)
        .unwrap()
        .replace("web = 2\nworker = 1", "web = 5\nworker = 0");
    std::fs::write(&path, toml).unwrap();
    app.commit("web recycled after 3 s");
    app.ok(&[], 0);
    let unit = on(
        &tb,
        "h1",
        "cat ~/.config/systemd/user/node-app-web@.service",
    );
    assert!(
        unit.contains("\nRuntimeMaxSec=3s\nRuntimeRandomizedExtraSec=3s\n"),
        "{unit}"
    );

    // nginx on this machine in front of the 10 instances. A recycle takes an instance out for
    // RestartSec (1 s) plus its boot every 3 to 6 s here (every 30 minutes or so in real
    // use): nginx's own fail_timeout would take each one out 2 s more at every recycle, so
    // this upstream leaves the retry to proxy_next_upstream alone (max_fails=0).
    let servers: String = hosts
        .iter()
        .flat_map(|h| (5000..5005).map(move |p| format!("    server {h}:{p} max_fails=0;\n")))
        .collect();
    let upstream = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        upstream.path(),
        format!("upstream {APP} {{\n{servers}    keepalive 32;\n}}\n"),
    )
    .unwrap();
    tb.proxy(8080, [upstream.path()]);
    let front = "127.0.0.1:8080".parse().unwrap();

    let load = Load::get(front, "/").connections(4);
    let figures = load.run_for(Duration::from_secs(8));
    assert!(figures.ok > 100, "{figures}");
    assert_eq!(figures.failed(), 0, "{figures}");

    for host in hosts {
        let seen = recycles(&tb, host);
        assert_eq!(
            seen.len(),
            5,
            "{host}: every web instance recycled by itself: {seen:?}"
        );
        // The instances of a host do not all recycle at one moment (they all started at the
        // same moment, at the deploy). systemd may stop two together: it coalesces timers
        // that fall within 250 ms (sd-event's default accuracy), so count the moments as
        // clusters more than 0.2 s apart.
        let mut moments: Vec<f64> = seen.values().flatten().copied().collect();
        moments.sort_by(f64::total_cmp);
        let clusters = 1 + moments.windows(2).filter(|w| w[1] - w[0] > 0.2).count();
        let apart = clusters >= 2;
        assert!(apart, "{host}: the instances recycled together: {seen:?}");
        let active = on(
            &tb,
            host,
            "systemctl --user list-units --plain --no-legend 'node-app-web@*' | wc -l",
        );
        assert_eq!(active, "5", "{host}: every instance is back");
    }

    let out = app.deliver(&["status"]);
    let status = text(&out.stdout);
    assert!(
        status.contains("node-app-web@5000.service restarted by systemd"),
        "{}",
        shown(&out)
    );
}
