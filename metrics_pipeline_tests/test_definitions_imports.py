"""Loading the definitions imports only what the configured sources need (each costs start-up in
every run process): checked in a fresh interpreter, since this test process has imported them all."""

import json
import os
import subprocess
import sys

import pytest

# Client libraries only some settings need: Snowflake sources, the GitHub commits source, SSM secrets.
OPTIONAL = ("snowflake.connector", "github", "dagster_aws")
PROBE = (
    "import json, sys\n"
    "from metrics_pipeline.definitions import defs\n"
    "defs()\n"
    f"print(json.dumps([m for m in {OPTIONAL!r} if m in sys.modules]))\n"
)


def _loaded_after_defs(tmp_path, **settings: str) -> set[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("METRICS_")}
    env.update(
        METRICS_WAREHOUSE_PATH=str(tmp_path / "warehouse.duckdb"), METRICS_REGISTRY_CSV=str(tmp_path / "registry.csv"),
        METRICS_DOWNLOADS_DIR=str(tmp_path), METRICS_COMMITS_DIR=str(tmp_path), METRICS_DYNAMODB_STACK="imports",
        METRICS_POSTGRES_DSN="postgresql://nobody@127.0.0.1:1/none", **settings,
    )
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, set()),  # file sources, no SSM path: none of the optional clients
        ({"METRICS_SECRETS_SSM_PATH": "/metrics/prod"}, set()),  # SSM is read when a secret is needed, not at load
        ({"METRICS_COMMITS_SOURCE": "github"}, {"github"}),  # the GitHub source's assets need PyGithub
        ({"METRICS_INSTALLS_SOURCE": "snowflake"}, {"snowflake.connector"}),
    ],
)
def test_definitions_import_only_the_configured_clients(tmp_path, settings, expected):
    assert _loaded_after_defs(tmp_path, **settings) == expected
