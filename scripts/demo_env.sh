# Source this to point a shell (dagster dev, dagster asset materialize) at the demo's data.
: "${METRICS_HOME:=$PWD/.metrics}"
export METRICS_HOME
export METRICS_START_DATE="${METRICS_START_DATE:-2024-01-01}"
export METRICS_DOWNLOADS_DIR="${METRICS_DOWNLOADS_DIR:-$METRICS_HOME/demo/downloads}"
export METRICS_COMMITS_DIR="${METRICS_COMMITS_DIR:-$METRICS_HOME/demo/commits}"
export METRICS_REGISTRY_CSV="${METRICS_REGISTRY_CSV:-$METRICS_HOME/demo/registry.csv}"
export METRICS_WAREHOUSE_PATH="${METRICS_WAREHOUSE_PATH:-$METRICS_HOME/warehouse.duckdb}"
