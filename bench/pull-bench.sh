#!/usr/bin/env bash
# Pull benchmark, side by side in one run (medians, ratios):
#   a multi-layer image of a few hundred MB (busybox + incompressible random data +
#   compressible text + many small files), made locally as an OCI layout and pushed by skopeo
#   into Debian's docker-registry on 127.0.0.1, then pulled
#   1. by berth through berthd (fresh data root per run),
#   2. by a private dockerd (`docker pull`; image removed between runs),
#   3. by skopeo (`copy docker://… oci:`; fresh dir per run: download only, no unpack).
# Usage: bench/pull-bench.sh [RUNS]   (root; builds release first). BENCH_MB scales the image.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh
require_root
ensure_apt_packages $BERTH_APT_PACKAGES docker.io docker-registry skopeo curl bc python3
ensure_cargo
runs=${1:-3}
mb=${BENCH_MB:-100}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release --quiet -p berthd -p berth -p berth-runtime -p monitor
bin=$CARGO_TARGET_DIR/release
work=$(mktemp -d /tmp/pbench.XXXX)
dock=/tmp/pbd.$$
reg_pid=
berthd_pid=
cleanup() {
  set +e
  [ -n "$berthd_pid" ] && { kill "$berthd_pid"; wait "$berthd_pid" 2>/dev/null; }
  [ -n "$reg_pid" ] && { kill "$reg_pid"; wait "$reg_pid" 2>/dev/null; }
  [ -d "$dock" ] && scripts/anchor-dockerd.sh stop "$dock"
  for _ in 1 2 3 4 5; do [ -d "$dock" ] || break; sleep 0.5; rm -rf "$dock"; done
  grep -o " $work[^ ]*" /proc/self/mounts | sort -r | while read -r m; do umount -l "$m"; done
  rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

# ---- the image: an OCI layout with four gzip layers -------------------------------------
echo "making the image (~$((mb * 3)) MB of layers)..." >&2
lay=$work/layout
mkdir -p "$lay/blobs/sha256" "$work/src"
scripts/mk-busybox-rootfs.sh "$work/l0.tar"
mkdir -p "$work/src/1/data" "$work/src/2/text" "$work/src/3/small"
head -c $((mb * 1024 * 1024)) /dev/urandom > "$work/src/1/data/random.bin"
{ yes "berth pull benchmark: compressible line of text, repeated many many times" || true; } \
  | head -c $((mb * 1024 * 1024)) > "$work/src/2/text/lines.txt"
for i in $(seq 2000); do head -c $((mb * 256)) /dev/urandom | base64 > "$work/src/3/small/f$i"; done
for i in 1 2 3; do tar -C "$work/src/$i" -cf "$work/l$i.tar" .; done
descs= diffs=
for i in 0 1 2 3; do
  diffs="$diffs\"sha256:$(sha "$work/l$i.tar")\","
  gzip -1 -c "$work/l$i.tar" > "$work/l$i.tar.gz"
  d=$(sha "$work/l$i.tar.gz"); s=$(stat -c %s "$work/l$i.tar.gz")
  mv "$work/l$i.tar.gz" "$lay/blobs/sha256/$d"
  descs="$descs{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$d\",\"size\":$s},"
  rm -f "$work/l$i.tar"
done
rm -rf "$work/src"
printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":[%s]}}' \
  "${diffs%,}" > "$work/config.json"
cd_=$(sha "$work/config.json"); cs=$(stat -c %s "$work/config.json")
mv "$work/config.json" "$lay/blobs/sha256/$cd_"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' \
  "$cd_" "$cs" "${descs%,}" > "$work/manifest.json"
md=$(sha "$work/manifest.json"); ms=$(stat -c %s "$work/manifest.json")
mv "$work/manifest.json" "$lay/blobs/sha256/$md"
echo '{"imageLayoutVersion":"1.0.0"}' > "$lay/oci-layout"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"v1"}}]}' \
  "$md" "$ms" > "$lay/index.json"
total=$(du -sm "$lay/blobs" | cut -f1)

# ---- the registry ---------------------------------------------------------------------------
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
reg=127.0.0.1:$port
cat > "$work/reg.yml" <<YML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $work/regdata
http:
  addr: $reg
YML
docker-registry serve "$work/reg.yml" >"$work/reg.log" 2>&1 &
reg_pid=$!
for _ in $(seq 100); do curl -sf "http://$reg/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$lay:v1" "docker://$reg/bench/big:v1"
rm -rf "$lay"
img=$reg/bench/big:v1
echo "image: $img, $total MB compressed, 4 layers; $runs runs each" >&2

# ---- berth ----------------------------------------------------------------------------------
B() { "$bin/berth" -H "unix://$work/b.sock" "$@"; }
: > "$work/t.berth"
for r in $(seq "$runs"); do
  rm -rf "$work/bdata" "$work/bexec"
  "$bin/berthd" --data-root "$work/bdata" --exec-root "$work/bexec" -H "unix://$work/b.sock" >"$work/berthd.log" 2>&1 &
  berthd_pid=$!
  for _ in $(seq 100); do B version >/dev/null 2>&1 && break; sleep 0.1; done
  sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
  t0=$(now); B pull -q "$img" >/dev/null; t1=$(now)
  echo "$t1 - $t0" | bc >> "$work/t.berth"
  B run --rm "$img" true
  kill "$berthd_pid"; wait "$berthd_pid" 2>/dev/null || true; berthd_pid=
done

# ---- dockerd --------------------------------------------------------------------------------
sock=$(scripts/anchor-dockerd.sh start "$dock")
D() { DOCKER_HOST="unix://$sock" DOCKER_CONFIG=$work/dcfg docker "$@"; }
: > "$work/t.docker"
for r in $(seq "$runs"); do
  D rmi -f "$img" >/dev/null 2>&1 || true
  sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
  t0=$(now); D pull -q "$img" >/dev/null; t1=$(now)
  echo "$t1 - $t0" | bc >> "$work/t.docker"
done
D rmi -f "$img" >/dev/null 2>&1 || true

# ---- skopeo ---------------------------------------------------------------------------------
: > "$work/t.skopeo"
for r in $(seq "$runs"); do
  rm -rf "$work/sk"
  sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
  t0=$(now); skopeo --insecure-policy copy -q --src-tls-verify=false "docker://$img" "oci:$work/sk:v1"; t1=$(now)
  echo "$t1 - $t0" | bc >> "$work/t.skopeo"
done

mb_=$(median < "$work/t.berth"); md_=$(median < "$work/t.docker"); ms_=$(median < "$work/t.skopeo")
printf '\npull of a %s MB (compressed) 4-layer image from a local docker-registry, median of %s\n' "$total" "$runs"
printf '  berth pull (berthd, unpacked)   %8.2f s\n' "$mb_"
printf '  docker pull (dockerd, unpacked) %8.2f s\n' "$md_"
printf '  skopeo copy (download only)     %8.2f s\n' "$ms_"
printf '  ratio docker/berth %.2fx   skopeo/berth %.2fx   (>1: berth faster)\n' \
  "$(echo "$md_ / $mb_" | bc -l)" "$(echo "$ms_ / $mb_" | bc -l)"
