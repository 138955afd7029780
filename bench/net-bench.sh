#!/usr/bin/env bash
# Network throughput, berth vs a private dockerd (docker.io) in one run, same tool in both:
#  1. container -> container over the engine's default bridge;
#  2. host -> container through a published port on 127.0.0.1.
# The tool is the project's static probe (crates/integration/probe/netprobe.rs, compiled here
# with rustc +crt-static and bind-mounted into busybox containers): `tcp-sink` in the server
# container, `tcp-source IP PORT BYTES` in the client (it prints bytes and seconds).
# berthd runs with its own network prefix/subnet and --network-cleanup-on-exit; dockerd gets
# its own bridge (made here), subnet and no iptables (published ports through docker-proxy,
# which is also what docker does for 127.0.0.1 by default), so neither touches the other's
# rules; everything made here is removed at exit.
# Usage: bench/net-bench.sh [RUNS] [MBYTES]   (root; builds release first)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh
require_root
ensure_apt_packages $BERTH_APT_PACKAGES docker.io bc jq
ensure_cargo
runs=${1:-5}
mbytes=${2:-2000}
bytes=$((mbytes * 1000 * 1000))
if [ -z "${BERTH_BIN:-}" ]; then
  cargo build --release --quiet -p berthd -p berth -p berth-runtime -p monitor
  bin=${CARGO_TARGET_DIR:-$PWD/target}/release
else
  bin=$BERTH_BIN
fi
work=$(mktemp -d /tmp/bnet.XXXX)
dock=/tmp/bnd.$$
tag=nb$(printf '%04x' $(($$ % 65536)))
dbr=${tag}d
berthd_pid=
cleanup() {
  set +e
  if [ -n "$berthd_pid" ]; then
    ids=$("$bin/berth" -H "unix://$work/b.sock" ps -aq --no-trunc)
    [ -n "$ids" ] && "$bin/berth" -H "unix://$work/b.sock" rm -f $ids >/dev/null
    kill "$berthd_pid"; wait "$berthd_pid" 2>/dev/null
  fi
  if [ -S "$dock/docker.sock" ]; then
    ids=$(DOCKER_HOST="unix://$dock/docker.sock" docker ps -aq)
    [ -n "$ids" ] && DOCKER_HOST="unix://$dock/docker.sock" docker rm -f $ids >/dev/null
  fi
  [ -d "$dock" ] && scripts/anchor-dockerd.sh stop "$dock"
  ip link del "$dbr" 2>/dev/null
  grep -o " $work[^ ]*" /proc/self/mounts | sort -r | while read -r m; do umount -l "$m"; done
  rm -rf "$work"
}
trap cleanup EXIT

pick_subnet() { # a /24 in 10.250.0.0/16 not routed on the host
  local i
  for i in $(seq "$1" 255); do
    ip -4 route show table all | grep -q "10\.250\.$i\." || { echo "10.250.$i"; return; }
  done
  echo "no free subnet in 10.250.0.0/16" >&2; exit 1
}
bsub=$(pick_subnet 10)
dsub=$(pick_subnet $(( ${bsub##*.} + 1 )))

scripts/mk-busybox-rootfs.sh "$work/busybox.tar"
rustc --edition 2021 -O -C target-feature=+crt-static crates/integration/probe/netprobe.rs \
  -o "$work/netprobe"
probe="$work/netprobe:/netprobe:ro"

"$bin/berthd" --data-root "$work/data" --exec-root "$work/exec" -H "unix://$work/b.sock" \
  --network-prefix "$tag" --bip "$bsub.0/24" --network-cleanup-on-exit >"$work/berthd.log" 2>&1 &
berthd_pid=$!
B() { "$bin/berth" -H "unix://$work/b.sock" "$@"; }
for _ in $(seq 100); do B version >/dev/null 2>&1 && break; sleep 0.1; done
B import --change 'CMD ["sh"]' "$work/busybox.tar" busybox:latest >/dev/null

have_docker=
if command -v dockerd >/dev/null; then
  ip link add "$dbr" type bridge
  ip addr add "$dsub.1/24" dev "$dbr"
  ip link set "$dbr" up
  # the anchor script's flags, with our bridge instead of none
  sed -e "s/--bridge=none/--bridge=$dbr/" scripts/anchor-dockerd.sh > "$work/anchor.sh"
  chmod +x "$work/anchor.sh"
  sock=$("$work/anchor.sh" start "$dock")
  D() { DOCKER_HOST="unix://$sock" docker "$@"; }
  D import --change 'CMD ["sh"]' "$work/busybox.tar" busybox:latest >/dev/null
  have_docker=1
fi

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() { local p; for p in $(seq 41000 41999); do port_free "$p" && { echo "$p"; return; }; done; }

# one measurement: prints MB/s. $1 = B|D, $2 = c2c|h2c
measure() {
  local E=$1 mode=$2 srv out port ip
  srv=$($E run -d -v "$probe" ${3:+-p "$3:5001"} busybox /netprobe tcp-sink 5001)
  if [ "$mode" = c2c ]; then
    ip=$($E inspect -f '{{.NetworkSettings.IPAddress}}' "$srv")
    out=$($E run --rm -v "$probe" busybox /netprobe tcp-source "$ip" 5001 "$bytes")
  else
    out=$("$work/netprobe" tcp-source 127.0.0.1 "$3" "$bytes")
  fi
  $E rm -f "$srv" >/dev/null
  echo "$out" | awk '{ printf "%.1f\n", $1 / $2 / 1e6 }'
}

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

echo "== network throughput, $mbytes MB per run, $runs runs (median MB/s)"
declare -A res
for mode in c2c h2c; do
  for E in B D; do
    [ "$E" = D ] && [ -z "$have_docker" ] && continue
    vals=()
    for _ in $(seq "$runs"); do
      if [ "$mode" = h2c ]; then p=$(free_port); else p=; fi
      vals+=("$(measure "$E" "$mode" $p)")
    done
    res[$E$mode]=$(printf '%s\n' "${vals[@]}" | median)
  done
done
printf "container->container over the bridge: berth %s MB/s" "${res[Bc2c]}"
[ -n "$have_docker" ] && printf ", docker %s MB/s, ratio berth/docker %.3f" "${res[Dc2c]}" \
  "$(echo "${res[Bc2c]}/${res[Dc2c]}" | bc -l)"
echo
printf "host->container via 127.0.0.1 published port: berth %s MB/s" "${res[Bh2c]}"
[ -n "$have_docker" ] && printf ", docker %s MB/s, ratio berth/docker %.3f" "${res[Dh2c]}" \
  "$(echo "${res[Bh2c]}/${res[Dh2c]}" | bc -l)"
echo
