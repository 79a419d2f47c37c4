#!/usr/bin/env bash
# `dg check defs`, a landing range and the rollups it changed via `dg launch`, on demo data in the project's venv.
set -euo pipefail
cd "$(dirname "$0")/.."
export VIRTUAL_ENV="$PWD/.venv" PATH="$PWD/.venv/bin:$PATH"
export METRICS_HOME="$(mktemp -d)"
export DAGSTER_HOME="$METRICS_HOME/dagster_home"
mkdir -p "$DAGSTER_HOME" && cp dagster.yaml "$DAGSTER_HOME/"
trap 'rm -rf "$METRICS_HOME"' EXIT
export METRICS_START_DATE=2024-02-20
. scripts/demo_env.sh
python -m metrics_pipeline.demo.generate --out "$METRICS_HOME/demo" --start 2024-02-20 --end 2024-03-05 --plugins 60 --untracked 20
dg check defs
dg launch --assets raw_installs,raw_commits --partition-range 2024-02-26...2024-03-02
dg launch --assets daily_installs,monthly_installs,total_installs,monthly_commits,total_commits,latest_commits
python - <<'PY'
import duckdb, os
con = duckdb.connect(os.environ["METRICS_WAREHOUSE_PATH"], read_only=True)
days = con.execute("SELECT min(download_day), max(download_day), count(DISTINCT download_day) FROM daily_installs").fetchall()[0]
total, monthly = con.execute("SELECT (SELECT sum(install_count) FROM total_installs), (SELECT sum(install_count) FROM monthly_installs)").fetchall()[0]
print(f"materialized daily installs {days[0]}..{days[1]} ({days[2]} days); total installs {total}")
assert str(days[0]) == "2024-02-26" and str(days[1]) == "2024-03-02" and days[2] == 6, days
assert total == monthly and total > 0, (total, monthly)
PY
echo "materialize_demo: ok"
