#!/usr/bin/env bash
# One command from a fresh Debian 12 machine (as root) to a running container:
# installs packages, builds berth, starts berthd, makes busybox:latest from Debian's
# busybox-static and runs `berth run --rm busybox echo hello`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh
require_root
ensure_apt_packages $BERTH_APT_PACKAGES
ensure_cargo

echo ">> cargo build --release"
cargo build --release --quiet
bin=$PWD/target/release
sock=/run/berth/berthd.sock

if ! "$bin/berth" version >/dev/null 2>&1; then
  echo ">> starting berthd (log: /var/log/berthd.log)"
  mkdir -p /run/berth
  setsid "$bin/berthd" >>/var/log/berthd.log 2>&1 < /dev/null &
  for _ in $(seq 100); do [ -S "$sock" ] && "$bin/berth" version >/dev/null 2>&1 && break; sleep 0.1; done
fi

if ! "$bin/berth" inspect busybox:latest >/dev/null 2>&1; then
  echo ">> making busybox:latest from Debian's busybox-static"
  scripts/mk-busybox-rootfs.sh - | "$bin/berth" import --change 'CMD ["sh"]' - busybox:latest
fi

echo ">> berth run --rm busybox echo hello"
"$bin/berth" run --rm busybox echo hello
