#!/usr/bin/env bash
# install.sh: install the `deliver` binary from this checkout (cargo install --path . --locked).
#   ./install.sh               the binary, into ~/.cargo/bin
#   ./install.sh --test-deps   only the system packages the tests need (apt-get, idempotent):
#                              the test bed's (sshd, systemd, sudo, nginx, wrk, git, ...) and Node.js
#   ./install.sh --all         both
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

want_bin=1 want_deps=0
case "${1:-}" in
  "") ;;
  --test-deps) want_bin=0 want_deps=1 ;;
  --all) want_deps=1 ;;
  -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
esac

if [ "$want_deps" = 1 ]; then
  [ "$(id -u)" = 0 ] || { echo "install.sh: --test-deps needs root (apt-get)" >&2; exit 1; }
  # The test bed's packages; its install is idempotent and keeps apt from starting daemons.
  bash tests/testbed/testbed.sh install
  # Building deliver itself: the ssh2 crate compiles libssh2 against the system's OpenSSL,
  # which its build script finds with pkg-config (libgit2 and zlib are built from source).
  build_missing=$(for p in libssl-dev pkg-config; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
  if [ -n "$build_missing" ]; then
    # shellcheck disable=SC2086 # one word per package
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $build_missing
  fi
  if ! command -v node >/dev/null; then   # the example app and the demo run on Node.js
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs
  fi
fi

if [ "$want_bin" = 1 ]; then
  command -v cargo >/dev/null || { echo "install.sh: cargo not found (https://rustup.rs)" >&2; exit 1; }
  cargo install --path . --locked
fi
