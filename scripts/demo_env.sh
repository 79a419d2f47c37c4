# Source this to point a shell (dg launch, dagster dev) at the demo's data and the project's venv.
: "${METRICS_HOME:=$PWD/.metrics}"
export METRICS_HOME
[ -n "${METRICS_START_DATE:-}" ] || [ ! -f "$METRICS_HOME/demo/settings.env" ] || . "$METRICS_HOME/demo/settings.env"  # the last make demo's window
export METRICS_START_DATE="${METRICS_START_DATE:-$(date -u -d '400 days ago' +%F)}"
export METRICS_DOWNLOADS_DIR="${METRICS_DOWNLOADS_DIR:-$METRICS_HOME/demo/downloads}"
export METRICS_COMMITS_DIR="${METRICS_COMMITS_DIR:-$METRICS_HOME/demo/commits}"
export METRICS_REGISTRY_CSV="${METRICS_REGISTRY_CSV:-$METRICS_HOME/demo/registry.csv}"
export METRICS_WAREHOUSE_PATH="${METRICS_WAREHOUSE_PATH:-$METRICS_HOME/warehouse.duckdb}"
export DAGSTER_HOME="${DAGSTER_HOME:-$PWD/.dagster_home}"
if [ -x "$PWD/.venv/bin/python" ] && [ -z "${VIRTUAL_ENV:-}" ]; then
  export VIRTUAL_ENV="$PWD/.venv" PATH="$PWD/.venv/bin:$PATH"
fi
