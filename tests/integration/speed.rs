//! A rollout at the boot floor (SPEC §7, "Whatever the mode"), seen on the test bed from the
//! `--json` events and the hosts' own journals: the health gate notices the app's first good
//! answer within 50 ms; hosts that run nothing yet start at once; a host's workers restart
//! with its first web instance and are checked after its last. How long whole runs take is
//! `bench/deploy.sh`'s, not a test's.

use serde_json::Value;

use crate::support::App;
use crate::testbed::Testbed;

/// `--json` stdout as events.
fn events(out: &str) -> Vec<Value> {
    out.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Seconds since the epoch of an event's `ts` (`2026-11-26T04:43:49.123Z`).
fn ts(event: &Value) -> f64 {
    let t = event["ts"].as_str().expect("ts");
    let num = |range: std::ops::Range<usize>| -> i64 { t[range].parse().expect("ts digits") };
    let (y, m, d) = (num(0..4), num(5..7), num(8..10));
    // Days from 1970-01-01 to y-m-d (proleptic Gregorian; H. Hinnant's days_from_civil).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs: f64 = t[17..t.len() - 1].parse().expect("ts seconds");
    #[allow(clippy::cast_precision_loss)]
    let base = (days * 86_400 + num(11..13) * 3600 + num(14..16) * 60) as f64;
    base + secs
}

fn named<'a>(events: &'a [Value], name: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == name).collect()
}

/// When the app on `host` logged `web listening on PORT` (it answers from then on), per
/// port, from the host's journal since `since` (epoch seconds): the last time each port
/// started listening.
fn listening(tb: &Testbed, host: &str, since: f64) -> Vec<(u16, f64)> {
    let out = tb.exec(
        host,
        &format!(
            "journalctl -o short-unix --no-pager --since @{} | grep 'web listening on'",
            since.floor()
        ),
    );
    let mut seen: Vec<(u16, f64)> = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let at: f64 = line.split(' ').next().unwrap().parse().unwrap();
        let port: u16 = line.rsplit(' ').next().unwrap().parse().unwrap();
        if at >= since {
            seen.retain(|(p, _)| *p != port);
            seen.push((port, at));
        }
    }
    seen
}

#[test]
fn the_rollout_waits_only_for_the_apps_boot() {
    let tb = Testbed::up(2);
    let hosts = ["h1", "h2"];
    let app = App::new(&tb, &hosts);
    app.config_env("", &[("BOOT_DELAY_MS", "300")]);
    app.commit("a 0.3 s boot");

    // A first deploy: nothing runs anywhere, so both hosts switch before any instance is up.
    let first = events(&app.ok(&["--json", "deploy"], 0));
    let switched = named(&first, "host.switched");
    let healthy = named(&first, "instance.healthy");
    assert_eq!(switched.len(), 2, "{first:#?}");
    let last_switch = switched.iter().map(|e| ts(e)).fold(0.0, f64::max);
    let first_healthy = healthy.iter().map(|e| ts(e)).fold(f64::MAX, f64::min);
    assert!(
        last_switch < first_healthy,
        "a host waited for another's boot on a first deploy: {first:#?}"
    );

    // A rolling deploy, batch 1: on each host the worker restarts with web@5000 and is
    // checked after web@5001; each web instance is reported healthy within 50 ms of the
    // app's first good answer (its own log line, in the host's journal).
    app.git(&["commit", "-q", "--allow-empty", "-m", "again"]);
    // The hosts share this machine's clock.
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let second = events(&app.ok(&["--json", "deploy"], 0));
    for host in hosts {
        let of_host: Vec<String> = second
            .iter()
            .filter(|e| e["host"] == host)
            .filter_map(|e| match e["event"].as_str()? {
                "instance.restarted" => Some(format!("restarted {}", e["unit"].as_str()?)),
                "instance.healthy" => Some(format!("healthy {}", e["unit"].as_str()?)),
                _ => None,
            })
            .collect();
        assert_eq!(
            of_host,
            [
                "restarted node-app-web@5000.service",
                "restarted node-app-worker@5100.service",
                "healthy node-app-web@5000.service",
                "restarted node-app-web@5001.service",
                "healthy node-app-web@5001.service",
                "healthy node-app-worker@5100.service",
            ],
            "{host}"
        );
        let answered = listening(&tb, host, started - 1.0);
        for port in [5000_u16, 5001] {
            let unit = format!("node-app-web@{port}.service");
            let healthy = second
                .iter()
                .find(|e| {
                    e["event"] == "instance.healthy" && e["host"] == host && e["unit"] == unit
                })
                .map(ts)
                .expect("healthy event");
            let (_, up) = answered
                .iter()
                .find(|(p, _)| *p == port)
                .unwrap_or_else(|| panic!("{host}: no 'web listening on {port}' in the journal"));
            let late = healthy - up;
            eprintln!(
                "{host} {unit}: healthy {:.1} ms after the app began answering",
                late * 1e3
            );
            // journald stamps the line when it reads it, which may be after the probe's
            // answer: only the upper bound is the rule.
            assert!(
                late <= 0.050,
                "{host} {unit}: healthy {late:.3} s after the app began answering (within 50 ms)"
            );
        }
    }
}
