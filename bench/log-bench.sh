#!/usr/bin/env bash
# Log benchmark (issue 11), berth side by side with a private dockerd (docker.io, json-file):
#  1. a container writes BYTES (default 1 GiB) of 64-byte lines as fast as it can with
#     --log-opt max-size=10m --log-opt max-file=3: output rate (MB/s) vs the same command
#     writing to /dev/null, the log files on disk at the end (must stay <= 30 MiB), and the
#     peak RSS of berthd and of the container's monitor;
#  2. `logs --tail 1` of a 1 GiB log (no rotation): wall time and berthd's peak RSS growth.
# Medians of RUNS (default 3). Every figure is appended to bench/results/history.tsv.
# Usage: bench/log-bench.sh [RUNS]   (root; quiet machine; builds release first)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh
. bench/lib.sh
require_root
ensure_apt_packages $BERTH_APT_PACKAGES docker.io jq bc
ensure_cargo
runs=${1:-3}
bytes=${BENCH_LOG_BYTES:-1073741824}
cargo build --release --quiet
bin=$PWD/target/release
work=$(mktemp -d /tmp/blog.XXXX)
dock=/tmp/blogd.$$
berthd_pid=
cleanup() {
  set +e
  if [ -n "$berthd_pid" ]; then
    ids=$("$bin/berth" -H "unix://$work/b.sock" ps -aq --no-trunc)
    [ -n "$ids" ] && "$bin/berth" -H "unix://$work/b.sock" rm -f $ids >/dev/null
    kill "$berthd_pid"; wait "$berthd_pid" 2>/dev/null
  fi
  [ -d "$dock" ] && scripts/anchor-dockerd.sh stop "$dock"
  grep -o " $work[^ ]*" /proc/self/mounts | sort -r | while read -r m; do umount -l "$m"; done
  rm -rf "$work"
}
trap cleanup EXIT
scripts/mk-busybox-rootfs.sh "$work/busybox.tar"
"$bin/berthd" --data-root "$work/data" --exec-root "$work/exec" -H "unix://$work/b.sock" \
  --network-prefix blogb --bip 10.249.17.1/24 --network-cleanup-on-exit >"$work/berthd.log" 2>&1 &
berthd_pid=$!
B() { "$bin/berth" -H "unix://$work/b.sock" "$@"; }
for _ in $(seq 100); do B version >/dev/null 2>&1 && break; sleep 0.1; done
B import --change 'CMD ["sh"]' "$work/busybox.tar" busybox:latest >/dev/null
sock=
if command -v dockerd >/dev/null; then
  sock=$(scripts/anchor-dockerd.sh start "$dock")
  DOCKER_HOST="unix://$sock" docker import --change 'CMD ["sh"]' "$work/busybox.tar" busybox:latest >/dev/null
fi
D() { DOCKER_HOST="unix://$sock" docker "$@"; }
line=0123456789012345678901234567890123456789012345678901234567890123
writer="yes $line | head -c $bytes"
now() { date +%s.%N; }

# One timed run: $1 = engine (B|D), $2 = sink (log|null), $3 = name. Prints seconds.
timed_run() {
  local cmd=$writer
  [ "$2" = null ] && cmd="$writer >/dev/null"
  local t0 t1
  t0=$(now)
  $1 run -d --name "$3" --network none --log-opt max-size=10m --log-opt max-file=3 \
    busybox sh -c "$cmd" >/dev/null
  $1 wait "$3" >/dev/null
  t1=$(now)
  echo "$t1 - $t0" | bc -l
}
log_dir_bytes() { # berth: the container's dir holds its log files
  du -sb "$work/data/containers/$1" 2>/dev/null | awk '{print $1}'
}
mbps() { echo "$bytes / $1 / 1000000" | bc -l; }

echo "== json-file max-size=10m max-file=3: $((bytes / 1048576)) MiB of 64-byte lines, $runs runs"
for eng in B D; do
  [ "$eng" = D ] && [ -z "$sock" ] && continue
  name=$([ "$eng" = B ] && echo berth || echo docker)
  : >"$work/$name.log.s"; : >"$work/$name.null.s"; : >"$work/$name.disk"
  for r in $(seq "$runs"); do
    timed_run $eng null "n$r" >>"$work/$name.null.s"
    $eng rm -f "n$r" >/dev/null
    timed_run $eng log "l$r" >>"$work/$name.log.s"
    id=$($eng inspect -f '{{.Id}}' "l$r")
    if [ "$eng" = B ]; then
      log_dir_bytes "$id" >>"$work/$name.disk"
    else
      du -sb "$dock/data/containers/$id" | awk '{print $1}' >>"$work/$name.disk"
    fi
    $eng rm -f "l$r" >/dev/null
  done
  ls_s=$(bench_median "$work/$name.log.s"); nl_s=$(bench_median "$work/$name.null.s")
  disk=$(sort -g "$work/$name.disk" | tail -1)
  printf "%-6s to log: %7.1f MB/s   to /dev/null: %7.1f MB/s   ratio %.3f   max on disk %.1f MiB\n" \
    "$name" "$(mbps "$ls_s")" "$(mbps "$nl_s")" "$(echo "$nl_s / $ls_s" | bc -l)" \
    "$(echo "$disk / 1048576" | bc -l)"
  bench_record log "$name.rotate.rate" "$(printf %.1f "$(mbps "$ls_s")")" MB/s
  bench_record log "$name.devnull.rate" "$(printf %.1f "$(mbps "$nl_s")")" MB/s
  bench_record log "$name.rotate.disk" "$disk" bytes
done
echo "berthd peak RSS so far: $(( $(bench_hwm_kib "$berthd_pid") / 1024 )) MiB"

# Monitor RSS while an endless writer runs (3 s), then the writer is removed.
B run -d --name mon --network none --log-opt max-size=10m --log-opt max-file=3 \
  busybox sh -c "yes $line" >/dev/null
sleep 3
init=$(B inspect -f '{{.State.Pid}}' mon)
mon_pid=$(awk '{print $4}' "/proc/$init/stat")  # the container init's parent is its monitor
mon_kib=$(bench_rss_kib "$mon_pid")
echo "monitor RSS while writing: $((mon_kib / 1024)) MiB ($(tr '\0' ' ' </proc/$mon_pid/cmdline | cut -c1-40))"
B rm -f mon >/dev/null
bench_record log berth.monitor.rss "$mon_kib" KiB

echo "== logs --tail 1 of a 1 GiB log (no rotation), $runs runs"
for eng in B D; do
  [ "$eng" = D ] && [ -z "$sock" ] && continue
  name=$([ "$eng" = B ] && echo berth || echo docker)
  $eng run -d --name big --network none busybox sh -c "yes $line | head -c 1073741824" >/dev/null
  $eng wait big >/dev/null
  : >"$work/$name.tail.s"
  for _ in $(seq "$runs"); do
    t0=$(now); $eng logs --tail 1 big >/dev/null; t1=$(now)
    echo "$t1 - $t0" | bc -l >>"$work/$name.tail.s"
  done
  med=$(bench_median "$work/$name.tail.s")
  printf "%-6s logs --tail 1: %.1f ms\n" "$name" "$(echo "$med * 1000" | bc -l)"
  bench_record log "$name.tail1.1GiB" "$(printf %.1f "$(echo "$med * 1000" | bc -l)")" ms
  $eng rm -f big >/dev/null
done
hwm=$(bench_hwm_kib "$berthd_pid")
echo "berthd peak RSS over the whole run: $((hwm / 1024)) MiB"
bench_record log berth.berthd.peak_rss "$hwm" KiB
