//! `[limits.TYPE]` on real systemd (SPEC §10): instances recycled after `max_lifetime` come
//! back by themselves through `Restart=always`, the instances of one host at different
//! moments, while GETs through nginx see no failure; an instance that outgrows `memory_max`
//! is killed by the kernel and restarted; `status` shows what systemd did. Needs root (the
//! test bed).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

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

    // status counts the recycles, and reads how the last run ended from app's own journal.
    let out = app.deliver(&["status"]);
    let status = text(&out.stdout);
    assert!(
        status.lines().any(
            |l| l.contains("node-app-web@5000.service restarted by systemd")
                && l.ends_with(", last stop: timeout")
        ),
        "{}",
        shown(&out)
    );
}

/// The kernel's OOM-kill reports (this machine's kernel log, where the hosts' kills land
/// too) logged after `since` (seconds since boot, as `/proc/uptime` has it).
fn oom_kills_since(since: f64) -> Vec<String> {
    let out = std::process::Command::new("dmesg")
        .output()
        .expect("run dmesg");
    assert!(out.status.success(), "dmesg: {}", shown(&out));
    text(&out.stdout)
        .lines()
        .filter(|l| l.contains("oom-kill:constraint=CONSTRAINT_MEMCG"))
        .filter(|l| {
            // `[19548.241163] oom-kill:...`
            l.trim_start_matches('[')
                .split(']')
                .next()
                .and_then(|t| t.trim().parse::<f64>().ok())
                .is_some_and(|t| t >= since)
        })
        .map(str::to_owned)
        .collect()
}

fn uptime() -> f64 {
    let up = std::fs::read_to_string("/proc/uptime").unwrap();
    up.split_whitespace().next().unwrap().parse().unwrap()
}

/// Deploys one web instance, a system unit with `memory_max = "64M"`, to h1, after what the
/// admin does once: the sudo rules `deliver setup` prints, and the journal for the SSH user
/// (system units log to the system journal).
fn deploy_web_limited_to_64m(tb: &Testbed) -> App {
    let app = App::new(tb, &["h1"]);
    app.config("supervisor = \"systemd\"\n[limits.web]\nmemory_max = \"64M\"");
    let path = app.path().join("deliver.toml");
    let toml = std::fs::read_to_string(&path)
        .unwrap()
        .replace("web = 2\nworker = 1", "web = 1\nworker = 0");
    std::fs::write(&path, toml).unwrap();
    app.commit("web limited to 64M");
    let out = app.deliver(&["setup"]);
    let rules = crate::units::printed_rules(&text(&out.stdout), "h1");
    let install = format!(
        "cat >/etc/sudoers.d/app <<'EOF'\n{rules}EOF\nchmod 440 /etc/sudoers.d/app && \
         visudo -cqf /etc/sudoers.d/app && usermod -aG systemd-journal app"
    );
    let out = tb.exec("h1", &install);
    assert!(out.status.success(), "{}", shown(&out));
    app.ok(&["setup"], 0);
    app.ok(&[], 0);
    app
}

#[test]
fn an_instance_past_memory_max_is_killed_by_the_kernel_restarted_and_status_says_so() {
    // Hosts whose systemd has the memory controller (cgroup v1 here: see
    // tests/testbed/README.md), as system units: on cgroup v1 the user manager gets no
    // memory controller of its own.
    let tb = Testbed::up_with_cgroup_v1(1);
    let app = deploy_web_limited_to_64m(&tb);

    let unit = format!("{APP}-web@5000.service");
    let unit_file = on(
        &tb,
        "h1",
        &format!("cat /etc/systemd/system/{APP}-web@.service"),
    );
    assert!(unit_file.contains("\nMemoryMax=64M\n"), "{unit_file}");
    // systemd holds the limit, and the kernel enforces it on the instance's own cgroup.
    let show = |props: &str| on(&tb, "h1", &format!("systemctl show -p {props} {unit}"));
    assert_eq!(show("MemoryMax"), "MemoryMax=67108864");
    let limit = text(
        &tb.exec(
            "h1",
            &format!(
                "cat \"/sys/fs/cgroup/memory$(systemctl show -P ControlGroup {unit})/memory.limit_in_bytes\""
            ),
        )
        .stdout,
    );
    assert_eq!(limit.trim(), "67108864");
    let before = show("MainPID -p NRestarts");
    assert!(before.ends_with("NRestarts=0"), "{before}");

    // A leak: the instance takes 200 MB more. The kernel kills it; systemd starts it again.
    let t0 = uptime();
    let grown = on(
        &tb,
        "h1",
        "curl -s --max-time 10 localhost:5000/grow?mb=200; echo \" curl=$?\"",
    );
    assert!(!grown.contains("keeps"), "it kept 200 MB past 64M: {grown}");
    let start = Instant::now();
    let after = loop {
        let now = show("MainPID -p NRestarts -p ActiveState");
        if now.contains("NRestarts=1") && now.contains("ActiveState=active") {
            break now;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "not restarted: {now}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let pid = |s: &str| {
        s.lines()
            .find(|l| l.starts_with("MainPID="))
            .unwrap()
            .to_owned()
    };
    assert_ne!(
        pid(&after),
        pid(&before),
        "a new process: {before} / {after}"
    );
    assert_eq!(
        on(&tb, "h1", "curl -s --max-time 5 localhost:5000/health"),
        "ok"
    );

    // The kernel's word: its OOM killer, constrained to that instance's cgroup in h1.
    let kills = oom_kills_since(t0);
    let cgroup = format!(
        "oom_memcg=/deliver-testbed/h1/system.slice/system-node\\x2dapp\\x2dweb.slice/{unit},"
    );
    assert!(
        kills
            .iter()
            .any(|k| k.contains(&cgroup) && k.contains("task=node,")),
        "no OOM kill of {cgroup} in {kills:#?}"
    );
    // systemd's: it saw its main process killed, and restarted it.
    let journal = text(
        &tb.exec("h1", &format!("journalctl -u {unit} -o cat --no-pager"))
            .stdout,
    );
    for line in [
        format!("{unit}: Main process exited, code=killed, status=9/KILL"),
        format!("{unit}: Scheduled restart job, restart counter is at 1."),
    ] {
        assert!(
            journal.lines().any(|l| l == line),
            "{line:?} not in\n{journal}"
        );
    }

    status_says_restarted_by_a_sigkill(&app, &unit);
}

/// `status`, plain and `--json`, names the one restart of `unit` and how its run ended.
fn status_says_restarted_by_a_sigkill(app: &App, unit: &str) {
    // deliver's: status names the restart and how the run ended (cgroup v1: systemd sees a
    // SIGKILL, `signal`; on cgroup v2 it says `oom-kill`).
    let out = app.deliver(&["status"]);
    let want =
        format!("h1 |   {unit} restarted by systemd 1 time, last stop: signal (killed by SIGKILL)");
    assert!(
        text(&out.stdout).lines().any(|l| l == want),
        "{want:?} not in\n{}",
        shown(&out)
    );
    let json = app.ok(&["--json", "status"], 0);
    let status: serde_json::Value = json
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["event"] == "host.status")
        .unwrap_or_else(|| panic!("no host.status in {json}"));
    let web = &status["processes"][0]["units"][0];
    assert_eq!(web["unit"], unit, "{status}");
    assert_eq!(web["restarts"], 1, "{status}");
    assert_eq!(web["last_result"], "signal", "{status}");
    assert_eq!(web["last_exit"], "killed by SIGKILL", "{status}");
    assert_eq!(web["healthy"], true, "{status}");
}
