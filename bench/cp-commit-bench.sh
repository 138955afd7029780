#!/usr/bin/env bash
# Benchmark of docker cp and docker commit (issue 13): `docker cp` of a SIZE_MB tree (default
# 200 MB in 200 files) into and out of a running container, and `docker commit` of a
# container whose upper layer holds COMMIT_MB (default 100 MB), against berthd and a private
# dockerd (scripts/anchor-dockerd.sh: own data/exec roots and socket, no bridge, no
# iptables), both driven by the same docker CLI; medians and ratios berth/docker.
# Usage: bench/cp-commit-bench.sh [RUNS]   (root; BIN=dir with berth binaries, default
# target/release; SIZE_MB, COMMIT_MB to change the sizes). Do not trust figures from a busy
# machine.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh
require_root
runs=${1:-5}
size_mb=${SIZE_MB:-200}
commit_mb=${COMMIT_MB:-100}
bin=${BIN:-$PWD/target/release}
if [ -z "${BIN:-}" ]; then
  ensure_cargo
  cargo build --release --quiet -p berthd -p berth -p berth-runtime -p monitor
fi
work=$(mktemp -d /tmp/bcpc.XXXX)
dock=/tmp/bcpcd.$$
berthd_pid=
cleanup() {
  set +e
  if [ -n "$berthd_pid" ]; then kill "$berthd_pid"; wait "$berthd_pid" 2>/dev/null; fi
  [ -d "$dock" ] && scripts/anchor-dockerd.sh stop "$dock"
  grep -o " $work[^ ]*" /proc/self/mounts | sort -r | while read -r m; do umount -l "$m"; done
  rm -rf "$work"
}
trap cleanup EXIT
scripts/mk-busybox-rootfs.sh "$work/busybox.tar"

# The tree: size_mb files of 1 MiB in 10 directories.
tree=$work/tree
for i in $(seq "$size_mb"); do
  d=$tree/d$((i % 10)); mkdir -p "$d"
  head -c 1048576 /dev/urandom > "$d/f$i"
done

ms() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f", m}'; }
# time_one OUTFILE CMD...: one timed run appended in milliseconds.
time_one() {
  local out=$1; shift
  local t0; t0=$(ms)
  "$@" >/dev/null 2>&1 || { echo "FAILED: $*" >&2; "$@" 2>&1 | tail -5 >&2; exit 1; }
  echo $(( ($(ms) - t0) / 1000000 )) >> "$out"
}

# bench NAME DOCKER_FN: cp in, cp out and commit, RUNS times each; prints medians.
bench() {
  local name=$1 X=$2
  : > "$work/$name-in"; : > "$work/$name-out"; : > "$work/$name-commit"
  $X run -d --name cpb busybox sleep 100000 >/dev/null
  $X run -d --name cmb busybox sh -c \
    "dd if=/dev/urandom of=/big bs=1048576 count=$commit_mb 2>/dev/null; touch /done; sleep 100000" >/dev/null
  for _ in $(seq 600); do $X exec cmb ls /done >/dev/null 2>&1 && break; sleep 0.1; done
  for r in $(seq "$runs"); do
    time_one "$work/$name-in" $X cp "$tree" cpb:/tmp/t$r
    time_one "$work/$name-out" $X cp cpb:/tmp/t$r "$work/out-$name-$r"
    rm -rf "$work/out-$name-$r"
    $X exec cpb rm -rf /tmp/t$r
    time_one "$work/$name-commit" $X commit cmb bench/commit:$r
    $X rmi bench/commit:$r >/dev/null
  done
  $X rm -f cpb cmb >/dev/null
  printf '%-6s cp in %s ms   cp out %s ms   commit %s ms\n' "$name" \
    "$(median < "$work/$name-in")" "$(median < "$work/$name-out")" "$(median < "$work/$name-commit")"
}

"$bin/berthd" --data-root "$work/data" --exec-root "$work/exec" -H "unix://$work/b.sock" \
  --bip 10.231.0.1/24 >"$work/berthd.log" 2>&1 &
berthd_pid=$!
B() { DOCKER_HOST="unix://$work/b.sock" docker "$@"; }
for _ in $(seq 100); do B version >/dev/null 2>&1 && break; sleep 0.1; done
"$bin/berth" -H "unix://$work/b.sock" import --change 'CMD ["sh"]' "$work/busybox.tar" busybox:latest >/dev/null

echo "== docker cp of a $size_mb MB tree in and out, docker commit of a $commit_mb MB upper layer, $runs runs each"
bench berth B
if command -v dockerd >/dev/null && command -v docker >/dev/null; then
  sock=$(scripts/anchor-dockerd.sh start "$dock")
  D() { DOCKER_HOST="unix://$sock" docker "$@"; }
  D import --change 'CMD ["sh"]' "$work/busybox.tar" busybox:latest >/dev/null
  bench docker D
  for k in in out commit; do
    awk -v a="$(median < "$work/berth-$k")" -v b="$(median < "$work/docker-$k")" -v k="$k" \
      'BEGIN {printf "ratio berth/docker %s (median): %.3f\n", k, a/b}'
  done
else
  echo "(no dockerd here: berth only)"
fi
