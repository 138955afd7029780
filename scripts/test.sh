#!/usr/bin/env bash
# Runs every test of the workspace for real (as root): unit tests, the OCI runtime conformance
# suite (berth-runtime and runc), the image/monitor/engine tests and the end-to-end tests with
# the berth CLI and the real docker CLI against berthd. Prints a per-suite time table at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh
require_root
ensure_apt_packages $BERTH_APT_PACKAGES $BERTH_TEST_APT_PACKAGES
ensure_cargo

threads="${BERTH_TEST_THREADS:-4}"
suite_names=()
suite_secs=()
suite_status=()
failed=0

# run_suite NAME CMD...: runs one suite, records its wall time and result, keeps going on failure
# so the table shows every suite; the script fails at the end if any suite failed.
run_suite() {
  local name=$1; shift
  echo ">> [$name] $*"
  local t0=$SECONDS rc=0
  "$@" || rc=$?
  suite_names+=("$name"); suite_secs+=($((SECONDS - t0)))
  if [ "$rc" -eq 0 ]; then suite_status+=(ok); else suite_status+=("FAILED($rc)"); failed=1; fi
}

print_table() {
  local total=0 i
  echo
  echo "== per-suite time table =="
  printf '%-34s %8s  %s\n' suite seconds result
  for i in "${!suite_names[@]}"; do
    printf '%-34s %8s  %s\n' "${suite_names[$i]}" "${suite_secs[$i]}" "${suite_status[$i]}"
    total=$((total + suite_secs[i]))
  done
  printf '%-34s %8s\n' total "$total"
  if [ -n "${per_binary:-}" ]; then
    echo
    echo "== workspace test binaries (seconds, slowest first) =="
    echo "$per_binary" | sort -t'|' -k2 -rn | awk -F'|' '$2+0 >= 0.5 { printf "%-60s %8.1f  %s\n", $1, $2, $3 }'
  fi
}
trap print_table EXIT

run_suite build cargo build --release --workspace --quiet
# Style gates: formatting and clippy with warnings as errors (the same release profile, so
# clippy reuses the build's dependency artifacts).
run_suite fmt cargo fmt --all -- --check
run_suite clippy cargo clippy --release --workspace --all-targets --quiet -- -D warnings
run_suite build-tests cargo test --release --workspace --no-run --quiet

# Every test binary of the workspace in one cargo run (one feature resolution, no rebuilds);
# its log gives each binary's time for the table.
workspace_log=$(mktemp /tmp/berth-test-log.XXXX)
workspace_tests() {
  set -o pipefail
  cargo test --release --workspace --no-fail-fast -- --test-threads="$threads" 2>&1 | tee "$workspace_log"
}
run_suite "workspace (all test binaries)" workspace_tests
# Per-binary rows: "Running <src> (<bin>)" is followed by that binary's "finished in Xs".
per_binary=$(awk '
  /^ *Running / { src=($2=="unittests") ? $3 : $2; bin=$NF; gsub(/[()]/,"",bin); sub(/.*\//,"",bin);
    sub(/-[0-9a-f]+$/,"",bin); name=bin " (" src ")" }
  /^ *Doc-tests / { name="doc " $2 }
  /test result:/ && name != "" { for (i=1;i<=NF;i++) if ($i=="in") t=$(i+1); sub(/s$/,"",t);
    st=($0 ~ /FAILED/) ? "FAILED" : "ok"; printf "  %s|%s|%s\n", name, t, st; name="" }
' "$workspace_log")
rm -f "$workspace_log"

# The same daemon suite once more on runc: berth-runtime must be a drop-in for it.
if command -v runc >/dev/null; then
  run_suite "berthd docker-CLI on runc" env BERTH_TEST_RUNTIME="$(command -v runc)" \
    cargo test --release -p berthd --test docker_cli -- --test-threads="$threads"
fi

# The berth CLI suite against berthd (the same suite runs against a real dockerd above).
cli_suite_on_berthd() {
  local tmp bpid rc=0 ids
  tmp=$(mktemp -d /tmp/bcli.XXXX)
  # Its own bridge/nft names and subnet, removed when it stops (no `berth0` left on the host).
  target/release/berthd --data-root "$tmp/d" --exec-root "$tmp/e" -H "unix://$tmp/s.sock" \
    --network-prefix bcli --bip 10.247.9.1/24 --network-cleanup-on-exit >"$tmp/log" 2>&1 &
  bpid=$!
  for _ in $(seq 100); do target/release/berth -H "unix://$tmp/s.sock" version >/dev/null 2>&1 && break; sleep 0.1; done
  BERTH_TEST_SOCKET="$tmp/s.sock" cargo test --release -p berth --test cli || rc=$?
  ids=$(target/release/berth -H "unix://$tmp/s.sock" ps -aq --no-trunc 2>/dev/null || true)
  [ -n "$ids" ] && target/release/berth -H "unix://$tmp/s.sock" rm -f -v $ids >/dev/null 2>&1
  kill "$bpid" 2>/dev/null; wait "$bpid" 2>/dev/null || true
  grep -o " $tmp[^ ]*" /proc/self/mounts | sort -r | while read -r m; do umount -l "$m"; done
  [ "$rc" -ne 0 ] && tail -50 "$tmp/log"
  rm -rf "$tmp"
  return "$rc"
}
run_suite "berth CLI on berthd" cli_suite_on_berthd

# The shared cgroup parent `berth/` outlives each container (runtimes leave it, as runc leaves
# its parents, so parallel tests never race on it); the suite removes it once, at the end, when
# it is empty, and reports anything of berth's the tests left on the host.
for d in /sys/fs/cgroup/berth /sys/fs/cgroup/*/berth; do [ -d "$d" ] && { rmdir "$d" 2>/dev/null || true; }; done
leftovers=$( { find /sys/fs/cgroup -maxdepth 3 -type d -name 'berth*' 2>/dev/null;
  ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | grep -E '^(berth|bcli|dbg)' ;
  nft list tables 2>/dev/null | grep -E ' (berth|bcli|dbg)' ; } || true)
if [ -n "$leftovers" ]; then echo ">> left on the host by the tests:"; echo "$leftovers"; fi

if [ "$failed" -ne 0 ]; then
  echo ">> some suites FAILED"
  exit 1
fi
echo ">> all tests passed"
