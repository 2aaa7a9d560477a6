#!/usr/bin/env bash
# bench/deploy.sh: deliver's deploy benchmarks on the test bed (tests/testbed/testbed.sh).
#
# Builds the release binary, then, $BENCH_RUNS (5) times, for 1, 3 and 9 servers (a fresh test
# bed each time, the sizes interleaved so that machine noise spreads over all of them):
#   - the first deploy of examples/node-app, then a second one after a one-line change:
#     wall time, the prepare phase (deploy.start -> the last host.built, from the --json
#     `ts`), the switch phase, objects/bytes pushed, peak RSS (/usr/bin/time -v);
#   - on 3 servers also: a deploy of another change with `--batch 100%`, no-op redeploys,
#     and a rollback; and (BENCH_SURGE=1) a round with nginx on h4 managed by deliver in
#     `surge` mode: first, second (batch 1) and `--batch 100%` deploys;
#   - for every command: the sshd "Accepted publickey" lines each host logged during it, the
#     remote commands (round trips) each host ran (`-v`'s host.script events), and the boot
#     floor: from the hosts' journals, the time during which a web instance was booting
#     (systemd's "Started" to the app's "listening"), beside the wall time.
# The app boots in BENCH_BOOT_MS (600) ms (BOOT_DELAY_MS), with 2 web instances and 1 worker
# per host: the shape of issue 11.
# It prints min / median / max of each figure, the 9/1 prepare ratio, and the targets met.
#
# Needs root and the test bed's packages (sudo tests/testbed/testbed.sh install). The whole
# run holds the test bed's fixture lock ($TB_STATE/fixture.lock, as the integration tests
# do), so it never tears down hosts someone else is using; it leaves the test bed down.
# Traffic: SSH to the test bed's own addresses (10.79.0.x) only.
#
# Settings: BENCH_RUNS (5), BENCH_SIZES ("1 3 9"), BENCH_NOOPS (no-op runs per 3-server
# round, 3), BENCH_BOOT_MS (600), BENCH_SURGE (1: the surge round on 3 servers; 0: none),
# BENCH_ALL (100%: the --batch of the all100 runs; 3 for an older binary without percentages), BENCH_MAX_SECONDS (600: then it stops and gives the shared test bed back),
# BENCH_HOST_CPU (each server capped at that many cores, e.g. 0.2: the servers are then
# machines of a fixed size whether 1 or 9 run, instead of 9 sharing the cores 1 had alone;
# default: no cap), BENCH_OUT (raw events, stderr, samples; default a new /tmp dir, kept),
# BENCH_DELIVER (measure this binary instead of building one: to compare two commits, run
# the script with each commit's release binary in turn). cargo honours CARGO_TARGET_DIR.
# Exit status: 0 measured (whether or not the targets were met; see the summary);
#              1 a step failed; 2 it cannot run here.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TB=$ROOT/tests/testbed/testbed.sh
EV=$ROOT/bench/events.py
STATE=${TB_STATE:-/var/lib/deliver-testbed}
RUNS=${BENCH_RUNS:-5}
read -r -a SIZES <<<"${BENCH_SIZES:-1 3 9}"
NOOPS=${BENCH_NOOPS:-3}
MAX_SECONDS=${BENCH_MAX_SECONDS:-600}  # never hold the shared test bed longer than this
HOST_CPU=${BENCH_HOST_CPU:-}  # e.g. 0.2: each server capped at 0.2 core (testbed TB_HOST_CPU)
BOOT_MS=${BENCH_BOOT_MS:-600}  # the app's boot (BOOT_DELAY_MS): listening that long after start
SURGE=${BENCH_SURGE:-1}        # 1: a surge round on 3 servers behind nginx on h4
ALL=${BENCH_ALL:-100%}         # --batch of the all-hosts-at-once runs (3 for a binary without %)
APP=node-app

fail() { echo "bench: $*" >&2; exit 1; }
cannot() { echo "bench: $*" >&2; exit 2; }

[ "$(id -u)" = 0 ] || cannot "needs root (the test bed): sudo $0"

# One test bed user at a time: the integration tests' fixture lock, held for the whole run.
if [ "${BENCH_LOCKED:-}" != 1 ]; then
  mkdir -p "$STATE"
  echo "bench: waiting for the test bed's lock ($STATE/fixture.lock)" >&2
  exec env BENCH_LOCKED=1 flock "$STATE/fixture.lock" "$0" "$@"
fi

preflight() {
  "$TB" check >/dev/null 2>&1 || { "$TB" check >&2 || true; cannot "the test bed cannot run here"; }
  command -v python3 >/dev/null || cannot "python3 is missing"
  if ! [ -x /usr/bin/time ]; then
    echo "bench: installing GNU time (for peak RSS)" >&2
    apt-get install -y -q time >/dev/null || cannot "/usr/bin/time is missing (apt-get install time)"
  fi
}

build() {
  if [ -n "${BENCH_DELIVER:-}" ]; then
    DELIVER=$BENCH_DELIVER
    [ -x "$DELIVER" ] || cannot "BENCH_DELIVER=$DELIVER is not an executable"
    "$DELIVER" --version
    return
  fi
  echo "==> cargo build --release"
  (cd "$ROOT" && cargo build --release --quiet) || fail "cargo build failed"
  local target
  target=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
  DELIVER=$target/release/deliver
  "$DELIVER" --version
}

# A fresh test bed of $1 hosts: nothing left from the last round (first deploys are first).
# testbed N [PROXY]: PROXY (e.g. h4) is one more host, running nginx for deliver to manage.
testbed() {
  local up=$1
  [ -z "${2:-}" ] || up=$((up + 1))
  "$TB" down >>"$OUT/testbed.log" 2>&1
  TB_SUDO_UNITS=$APP TB_HOST_CPU=$HOST_CPU TB_PROXY_HOSTS=${2:-} "$TB" up "$up" \
    >>"$OUT/testbed.log" 2>&1 ||
    { tail -n 30 "$OUT/testbed.log" >&2; fail "testbed.sh up $up failed"; }
  # `up` returns once sshd answers; the hosts' boot goes on (the app's user manager, journald).
  # Measure settled servers: wait (bounded) until each host's systemd says it is done.
  local i
  for ((i = 1; i <= $1; i++)); do
    "$TB" exec "h$i" timeout 30 systemctl is-system-running --wait >>"$OUT/testbed.log" 2>&1 || true
  done
}

# A git repo of examples/node-app, its own deliver.toml (the example's settings, the app
# booting in BOOT_MS) plus an environment `bench` with hosts h1..h$1 (and with $2, e.g. h4, as
# its managed proxy in `surge` mode); and a HOME whose ~/.ssh/config includes the bed's.
make_app() {
  local n=$1 proxy=${2:-} hosts i toml=$WORK/app/deliver.toml
  rm -rf "$WORK/app"
  cp -a "$ROOT/examples/$APP" "$WORK/app"
  rm -rf "$WORK/app/.git" "$WORK/app/build" "$WORK/app/node_modules"
  sed -i "s/^NODE_ENV = .*/&\nBOOT_DELAY_MS = \"$BOOT_MS\"/" "$toml"
  grep -q "^BOOT_DELAY_MS = \"$BOOT_MS\"" "$toml" || fail "no [env] NODE_ENV line in $toml"
  hosts=$(for ((i = 1; i <= n; i++)); do printf '"h%d", ' "$i"; done)
  printf '\n[environments.bench]\nhosts = [%s]\n' "${hosts%, }" >>"$toml"
  if [ -n "$proxy" ]; then
    # Only `bench` behind the proxy: the example's `demo` would write the same upstream file.
    sed -i -e 's/^mode = "rolling"/mode = "surge"/' -e 's/^default_environment = .*/default_environment = "bench"/' \
      -e '/^\[environments\.demo\]/,/^hosts = /d' "$toml"
    printf '\n[proxy]\nhosts = ["%s"]\n' "$proxy" >>"$toml"
  fi
  git -C "$WORK/app" init -q -b main
  commit "first release"
}

commit() {
  git -C "$WORK/app" add -A
  git -C "$WORK/app" -c user.name=bench -c user.email=bench@localhost commit -q -m "$1"
}

# The sshd "Accepted publickey" lines of hosts h1..h$1, one count per host (read as root
# inside each host through nsenter: this adds no SSH connection).
accepted() {
  local i
  for ((i = 1; i <= $1; i++)); do
    "$TB" exec "h$i" journalctl _COMM=sshd --no-pager -o cat | grep -c 'Accepted publickey' || true
  done | tr '\n' ' '
}

sample() { printf '%s\t%s\n' "$1" "$2" >>"$OUT/samples.tsv"; }

# run NAME N ARGS...: deliver --json ARGS on N hosts, timed, under /usr/bin/time -v, with
# the SSH connections it made counted per host. Records NAME.* samples.
run() {
  local n=$2 tag=$1.h$2; shift 2
  [ $((SECONDS - BEGAN)) -le "$MAX_SECONDS" ] ||
    fail "over BENCH_MAX_SECONDS ($MAX_SECONDS s): stopping, the test bed is shared"
  local f=$OUT/$tag.r$R before after rc=0 i k v since
  read -r -a before <<<"$(accepted "$n")"
  since=$(date +%s.%N)
  (cd "$WORK/app" && HOME=$WORK/home CI=true python3 "$EV" watch "$f.jsonl" "$f.cpu" "$n" \
    /usr/bin/time -v -o "$f.time" "$DELIVER" --json -v "$@" 2>"$f.err") || rc=$?
  if [ $rc != 0 ]; then
    cat "$f.err" >&2; tail -n 5 "$f.jsonl" >&2
    fail "$tag run $R: deliver $* exited $rc"
  fi
  read -r -a after <<<"$(accepted "$n")"
  local wall  # measured by events.py watch: from spawning /usr/bin/time to its exit
  wall=$(sed -n 's/^wall_s=//p' "$f.cpu")
  sample "$tag.wall_s" "$wall"
  local rss
  rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$f.time")
  sample "$tag.rss_mb" "$(python3 -c "print(f'{$rss / 1024:.1f}')")"
  local m outcome=none prepare="" objects="" bytes=""
  while IFS='=' read -r k v; do
    case $k in
      outcome) outcome=$v ;;
      prepare_s) prepare=$v; sample "$tag.prepare_s" "$v" ;;
      connected_s | pushed_s) sample "$tag.$k" "$v" ;;
      switch_s) sample "$tag.switch_s" "$v" ;;
      push_objects) objects=$v; sample "$tag.push_objects" "$v" ;;
      push_bytes) bytes=$v; sample "$tag.push_bytes" "$v" ;;
    esac
  done < <(python3 "$EV" metrics "$f.jsonl")
  local cpu=""
  if [ -s "$f.cpu" ]; then
    while IFS='=' read -r k v; do
      case $k in
        prepare_busy_cores) cpu=$v; sample "$tag.$k" "$v" ;;
        prepare_hosts_cpu_s | prepare_deliver_cpu_s | prepare_machine_cpu_s) sample "$tag.$k" "$v" ;;
      esac
    done <"$f.cpu"
  fi
  # The boot floor, from each host's journal since the command began.
  local journals=() floor="" trips=""
  for ((i = 1; i <= n; i++)); do
    "$TB" exec "h$i" journalctl -o short-unix --no-pager --since "@${since%.*}" \
      >"$f.journal.h$i" 2>/dev/null || true
    journals+=("$f.journal.h$i")
  done
  while IFS='=' read -r k v; do
    case $k in floor_s) floor=$v; sample "$tag.floor_s" "$v" ;; esac
  done < <(python3 "$EV" floor "$APP" "${journals[@]}")
  if [ -n "$floor" ] && [ "$outcome" = done ]; then
    sample "$tag.over_floor_s" "$(python3 -c "print(f'{$wall - $floor:.3f}')")"
  fi
  while IFS='=' read -r k v; do
    case $k in
      trips_min | trips_max) sample "$tag.$k" "$v"; trips="$trips$v " ;;
    esac
  done < <(python3 "$EV" metrics "$f.jsonl")
  local user sys
  user=$(sed -n 's/.*User time (seconds): //p' "$f.time")
  sys=$(sed -n 's/.*System time (seconds): //p' "$f.time")
  sample "$tag.deliver_cpu_s" "$(python3 -c "print(f'{$user + $sys:.2f}')")"
  for ((i = 0; i < n; i++)); do
    m=$((after[i] - before[i]))
    sample "$tag.ssh_per_host" "$m"
    [ "$m" = 1 ] || echo "  !! h$((i + 1)): $m SSH connections for $tag" | tee -a "$OUT/ssh_mismatch"
  done
  printf '  %-12s %-5s wall %6ss  floor %5ss  prepare %6ss (%4s cores busy)  pushed %2s obj %5s B  rss %5s kB  trips %s ssh/host %s\n' \
    "$tag" "$outcome" "$wall" "${floor:--}" "${prepare:--}" "${cpu:--}" "${objects:--}" "${bytes:--}" "$rss" "${trips:-- }" \
    "$(for ((i = 0; i < n; i++)); do printf '%s ' "$((after[i] - before[i]))"; done)"
  { echo "== $tag run $R: $outcome, ${wall}s"; python3 "$EV" hosts "$f.jsonl"; } >>"$OUT/hosts.txt"
}

round() {  # round N: one run of every measurement on N servers
  local n=$1
  echo "-- run $R/$RUNS, $n server(s)"
  testbed "$n"
  make_app "$n"
  run first "$n" deploy bench
  echo "// bench run $R: a one-line change" >>"$WORK/app/worker.js"
  commit "a one-line change"
  run second "$n" deploy bench
  if [ "$n" = 3 ]; then
    echo "// bench run $R: another change" >>"$WORK/app/worker.js"
    commit "another change"
    run all100 "$n" deploy bench --batch "$ALL"
    local noop
    for ((noop = 0; noop < NOOPS; noop++)); do run noop "$n" deploy bench; done
    run rollback "$n" rollback bench
  fi
  if [ "$n" = 3 ] && [ "$SURGE" = 1 ]; then
    echo "-- run $R/$RUNS, $n server(s) behind nginx on h4, surge"
    testbed "$n" h4
    make_app "$n" h4
    run surge-first "$n" deploy bench
    echo "// bench run $R: a one-line change" >>"$WORK/app/worker.js"
    commit "a one-line change"
    run surge "$n" deploy bench
    echo "// bench run $R: another change" >>"$WORK/app/worker.js"
    commit "another change"
    run surge-all100 "$n" deploy bench --batch "$ALL"
  fi
}

summary() {
  echo
  echo "==> figures, $RUNS runs (hN = N servers; connected, pushed: s after deploy.start, medians)"
  if [ -n "$HOST_CPU" ]; then
    echo "    each server capped at $HOST_CPU core (BENCH_HOST_CPU)"
  else
    echo "    servers not capped: they share the machine's $(nproc) cores (BENCH_HOST_CPU unset)"
  fi
  python3 "$EV" table "$OUT/samples.tsv" | tee "$OUT/table.txt"
  echo
  echo "==> per host, the last 9-server second deploy (s after deploy.start)"
  awk '/^== second.h9/ {p = 1; buf = ""} /^== / && !/^== second.h9/ {p = 0} p {buf = buf $0 "\n"}
       END {printf "%s", buf}' "$OUT/hosts.txt"
  echo
  echo "==> targets"
  python3 - "$OUT/samples.tsv" "$([ -e "$OUT/ssh_mismatch" ] && echo 1 || echo 0)" <<'EOF'
import statistics, sys
s = {}
for line in open(sys.argv[1]):
    k, v = line.rstrip("\n").split("\t")
    s.setdefault(k, []).append(float(v))
med = lambda k: statistics.median(s[k]) if k in s else None
def line(ok, text):
    print(f"  [{'met' if ok else 'MISSED'}] {text}")
for kind in ("first", "second"):
    a, b = med(f"{kind}.h1.prepare_s"), med(f"{kind}.h9.prepare_s")
    if a and b:
        line(b / a <= 1.3, f"prepare phase 9/1 servers, {kind} deploy: {b:.3f} / {a:.3f} s = "
             f"{b / a:.2f}x (target <= 1.3x, medians)")
        c1, c9 = med(f"{kind}.h1.prepare_busy_cores"), med(f"{kind}.h9.prepare_busy_cores")
        u1, u9 = med(f"{kind}.h1.prepare_hosts_cpu_s"), med(f"{kind}.h9.prepare_hosts_cpu_s")
        d1, d9 = med(f"{kind}.h1.prepare_deliver_cpu_s"), med(f"{kind}.h9.prepare_deliver_cpu_s")
        if None not in (c1, c9, u1, u9, d1, d9):
            print(f"         during it, 1 -> 9 servers: machine {c1:.2f} -> {c9:.2f} of 2 cores busy; "
                  f"CPU s used by the hosts {u1:.3f} -> {u9:.3f}, by deliver {d1:.3f} -> {d9:.3f}")
            print(f"         so 9 servers' prepare needs >= {(u9 + d9) / 2:.3f} s of wall on 2 cores")
if "noop.h3.wall_s" in s:
    v = s["noop.h3.wall_s"]
    line(max(v) < 0.5, f"no-op redeploy, 3 servers: median {med('noop.h3.wall_s'):.3f} s, "
         f"max {max(v):.3f} s (target < 0.5 s)")
if "rollback.h3.wall_s" in s:
    print(f"  [info] rollback, 3 servers: median {med('rollback.h3.wall_s'):.2f} s")
# Issue 11: the rollout at the boot floor (3 servers, 2 web booting in BENCH_BOOT_MS, 1 worker).
if "second.h3.over_floor_s" in s:
    o, f, w = med("second.h3.over_floor_s"), med("second.h3.floor_s"), med("second.h3.wall_s")
    line(o <= 1.0, f"rolling batch 1, 3 servers: wall {w:.3f} s = boot floor {f:.3f} s + {o:.3f} s "
         "(target: <= floor + 1.0 s, medians of wall - floor)")
if "first.h3.wall_s" in s:
    w = med("first.h3.wall_s")
    line(w <= 2.2, f"first deploy to 3 fresh servers: {w:.3f} s (target <= 2.2 s), boot floor "
         f"{med('first.h3.floor_s'):.3f} s")
if "all100.h3.wall_s" in s:
    w = med("all100.h3.wall_s")
    line(w <= 2.0, f"rolling --batch 100%, 3 servers: {w:.3f} s (target <= 2.0 s), boot floor "
         f"{med('all100.h3.floor_s'):.3f} s")
if "rollback.h3.wall_s" in s and "second.h3.wall_s" in s:
    r, d = med("rollback.h3.wall_s"), med("second.h3.wall_s")
    line(abs(r / d - 1) <= 0.10, f"rollback / deploy of the same shape, 3 servers: {r:.3f} / {d:.3f} s"
         f" = {r / d:.2f} (target within 10%)")
if "noop.h3.wall_s" in s:
    line(max(s["noop.h3.wall_s"]) < 0.3, f"no-op under 0.3 s: max {max(s['noop.h3.wall_s']):.3f} s")
if "surge-all100.h3.switch_s" in s:
    sw, f = med("surge-all100.h3.switch_s"), med("surge-all100.h3.floor_s")
    line(sw <= f + 0.6, f"surge --batch 100%, 3 servers: rollout (last host.built -> done) {sw:.3f} s"
         f" = one boot {f:.3f} s + {sw - f:.3f} s (target: + <= 0.6 s); wall "
         f"{med('surge-all100.h3.wall_s'):.3f} s")
for tag in ("second", "all100", "noop", "rollback", "surge", "surge-all100"):
    lo, hi = s.get(f"{tag}.h3.trips_min"), s.get(f"{tag}.h3.trips_max")
    if lo:
        print(f"  [info] remote commands per host, {tag}: {min(lo):g}..{max(hi):g}")
ssh = sorted({v for k, vs in s.items() if k.endswith(".ssh_per_host") for v in vs})
line(ssh == [1.0], f"SSH connections per host per command: {', '.join(f'{x:g}' for x in ssh)} "
     "seen (target: exactly 1)")
rss = [v for k, vs in s.items() if ".h9." in k and k.endswith(".rss_mb") for v in vs]
if rss:
    line(max(rss) < 30, f"peak RSS, 9 servers: max {max(rss):.1f} MB (target < 30 MB)")
for kind in ("first", "second"):
    o, b = med(f"{kind}.h3.push_objects"), med(f"{kind}.h3.push_bytes")
    if o is not None:
        print(f"  [info] pushed per host, {kind} deploy: {o:g} objects, {b:g} bytes")
EOF
  echo
  echo "raw events, stderr, /usr/bin/time output and samples: $OUT"
}

preflight
WORK=$(mktemp -d)
OUT=${BENCH_OUT:-$(mktemp -d /tmp/deliver-bench.XXXXXX)}
mkdir -p "$OUT" "$WORK/home/.ssh"
: >"$OUT/samples.tsv"; : >"$OUT/hosts.txt"; rm -f "$OUT/ssh_mismatch"
chmod 700 "$WORK/home" "$WORK/home/.ssh"
echo "Include $STATE/ssh_config" >"$WORK/home/.ssh/config"
trap '"$TB" down >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
build
BEGAN=$SECONDS
for ((R = 1; R <= RUNS; R++)); do
  for n in "${SIZES[@]}"; do round "$n"; done
done
"$TB" down >/dev/null
summary
echo "bench: measured in $((SECONDS - BEGAN)) s (build excluded)"
