#!/usr/bin/env bash
# Runs every test of the workspace for real (as root): unit tests, the OCI runtime conformance
# suite (berth-runtime and runc), the image/monitor/engine tests and the end-to-end tests with
# the berth CLI and the real docker CLI against berthd.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh
require_root
ensure_apt_packages $BERTH_APT_PACKAGES $BERTH_TEST_APT_PACKAGES
ensure_cargo

echo ">> cargo build --release --workspace"
cargo build --release --workspace --quiet
echo ">> cargo test --release --workspace"
cargo test --release --workspace -- --test-threads="${BERTH_TEST_THREADS:-4}"
# The same daemon suite once more on runc: berth-runtime must be a drop-in for it.
if command -v runc >/dev/null; then
  echo ">> berthd docker-CLI suite again with runc as the OCI runtime"
  BERTH_TEST_RUNTIME="$(command -v runc)" cargo test --release -p berthd --test docker_cli -- --test-threads="${BERTH_TEST_THREADS:-4}"
fi
# The berth CLI suite against berthd (the same suite runs against a real dockerd above).
echo ">> berth CLI suite against berthd"
tmp=$(mktemp -d /tmp/bcli.XXXX)
# Its own bridge/nft names and subnet, removed when it stops (no `berth0` left on the host).
target/release/berthd --data-root "$tmp/d" --exec-root "$tmp/e" -H "unix://$tmp/s.sock" \
  --network-prefix bcli --bip 10.247.9.1/24 --network-cleanup-on-exit >"$tmp/log" 2>&1 &
bpid=$!
stop_berthd() {
  set +e
  ids=$(target/release/berth -H "unix://$tmp/s.sock" ps -aq --no-trunc 2>/dev/null || true)
  [ -n "$ids" ] && target/release/berth -H "unix://$tmp/s.sock" rm -f -v $ids >/dev/null 2>&1
  kill "$bpid" 2>/dev/null; wait "$bpid" 2>/dev/null
  grep -o " $tmp[^ ]*" /proc/self/mounts | sort -r | while read -r m; do umount -l "$m"; done
  rm -rf "$tmp"
}
trap stop_berthd EXIT
for _ in $(seq 100); do target/release/berth -H "unix://$tmp/s.sock" version >/dev/null 2>&1 && break; sleep 0.1; done
BERTH_TEST_SOCKET="$tmp/s.sock" cargo test --release -p berth --test cli
echo ">> all tests passed"
