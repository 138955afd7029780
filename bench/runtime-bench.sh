#!/usr/bin/env bash
# OCI runtime benchmark: create + start + wait (state until stopped) + delete of a /bin/true
# bundle, for berth-runtime, runc and crun in one hyperfine run (medians and ratios), then the
# peak RSS of each runtime's create/start/delete.
# crun refuses this machine's hybrid cgroup layout unless the unified mount's
# cgroup.controllers looks empty, so every iteration of every runtime runs inside the same
# `unshare -m` wrapper with an empty file bind-mounted over it (same cost for all three).
# Usage: bench/runtime-bench.sh [RUNS]   (root)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh
require_root
ensure_apt_packages $BERTH_APT_PACKAGES hyperfine crun jq
ensure_cargo
runs=${1:-50}
cargo build --release --quiet -p berth-runtime
bin=${CARGO_TARGET_DIR:-$PWD/target}/release
work=$(mktemp -d /tmp/rtbench.XXXX)
cleanup() {
  set +e
  for r in berth runc crun; do
    for id in rtb-$r rss-$r; do
      [ -d "$work/root-$r/$id" ] && bin_r=$(command -v "$r" || echo "$bin/berth-runtime") &&
        unshare -m --propagation private sh -c \
          "mount --bind $work/empty /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null; $bin_r --root $work/root-$r delete --force $id"
    done
    for c in /sys/fs/cgroup/*/berth/rtbench-$r-$$; do [ -d "$c" ] && rmdir "$c"; done
  done
  rm -rf "$work"
}
trap cleanup EXIT

bundle=$work/bundle
mkdir -p "$bundle/rootfs"
scripts/mk-busybox-rootfs.sh - | tar -x -C "$bundle/rootfs"
"$bin/berth-runtime" spec -b "$bundle"
jq '.process.args=["/bin/true"] | .process.terminal=false' "$bundle/config.json" >"$work/base.json"
: >"$work/empty"

# One iteration: create, start, wait until stopped, delete (all through the runtime's CLI).
cat >"$work/iter.sh" <<'EOF'
set -e
rt=$1 root=$2 id=$3 bundle=$4 empty=$5
if [ -e /sys/fs/cgroup/unified/cgroup.controllers ]; then
  mount --bind "$empty" /sys/fs/cgroup/unified/cgroup.controllers
fi
$rt --root "$root" create -b "$bundle" "$id" </dev/null >/dev/null
$rt --root "$root" start "$id"
while ! $rt --root "$root" state "$id" | grep '"status": *"stopped"' >/dev/null; do :; done
$rt --root "$root" delete "$id"
EOF

declare -a names=() cmds=() bins=()
add() { # name binary
  local b=$work/b-$1
  mkdir -p "$b"
  jq --arg cg "/berth/rtbench-$1-$$" --arg r "$bundle/rootfs" \
    '.linux.cgroupsPath=$cg | .root.path=$r' "$work/base.json" >"$b/config.json"
  names+=("$1")
  bins+=("$2")
  cmds+=("unshare -m --propagation private sh $work/iter.sh $2 $work/root-$1 rtb-$1 $b $work/empty")
}
add berth "$bin/berth-runtime"
command -v runc >/dev/null && add runc "$(command -v runc)"
command -v crun >/dev/null && add crun "$(command -v crun)"

echo "== create+start+wait+delete of /bin/true ($runs runs each)"
hyperfine -N --warmup 5 --runs "$runs" --export-json "$work/rt.json" "${cmds[@]}" >/dev/null
for i in "${!names[@]}"; do
  printf "%-6s median %6.2f ms  (mean %6.2f ms, min %6.2f ms)\n" "${names[$i]}" \
    "$(jq ".results[$i].median*1000" "$work/rt.json")" \
    "$(jq ".results[$i].mean*1000" "$work/rt.json")" \
    "$(jq ".results[$i].min*1000" "$work/rt.json")"
done
for i in "${!names[@]}"; do
  [ "$i" = 0 ] && continue
  printf "ratio berth/%s (median): %.3f\n" "${names[$i]}" \
    "$(jq ".results[0].median/.results[$i].median" "$work/rt.json")"
done

echo "== peak RSS (max over create, start, delete)"
for i in "${!names[@]}"; do
  n=${names[$i]}
  b=$work/b-$n
  rt=${bins[$i]}
  peak=$(unshare -m --propagation private sh -c '
    [ -e /sys/fs/cgroup/unified/cgroup.controllers ] && mount --bind "$5" /sys/fs/cgroup/unified/cgroup.controllers
    m=0
    for step in "create -b $3 $4" "start $4" "wait" "delete $4"; do
      if [ "$step" = wait ]; then
        while ! $1 --root $2 state $4 | grep "\"status\": *\"stopped\"" >/dev/null; do :; done; continue
      fi
      /usr/bin/time -o "$6" -f %M $1 --root $2 $step >/dev/null 2>&1 </dev/null
      k=$(tail -1 "$6")
      [ "$k" -gt "$m" ] && m=$k
    done
    echo $m' _ "$rt" "$work/root-$n" "$b" "rss-$n" "$work/empty" "$work/time-$n")
  awk -v n="$n" -v k="$peak" 'BEGIN { printf "%-6s peak RSS %6.1f MiB\n", n, k/1024 }'
done
