# Shared by the project's scripts: apt packages and the Rust toolchain on PATH.
# shellcheck shell=bash

# Debian packages berth needs to build, run and be tested against its anchors.
BERTH_APT_PACKAGES="busybox-static iproute2 nftables runc pkg-config libseccomp2 ca-certificates curl jq util-linux"
# Real peers the tests drive (dockerd from docker.io for the CLI conformance suite).
BERTH_TEST_APT_PACKAGES="docker.io docker-registry skopeo python3 podman containerd crun python3-grpcio docker-compose"

# Installs the given Debian packages when any is missing (root only).
ensure_apt_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo ">> apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

# Puts cargo on PATH when rustup installed it for root.
ensure_cargo() {
  if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
  fi
  command -v cargo >/dev/null 2>&1 || { echo "cargo not found: install Rust (rustup)" >&2; exit 1; }
}

require_root() {
  [ "$(id -u)" -eq 0 ] || { echo "$0 must run as root (namespaces, cgroups, mounts)" >&2; exit 1; }
}
