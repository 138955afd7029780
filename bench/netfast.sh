#!/usr/bin/env bash
# Container network attach/detach cost: median wall time of `berth run --rm busybox true` on
# the default bridge and with `--network none` (the difference is what networking costs per
# container), and the helper processes (execve of ip/nft/nsenter/iptables) berthd spawns for
# one bridge run, counted with strace on the daemon.
# berthd runs with its own network prefix/subnet and --network-cleanup-on-exit on a temp
# data root and socket; everything made here is removed at exit.
# Usage: bench/netfast.sh [RUNS]   (root; BERTH_BIN=dir of binaries, else builds release)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-15}
if [ -z "${BERTH_BIN:-}" ]; then
  cargo build --release --quiet -p berthd -p berth -p berth-runtime -p monitor
  bin=${CARGO_TARGET_DIR:-$PWD/target}/release
else
  bin=$BERTH_BIN
fi
work=$(mktemp -d /tmp/bnf.XXXX)
sock="unix://$work/b.sock"
pid=
cleanup() {
  set +e
  if [ -n "$pid" ]; then
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null
  fi
  umount -R "$work/exec" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
"$bin/berthd" --data-root "$work/data" --exec-root "$work/exec" -H "$sock" \
  --network-prefix "bnf$(printf '%03x' $(($$ % 4096)))" --bip 10.251.3.1/24 \
  --network-cleanup-on-exit >"$work/berthd.log" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -S "$work/b.sock" ] && break; sleep 0.1; done
scripts/mk-busybox-rootfs.sh - | "$bin/berth" -H "$sock" import - busybox >/dev/null
B() { "$bin/berth" -H "$sock" "$@"; }
B run --rm busybox true # warm up: bridge and nft table are made once per network
B run --rm --network none busybox true
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
time_runs() {
  for _ in $(seq "$runs"); do
    s=$(date +%s%N)
    B run --rm "$@" busybox true
    e=$(date +%s%N)
    echo $(((e - s) / 1000))
  done | median
}
bridge=$(time_runs)
none=$(time_runs --network none)
printf 'runs=%s  median us: bridge=%s none=%s  network cost=%s us\n' \
  "$runs" "$bridge" "$none" $((bridge - none))
# helper processes of one run (children of berthd other than the runtime/monitor)
spawns() {
  strace -f -qq -e trace=execve -e signal=none -p "$pid" -o "$work/strace" &
  spid=$!
  sleep 0.5
  B run --rm "$@" busybox true
  sleep 0.3
  kill -INT "$spid"
  wait "$spid" 2>/dev/null || true
  count() { grep -E "\) = 0$" "$work/strace" | grep -c -E "execve\(\"[^\"]*/($1)\"" || true; }
  ip_n=$(count ip); ns_n=$(count nsenter); nft_n=$(count nft); ipt_n=$(count iptables)
  # nsenter execs ip in its place: one `nsenter ip` process shows as two successful execs
  printf 'helper processes per run %s(attach+detach): %s (ip %s, nsenter+ip %s, nft %s, iptables %s)\n' \
    "$*" $((ip_n + nft_n + ipt_n)) $((ip_n - ns_n)) "$ns_n" "$nft_n" "$ipt_n"
}
spawns
spawns -p 127.0.0.1::80 -p 127.0.0.1::81/udp
