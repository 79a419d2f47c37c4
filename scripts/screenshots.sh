#!/usr/bin/env bash
# Screenshots of the running UI over the demo (asset graph, a partitioned asset's partitions, a
# check's result) with headless Chromium, into $METRICS_HOME/screenshots/ (tracked files untouched);
# `make screenshots UPDATE_DOCS=1` writes docs/screenshots/ for the README. Run `make demo` first.
# Usage: scripts/screenshots.sh [OUT_DIR]   (make screenshots)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${UPDATE_DOCS:-}" ]; then default_out=docs/screenshots; else default_out="${METRICS_HOME:-.metrics}/screenshots"; fi
out=${1:-$default_out}
. scripts/demo_env.sh
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  echo "screenshots: installing Debian package chromium"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
[ -f "$METRICS_WAREHOUSE_PATH" ] || { echo "screenshots: no warehouse at $METRICS_WAREHOUSE_PATH; run make demo first" >&2; exit 1; }

port=$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
scratch=$(mktemp -d)
log="$scratch/dev.log"
# make dev's launcher (local sink servers, re-published sinks, dagster dev), stopped by PID below.
( trap - INT QUIT; exec python -m metrics_pipeline.demo.dev -h 127.0.0.1 -p "$port" ) >"$log" 2>&1 &
dev_pid=$!
cleanup() {
  kill -INT "$dev_pid" 2>/dev/null || true
  for _ in $(seq 60); do kill -0 "$dev_pid" 2>/dev/null || break; sleep 0.5; done
  kill -KILL "$dev_pid" 2>/dev/null || true
  rm -rf "$scratch"
}
trap cleanup EXIT

url="http://127.0.0.1:$port"
for i in $(seq 240); do
  if curl -fsS "$url/graphql" -H 'Content-Type: application/json' \
      -d '{"query":"{ workspaceOrError { ... on Workspace { locationEntries { loadStatus } } } }"}' 2>/dev/null | grep -q LOADED; then
    break
  fi
  kill -0 "$dev_pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
  [ "$i" -lt 240 ] || { echo "screenshots: the UI did not come up" >&2; tail -50 "$log" >&2; exit 1; }
  sleep 1
done

shoot() {  # shoot NAME PATH: one page, after its scripts have had time to fetch and draw
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$scratch/chromium-$1" --hide-scrollbars --window-size=1600,1000 \
    --virtual-time-budget=30000 --screenshot="$out/$1.png" "$url$2" >/dev/null 2>&1
  echo "screenshots: $out/$1.png  <- $2"
}
mkdir -p "$out"
shoot asset-graph "/locations/metrics_pipeline/asset-groups/installs/lineage"
shoot partitions "/assets/raw_installs?view=partitions&partition=$(date -u -d yesterday +%F)"
shoot check "/assets/dynamodb/install_activity?view=checks"
