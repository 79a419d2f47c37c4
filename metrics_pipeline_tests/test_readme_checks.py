"""The README's "Data quality" lists say which checks block; the definitions must say the same of every
check they hold (all domains configured), and every name the README gives must exist."""

import fnmatch
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
EVERYTHING = {"METRICS_EVENTS_SPOOL": "/tmp/spool", "METRICS_INFLUXDB_URL": "http://127.0.0.1:9",
              "METRICS_COMMUNITY_SOURCE": "github", "METRICS_POSTGRES_DSN": "postgresql://nobody@127.0.0.1:9/none"}


def _documented() -> dict[str, list[str]]:
    """Heading -> the check-name patterns its bullets start with (`<plugin>` and `*` as wildcards)."""
    section = README.read_text().split("## Data quality", 1)[1].split("\n## ", 1)[0]
    blocks = re.split(r"^\*\*(ERROR \(blocking\)|ERROR, blocking only its plugin|WARN \(never blocking\))\*\*", section,
                      flags=re.M)
    found = {}
    for heading, block in zip(blocks[1::2], blocks[2::2]):
        block = block.split("\n\n**", 1)[0]
        leads = [re.match(r"((?:`[^`]+`[,\s]*)+)", bullet) for bullet in block.split("\n- ")[1:]]
        found[heading.split(" ")[0].rstrip(",") + ("" if "(" in heading else "-plugin")] = [
            re.sub(r"<[a-z_]+>", "*", name) for lead in leads if lead for name in re.findall(r"`([^`]+)`", lead.group(1))]
    return found


@pytest.fixture
def checks(monkeypatch) -> dict[str, bool]:
    from metrics_pipeline.definitions import defs

    for name, value in EVERYTHING.items():
        monkeypatch.setenv(name, value)
    graph = defs().resolve_asset_graph()
    return {key.name: graph.get_check_spec(key).blocking for key in graph.asset_check_keys}


def test_every_check_is_documented_with_its_blocking_and_every_documented_name_exists(checks):
    documented = _documented()
    assert set(documented) == {"ERROR", "ERROR-plugin", "WARN"} and all(documented.values())
    plugin_own = {"installs_within_downloads"}  # a plugin's declared checks: documented in docs/plugins.md
    wrong = {}
    for name, blocking in checks.items():
        if name in plugin_own:
            continue
        listed = sorted(h for h, patterns in documented.items() if any(fnmatch.fnmatchcase(name, p) for p in patterns))
        if listed != (["ERROR"] if blocking else ["ERROR-plugin"] if name.endswith("_computed") else ["WARN"]):
            wrong[name] = {"blocking in code": blocking, "README lists it under": listed}
    assert wrong == {}
    unused = [p for ps in documented.values() for p in ps if not any(fnmatch.fnmatchcase(n, p) for n in checks)]
    assert unused == []
