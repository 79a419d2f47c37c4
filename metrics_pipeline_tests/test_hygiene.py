"""Our own deprecated calls fail the tests; loading the definitions warns of nothing of ours."""

import json
import subprocess
import sys

import dagster as dg
import pytest

from metrics_pipeline.partitions import DAILY

_LOAD = """
import json, warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    from metrics_pipeline.definitions import defs
    defs().resolve_asset_graph()
print(json.dumps([f"{w.category.__name__}: {w.message} ({w.filename})" for w in caught]))
"""


def test_a_deprecated_dagster_call_in_our_code_fails():
    with pytest.raises(DeprecationWarning, match="partitions_def"):
        dg.define_asset_job("job", selection="raw_installs", partitions_def=DAILY)


def test_loading_the_definitions_in_a_fresh_process_warns_of_nothing_deprecated_or_beta():
    out = subprocess.run([sys.executable, "-c", _LOAD], capture_output=True, text=True, check=True).stdout
    warned = json.loads(out.strip().splitlines()[-1])
    assert [w for w in warned if "Deprecation" in w or "BetaWarning" in w] == []
