#!/usr/bin/env python3
"""bench/events.py: the numbers bench/deploy.sh takes from deliver's `--json` events.

  events.py metrics EVENTS.jsonl   key=value lines for one run (phases, push sizes, per host)
  events.py hosts EVENTS.jsonl     per host, seconds after deploy.start of each step
  events.py table SAMPLES.tsv      min / median / max of every metric (SAMPLES: metric TAB value)
  events.py floor APP JOURNAL...   the boot floor of one run, from each host's journal since it
                                   began (`journalctl -o short-unix`, one file per host): the time
                                   during which at least one web instance was between systemd's
                                   "Started APP-web@PORT" and the app's "web listening on PORT".
                                   Instances booting one after another add up; instances booting
                                   together (a first deploy, a batch of hosts) count once.
  events.py watch OUT.jsonl CPU.txt N CMD...
                                   runs CMD (deliver --json ...), copying its stdout to
                                   OUT.jsonl; writes to CPU.txt the CPU time used during the
                                   prepare phase (deploy.start -> the Nth host.built): by the
                                   whole machine (/proc/stat), by the test bed's hosts (their
                                   cgroup's cpu.stat) and by deliver; exits with CMD's status

Phases, from each event's `ts` (RFC 3339, ms):
  prepare    deploy.start -> the last host.built (connect, push, checkout, hooks: in parallel)
  connected  deploy.start -> the last host.connected
  pushed     deploy.start -> the last host.pushed (connected + reading each host's state + push)
  switch   the last host.built -> deploy.done (the rolling, health-gated part)
"""
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime


def ts(e):
    return datetime.fromisoformat(e["ts"].replace("Z", "+00:00")).timestamp()


def load(path):
    return [json.loads(line) for line in open(path) if line.strip()]


def first(events, name):
    return next((e for e in events if e["event"] == name), None)


def last_ts(events, name):
    times = [ts(e) for e in events if e["event"] == name]
    return max(times) if times else None


def metrics(path):
    events = load(path)
    start = first(events, "deploy.start")
    out = {}
    outcome = next(
        (e["event"].split(".")[1] for e in events
         if e["event"] in ("deploy.done", "deploy.noop", "deploy.failed")),
        "none",
    )
    out["outcome"] = outcome
    if start is None:
        return out
    t0 = ts(start)
    out["hosts"] = len(start.get("hosts", []))
    connected = last_ts(events, "host.connected")
    if connected is not None:
        out["connected_s"] = f"{connected - t0:.3f}"
    pushed_at = last_ts(events, "host.pushed")
    if pushed_at is not None:
        out["pushed_s"] = f"{pushed_at - t0:.3f}"
    built = last_ts(events, "host.built")
    if built is not None:
        out["prepare_s"] = f"{built - t0:.3f}"
        done = last_ts(events, "deploy.done")
        if done is not None:
            out["switch_s"] = f"{done - built:.3f}"
    # `-v`: one host.script per remote command (script, push, upload): the round trips, per
    # host. Health GETs are not commands; they are counted apart (instance.healthy).
    trips = {}
    for e in events:
        if e["event"] == "host.script":
            trips[e["host"]] = trips.get(e["host"], 0) + 1
    if trips:
        out["trips_min"] = min(trips.values())
        out["trips_max"] = max(trips.values())
    pushed = [e for e in events if e["event"] == "host.pushed"]
    if pushed:
        objects = {e["objects"] for e in pushed}
        sizes = {e["bytes"] for e in pushed}
        # Every host gets the same objects when they all ran the same release before.
        out["push_objects"] = max(objects)
        out["push_bytes"] = max(sizes)
        out["push_same_on_all"] = int(len(objects) == 1 and len(sizes) == 1)
        out["push_ms_max"] = max(e["ms"] for e in pushed)
    builds = [e["ms"] for e in events if e["event"] == "host.built"]
    if builds:
        out["build_ms_min"] = min(builds)
        out["build_ms_max"] = max(builds)
    conns = [e["ms"] for e in events if e["event"] == "host.connected"]
    if conns:
        out["connect_ms_max"] = max(conns)
    done = first(events, "deploy.done")
    if done is not None:
        out["done_ms"] = done["ms"]
    return out


def hosts(path):
    """Per host, seconds after deploy.start at which each step ended."""
    events = load(path)
    start = first(events, "deploy.start")
    if start is None:
        return
    t0 = ts(start)
    cols = ["host.connected", "host.pushed", "host.built", "host.switched", "instance.healthy"]
    rows = {}
    for e in events:
        h = e.get("host")
        if h and e["event"] in cols:
            # the last instance.healthy of a host = when its rollout ended
            rows.setdefault(h, {})[e["event"]] = ts(e) - t0
    print("  host  " + "".join(f"{c.split('.')[1]:>10}" for c in cols[:-1]) + "  last-healthy")
    for h in sorted(rows, key=lambda h: (len(h), h)):
        cells = "".join(
            f"{rows[h][c]:>10.2f}" if c in rows[h] else f"{'-':>10}" for c in cols
        )
        print(f"  {h:<5}{cells}")


def table(path):
    """One row per command and server count: min / median / max of wall time and of the
    prepare phase, medians of the other figures, the range of SSH connections per host."""
    samples = {}
    order = []
    for line in open(path):
        if not line.strip():
            continue
        key, value = line.rstrip("\n").split("\t")
        tag, metric = key.rsplit(".", 1) if key.count(".") == 2 else (key, "")
        if tag not in samples:
            order.append(tag)
            samples[tag] = {}
        samples[tag].setdefault(metric, []).append(float(value))

    def mmm(v):
        return "/".join(fmt(x) for x in (min(v), statistics.median(v), max(v))) if v else "-"

    def span(lo, hi):
        if not lo:
            return "-"
        a, b = min(lo), max(hi)
        return fmt(a) if a == b else f"{fmt(a)}..{fmt(b)}"

    def med(v):
        return fmt(statistics.median(v)) if v else "-"

    head = ["command", "runs", "wall s min/med/max", "prepare s min/med/max", "connected",
            "pushed", "switch s", "prep busy cores", "prep CPU s hosts", "RSS MB max",
            "pushed obj", "pushed B", "ssh/host", "trips/host", "floor s", "over floor s"]
    rows = [head]
    for tag in order:
        m = samples[tag]
        ssh = m.get("ssh_per_host", [])
        rows.append([
            tag, str(len(m.get("wall_s", []))), mmm(m.get("wall_s")), mmm(m.get("prepare_s")),
            med(m.get("connected_s")), med(m.get("pushed_s")), med(m.get("switch_s")),
            med(m.get("prepare_busy_cores")), med(m.get("prepare_hosts_cpu_s")),
            fmt(max(m["rss_mb"])) if m.get("rss_mb") else "-",
            med(m.get("push_objects")), med(m.get("push_bytes")),
            (fmt(min(ssh)) if min(ssh) == max(ssh) else f"{fmt(min(ssh))}..{fmt(max(ssh))}")
            if ssh else "-",
            span(m.get("trips_min"), m.get("trips_max")),
            med(m.get("floor_s")), med(m.get("over_floor_s")),
        ])
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for r in rows:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(r, widths))).rstrip())


def floor(app, paths):
    """The boot floor (seconds) and the boots it is made of, from the hosts' journals."""
    import re
    started = re.compile(r"Started " + re.escape(app) + r"-web@(\d+)\.service")
    listening = re.compile(r"web listening on (\d+)")
    spans = []
    for path in paths:
        open_at = {}
        for line in open(path, errors="replace"):
            parts = line.split(" ", 1)
            try:
                t = float(parts[0])
            except ValueError:
                continue
            m = started.search(line)
            if m:
                open_at[m.group(1)] = t
                continue
            m = listening.search(line)
            if m and m.group(1) in open_at:
                spans.append((open_at.pop(m.group(1)), t))
    total, end = 0.0, None
    for a, b in sorted(spans):
        if end is None or a >= end:
            total += b - a
            end = b
        elif b > end:
            total += b - end
            end = b
    boots = sorted(b - a for a, b in spans)
    return total, boots


def fmt(x):
    if x == int(x):
        return f"{x:.0f}"
    return f"{x:.1f}" if abs(x) >= 10 else f"{x:.3f}"


def machine_busy():
    """CPU seconds the whole machine spent not idle, since boot."""
    fields = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def hosts_cpu():
    """CPU seconds used by the test bed's cgroup (every host, nginx), since it was made."""
    for root in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
        try:
            for line in open(f"{root}/deliver-testbed/cpu.stat"):
                if line.startswith("usage_usec"):
                    return int(line.split()[1]) / 1e6
        except OSError:
            continue
    return float("nan")


def tree_cpu(pid):
    """CPU seconds of pid and its live descendants (deliver under /usr/bin/time)."""
    total = 0.0
    try:
        stat = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        total += (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
        for task in os.listdir(f"/proc/{pid}/task"):
            for child in open(f"/proc/{pid}/task/{task}/children").read().split():
                total += tree_cpu(int(child))
    except OSError:
        pass
    return total


def watch(out, cpu_out, n, cmd):
    began = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    snaps = []
    built = 0
    with open(out, "wb") as f:
        for line in proc.stdout:
            f.write(line)
            try:
                name = json.loads(line).get("event")
            except ValueError:
                continue
            if name == "host.built":
                built += 1
            if name == "deploy.start" or (name == "host.built" and built == n):
                snaps.append((time.monotonic(), machine_busy(), hosts_cpu(), tree_cpu(proc.pid)))
    rc = proc.wait()
    wall = time.monotonic() - began
    with open(cpu_out, "w") as f:
        f.write(f"wall_s={wall:.3f}\n")
        if len(snaps) == 2:
            (t0, m0, h0, d0), (t1, m1, h1, d1) = snaps
            f.write(f"prepare_wall_s={t1 - t0:.3f}\n")
            f.write(f"prepare_machine_cpu_s={m1 - m0:.3f}\n")
            f.write(f"prepare_busy_cores={(m1 - m0) / max(t1 - t0, 1e-9):.2f}\n")
            f.write(f"prepare_hosts_cpu_s={h1 - h0:.3f}\n")
            f.write(f"prepare_deliver_cpu_s={d1 - d0:.3f}\n")
    sys.exit(rc)


if __name__ == "__main__":
    cmd, path = sys.argv[1], sys.argv[2]
    if cmd == "watch":
        watch(path, sys.argv[3], int(sys.argv[4]), sys.argv[5:])
    elif cmd == "metrics":
        for k, v in metrics(path).items():
            print(f"{k}={v}")
    elif cmd == "floor":
        total, boots = floor(path, sys.argv[3:])
        print(f"floor_s={total:.3f}")
        print(f"boots={len(boots)}")
        if boots:
            print(f"boot_s_min={boots[0]:.3f}")
            print(f"boot_s_max={boots[-1]:.3f}")
    elif cmd == "hosts":
        hosts(path)
    elif cmd == "table":
        table(path)
    else:
        sys.exit(f"usage: {sys.argv[0]} metrics|hosts|table|floor FILE")
