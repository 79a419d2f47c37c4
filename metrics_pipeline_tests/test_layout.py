"""The layout that grows by domain: each domain folder exposes its definitions, owns its tables,
and the runtime package never imports test or demo helpers."""

import ast
import importlib
from pathlib import Path

import dagster as dg

import metrics_pipeline
from metrics_pipeline.definitions import DOMAINS
from metrics_pipeline.resources.warehouse import SCHEMA_SQL

PACKAGE = Path(metrics_pipeline.__file__).parent


def test_every_domain_exposes_definitions_built_from_the_environment():
    for domain in DOMAINS:
        built = importlib.import_module(f"{domain}.definitions").definitions({})
        assert isinstance(built, dg.Definitions), domain


def test_every_domains_tables_reach_the_warehouse_schema():
    for schema in sorted(PACKAGE.glob("*/schema.sql")):
        first_table = next(line for line in schema.read_text().splitlines() if line.startswith("CREATE"))
        assert first_table in SCHEMA_SQL, schema


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    return names | {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}


def test_the_runtime_package_imports_no_test_support_and_only_the_demo_imports_demo_servers():
    for path in PACKAGE.rglob("*.py"):
        imported = _imports(path)
        assert not any(name.startswith("metrics_pipeline_tests") for name in imported), path
        if "demo" not in path.relative_to(PACKAGE).parts:
            assert not any(name.startswith("metrics_pipeline.demo") for name in imported), path
