import pytest

from metrics_pipeline.registry import normalize_plugin_name, parse_registry_rows, repo_from_code_repository


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


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://github.com/Org/Repo", "Org/Repo"),
        ("https://github.com/Org/Repo/", "Org/Repo"),
        ("https://github.com/Org/Repo.git", "Org/Repo"),
        ("HTTPS://GitHub.com/Org/Repo.git/", "Org/Repo"),
        ("https://gitlab.com/org/repo", None),
        ("", None),
        (None, None),
    ],
)
def test_repo_keeps_registry_spelling_without_prefix_slash_or_git(url, expected):
    assert repo_from_code_repository(url) == expected


def test_blank_names_and_conflicting_duplicates_are_quarantined_not_dropped_silently():
    registry = parse_registry_rows(
        [
            {"name": "napari-foo", "code_repository": "https://github.com/a/foo"},
            {"name": "", "code_repository": "https://github.com/a/x"},
            {"name": "Napari_Foo", "code_repository": "https://github.com/b/foo"},
            {"name": "napari-bar", "code_repository": ""},
            {"name": "napari.bar", "code_repository": "https://github.com/a/bar"},
        ]
    )
    assert [(p.name, p.repo) for p in registry.plugins] == [("napari-bar", "a/bar"), ("napari-foo", "a/foo")]
    assert len(registry.quarantined) == 2
    assert registry.quarantined[0].startswith("line 3: empty plugin name")
    assert "line 4" in registry.quarantined[1] and "b/foo" in registry.quarantined[1]
