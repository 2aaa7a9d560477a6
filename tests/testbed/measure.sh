#!/usr/bin/env bash
# measure.sh [RUNS]: the figures of tests/testbed/README.md. Root; about 1 minute for 5 runs.
# Times `up 3` (plus nginx), `up 9` and `down` RUNS times each, shows what is left after each
# `down`, and the memory of idle hosts. Sends no traffic (nginx only starts).
# Ends with the test bed down. Exit status: 1 if anything was left after a `down`.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd); TB=$HERE/testbed.sh
STATE=${TB_STATE:-/var/lib/deliver-testbed}
RUNS=${1:-5}
PORT=${TB_MEASURE_PORT:-18080}
left_count=0

now() { date +%s%N; }
ms() { echo $((($(now) - $1) / 1000000)); }
avail_kb() { awk '/^MemAvailable:/ {print $2}' /proc/meminfo; }
live() { local s; s=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) && [ "${s%% *}" != Z ]; }

# Everything a `down` must remove: netns, links, mounts, cgroups, processes (zombies aside:
# this machine's PID 1 reaps orphans late; they run nothing).
leftovers() {  # PIDS...: the processes that were the test bed's (hosts' PID 1s, nginx)
  local p f
  ip netns list | grep -E '^dtb-' || true
  ip -o link show | grep -oE 'dtb-[^:@ ]+' || true
  grep -E "dtb-|$STATE|/run/netns" /proc/mounts || true
  # cgroup2 (/sys/fs/cgroup or .../unified) and every cgroup v1 hierarchy (TB_HOST_CPU's cpu
  # caps, TB_HOST_CGROUP=hybrid hosts)
  ls -d /sys/fs/cgroup/deliver-testbed /sys/fs/cgroup/*/deliver-testbed 2>/dev/null || true
  for p in "$@"; do
    live "$p" && echo "process $p still running: $(tr '\0' ' ' <"/proc/$p/cmdline")"
  done
  for f in /proc/[0-9]*/cgroup; do
    grep -q deliver-testbed "$f" 2>/dev/null || continue
    p=${f#/proc/}; p=${p%/cgroup}
    live "$p" && echo "process $p in a deliver-testbed cgroup"
  done
  true
}

down_and_check() {  # LABEL: time `down`, then show (and count) what is left
  local t pids out l
  pids=$(cat "$STATE"/h[1-9]/pid "$STATE/nginx/nginx.pid" 2>/dev/null || true)
  t=$(now); "$TB" down; echo "  down ($1): $(ms "$t") ms"
  # shellcheck disable=SC2086 # one word per pid
  out=$(leftovers $pids)
  if [ -n "$out" ]; then
    echo "  LEFT AFTER DOWN:"; left_count=$((left_count + 1))
    while IFS= read -r l; do echo "    $l"; done <<<"$out"
  fi
}

"$TB" check
"$TB" down
echo "== up 3 + nginx, down ($RUNS runs)"
for _ in $(seq "$RUNS"); do
  t=$(now); "$TB" up 3 2>/dev/null; echo "  up 3: $(ms "$t") ms"
  "$TB" proxy "$PORT" h1:22 h2:22 h3:22 2>/dev/null
  down_and_check "3 hosts + nginx"
done

echo "== up 9, down ($RUNS runs)"
for _ in $(seq "$RUNS"); do
  t=$(now); "$TB" up 9 2>/dev/null; echo "  up 9: $(ms "$t") ms"
  down_and_check "9 hosts"
done

echo "== memory of idle hosts"
sleep 3; m0=$(avail_kb)
"$TB" up 9 2>/dev/null; sleep 5
echo "  MemAvailable drop with 9 idle hosts: $((m0 - $(avail_kb))) kB," \
  "$(((m0 - $(avail_kb)) / 9 / 1024)) MB per host"
"$TB" status | sed 's/^/  /'
down_and_check "9 hosts"

echo "== after the last down"
echo "  ip netns list: $(ip netns list | wc -l) namespaces"
echo "  ip -o link | grep dtb-: $(ip -o link | grep -c dtb- || true) links"
echo "  mounts with dtb-, $STATE or /run/netns:" \
  "$(grep -cE "dtb-|$STATE|/run/netns" /proc/mounts || true)"
echo "  zombies under PID 1 now: $(ps -eo ppid=,stat= | awk '$1 == 1 && $2 ~ /^Z/' | wc -l);" \
  "3 s later: $(sleep 3; ps -eo ppid=,stat= | awk '$1 == 1 && $2 ~ /^Z/' | wc -l)"
echo "  downs that left something: $left_count"
[ "$left_count" = 0 ]
