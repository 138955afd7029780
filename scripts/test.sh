#!/usr/bin/env bash
# Runs every test of the workspace for real (as root): unit tests, the OCI runtime conformance
# suite (berth-runtime and runc), the image/monitor/engine tests and the end-to-end tests with
# the berth CLI and the real docker CLI against berthd.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh
require_root
ensure_apt_packages $BERTH_APT_PACKAGES $BERTH_TEST_APT_PACKAGES
ensure_cargo

echo ">> cargo build --release --workspace"
cargo build --release --workspace --quiet
echo ">> cargo test --release --workspace"
cargo test --release --workspace -- --test-threads="${BERTH_TEST_THREADS:-4}"
