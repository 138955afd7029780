#!/usr/bin/env bash
# Starts (or stops) a private dockerd from Debian's docker.io, the anchor berth is compared
# with: its own containerd, data root, exec root and socket under DIR, no bridge, no iptables,
# so it never touches the host's network or another daemon.
#   anchor-dockerd.sh start DIR   -> prints the socket path once dockerd answers
#   anchor-dockerd.sh stop DIR    -> stops both by PID, unmounts and removes DIR
set -euo pipefail
cmd=$1 dir=$2
case "$cmd" in
start)
  mkdir -p "$dir"
  cat > "$dir/containerd.toml" <<TOML
version = 2
root = "$dir/ctd-root"
state = "$dir/ctd-state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$dir/ctd.sock"
TOML
  setsid containerd --config "$dir/containerd.toml" >"$dir/containerd.log" 2>&1 </dev/null &
  echo $! > "$dir/containerd.pid"
  for _ in $(seq 100); do [ -S "$dir/ctd.sock" ] && break; sleep 0.1; done
  setsid dockerd --containerd="$dir/ctd.sock" --data-root="$dir/data" --exec-root="$dir/exec" \
    --pidfile="$dir/dockerd.pid" -H "unix://$dir/docker.sock" --storage-driver=overlay2 \
    --bridge=none --iptables=false --ip6tables=false >"$dir/dockerd.log" 2>&1 </dev/null &
  for _ in $(seq 300); do
    DOCKER_HOST="unix://$dir/docker.sock" docker version >/dev/null 2>&1 && { echo "$dir/docker.sock"; exit 0; }
    sleep 0.1
  done
  echo "dockerd did not start; see $dir/dockerd.log" >&2; exit 1 ;;
stop)
  for p in dockerd containerd; do
    [ -f "$dir/$p.pid" ] || continue
    pid=$(cat "$dir/$p.pid"); kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  grep -o " $dir[^ ]*" /proc/self/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$dir" ;;
*) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
