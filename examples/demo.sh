#!/usr/bin/env bash
# examples/demo.sh: deliver end to end on 4 throw-away servers on this machine.
#
# Builds deliver, starts hosts h1..h4 of the test bed (tests/testbed/testbed.sh): the app on
# h1..h3, nginx on h4 (TB_PROXY_HOSTS=h4), which deliver manages ([proxy] hosts = ["h4"]).
# It shows the units deliver renders for examples/node-app, writes the admin's part on h4
# (the upstream of `deliver export --format nginx` and a site on :80 built from the snippet in
# that file's header), deploys the app, then deploys a new commit of it while wrk sends POSTs
# and GETs through nginx on h4: each instance is marked `down`, nginx reloaded, the instance
# drained, restarted, gated and put back. It prints the release, per-host timings, the proxy's
# reloads and drains, and the requests served and failed. It always tears the test bed down.
#
# The test bed is shared: the whole run holds its fixture lock ($TB_STATE/fixture.lock, the
# lock of the integration tests and bench/deploy.sh), waiting while another run holds it.
#
# wrk never resends a request, and nginx's old workers close their idle keep-alive client
# connections at each reload: a request that raced such a close was never applied, and a
# browser or curl sends it again, but wrk would count it as a read error. So the demo's
# clients open a connection per request (`Connection: close`); DEMO_KEEPALIVE=1 keeps the
# connections open instead, to show what a client that never resends sees (the demo then
# fails). See "Zero downtime through nginx" in README.md.
#
# Needs root and the test bed's packages (wrk among them), installed once with:
#   sudo tests/testbed/testbed.sh install
# It installs nothing itself. Traffic goes to the test bed's addresses (10.79.0.x) only, for
# at most $DEMO_LOAD_SECONDS.
#
# Settings: DEMO_APP (examples/node-app), DEMO_LOAD_SECONDS (120, a cap), DEMO_CONNECTIONS
# (8 for POSTs and 8 for GETs), DEMO_KEEPALIVE (0). cargo honours CARGO_TARGET_DIR.
# Exit status: 0 deployed, and no request failed during the deploy under traffic;
#              1 a step failed, or requests failed;
#              2 it cannot run here (not root, packages missing, no app to deploy).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TB=$ROOT/tests/testbed/testbed.sh
APP_SRC=${DEMO_APP:-$ROOT/examples/node-app}
LOAD_SECONDS=${DEMO_LOAD_SECONDS:-120}
CONNECTIONS=${DEMO_CONNECTIONS:-8}
KEEPALIVE=${DEMO_KEEPALIVE:-0}
STATE=${TB_STATE:-/var/lib/deliver-testbed}
ENV_NAME=testbed                     # the environment the demo adds to the app's deliver.toml
PROXY_HOST=h4                        # runs nginx; h1..h3 run the app

step() { printf '\n==> %s\n' "$*"; }
fail() { echo "demo: $*" >&2; exit 1; }
cannot() { echo "demo: $*" >&2; exit 2; }

[ "$(id -u)" = 0 ] || cannot "needs root (the test bed): sudo $0"

# One test bed user at a time: the integration tests' fixture lock, held for the whole run.
if [ "${DEMO_LOCKED:-}" != 1 ]; then
  mkdir -p "$STATE"
  echo "demo: waiting for the test bed's lock ($STATE/fixture.lock)" >&2
  exec env DEMO_LOCKED=1 flock "$STATE/fixture.lock" "$BASH" "${BASH_SOURCE[0]}" "$@"
fi

# deliver, run in the demo's copy of the app. HOME is the demo's own, whose ~/.ssh/config
# includes the test bed's: the hosts are reached by their aliases, with strict host keys.
dlv() { (cd "$WORK/app" && HOME=$WORK/home "$DELIVER" "$@"); }

# As app on a host, through the test bed's ssh_config (strict host keys).
on() { ssh -F "$STATE/ssh_config" "$@"; }

preflight() {
  "$TB" check 2>&1 | sed 's/^/  /' >&2 || cannot "the test bed cannot run here (see above)"
  command -v wrk >/dev/null || cannot "wrk is missing (sudo tests/testbed/testbed.sh install)"
  command -v python3 >/dev/null || cannot "python3 is missing"
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

# A git repo of the app (deliver deploys commits), with an environment for the test bed and
# the managed proxy on h4.
prepare_app() {
  local name toml=$WORK/app/deliver.toml
  mkdir -p "$WORK/home/.ssh"; chmod 700 "$WORK/home" "$WORK/home/.ssh"
  echo "Include $STATE/ssh_config" >"$WORK/home/.ssh/config"
  cp -a "$APP_SRC" "$WORK/app"; rm -rf "$WORK/app/node_modules" "$WORK/app/.git"
  [ -f "$toml" ] ||
    printf 'app = "%s"\n' "$(basename "$APP_SRC" | tr -c 'a-z0-9\n' -)" >"$toml"
  grep -q "^\[environments\.$ENV_NAME\]" "$toml" ||
    printf '\n[environments.%s]\nhosts = ["h1", "h2", "h3"]\n' "$ENV_NAME" >>"$toml"
  grep -q '^\[proxy\]' "$toml" ||
    printf '\n[proxy]\nhosts = ["%s"]\n' "$PROXY_HOST" >>"$toml"
  name=$(sed -n 's/^app *= *"\([^"]*\)".*/\1/p' "$toml")
  APP_NAME=${name:-app}
  git -C "$WORK/app" init -q -b main
  commit "the demo's first release"
}

commit() {
  git -C "$WORK/app" add -A
  git -C "$WORK/app" -c user.name=demo -c user.email=demo@localhost commit -q --allow-empty -m "$1"
}

testbed_up() {
  step "test bed: h1..h3 for the app ($APP_NAME's units), nginx on $PROXY_HOST"
  "$TB" down >/dev/null 2>&1 || true  # whatever a killed run left
  TB_SUDO_UNITS=$APP_NAME TB_PROXY_HOSTS=$PROXY_HOST "$TB" up 4
  "$TB" status
  FRONT=$(on -G "$PROXY_HOST" | awk '$1 == "hostname" {print $2}')
  [ -n "$FRONT" ] || fail "no address for $PROXY_HOST in $STATE/ssh_config"
}

# The units deliver renders for the app, then the admin's part on the proxy host: the
# upstream file (deliver's from the first deploy on) and a site whose location is the
# snippet in that file's header.
show_units_and_proxy() {
  local f upstream
  step "deliver export (the units deliver installs on each host)"
  dlv export "$ENV_NAME" --format systemd-user -o "$WORK/units" || fail "deliver export failed"
  for f in "$WORK/units"/*; do echo "--- ${f##*/}"; cat "$f"; done

  step "$PROXY_HOST: the upstream deliver manages, and the admin's site on :80"
  dlv export "$ENV_NAME" --format nginx >"$WORK/upstream.conf" ||
    fail "deliver export --format nginx failed"
  upstream=/etc/nginx/conf.d/$APP_NAME-upstream.conf  # proxy.config's default
  {
    printf 'server {\n    listen 80;\n    server_name %s;\n' "$FRONT"
    sed -n '/^#     location \/ {$/,/^#     }$/s/^#     /    /p' "$WORK/upstream.conf"
    printf '}\n'
  } >"$WORK/site.conf"
  grep -q proxy_pass "$WORK/site.conf" || fail "no location snippet in export's header"
  echo "--- $upstream (deliver's: every deploy rewrites it)"
  sed -n '/^upstream /,$p' "$WORK/upstream.conf"
  echo "--- /etc/nginx/conf.d/$APP_NAME-site.conf (the admin's)"
  cat "$WORK/site.conf"
  on "$PROXY_HOST" "cat >$upstream" <"$WORK/upstream.conf" ||
    fail "$PROXY_HOST: cannot write $upstream"
  on "$PROXY_HOST" "cat >/etc/nginx/conf.d/$APP_NAME-site.conf &&
    sudo -n nginx -t && sudo -n systemctl reload nginx" <"$WORK/site.conf" ||
    fail "$PROXY_HOST: writing the site, nginx -t or the reload failed"
}

# The load: wrk POSTs (a Lua script) and GETs to nginx on the proxy host, a connection per
# request unless DEMO_KEEPALIVE=1 (see the header), until SIGINT or $LOAD_SECONDS.
start_load() {
  local connection=close
  [ "$KEEPALIVE" = 1 ] && connection=keep-alive
  cat >"$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"item":"demo","note":"a POST through nginx during a deploy"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Connection"] = "$connection"
LUA
  wrk -t1 -c"$CONNECTIONS" -d"${LOAD_SECONDS}s" -s "$WORK/post.lua" \
    "http://$FRONT/orders" >"$WORK/wrk-post.out" 2>&1 &
  WRK_POST=$!
  wrk -t1 -c"$CONNECTIONS" -d"${LOAD_SECONDS}s" -H "Connection: $connection" \
    "http://$FRONT/" >"$WORK/wrk-get.out" 2>&1 &
  WRK_GET=$!
}

stop_load() {
  local pid
  for pid in ${WRK_POST:-} ${WRK_GET:-}; do
    kill -INT "$pid" 2>/dev/null || true  # wrk prints its summary on SIGINT
    wait "$pid" || true
  done
  WRK_POST='' WRK_GET=''
}

# Deploys the app, then a new commit of it under load; prints the release, per-host timings,
# the proxy's reloads and drains, requests served and failed. Returns 0, or 1 (failed, or
# failed requests).
deploy_with_traffic() {
  step "deliver deploy $ENV_NAME (the first release; it creates the layout on each host)"
  dlv deploy "$ENV_NAME" || return 1
  curl -fsS --max-time 5 "http://$FRONT/" >/dev/null ||
    { echo "no answer through nginx on $PROXY_HOST" >&2; return 1; }

  step "a new commit, deployed while wrk sends POSTs and GETs through nginx on $PROXY_HOST" \
    "(connections: $([ "$KEEPALIVE" = 1 ] && echo keep-alive || echo one per request);" \
    "cap ${LOAD_SECONDS}s)"
  commit "the demo's second release"
  start_load
  local rc=0
  sleep 2
  dlv --json deploy "$ENV_NAME" >"$WORK/events.jsonl" 2>"$WORK/err" || rc=$?
  sleep 1
  stop_load
  [ $rc = 0 ] || { cat "$WORK/err" >&2; echo "deliver deploy exited $rc" >&2; return 1; }
  echo "--- the upstream on $PROXY_HOST now"
  on "$PROXY_HOST" "sed -n '/^upstream /,\$p' /etc/nginx/conf.d/$APP_NAME-upstream.conf"
  summarize "$WORK/events.jsonl" "$WORK/wrk-post.out" "$WORK/wrk-get.out"
}

summarize() {  # deliver's --json events and wrk's outputs -> a short report; 1 if requests failed
  python3 - "$@" <<'PY'
import json, re, sys
from datetime import datetime

def seconds(ts):
    if isinstance(ts, (int, float)):
        return ts / 1000 if ts > 1e11 else ts
    return datetime.fromisoformat(str(ts).replace("Z", "+00:00")).timestamp()

events = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
release = next((e["release"] for e in events if e.get("release")), "?")
print(f"release: {release}")
proxies = {e["host"] for e in events if e.get("event") == "proxy.reloaded"}
hosts = {}
for e in events:
    if e.get("host") and "ts" in e and e["host"] not in proxies:
        hosts.setdefault(e["host"], []).append((seconds(e["ts"]), e.get("event", "?")))
for host, evs in sorted(hosts.items()):
    print(f"  {host}: {evs[-1][0] - evs[0][0]:.2f} s from {evs[0][1]} to {evs[-1][1]}")
reloads = [e for e in events if e.get("event") == "proxy.reloaded"]
drains = [e for e in events if e.get("event") == "instance.drained"]
if reloads:
    ms = sorted(e["ms"] for e in reloads)
    print(f"proxy ({', '.join(sorted(proxies))}): {len(reloads)} reloads (write + nginx -t + reload: {ms[0]}-{ms[-1]} ms), "
          f"{len(drains)} instances drained", end="")
    if drains:
        d = sorted(e["ms"] for e in drains)
        left = sum(e.get("connections", 0) for e in drains)
        print(f" in {d[0]}-{d[-1]} ms, {left} connections left at drain_timeout")
    else:
        print()

served_all = failed_all = 0
for kind, path in (("POST", sys.argv[2]), ("GET", sys.argv[3])):
    wrk = open(path).read()
    served = re.search(r"(\d+) requests in", wrk)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", wrk)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", wrk)
    if not served:
        print(f"{kind}: no summary from wrk:\n{wrk}")
        sys.exit(1)
    failed = (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, sock.groups())) if sock else 0)
    detail = f" ({sock.group(0)}; non-2xx {non2xx.group(1) if non2xx else 0})" if failed else ""
    print(f"  {kind:4} served: {served.group(1)}   failed: {failed}{detail}")
    served_all += int(served.group(1)); failed_all += failed
print(f"requests served: {served_all}   failed: {failed_all}")
sys.exit(1 if failed_all else 0)
PY
}

preflight
WORK=$(mktemp -d)
WRK_POST='' WRK_GET=''
trap 'stop_load; "$TB" down; rm -rf "$WORK"' EXIT
build
prepare_app
testbed_up
show_units_and_proxy
rc=0; deploy_with_traffic || rc=$?
case $rc in
  0) step "done: deployed through a managed nginx with no failed request" ;;
  *) step "the deploy failed, or requests failed during it (see above)" ;;
esac
exit $rc
