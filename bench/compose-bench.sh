#!/usr/bin/env bash
# Benchmark of compose projects (issue 18): `up -d`, `up -d` of an unchanged project
# (nothing to do) and `down` of a 5-service project (2 networks, 1 named volume, images
# present) with berth compose on berthd vs Debian's docker-compose 1.29 on a private dockerd
# (docker.io, scripts/anchor-dockerd.sh), in one run; medians and ratios berth/docker.
# Also berth compose on that dockerd (the client alone).
# Usage: bench/compose-bench.sh [RUNS]   (root; BIN=dir with berth binaries, default target/release)
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
command -v docker-compose >/dev/null || { echo "docker-compose is not installed (apt-get install docker-compose)" >&2; exit 1; }
work=$(mktemp -d /tmp/bcompose.XXXX)
dock=/tmp/bcmpd.$$
tag=cb$(printf '%04x' $(( $$ % 65536 )))
berthd_pid=
cleanup() {
  set +e
  if [ -n "$berthd_pid" ]; then
    B compose -p bench -f "$work/p/compose.yaml" down -v >/dev/null 2>&1
    kill "$berthd_pid"; wait "$berthd_pid" 2>/dev/null
  fi
  if [ -d "$dock" ]; then
    DC down -v >/dev/null 2>&1
    scripts/anchor-dockerd.sh stop "$dock"
    # dockerd's last clean-ups may race the script's rm
    for _ in $(seq 20); do [ -d "$dock" ] || break; rm -rf "$dock" 2>/dev/null || sleep 0.25; done
  fi
  grep -o " $work[^ ]*" /proc/self/mounts | sort -r | while read -r m; do umount -l "$m"; done
  rm -rf "$work"
}
trap cleanup EXIT
scripts/mk-busybox-rootfs.sh "$work/busybox.tar"

# a free /24 for each project network (not routed on the host now)
free_net() {
  local i
  for i in $(seq 0 255); do
    local n="10.$1.$i"
    ip -4 route show table all | grep -q "^$n\." || ip -4 route show table all | grep -q " $n\." || { echo "$n"; return; }
  done
  echo "no free subnet in 10.$1.0.0/16" >&2; exit 1
}
front=$(free_net 249); back=$(free_net 248)
mkdir -p "$work/p"
cat > "$work/p/compose.yaml" <<YAML
x-common: &common
  image: busybox
  stop_signal: SIGKILL
services:
  web:
    <<: *common
    command: ["httpd", "-f", "-p", "80"]
    ports: ["127.0.0.1::80"]
    networks: [front]
    depends_on: [app]
  app:
    <<: *common
    command: ["httpd", "-f", "-p", "8000"]
    networks: [front, back]
    depends_on: [cache, db]
  cache:
    <<: *common
    command: ["sleep", "3600"]
    networks: [back]
  db:
    <<: *common
    command: ["sleep", "3600"]
    volumes: ["dbdata:/var/lib/db"]
    networks: [back]
  worker:
    <<: *common
    command: ["sleep", "3600"]
    networks: [back]
networks:
  front:
    ipam: {config: [{subnet: "$front.0/24"}]}
  back:
    ipam: {config: [{subnet: "$back.0/24"}]}
volumes:
  dbdata: {}
YAML

ms() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f", m}'; }
# cycle PREFIX CMD...: RUNS × (up -d, up -d again, down -v), milliseconds per phase.
cycle() {
  local pre=$1; shift
  : > "$pre-up"; : > "$pre-noop"; : > "$pre-down"
  for _ in $(seq "$runs"); do
    local t0
    t0=$(ms); "$@" up -d >"$work/last.log" 2>&1 || { cat "$work/last.log" >&2; exit 1; }
    echo $(( ($(ms) - t0) / 1000000 )) >> "$pre-up"
    t0=$(ms); "$@" up -d >"$work/last.log" 2>&1 || { cat "$work/last.log" >&2; exit 1; }
    echo $(( ($(ms) - t0) / 1000000 )) >> "$pre-noop"
    t0=$(ms); "$@" down -v >"$work/last.log" 2>&1 || { cat "$work/last.log" >&2; exit 1; }
    echo $(( ($(ms) - t0) / 1000000 )) >> "$pre-down"
  done
  echo "$(median < "$pre-up") $(median < "$pre-noop") $(median < "$pre-down")"
}

"$bin/berthd" --data-root "$work/data" --exec-root "$work/exec" -H "unix://$work/b.sock" \
  --network-prefix "$tag" --bip "$(free_net 247).0/24" --network-cleanup-on-exit >"$work/berthd.log" 2>&1 &
berthd_pid=$!
B() { "$bin/berth" -H "unix://$work/b.sock" "$@"; }
for _ in $(seq 100); do B version >/dev/null 2>&1 && break; sleep 0.1; done
B import --change 'CMD ["sh"]' "$work/busybox.tar" busybox:latest >/dev/null
BC() { B compose -p bench -f "$work/p/compose.yaml" "$@"; }

echo "== compose: 5 services, 2 networks, 1 volume, images present; $runs runs each (median ms)"
read -r bu bn bd < <(cycle "$work/b" BC)
echo "berth compose  / berthd : up -d $bu   up -d (no change) $bn   down -v $bd"

sock=$(scripts/anchor-dockerd.sh start "$dock")
DC() { DOCKER_HOST="unix://$sock" DOCKER_CONFIG="$work/dcfg" docker-compose -p bench -f "$work/p/compose.yaml" "$@"; }
DOCKER_HOST="unix://$sock" docker import --change 'CMD ["sh"]' "$work/busybox.tar" busybox:latest >/dev/null
read -r du dn dd < <(cycle "$work/d" DC)
echo "docker-compose / dockerd: up -d $du   up -d (no change) $dn   down -v $dd"
BD() { "$bin/berth" -H "unix://$sock" compose -p bench -f "$work/p/compose.yaml" "$@"; }
read -r xu xn xd < <(cycle "$work/x" BD)
echo "berth compose  / dockerd: up -d $xu   up -d (no change) $xn   down -v $xd"
awk -v a="$bu" -v b="$du" 'BEGIN {printf "ratio berth/docker up -d (median): %.3f\n", a/b}'
awk -v a="$bn" -v b="$dn" 'BEGIN {printf "ratio berth/docker up -d no change (median): %.3f\n", a/b}'
awk -v a="$bd" -v b="$dd" 'BEGIN {printf "ratio berth/docker down -v (median): %.3f\n", a/b}'
