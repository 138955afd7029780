#!/usr/bin/env bash
# Benchmark of the first slice, side by side with the anchors in one run (medians, ratios):
#  1. `berth run --rm busybox true` vs `docker run --rm --network none busybox true` on a
#     private dockerd (docker.io), same image imported into both;
#  2. `berth-runtime run` vs `runc run` (and `crun run`) of /bin/true on the same bundle;
#  3. RSS of berthd and of the monitors with N (default 50) containers running.
#  4. then the benchmarks of the later issues, each a script of its own in bench/:
#     runtime-bench.sh (berth-runtime vs runc vs crun), pull-bench.sh (pull vs docker, skopeo),
#     build-bench.sh (Dockerfile build vs dockerd), net-bench.sh (bridge/published-port throughput).
#     BENCH_CORE_ONLY=1 skips them.
# Usage: bench/run-bench.sh [RUNS]   (root; builds release first)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh
require_root
ensure_apt_packages $BERTH_APT_PACKAGES docker.io hyperfine crun bc jq
ensure_cargo
runs=${1:-30}
n=${BENCH_CONTAINERS:-50}
cargo build --release --quiet
bin=$PWD/target/release
work=$(mktemp -d /tmp/bbench.XXXX)
dock=/tmp/bbd.$$
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
  --network-prefix bbnch --bip 10.249.13.1/24 --network-cleanup-on-exit >"$work/berthd.log" 2>&1 &
berthd_pid=$!
B() { "$bin/berth" -H "unix://$work/b.sock" "$@"; }
for _ in $(seq 100); do B version >/dev/null 2>&1 && break; sleep 0.1; done
B import --change 'CMD ["sh"]' "$work/busybox.tar" busybox:latest >/dev/null

median() { jq -r '.results[0].median' "$1"; }
echo "== run --rm busybox true ($runs runs each)"
hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/berth.json" \
  "$bin/berth -H unix://$work/b.sock run --rm --network none busybox true" >/dev/null
berth_ms=$(median "$work/berth.json")
printf "berth  run --rm --network none: %.1f ms\n" "$(echo "$berth_ms*1000" | bc -l)"
hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/berth-br.json" \
  "$bin/berth -H unix://$work/b.sock run --rm busybox true" >/dev/null
printf "berth  run --rm (default bridge): %.1f ms\n" "$(echo "$(median "$work/berth-br.json")*1000" | bc -l)"
if command -v dockerd >/dev/null; then
  sock=$(scripts/anchor-dockerd.sh start "$dock")
  DOCKER_HOST="unix://$sock" docker import --change 'CMD ["sh"]' "$work/busybox.tar" busybox:latest >/dev/null
  hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/docker.json" \
    "env DOCKER_HOST=unix://$sock docker run --rm --network none busybox true" >/dev/null
  docker_ms=$(median "$work/docker.json")
  printf "docker run --rm --network none: %.1f ms\n" "$(echo "$docker_ms*1000" | bc -l)"
  printf "ratio berth/docker (median): %.3f (goal <= 0.1)\n" "$(echo "$berth_ms/$docker_ms" | bc -l)"
fi

echo "== OCI runtime: run of /bin/true on one bundle"
bundle=$work/bundle; mkdir -p "$bundle/rootfs"; tar -xf "$work/busybox.tar" -C "$bundle/rootfs"
(cd "$bundle" && runc spec && jq '.process.args=["/bin/true"] | .process.terminal=false | .linux.cgroupsPath="/berth/bench"' config.json > c && mv c config.json)
rt_cmds=("$bin/berth-runtime --root $work/rt-berth run -b $bundle bench-b")
command -v runc >/dev/null && rt_cmds+=("runc --root $work/rt-runc run -b $bundle bench-r")
hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/rt.json" "${rt_cmds[@]}" >/dev/null || true
jq -r '.results[] | "\(.command | split(" ")[0] | split("/")[-1]): \(.median*1000 | .*10 | round / 10) ms"' "$work/rt.json"
if [ "$(jq '.results|length' "$work/rt.json")" -ge 2 ]; then
  printf "ratio berth-runtime/runc (median): %.3f\n" "$(jq '.results[0].median/.results[1].median' "$work/rt.json")"
fi

echo "== memory with $n containers running"
for i in $(seq "$n"); do B run -d busybox sleep 100000 >/dev/null; done
rss() { awk '/VmRSS/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
daemon_kb=$(rss "$berthd_pid")
mon_kb=0; mons=0
for p in /proc/[0-9]*; do
  if { tr '\0' ' ' < "$p/cmdline"; } 2>/dev/null | grep -q "berth-monitor.*$work"; then
    mon_kb=$((mon_kb + $(rss "${p#/proc/}"))); mons=$((mons+1))
  fi
done
echo "berthd RSS: $((daemon_kb/1024)) MiB; monitors: $mons, total $((mon_kb/1024)) MiB, $((mon_kb/ (mons>0?mons:1))) KiB each (goal <= 1024 KiB; docker: 13.2 MB per shim)"

cleanup; trap - EXIT
if [ -z "${BENCH_CORE_ONLY:-}" ]; then
  for b in runtime-bench pull-bench build-bench net-bench; do
    [ -x "bench/$b.sh" ] || continue
    echo "== bench/$b.sh"
    BIN="$bin" "bench/$b.sh" || echo "bench/$b.sh failed (rc=$?)"
  done
fi
