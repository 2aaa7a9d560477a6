#!/usr/bin/env bash
# testbed.sh: deliver's test bed. N throw-away Linux "servers" (1..9) on this one machine,
# each with real sshd, real systemd as PID 1 (system units and `systemctl --user` with
# linger), real sudo rules and real git, plus nginx on 127.0.0.1 in front of them.
#
#   testbed.sh install              apt packages it needs (idempotent; starts no daemon here)
#   testbed.sh check                exit 0 when this machine can run `up` (root, packages)
#   testbed.sh up N                 start those of h1..hN that are not up; wait for their sshd
#   testbed.sh down                 stop everything; leave nothing behind (idempotent)
#   testbed.sh status               hosts, PID 1s, processes, memory (PSS), nginx
#   testbed.sh exec hI [CMD...]     root shell (or CMD) inside host hI
#   testbed.sh proxy PORT ADDR:PORT...|FILE
#                                   nginx on 127.0.0.1:PORT in front of the backends, or of the
#                                   `upstream NAME {...}` in FILE (`deliver export --format nginx`)
#
# Then: ssh -F /var/lib/deliver-testbed/ssh_config h1   (user app, strict host-key checking).
# Settings (environment): TB_STATE, TB_NET, TB_BOOT_TIMEOUT, TB_SUDO_UNITS, TB_SUDO_RULES,
# TB_PROXY_HOSTS, TB_MASK, TB_HOST_CPU, TB_HOST_CGROUP; see tests/testbed/README.md. Isolation
# for tests, not a security boundary: root in a host keeps CAP_SYS_ADMIN.
set -euo pipefail

# ---- settings --------------------------------------------------------------------------------
STATE=${TB_STATE:-/var/lib/deliver-testbed}  # client key, ssh_config, known_hosts, hI/, nginx/
NET=${TB_NET:-10.79.0}                       # bridge is $NET.1/24, host hI is $NET.(I+1)
BOOT_TIMEOUT=${TB_BOOT_TIMEOUT:-30}          # seconds for a host's sshd to answer
SUDO_UNITS=${TB_SUDO_UNITS:-app}             # ERE: app may manage units X, X-*, X@*, X.*
SUDO_RULES=${TB_SUDO_RULES:-}                # a sudoers file for app instead of those rules
PROXY_HOSTS=${TB_PROXY_HOSTS:-}              # e.g. "h3": those hosts also run nginx on :80
HOST_CPU=${TB_HOST_CPU:-}                    # e.g. "0.2": each host gets at most 0.2 of a core
HOST_CGROUP=${TB_HOST_CGROUP:-unified}       # or "hybrid": the machine's cgroup v1 controllers
# Units that fail or mean nothing in a host. The rest of the machine's own unit config
# (/etc/systemd/system: nginx, postgres, timers, getty...) is replaced by a clean directory.
MASK=${TB_MASK-"getty.target console-getty.service systemd-sysctl.service
  systemd-remount-fs.service systemd-firstboot.service"}
PKGS="openssh-server openssh-client sudo nginx wrk systemd dbus libpam-systemd iproute2
  util-linux procps python3 curl git"
# Names of our own, so that nothing here can touch another test bed's (or anything else's).
P=dtb                      # netns $P-hI, veth $P-hIv (its peer is eth0 in the host), bridge $P-br0
BRIDGE=$P-br0
CG_NAME=deliver-testbed    # <cgroup2>/$CG_NAME/{hI,nginx}
# Dropped from every host's bounding set: capabilities that reach past the namespaces.
CAPS_DROP=-sys_module,-sys_rawio,-sys_time,-syslog,-wake_alarm,-block_suspend
CAPS_DROP+=,-mac_admin,-mac_override
SELF=$(readlink -f "${BASH_SOURCE[0]}")

# ---- helpers ---------------------------------------------------------------------------------
die() { echo "testbed: $*" >&2; exit 1; }
say() { echo "testbed: $*" >&2; }
host_ip() { echo "$NET.$(($1 + 1))"; }
host_dir() { echo "$STATE/h$1"; }
host_pid() { cat "$STATE/h$1/pid" 2>/dev/null; }
host_list() {  # the I of every host with a state dir, up or not
  local d; for d in "$STATE"/h[1-9]; do [ -d "$d" ] && echo "${d##*/h}"; done; true
}
cgroup_root() {  # our cgroup in the cgroup2 hierarchy: /sys/fs/cgroup (unified) or .../unified
  local m; for m in /sys/fs/cgroup /sys/fs/cgroup/unified; do
    [ "$(stat -fc %T "$m" 2>/dev/null)" = cgroup2fs ] && { echo "$m/$CG_NAME"; return; }
  done
  die "no cgroup2 hierarchy mounted (looked at /sys/fs/cgroup and /sys/fs/cgroup/unified)"
}
populated() { grep -q 'populated 1' "$1/cgroup.events" 2>/dev/null; }
# TB_HOST_CPU: a CPU cap per host, so that each host is a machine of its own fixed size whether
# 1 or 9 run (else one host has every core to itself, and 9 share them). The cpu controller is
# in the cgroup2 hierarchy when it has one, else in cgroup v1's `cpu` hierarchy.
CPU_PERIOD_US=10000  # a short period: a capped host waits at most ~8 ms at a time
cpu_cap_root() {  # the cgroup dir that holds the hosts' cpu caps; empty when none is possible
  local v2; v2=$(cgroup_root)
  if grep -qw cpu "${v2%/*}/cgroup.controllers" 2>/dev/null; then echo "$v2"
  elif [ "$(stat -fc %T /sys/fs/cgroup/cpu 2>/dev/null)" = cgroupfs ] &&
       [ -e /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]; then echo "/sys/fs/cgroup/cpu/$CG_NAME"
  fi
}
cpu_quota_us() {  # TB_HOST_CPU (cores, e.g. 0.2) as microseconds per CPU_PERIOD_US
  awk -v c="$HOST_CPU" -v p="$CPU_PERIOD_US" 'BEGIN {
    if (c !~ /^[0-9]*\.?[0-9]+$/ || c * p < 1000) exit 1
    print int(c * p + 0.5) }' ||
    die "TB_HOST_CPU must be a number of cores of at least 0.1 (e.g. 0.2), got '$HOST_CPU'"
}
cpu_cap_check() {  # before any host starts: a bad TB_HOST_CPU stops `up` here (not in a $(...))
  [ -n "$HOST_CPU" ] || return 0
  cpu_quota_us >/dev/null
  [ -n "$(cpu_cap_root)" ] || die "TB_HOST_CPU: no cpu cgroup controller on this machine"
}
cpu_cap() {  # cpu_cap I: make host I's cpu cgroup, capped at TB_HOST_CPU; prints its dir
  # Runs in $(...), where `set -e` is off: every step returns its failure (cpu_cap_check
  # has vetted the setting and the controller already).
  local i=$1 root q
  [ -n "$HOST_CPU" ] || return 0
  q=$(cpu_quota_us) || return 1
  root=$(cpu_cap_root); [ -n "$root" ] || return 1
  if [ "$root" = "$(cgroup_root)" ]; then  # cgroup2: enable cpu down to the hosts
    echo +cpu >"${root%/*}/cgroup.subtree_control" || return 1
    echo +cpu >"$root/cgroup.subtree_control" || return 1
    echo "$q $CPU_PERIOD_US" >"$root/h$i/cpu.max" || return 1
  else
    mkdir -p "$root/h$i" || return 1
    echo "$CPU_PERIOD_US" >"$root/h$i/cpu.cfs_period_us" || return 1
    echo "$q" >"$root/h$i/cpu.cfs_quota_us" || return 1
    echo "$root/h$i"
  fi
}
# TB_HOST_CGROUP=hybrid: besides its cgroup2 subtree, each host gets a cgroup of its own in
# every cgroup v1 hierarchy of this machine (memory, pids, name=systemd...), mounted in the
# host as systemd's hybrid layout, so that its systemd enforces MemoryMax= and the like where
# this machine binds those controllers to cgroup v1. One `DIR OPTIONS` line per hierarchy,
# e.g. `/sys/fs/cgroup/memory memory`, `/sys/fs/cgroup/systemd none,name=systemd`.
v1_hierarchies() {
  awk '$3 == "cgroup" { n = split($4, o, ","); s = ""
    for (k = 1; k <= n; k++) if (o[k] !~ /^(rw|ro|relatime|noatime|nosuid|nodev|noexec)$/)
      s = s (s == "" ? "" : ",") o[k]
    if (s ~ /^name=/) s = "none," s
    print $2, s }' /proc/self/mounts
}
cgroup_v1_check() {  # before any host starts
  case $HOST_CGROUP in
    unified) ;;
    hybrid) v1_hierarchies | grep -qE ' (.*,)?memory(,|$)' ||
      die "TB_HOST_CGROUP=hybrid: this machine has no cgroup v1 memory hierarchy" ;;
    *) die "TB_HOST_CGROUP must be unified or hybrid, got '$HOST_CGROUP'" ;;
  esac
}
cgroup_v1_dirs() {  # cgroup_v1_dirs I: make host I's cgroup in every v1 hierarchy; prints them
  # Runs in $(...), where `set -e` is off: every step returns its failure.
  local i=$1 dir opts d x
  [ "$HOST_CGROUP" = hybrid ] || return 0
  while read -r dir opts; do
    for d in "$dir/$CG_NAME" "$dir/$CG_NAME/h$i"; do
      [ -d "$d" ] && continue
      mkdir "$d" || return 1
      for x in cpuset.cpus cpuset.mems; do  # a new cpuset has none: copy its parent's
        [ -e "$d/$x" ] || continue
        cat "${d%/*}/$x" >"$d/$x" || return 1
      done
    done
    echo "$dir/$CG_NAME/h$i"
  done < <(v1_hierarchies)
}
cgroup_v1_mounts() {  # what the host mounts: NAME:OPTIONS for each hierarchy of cgroup_v1_dirs
  [ "$HOST_CGROUP" = hybrid ] || return 0
  v1_hierarchies | while read -r dir opts; do printf '%s:%s ' "${dir##*/}" "$opts"; done
}
cgroup_v1_remove() {  # our dirs in every cgroup v1 hierarchy (cpu_cap's, the hybrid hosts')
  local dir opts
  while read -r dir opts; do
    [ -d "$dir/$CG_NAME" ] || continue
    find "$dir/$CG_NAME" -depth -type d -exec rmdir {} + 2>/dev/null ||
      say "could not remove $dir/$CG_NAME"
  done < <(v1_hierarchies)
}
# Running, not a zombie. `kill -0` succeeds on zombies, and this machine's PID 1 reaps orphans
# seconds late, so liveness reads the state letter in /proc/PID/stat.
running() { local s; s=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) && [ "${s%% *}" != Z ]; }
# A host is alive while its recorded PID 1 is still in the host's netns (guards PID reuse).
host_alive() {
  local p; p=$(host_pid "$1") || return 1
  [ -n "$p" ] && [ "$(stat -Lc %i "/proc/$p/ns/net" 2>/dev/null)" = \
                    "$(stat -c %i "/run/netns/$P-h$1" 2>/dev/null)" ]
}
# One command at a time changes the test bed. The children that outlive us (hosts, nginx) must
# not inherit fd 9, or they would hold the lock for their whole life.
take_lock() {
  mkdir -p "$STATE"; chmod 700 "$STATE"
  exec 9>"$STATE/lock"
  flock -w 120 9 || die "another testbed.sh has held $STATE/lock for 2 minutes"
}

# ---- install, check --------------------------------------------------------------------------
missing_packages() {  # one dpkg-query for all; a package it does not know is missing too
  local p have
  # shellcheck disable=SC2086 # one word per package
  have=$(dpkg-query -W -f='${Package} ${Status}\n' $PKGS 2>/dev/null |
    awk '/ ok installed$/ {print $1}')
  for p in $PKGS; do grep -qx "$p" <<<"$have" || echo "$p"; done
}

cmd_install() {
  local missing; missing=$(missing_packages)
  [ -n "$missing" ] || { say "all packages present"; return; }
  # Keep apt from starting sshd and nginx on this machine: a policy-rc.d for the install only.
  local guard=/usr/sbin/policy-rc.d made='' rc=0
  if [ ! -e $guard ]; then printf '#!/bin/sh\nexit 101\n' >$guard; chmod 755 $guard; made=1; fi
  # shellcheck disable=SC2086 # one word per package
  { apt-get update -q && RUNLEVEL=1 DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -q --no-install-recommends $missing; } || rc=$?
  [ -z "$made" ] || rm -f $guard
  [ $rc = 0 ] || die "apt-get failed ($rc)"
  say "installed: $(echo "$missing" | tr '\n' ' ')"
}

cmd_check() {  # root, the packages, a cgroup2 hierarchy: say what is missing and the fix
  local c missing root=1 install=''
  if [ "$(id -u)" != 0 ]; then
    say "needs root: it creates network namespaces, veth links, mounts and cgroups"; root=''
  fi
  missing=$(missing_packages)
  [ -z "$missing" ] || { say "missing packages: $(echo "$missing" | tr '\n' ' ')"; install=1; }
  for c in sshd sudo nginx flock unshare setpriv nsenter ip ssh-keyscan; do
    command -v $c >/dev/null || [ -x /usr/sbin/$c ] || { say "missing command: $c"; install=1; }
  done
  [ -z "$install" ] || die "cannot run here; as root, run: $SELF install"
  [ -n "$root" ] || die "cannot run here; run it as root"
  cgroup_root >/dev/null
}

# ---- inside a host: PID 1 builds the host's volatile root, then becomes systemd --------------
init_filesystem() {  # overlays on a tmpfs over the writable trees, the rest read-only
  local h=$1 rw=$2 x
  mount -t tmpfs -o mode=700,size=2g "$P-$h" "$rw"
  for x in etc usr opt srv home root var; do  # var last: the other upper dirs live under it
    mkdir "$rw/$x" "$rw/$x.work"
    mount -t overlay "$P-$x" -o "lowerdir=/$x,upperdir=$rw/$x,workdir=$rw/$x.work" "/$x"
  done
  mount -o remount,bind,ro /
  mount -t tmpfs -o ro,size=4k,mode=755 "$P-hide" "$STATE"  # the client key, other hosts
  mount -t tmpfs -o mode=1777,nosuid,nodev "$P-tmp" /tmp
  # This mount namespace began as a copy of the machine's, `ip netns` mounts of every host
  # started before included: drop them, or they keep those namespaces alive.
  umount -R -l /run/netns 2>/dev/null || true
  mount -t tmpfs -o mode=755,nosuid,nodev "$P-run" /run
}

init_dev() {  # a private /dev with the basic nodes, its own devpts and /dev/shm
  local x
  mount -t tmpfs -o mode=755,nosuid,size=1m "$P-dev" /dev
  for x in null:3 zero:5 full:7 random:8 urandom:9; do
    mknod -m 666 "/dev/${x%:*}" c 1 "${x#*:}"
  done
  mknod -m 666 /dev/tty c 5 0
  mkdir /dev/pts /dev/shm
  mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5 devpts /dev/pts
  mount -t tmpfs -o mode=1777,nosuid,nodev "$P-shm" /dev/shm
  ln -s pts/ptmx /dev/ptmx; ln -s /proc/self/fd /dev/fd
  for x in 0:stdin 1:stdout 2:stderr; do ln -s "/proc/self/fd/${x%:*}" "/dev/${x#*:}"; done
}

init_kernel_views() {  # /sys and /proc/sys read-only; the host's own cgroup subtree
  local x c=/sys/fs/cgroup
  # `ip netns exec` already mounted this netns's sysfs (a new ro mount would be EBUSY).
  mount -o remount,bind,ro,nosuid,nodev,noexec /sys
  if [ -z "${TB_CGROUP_V1:-}" ]; then
    mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 $c  # root of our cgroup ns
  else  # TB_HOST_CGROUP=hybrid: systemd's hybrid layout, each hierarchy rooted at our cgroup
    mount -t tmpfs -o mode=755,nosuid,nodev,noexec,size=64k "$P-cgroup" $c
    for x in $TB_CGROUP_V1; do  # NAME:OPTIONS
      mkdir "$c/${x%%:*}"
      mount -t cgroup -o "nosuid,nodev,noexec,${x#*:}" cgroup "$c/${x%%:*}"
    done
    mkdir $c/unified
    mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 $c/unified
  fi
  for x in /proc/sys /proc/sysrq-trigger; do
    [ -e $x ] || continue; mount --bind $x $x; mount -o remount,bind,ro $x
  done
}

init_identity() {  # hostname, /etc/hosts, machine-id, fstab
  local h=$1 j
  hostname "$h"; echo "$h" >/etc/hostname
  { printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost\n%s.1\ttestbed\n' "$h" "$NET"
    for j in 1 2 3 4 5 6 7 8 9; do printf '%s\th%s\n' "$(host_ip $j)" $j; done; } >/etc/hosts
  echo '# deliver test bed: nothing to mount' >/etc/fstab
  od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >/etc/machine-id; echo >>/etc/machine-id
}

init_sshd() {  # a fresh host key, used alone; keys only, no root
  local h=$1
  rm -f /etc/ssh/ssh_host_*
  ssh-keygen -q -t ed25519 -N '' -C "root@$h" -f /etc/ssh/ssh_host_ed25519_key
  printf '%s\n' 'HostKey /etc/ssh/ssh_host_ed25519_key' 'PasswordAuthentication no' \
    'KbdInteractiveAuthentication no' 'PermitRootLogin no' 'MaxStartups 64:30:128' \
    >/etc/ssh/sshd_config.d/testbed.conf
}

init_app_user() {  # user app: the client key, and linger (user@.service runs from boot)
  local pub=$1 home
  id app >/dev/null 2>&1 || useradd -m -U -s /bin/bash -p '*' app  # '*': no password, not locked
  home=$(getent passwd app | cut -d: -f6)
  install -d -m 700 -o app -g app "$home" "$home/.ssh"
  install -m 600 -o app -g app /dev/null "$home/.ssh/authorized_keys"
  echo "$pub" >"$home/.ssh/authorized_keys"
  mkdir -p /var/lib/systemd/linger; touch /var/lib/systemd/linger/app  # = loginctl enable-linger
}

init_sudo() {  # exactly: daemon-reload, and these verbs on the app's own units
  local rules=$1  # or, when not empty, exactly these rules (TB_SUDO_RULES)
  if [ -n "$rules" ]; then
    printf '%s' "$rules" >/etc/sudoers.d/app; chmod 440 /etc/sudoers.d/app
    visudo -cqf /etc/sudoers.d/app || { echo "bad sudoers file (TB_SUDO_RULES)"; exit 1; }
    return
  fi
  # A regex (sudo >= 1.9.10), not a wildcard: sudoers' `*` matches spaces too, so
  # `restart app*` would also allow `restart app-web nginx`.
  { echo "app ALL=(root) NOPASSWD: /usr/bin/systemctl daemon-reload, \\"
    printf '  /usr/bin/systemctl ^(start|stop|restart|try-restart|reload|enable|disable)'
    printf '( --now)?( (%s)([-@.][-[:alnum:]@._:]*)?)+$\n' "$SUDO_UNITS"; } >/etc/sudoers.d/app
  chmod 440 /etc/sudoers.d/app
  visudo -cqf /etc/sudoers.d/app || { echo "bad sudoers rule (TB_SUDO_UNITS=$SUDO_UNITS)"; exit 1; }
}

# A proxy host (TB_PROXY_HOSTS) also runs nginx (the machine's, on :80, with its default site),
# and app may write /etc/nginx/conf.d/*.conf, check the config and reload nginx. Only there.
init_proxy() {
  ln -s /lib/systemd/system/nginx.service /etc/systemd/system/multi-user.target.wants/
  chgrp app /etc/nginx/conf.d; chmod 2775 /etc/nginx/conf.d
  printf '%s\n' 'app ALL=(root) NOPASSWD: /usr/bin/systemctl reload nginx, /usr/sbin/nginx -t' \
    >/etc/sudoers.d/app-proxy
  chmod 440 /etc/sudoers.d/app-proxy
  visudo -cqf /etc/sudoers.d/app-proxy || { echo "bad sudoers rule for the proxy"; exit 1; }
}

init_systemd_config() {
  local x
  # Journal files of 2 MB, not 8: each host has two (system, app's) and /var is in RAM.
  # "persistent" (in /var, volatile here anyway) keeps a journal per user: app can read its own.
  mkdir -p /etc/systemd/journald.conf.d
  printf '%s\n' '[Journal]' Storage=persistent SystemMaxUse=32M SystemMaxFileSize=2M \
    RuntimeMaxFileSize=2M >/etc/systemd/journald.conf.d/testbed.conf
  rm -rf /etc/systemd/system  # the overlay makes the new one opaque: none of the machine's units
  mkdir -p /etc/systemd/system/multi-user.target.wants
  ln -s /lib/systemd/system/ssh.service /etc/systemd/system/multi-user.target.wants/
  ln -s /lib/systemd/system/ssh.service /etc/systemd/system/sshd.service
  for x in $MASK; do ln -s /dev/null "/etc/systemd/system/$x"; done
}

host_init() {
  local i=$1 h=h$1 pub rules=''
  export PATH=/usr/sbin:/usr/bin:/sbin:/bin
  pub=$(cat "$STATE/id_ed25519.pub")  # before the state dir is hidden
  # TB_SUDO_RULES, as `up` copied it; the newline keeps an empty file apart from none.
  if [ -f "$STATE/sudo_rules" ]; then rules="$(cat "$STATE/sudo_rules")"$'\n'; fi
  init_filesystem "$h" "$(host_dir "$i")/rw"
  init_dev
  init_kernel_views
  init_identity "$h"
  init_sshd "$h"
  init_app_user "$pub"
  init_sudo "$rules"
  init_systemd_config
  if [[ " $PROXY_HOSTS " == *" $h "* ]]; then init_proxy; fi
  exec setpriv --bounding-set "$CAPS_DROP" -- env -i container=deliver-testbed /lib/systemd/systemd
}

# ---- on the machine: network, hosts ----------------------------------------------------------
bridge_up() {
  ip link show "$BRIDGE" >/dev/null 2>&1 && return
  ip link add "$BRIDGE" type bridge
  sysctl -qw "net.ipv6.conf.$BRIDGE.disable_ipv6=1" 2>/dev/null || true
  ip addr add "$NET.1/24" dev "$BRIDGE"; ip link set "$BRIDGE" up
}

host_net_add() {  # netns $P-hI with eth0 = $NET.(I+1), its veth peer on the bridge
  local i=$1 ns=$P-h$1 veth=$P-h$1v
  ip netns del "$ns" 2>/dev/null || true; ip link del "$veth" 2>/dev/null || true
  ip netns add "$ns"
  ip link add "$veth" type veth peer name eth0 netns "$ns"
  sysctl -qw "net.ipv6.conf.$veth.disable_ipv6=1" 2>/dev/null || true
  ip link set "$veth" master "$BRIDGE" up
  ip -n "$ns" addr add "$(host_ip "$i")/24" dev eth0
  ip -n "$ns" link set eth0 up; ip -n "$ns" link set lo up
}

host_start() {  # network, cgroup, namespaces; records PID 1 (as this machine sees it)
  local i=$1 d cg cpu v1 x us p='' n
  d=$(host_dir "$i"); cg=$(cgroup_root)/h$i
  rm -rf "$d"; mkdir -p "$d/rw"
  host_net_add "$i"
  mkdir -p "$cg"
  ! populated "$cg" || die "h$i: processes left in $cg from an earlier run; run: testbed.sh down"
  cpu=$(cpu_cap "$i") || die "h$i: could not cap its CPU (TB_HOST_CPU=$HOST_CPU)"
  v1=$(cgroup_v1_dirs "$i") || die "h$i: could not make its cgroup v1 dirs (TB_HOST_CGROUP)"
  # The subshell moves itself into the host's cgroup (and its cgroup v1 cpu cap, and with
  # TB_HOST_CGROUP=hybrid its cgroups v1), then becomes `unshare`, whose forked child is the
  # host's PID 1: this script's host_init, then systemd. `--cgroup` makes those cgroups the
  # roots the host sees.
  ( echo $BASHPID >"$cg/cgroup.procs"
    if [ -n "$cpu" ]; then echo $BASHPID >"$cpu/cgroup.procs"; fi
    for x in $v1; do echo $BASHPID >"$x/cgroup.procs"; done
    # Nothing open leaks into the host: a caller's `flock FILE testbed.sh up` would otherwise
    # hold FILE's lock for as long as the host runs.
    for fd in /proc/$BASHPID/fd/*; do
      fd=${fd##*/}; [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null || true
    done
    exec ip netns exec "$P-h$i" unshare --pid --fork --mount --uts --ipc --cgroup --mount-proc \
      --propagation private env -i TB_STATE="$STATE" TB_NET="$NET" TB_SUDO_UNITS="$SUDO_UNITS" \
      TB_PROXY_HOSTS="$PROXY_HOSTS" TB_MASK="$MASK" TB_CGROUP_V1="$(cgroup_v1_mounts)" \
      /bin/bash "$SELF" __init "$i"
  ) 9>&- </dev/null >"$d/console.log" 2>&1 &
  us=$!
  for n in $(seq 300); do p=$(pgrep -P "$us") && break; sleep 0.01; done
  if [ -z "$p" ] || [ "$(readlink "/proc/$p/ns/pid")" = "$(readlink /proc/self/ns/pid)" ]; then
    die "h$i: could not find its PID 1 (see $d/console.log)"
  fi
  echo "$p" >"$d/pid"
}

host_diagnose() {  # why a host did not come up: its console, and its journal if it runs
  local i=$1 d; d=$(host_dir "$i")
  echo "--- h$i console (last 25 lines of $d/console.log)"; tail -n 25 "$d/console.log"
  if host_alive "$i"; then
    echo "--- h$i journal (last 25 lines)"
    nsenter -t "$(host_pid "$i")" -m -p journalctl -b -n 25 --no-pager 2>&1 || true
  fi
}

host_wait() {  # until sshd answers with the key this host made; records its known_hosts line
  local i=$1 ip key want end=$((SECONDS + BOOT_TIMEOUT)); ip=$(host_ip "$1")
  while [ $SECONDS -lt $end ] && host_alive "$i"; do
    key=$(ssh-keyscan -T 2 -t ed25519 "$ip" 2>/dev/null | awk '{print $2, $3}') || true
    if [ -n "$key" ]; then
      want=$(cut -d' ' -f1,2 "/proc/$(host_pid "$i")/root/etc/ssh/ssh_host_ed25519_key.pub") || true
      [ "$key" = "$want" ] || { say "h$i: $ip answered with a key that is not h$i's"; return 1; }
      echo "h$i,$ip $key" >"$(host_dir "$i")/known_host"
      return 0
    fi
    sleep 0.1
  done
  { if host_alive "$i"; then echo "testbed: h$i: no sshd on $ip:22 after ${BOOT_TIMEOUT}s"
    else echo "testbed: h$i: its PID 1 died"; fi
    host_diagnose "$i"; } >&2
  return 1
}

write_client_files() {  # ssh_config (Host hI aliases) and known_hosts, for every live host
  local i
  : >"$STATE/known_hosts.new"
  { echo "# deliver test bed: ssh -F $STATE/ssh_config hI"
    for i in $(host_list); do
      host_alive "$i" || continue
      printf 'Host h%s %s\n  HostName %s\n' "$i" "$(host_ip "$i")" "$(host_ip "$i")"
      cat "$(host_dir "$i")/known_host" >>"$STATE/known_hosts.new" 2>/dev/null || true
    done
    printf 'Host h? %s.*\n' "$NET"
    printf '  %s\n' "User app" "IdentityFile $STATE/id_ed25519" "IdentitiesOnly yes" \
      "UserKnownHostsFile $STATE/known_hosts" "GlobalKnownHostsFile /dev/null" \
      "StrictHostKeyChecking yes" "UpdateHostKeys no" "BatchMode yes" "ConnectTimeout 5" \
      "LogLevel ERROR"
  } >"$STATE/ssh_config.new"
  mv "$STATE/known_hosts.new" "$STATE/known_hosts"; mv "$STATE/ssh_config.new" "$STATE/ssh_config"
}

# ---- nginx on the machine, in front of the hosts ---------------------------------------------
nginx_pid() {  # our master: the recorded pid, running, with our config on its command line
  local p; p=$(cat "$STATE/nginx/nginx.pid" 2>/dev/null) && running "$p" &&
    grep -qF "$STATE/nginx/nginx.conf" "/proc/$p/cmdline" 2>/dev/null && echo "$p"
}

proxy_stop() {  # TERM the master it recorded; whatever is left in its cgroup is killed
  local p cg end=$((SECONDS + 5)); cg=$(cgroup_root)/nginx
  if p=$(nginx_pid); then
    kill -TERM "$p"
    while running "$p" && [ $SECONDS -lt $end ]; do sleep 0.02; done
  fi
  cgroup_empty "$cg"
}

proxy_reload() {  # HUP, then wait (bounded) for the old workers to go: then the new config serves
  local master=$1 w old end=$((SECONDS + 10))
  old=$(pgrep -P "$master") || true
  kill -HUP "$master"
  for w in $old; do
    while running "$w" && [ $SECONDS -lt $end ]; do sleep 0.02; done
  done
}

# FILE: its `upstream NAME` is proxied to. Host aliases (`hI:PORT` backends, `server hI:PORT`
# lines in FILE) become the hosts' addresses: nginx here resolves names through this
# machine's /etc/hosts, which has no hI. Directives the file sets at http level win: the
# server block adds only those it lacks (a proxy_set_header at server level would hide every
# one inherited from http).
proxy_config() {
  local port=$1 dir=$2 up=$3 name=$4 has_headers=''
  grep -qE '^[[:space:]]*proxy_set_header[[:space:]]' "$up" && has_headers=1
  lacks() { ! grep -qE "^[[:space:]]*$1[[:space:]]" "$up"; }
  cat <<EOF
worker_processes 1;
user nobody nogroup;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $dir/tmp/body; proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fcgi; uwsgi_temp_path $dir/tmp/uwsgi; scgi_temp_path $dir/tmp/scgi;
  include $dir/upstream.conf;
  server {
    listen 127.0.0.1:$port;
EOF
  lacks proxy_http_version && echo "    proxy_http_version 1.1;"
  # shellcheck disable=SC2016 # nginx variables
  [ -n "$has_headers" ] || printf '    %s\n' 'proxy_set_header Connection "";' \
    'proxy_set_header Host $host;' 'proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;'
  lacks proxy_connect_timeout && echo "    proxy_connect_timeout 1s;"
  lacks proxy_next_upstream &&
    echo "    proxy_next_upstream error timeout http_502 http_503 http_504;"
  lacks proxy_next_upstream_tries && echo "    proxy_next_upstream_tries 0;"
  lacks proxy_next_upstream_timeout && echo "    proxy_next_upstream_timeout 10s;"
  echo "    location / { proxy_pass http://$name; }"
  echo "  }"
  echo "}"
}

cmd_proxy() {
  local port=${1:-} dir=$STATE/nginx name=testbed b i p cg
  if ! [[ $port =~ ^[0-9]+$ ]] || [ $# -lt 2 ]; then
    die "usage: testbed.sh proxy PORT ADDR:PORT...|FILE"
  fi
  shift; take_lock
  mkdir -p "$dir"; install -d -o nobody -g nogroup "$dir/tmp"
  if [ -f "$1" ]; then
    name=$(awk '$1 == "upstream" {print $2; exit}' "$1")
    [ -n "$name" ] || die "$1 defines no \`upstream NAME {...}\`"
    cp "$1" "$dir/upstream.conf"
    for i in 1 2 3 4 5 6 7 8 9; do
      sed -i -E "s/(server[[:space:]]+)h$i([:;[:space:]])/\1$(host_ip $i)\2/" "$dir/upstream.conf"
    done
  else
    { echo "upstream $name {"
      for b in "$@"; do
        [[ $b =~ ^h([1-9]):(.*)$ ]] && b=$(host_ip "${BASH_REMATCH[1]}"):${BASH_REMATCH[2]}
        echo "  server $b max_fails=1 fail_timeout=2s;"
      done
      echo "  keepalive 32;"; echo "}"; } >"$dir/upstream.conf"
  fi
  proxy_config "$port" "$dir" "$dir/upstream.conf" "$name" >"$dir/nginx.conf"
  nginx -q -t -e "$dir/error.log" -c "$dir/nginx.conf" || die "bad nginx config: $dir/nginx.conf"
  if p=$(nginx_pid); then
    proxy_reload "$p"; say "nginx reloaded: 127.0.0.1:$port -> $name"; return
  fi
  cg=$(cgroup_root)/nginx; mkdir -p "$cg"
  : >"$dir/error.log"
  ( echo $BASHPID >"$cg/cgroup.procs"; exec nginx -e "$dir/error.log" -c "$dir/nginx.conf" ) 9>&-
  say "nginx on 127.0.0.1:$port -> $name"
}

# ---- down ------------------------------------------------------------------------------------
cgroup_empty() {  # wait (bounded) for a cgroup to empty, kill what is left, remove it
  local cg=$1 end=$((SECONDS + 5))
  [ -d "$cg" ] || return 0
  while populated "$cg" && [ $SECONDS -lt $end ]; do sleep 0.02; done
  if populated "$cg"; then
    say "${cg##*/}: processes left in its cgroup; killing them"
    echo 1 >"$cg/cgroup.kill"
    end=$((SECONDS + 2)); while populated "$cg" && [ $SECONDS -lt $end ]; do sleep 0.02; done
  fi
  find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true
}

cmd_down() {
  local i cg l; cg=$(cgroup_root)
  take_lock
  proxy_stop
  for i in $(host_list); do  # SIGKILL to PID 1 ends its whole PID namespace
    if host_alive "$i"; then kill -KILL "$(host_pid "$i")"; fi
  done
  for i in "$cg"/h[1-9]; do cgroup_empty "$i"; done  # the kernel ends a PID ns asynchronously
  # Our own names only: what a crashed `up` may have made before it wrote a pid file.
  for l in $(ip -o link show | awk -F': ' -v p="$P" \
      '$2 ~ "^" p "-h[1-9]v@" {sub(/@.*/, "", $2); print $2}'); do
    ip link del "$l" 2>/dev/null || true
  done
  for l in $(ip netns list | awk -v p="$P" '$1 ~ "^" p "-h[1-9]$" {print $1}'); do
    ip netns del "$l"
  done
  ip link del "$BRIDGE" 2>/dev/null || true
  if [ -d "$cg" ]; then rmdir "$cg" 2>/dev/null || say "could not remove cgroup $cg"; fi
  cgroup_v1_remove
  # iproute2 bind-mounts /run/netns on itself: drop that too once no namespace is left in it.
  if mountpoint -q /run/netns && [ -z "$(ls -A /run/netns)" ]; then umount /run/netns; fi
  rm -rf "$STATE"/h[1-9] "$STATE/ssh_config" "$STATE/known_hosts" "$STATE/nginx"
}

# ---- up, status, exec ------------------------------------------------------------------------
cmd_up() {
  local n=${1:-} i pids=() bad=0 t0; t0=$(date +%s%N)
  [[ $n =~ ^[1-9]$ ]] || die "usage: testbed.sh up N   (N = 1..9)"
  [[ $NET =~ ^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || die "TB_NET=$NET: want 3 octets (10.79.0)"
  cmd_check
  cpu_cap_check
  cgroup_v1_check
  take_lock
  if [ -n "$SUDO_RULES" ]; then  # where each host's PID 1 reads it (see host_init)
    visudo -cqf "$SUDO_RULES" || die "TB_SUDO_RULES=$SUDO_RULES: not a valid sudoers file"
    install -m 600 "$SUDO_RULES" "$STATE/sudo_rules"
  else
    rm -f "$STATE/sudo_rules"
  fi
  [ -f "$STATE/id_ed25519" ] ||
    ssh-keygen -q -t ed25519 -N '' -C deliver-testbed -f "$STATE/id_ed25519"
  bridge_up
  for i in $(seq "$n"); do  # start one by one (cheap), then wait for all at once
    host_alive "$i" && continue
    host_start "$i"; host_wait "$i" & pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i" || bad=1; done
  write_client_files
  [ $bad = 0 ] || die "some hosts did not come up (left up to inspect); then: testbed.sh down"
  say "up: $(host_list | sed 's/^/h/' | tr '\n' ' ')in" \
    "$((($(date +%s%N) - t0) / 1000000)) ms; ssh -F $STATE/ssh_config h1"
}

cmd_status() {
  local i p n pss cg pids; cg=$(cgroup_root)
  [ -n "$(host_list)" ] || echo "no hosts"
  for i in $(host_list); do
    if host_alive "$i"; then
      mapfile -t pids < <(find "$cg/h$i" -name cgroup.procs -exec cat {} + 2>/dev/null)
      n=${#pids[@]}
      pss=$(for p in "${pids[@]}"; do awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup"; done \
        2>/dev/null | awk '{s += $1} END {printf "%.1f", s / 1024}')
      printf 'h%s  %-11s up    pid %-7s %3s processes  %6s MB PSS\n' \
        "$i" "$(host_ip "$i")" "$(host_pid "$i")" "$n" "$pss"
    else printf 'h%s  %-11s DOWN  (see %s/console.log; then: testbed.sh down)\n' \
      "$i" "$(host_ip "$i")" "$(host_dir "$i")"; fi
  done
  if p=$(nginx_pid); then
    echo "nginx  pid $p  $(grep -o 'listen [^;]*' "$STATE/nginx/nginx.conf")"
  fi
  true
}

cmd_exec() {
  local i=${1:-}; i=${i#h}; shift || true
  if ! [[ $i =~ ^[1-9]$ ]] || ! host_alive "$i"; then
    die "usage: testbed.sh exec hI [CMD...]  (hI must be up)"
  fi
  [ $# -gt 0 ] || set -- bash -l
  exec nsenter -t "$(host_pid "$i")" -m -u -i -n -p -C -r -w \
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM="${TERM:-dumb}" "$@"
}

usage() { sed -n '2,/^set -euo/p' "$SELF" | sed '$d; s/^# \{0,1\}//'; }

case ${1:-} in
  install) cmd_install ;;
  check) cmd_check ;;
  up) cmd_up "${2:-}" ;;
  down) cmd_down ;;
  status) cmd_status ;;
  exec) shift; cmd_exec "$@" ;;
  proxy) shift; cmd_proxy "$@" ;;
  __init) host_init "$2" ;;
  -h | --help | help) usage ;;
  *) usage >&2; exit 2 ;;
esac
