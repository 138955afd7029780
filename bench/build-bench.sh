#!/usr/bin/env bash
# Benchmark of Dockerfile builds (issue 6): the same Dockerfile (a few RUN/COPY steps on
# busybox) built cold (--no-cache) and warm (everything cached) by berth and by a private
# dockerd (docker.io, classic builder, RUN with --network none), in one run; medians and
# ratios berth/docker.
# Usage: bench/build-bench.sh [RUNS]   (root; BIN=dir with berth binaries, default target/release)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh
require_root
runs=${1:-5}
bin=${BIN:-$PWD/target/release}
if [ -z "${BIN:-}" ]; then
  ensure_cargo
  cargo build --release --quiet -p berthd -p berth -p berth-runtime -p monitor
fi
work=$(mktemp -d /tmp/bbuild.XXXX)
dock=/tmp/bbbd.$$
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

ctx=$work/ctx; mkdir -p "$ctx/src"
for i in $(seq 20); do head -c 4096 /dev/urandom | base64 > "$ctx/src/f$i.txt"; done
echo "config v1" > "$ctx/app.conf"
cat > "$ctx/Dockerfile" <<'DF'
FROM busybox
ENV APP=/app
WORKDIR /app
COPY src/ /app/src/
RUN cat /app/src/*.txt | wc -c > /app/size
COPY app.conf /app/app.conf
RUN mkdir -p /app/out && for i in 1 2 3 4 5; do cp /app/app.conf /app/out/$i; done
RUN echo built > /app/marker
CMD ["cat", "/app/size"]
DF

ms() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f", m}'; }
# time_runs OUTFILE CMD...: RUNS timed runs, milliseconds one per line.
time_runs() {
  local out=$1; shift
  : > "$out"
  for _ in $(seq "$runs"); do
    local t0; t0=$(ms); "$@" >/dev/null 2>&1 || { echo "FAILED: $*" >&2; "$@" | tail -5 >&2; exit 1; }
    echo $(( ($(ms) - t0) / 1000000 )) >> "$out"
  done
}

"$bin/berthd" --data-root "$work/data" --exec-root "$work/exec" -H "unix://$work/b.sock" >"$work/berthd.log" 2>&1 &
berthd_pid=$!
B() { "$bin/berth" -H "unix://$work/b.sock" "$@"; }
for _ in $(seq 100); do B version >/dev/null 2>&1 && break; sleep 0.1; done
B import --change 'CMD ["sh"]' "$work/busybox.tar" busybox:latest >/dev/null

echo "== docker build of a 9-step Dockerfile (3 RUN, 2 COPY), $runs runs each"
B build -t bench:b "$ctx" >/dev/null
time_runs "$work/b-cold" B build --no-cache -t bench:b "$ctx"
time_runs "$work/b-warm" B build -t bench:b "$ctx"
bc_=$(median < "$work/b-cold"); bw=$(median < "$work/b-warm")
echo "berth  cold (--no-cache): $bc_ ms   warm (cached): $bw ms"

if command -v dockerd >/dev/null && command -v docker >/dev/null; then
  sock=$(scripts/anchor-dockerd.sh start "$dock")
  D() { DOCKER_HOST="unix://$sock" DOCKER_BUILDKIT=0 docker "$@"; }
  D import --change 'CMD ["sh"]' "$work/busybox.tar" busybox:latest >/dev/null
  D build --network none -t bench:d "$ctx" >/dev/null 2>&1
  time_runs "$work/d-cold" D build --network none --no-cache -t bench:d "$ctx"
  time_runs "$work/d-warm" D build --network none -t bench:d "$ctx"
  dc=$(median < "$work/d-cold"); dw=$(median < "$work/d-warm")
  echo "docker cold (--no-cache): $dc ms   warm (cached): $dw ms"
  awk -v a="$bc_" -v b="$dc" 'BEGIN {printf "ratio berth/docker cold (median): %.3f\n", a/b}'
  awk -v a="$bw" -v b="$dw" 'BEGIN {printf "ratio berth/docker warm (median): %.3f\n", a/b}'
else
  echo "dockerd not installed: no anchor figures"
fi
