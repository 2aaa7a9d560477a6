#!/usr/bin/env python3
"""bench/events.py: the numbers bench/deploy.sh takes from deliver's `--json` events.

  events.py metrics EVENTS.jsonl   key=value lines for one run (phases, push sizes, per host)
  events.py hosts EVENTS.jsonl     per host, seconds after deploy.start of each step
  events.py table SAMPLES.tsv      min / median / max of every metric (SAMPLES: metric TAB value)

Phases, from each event's `ts` (RFC 3339, ms):
  prepare  deploy.start -> the last host.built (connect, push, checkout, hooks: in parallel)
  connect  deploy.start -> the last host.connected
  switch   the last host.built -> deploy.done (the rolling, health-gated part)
"""
import json
import statistics
import sys
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
        out["connect_s"] = f"{connected - t0:.3f}"
    built = last_ts(events, "host.built")
    if built is not None:
        out["prepare_s"] = f"{built - t0:.3f}"
        done = last_ts(events, "deploy.done")
        if done is not None:
            out["switch_s"] = f"{done - built:.3f}"
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
    samples = {}
    order = []
    for line in open(path):
        if not line.strip():
            continue
        key, value = line.rstrip("\n").split("\t")
        if key not in samples:
            order.append(key)
        samples.setdefault(key, []).append(float(value))
    width = max(len(k) for k in order) if order else 10
    print(f"{'metric':<{width}}  {'n':>2}  {'min':>9}  {'median':>9}  {'max':>9}")
    for key in order:
        v = samples[key]
        print(f"{key:<{width}}  {len(v):>2}  {fmt(min(v)):>9}  "
              f"{fmt(statistics.median(v)):>9}  {fmt(max(v)):>9}")


def fmt(x):
    return f"{x:.0f}" if x == int(x) and abs(x) >= 10 else f"{x:.3f}".rstrip("0").rstrip(".")


if __name__ == "__main__":
    cmd, path = sys.argv[1], sys.argv[2]
    if cmd == "metrics":
        for k, v in metrics(path).items():
            print(f"{k}={v}")
    elif cmd == "hosts":
        hosts(path)
    elif cmd == "table":
        table(path)
    else:
        sys.exit(f"usage: {sys.argv[0]} metrics|hosts|table FILE")
