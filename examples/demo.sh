#!/usr/bin/env bash
# examples/demo.sh: deliver end to end on 3 throw-away servers on this machine.
#
# Builds deliver, starts hosts h1..h3 of the test bed (tests/testbed/testbed.sh) with nginx
# on 127.0.0.1:$DEMO_PORT in front of them, shows the units deliver renders for
# examples/node-app, deploys it, then deploys a new commit of it while live traffic runs
# through nginx, and prints what happened: the release, per-host timings, requests served
# and requests failed. It always tears the test bed down again.
#
# Needs root and the test bed's packages, installed once with:
#   sudo tests/testbed/testbed.sh install
# It installs nothing itself. Traffic goes to 127.0.0.1 only, for at most $DEMO_LOAD_SECONDS.
#
# Settings: DEMO_PORT (8080), DEMO_APP (examples/node-app), DEMO_LOAD_SECONDS (120, a cap).
# Exit status: 0 deployed, and no request failed during the deploy under traffic;
#              1 a step failed, or requests failed;
#              2 it cannot run here (not root, packages missing, no app to deploy).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TB=$ROOT/tests/testbed/testbed.sh
APP_SRC=${DEMO_APP:-$ROOT/examples/node-app}
PORT=${DEMO_PORT:-8080}
LOAD_SECONDS=${DEMO_LOAD_SECONDS:-120}
STATE=${TB_STATE:-/var/lib/deliver-testbed}
ENV_NAME=testbed                     # the environment the demo adds to the app's deliver.toml

step() { printf '\n==> %s\n' "$*"; }
fail() { echo "demo: $*" >&2; exit 1; }
cannot() { echo "demo: $*" >&2; exit 2; }

# deliver, run in the demo's copy of the app. HOME is the demo's own, whose ~/.ssh/config
# includes the test bed's: the hosts are reached by their aliases, with strict host keys.
dlv() { (cd "$WORK/app" && HOME=$WORK/home "$DELIVER" "$@"); }

preflight() {
  "$TB" check 2>&1 | sed 's/^/  /' >&2 || cannot "the test bed cannot run here (see above)"
  [ -f "$APP_SRC/Procfile" ] ||
    cannot "no app to deploy: $APP_SRC/Procfile is missing (set DEMO_APP to another app)"
}

build() {
  step "cargo build --release"
  (cd "$ROOT" && cargo build --release --quiet) || fail "cargo build failed"
  local target
  target=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
  DELIVER=$target/release/deliver
  "$DELIVER" --version
}

# A git repo of the app (deliver deploys commits), with an environment for the test bed.
prepare_app() {
  local name
  mkdir -p "$WORK/home/.ssh"; chmod 700 "$WORK/home" "$WORK/home/.ssh"
  echo "Include $STATE/ssh_config" >"$WORK/home/.ssh/config"
  cp -a "$APP_SRC" "$WORK/app"; rm -rf "$WORK/app/node_modules" "$WORK/app/.git"
  [ -f "$WORK/app/deliver.toml" ] ||
    printf 'app = "%s"\n' "$(basename "$APP_SRC" | tr -c 'a-z0-9\n' -)" >"$WORK/app/deliver.toml"
  grep -q "^\[environments\.$ENV_NAME\]" "$WORK/app/deliver.toml" ||
    printf '\n[environments.%s]\nhosts = ["h1", "h2", "h3"]\n' "$ENV_NAME" \
      >>"$WORK/app/deliver.toml"
  name=$(sed -n 's/^app *= *"\([^"]*\)".*/\1/p' "$WORK/app/deliver.toml")
  APP_NAME=${name:-app}
  git -C "$WORK/app" init -q -b main
  commit "the demo's first release"
}

commit() {
  git -C "$WORK/app" add -A
  git -C "$WORK/app" -c user.name=demo -c user.email=demo@localhost commit -q --allow-empty -m "$1"
}

testbed_up() {
  step "test bed: 3 servers (app's units: $APP_NAME)"
  TB_SUDO_UNITS=$APP_NAME "$TB" up 3
  "$TB" status
}

# The units deliver renders for the app, and nginx in front with the upstream it exports.
show_units_and_proxy() {
  local f
  step "deliver export (the units deliver installs on each host)"
  dlv export "$ENV_NAME" --format systemd-user -o "$WORK/units" || fail "deliver export failed"
  for f in "$WORK/units"/*; do echo "--- ${f##*/}"; cat "$f"; done
  step "nginx on 127.0.0.1:$PORT in front of the hosts"
  dlv export "$ENV_NAME" --format nginx >"$WORK/upstream.conf" ||
    fail "deliver export --format nginx failed"
  cat "$WORK/upstream.conf"
  "$TB" proxy "$PORT" "$WORK/upstream.conf"
}

# Deploys the app, then a new commit of it under load; prints the release, per-host timings,
# requests served and failed. Returns 0, or 1 (failed, or failed requests).
deploy_with_traffic() {
  step "deliver deploy $ENV_NAME (the first release; deploy creates the layout on each host)"
  dlv deploy "$ENV_NAME" || return 1

  step "a new commit, deployed while wrk sends traffic through nginx (cap ${LOAD_SECONDS}s)"
  commit "the demo's second release"
  wrk -t1 -c8 -d"${LOAD_SECONDS}s" "http://127.0.0.1:$PORT/" >"$WORK/wrk.out" 2>&1 &
  local wrk=$! rc=0
  sleep 2
  dlv --json deploy "$ENV_NAME" >"$WORK/events.jsonl" 2>"$WORK/err" || rc=$?
  sleep 1
  kill -INT "$wrk" 2>/dev/null || true  # wrk prints its summary on SIGINT
  wait "$wrk" || true
  [ $rc = 0 ] || { cat "$WORK/err" >&2; echo "deliver deploy exited $rc" >&2; return 1; }
  summarize "$WORK/events.jsonl" "$WORK/wrk.out"
}

summarize() {  # deliver's --json events and wrk's output -> a short report; 1 if requests failed
  python3 - "$1" "$2" <<'EOF'
import json, re, sys
from datetime import datetime

def seconds(ts):
    if isinstance(ts, (int, float)):
        return ts / 1000 if ts > 1e11 else ts
    return datetime.fromisoformat(str(ts).replace("Z", "+00:00")).timestamp()

events = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
release = next((e["release"] for e in events if e.get("release")), "?")
print(f"release: {release}")
hosts = {}
for e in events:
    if e.get("host") and "ts" in e:
        hosts.setdefault(e["host"], []).append((seconds(e["ts"]), e.get("event", "?")))
for host, evs in sorted(hosts.items()):
    print(f"  {host}: {evs[-1][0] - evs[0][0]:.2f} s from {evs[0][1]} to {evs[-1][1]}")
wrk = open(sys.argv[2]).read()
served = re.search(r"(\d+) requests in", wrk)
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", wrk)
sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", wrk)
failed = (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, sock.groups())) if sock else 0)
print(f"requests served: {served.group(1) if served else '?'}   failed: {failed}")
sys.exit(1 if failed or not served else 0)
EOF
}

preflight
WORK=$(mktemp -d)
trap '"$TB" down; rm -rf "$WORK"' EXIT
build
prepare_app
testbed_up
show_units_and_proxy
rc=0; deploy_with_traffic || rc=$?
case $rc in
  0) step "done: deployed with no failed request" ;;
  *) step "the deploy failed, or requests failed during it (see above)" ;;
esac
exit $rc
