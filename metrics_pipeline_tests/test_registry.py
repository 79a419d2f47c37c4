import codecs

import dagster as dg
import duckdb
import pytest

from metrics_pipeline.commits.assets import raw_commits
from metrics_pipeline.landing.guards import drop_allowed
from metrics_pipeline.registry import (
    ALLOW_DROP_TAG,
    CONFLICTING_DUPLICATE,
    EMPTY_NAME,
    NORMALIZE_SQL_PATTERN,
    NOT_GITHUB_REPO,
    Plugin,
    PluginRegistry,
    Registry,
    RegistryShrankError,
    guard_registry_shrink,
    normalize_plugin_name,
    parse_registry_rows,
    previous_registry_count,
    repo_from_code_repository,
)
from metrics_pipeline_tests.scenario import Commit, Scenario


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("napari-foo", "napari-foo"),
        ("Napari_Foo", "napari-foo"),
        ("napari.foo", "napari-foo"),
        ("napari__-._foo", "napari-foo"),
        ("PartSeg", "partseg"),
        ("  napari-Foo ", "napari-foo"),
    ],
)
def test_names_are_pep503_normalized(raw, expected):
    assert normalize_plugin_name(raw) == expected


TRICKY_NAMES = ["Napari__-._Foo", "A.B_C-D", "--x--", "X...Y", "a-_-b", "ZOPE.Interface", "_a_", "1.2.3", "Éclair_Plugin"]


def test_python_and_sql_normalization_agree_on_tricky_names():
    """Registry keys (Python) must equal what the SQL engines compute from download rows."""
    with duckdb.connect() as con:
        in_sql = [con.execute("SELECT regexp_replace(lower(?), ?, '-', 'g')", [name, NORMALIZE_SQL_PATTERN]).fetchone()[0]
                  for name in TRICKY_NAMES]
    assert [normalize_plugin_name(name) for name in TRICKY_NAMES] == in_sql
    assert in_sql[:5] == ["napari-foo", "a-b-c-d", "-x-", "x-y", "a-b"]


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://github.com/Org/Repo", "Org/Repo"),
        ("https://github.com/Org/Repo/", "Org/Repo"),
        ("https://github.com/Org/Repo.git", "Org/Repo"),
        ("HTTPS://GitHub.com/Org/Repo.git/", "Org/Repo"),
        ("http://www.github.com/Org/Repo", "Org/Repo"),
        ("https://github.com/Org/Repo?tab=readme-ov-file", "Org/Repo"),
        ("https://github.com/Org/Repo/?tab=readme-ov-file#usage", "Org/Repo"),
        ("https://github.com/Org/Repo#readme", "Org/Repo"),
        ("git@github.com:Org/Repo.git", "Org/Repo"),
        ("git@github.com:Org/Repo", "Org/Repo"),
        ("ssh://git@github.com/Org/Repo", "Org/Repo"),
        ("ssh://git@github.com:22/Org/Repo.git", "Org/Repo"),
        ("git+https://github.com/Org/Repo.git@v1.0", "Org/Repo"),
        ("  https://github.com/Org/Repo \t", "Org/Repo"),
        ("github.com/Org/Repo", "Org/Repo"),
        ("www.github.com/Org/Repo/", "Org/Repo"),
        ("https://github.com/Org/Repo/tree/main/src", "Org/Repo"),
        ("https://github.com/Org/napari-foo.github.io", "Org/napari-foo.github.io"),
        ("https://gitlab.com/org/repo", None),
        ("https://github.com/Org", None),
        ("https://github.com/orgs/Org", None),
        ("https://github.com.evil.example/Org/Repo", None),
        ("https://notgithub.com/Org/Repo", None),
        ("see https://github.com/Org/Repo", None),
        ("", None),
        (None, None),
    ],
)
def test_any_github_url_form_resolves_to_owner_repo_in_registry_spelling(url, expected):
    assert repo_from_code_repository(url) == expected


def test_bad_rows_are_quarantined_with_counts_by_reason_and_examples():
    registry = parse_registry_rows(
        [
            {"name": "napari-foo", "code_repository": "https://github.com/a/foo"},
            {"name": "", "code_repository": "https://github.com/a/x"},
            {"name": "Napari_Foo", "code_repository": "https://github.com/b/foo"},
            {"name": "napari-bar", "code_repository": ""},
            {"name": "napari.bar", "code_repository": "https://github.com/a/bar"},
            {"name": "napari-lab", "code_repository": "https://gitlab.com/a/lab"},
            {"name": "napari-url", "code_repository": "git@github.com:a/url.git"},
        ]
    )
    assert [(p.name, p.repo) for p in registry.plugins] == [
        ("napari-bar", "a/bar"), ("napari-foo", "a/foo"), ("napari-lab", None), ("napari-url", "a/url")]
    assert registry.quarantined == [
        "line 3: empty plugin name",
        "line 4: duplicate name with another repo: 'Napari_Foo' duplicates plugin 'napari-foo' ('b/foo'; kept 'a/foo')",
        "line 7: code_repository is not a GitHub repository URL: 'napari-lab' has 'https://gitlab.com/a/lab'",
    ]
    assert registry.quarantine_counts == {EMPTY_NAME: 1, CONFLICTING_DUPLICATE: 1, NOT_GITHUB_REPO: 1}
    metadata = registry.quarantine_metadata(examples=2)
    assert metadata["registry_rows_quarantined"] == 3
    assert metadata["registry_quarantine_examples"].count("\n") == 1


def test_a_csv_saved_with_a_bom_reads_its_header(tmp_path):
    path = tmp_path / "registry.csv"
    path.write_bytes(codecs.BOM_UTF8 + b"name,code_repository\r\nNapari-Foo,https://github.com/Org/Foo?tab=readme-ov-file\r\n")
    registry = PluginRegistry(csv_path=str(path)).load()
    assert [(p.name, p.repo) for p in registry.plugins] == [("napari-foo", "Org/Foo")]
    assert registry.quarantined == []


def test_a_missing_column_names_the_file_and_the_setting(tmp_path):
    path = tmp_path / "registry.csv"
    path.write_text("plugin,code_repository\nnapari-foo,https://github.com/a/foo\n")
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['name'\].*METRICS_REGISTRY_CSV"):
        PluginRegistry(csv_path=str(path)).load()


def test_commits_of_repos_written_as_tab_query_or_scp_url_are_counted(tmp_path):
    """The issue's example: these registry spellings used to make their commits vanish."""
    scenario = Scenario(tmp_path)
    scenario.set_registry([
        ("napari-tab", "https://github.com/Org/Tab?tab=readme-ov-file"),
        ("napari-ssh", "git@github.com:Org/Ssh.git"),
    ])
    scenario.commits.write([
        Commit("org/tab", "a" * 40, "2024-02-29 10:00:00"),
        Commit("Org/Ssh", "b" * 40, "2024-02-29 23:59:59"),
        Commit("Org/Ssh", "c" * 40, "2024-03-01 00:00:00"),  # the next day: not in the partition
    ])
    assert scenario.materialize([raw_commits], "2024-02-29").success
    assert scenario.query("SELECT plugin_name, repo, count(*) FROM raw_commits GROUP BY ALL ORDER BY 1") == [
        ("napari-ssh", "Org/Ssh", 1), ("napari-tab", "Org/Tab", 1)]


def _registry(n: int) -> Registry:
    return Registry([Plugin(f"p{i}", None) for i in range(n)])


def test_guard_fails_on_a_sharp_shrink_naming_the_setting_unless_allowed():
    guard_registry_shrink(None, _registry(0), allow=False)  # first landing: nothing to compare
    guard_registry_shrink(100, _registry(50), allow=False)  # exactly half: allowed
    guard_registry_shrink(100, _registry(120), allow=False)
    with pytest.raises(RegistryShrankError) as raised:
        guard_registry_shrink(100, _registry(49), allow=False)
    assert "METRICS_REGISTRY_CSV" in raised.value.description
    assert "49 plugins, 51 fewer than the 100" in raised.value.description
    assert ALLOW_DROP_TAG in raised.value.description
    guard_registry_shrink(100, _registry(0), allow=True)
    guard_registry_shrink(100, _registry(75), allow=False, max_drop_fraction=0.25)
    with pytest.raises(RegistryShrankError):
        guard_registry_shrink(100, _registry(74), allow=False, max_drop_fraction=0.25)


def test_previous_count_and_allow_tag_come_from_the_instance_and_the_run():
    seen = []

    @dg.asset
    def landing(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        seen.append((previous_registry_count(context), drop_allowed(context)))
        return dg.MaterializeResult(metadata={"registry_plugins": 7})

    instance = dg.DagsterInstance.ephemeral()
    assert dg.materialize([landing], instance=instance).success
    assert dg.materialize([landing], instance=instance, tags={ALLOW_DROP_TAG: "true"}).success
    assert seen == [(None, False), (7, True)]
