#!/bin/bash
# Measures `run` of /bin/true (create+start+wait+delete) for berth-runtime and runc with the
# same busybox bundle (Docker-like config: pid/net/ipc/uts/mnt/cgroup namespaces, cgroup
# under /berth-test-bench-$$). Needs root, hyperfine, /bin/busybox.
# Usage: bench/run-true.sh [path/to/berth-runtime]
set -euo pipefail
B=${1:-/work/target-runtime/release/berth-runtime}
D=$(mktemp -d /tmp/berth-rt-bench.XXXXXX)
P=berth-test-bench-$$
cleanup() {
    for c in /sys/fs/cgroup/*/"$P"; do
        [ -d "$c" ] || continue
        for s in "$c"/*/; do [ -d "$s" ] && rmdir "$s" || true; done
        rmdir "$c" || true
    done
    rm -rf "$D"
}
trap cleanup EXIT
mkdir -p "$D/rootfs/bin" "$D/rootfs/"{proc,sys,dev,tmp,etc}
cp /bin/busybox "$D/rootfs/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$D/rootfs/bin/$a"; done
(cd "$D" && runc spec)
python3 - "$D/config.json" "$P" <<'PY'
import json, sys
p, parent = sys.argv[1], sys.argv[2]
c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/true"]
c["root"]["readonly"] = False
c["linux"]["cgroupsPath"] = "/%s/c" % parent
ns = c["linux"]["namespaces"]
if not any(n["type"] == "cgroup" for n in ns):
    ns.append({"type": "cgroup"})
json.dump(c, open(p, "w"), indent=1)
PY
hyperfine -N -w 5 -r ${RUNS:-100} --export-json "$D/h.json" \
    -n berth-runtime "$B --root $D/s1 run -b $D b1" \
    -n runc "runc --root $D/s2 run -b $D b2"
python3 -c 'import json,sys
for r in json.load(open(sys.argv[1]))["results"]:
    print("%-14s median %.1f ms  min %.1f ms" % (r["command"], r["median"] * 1e3, r["min"] * 1e3))' "$D/h.json"
