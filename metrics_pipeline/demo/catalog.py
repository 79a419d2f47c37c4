"""Plugin and untracked project names, the registry rows and the GitHub repos that get commits."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SEPARATORS = re.compile(r"[-_.]+")

_WORDS = (
    "cell tracking segment label blob mesh tiff zarr ome stack deconv spot nucleus skeleton flow "
    "morpho stitch register denoise cluster animate crop roi annotate reader writer czi lif nd2 "
    "threshold filter wave lattice spine neuron organoid embryo tissue vessel colony count measure "
    "profile kymo drift bleach lineage volume surface points shapes tracks cube slice ortho mosaic "
    "hist feature classify learn deep unet cellpose pixel voxel graph fiber particle"
).split()
_REAL_UNTRACKED = (
    "numpy scikit-image napari scipy pandas matplotlib dask tifffile zarr magicgui qtpy superqt "
    "PyQt5 vispy imageio Pillow requests tqdm torch opencv-python scikit-learn napari-plugin-engine "
    "npe2 app-model pydantic Pint xarray h5py numba SimpleITK aicsimageio bioio ome-zarr pooch "
    "psygnal in-n-out PyYAML typing_extensions napari-console napari-svg"
).split()
_OWNERS = (
    "napari BioImageLab jdoe-lab CellImagingCore MorphoLab zhangLab kleinlab TissueVision QuantBio "
    "EMBL-Demo hdr-lab OpenScope-Demo mpicbg-demo BiAPoL-Demo AlLab ImagingHub RoyerLab-Demo "
    "chanzuck-demo SpotLab Neuro-Img pkoch mlee42 AnaSilva DrTanaka jsmith"
).split()


@dataclass
class Catalog:
    """Every downloadable project (plugins first) and what the registry/commit files need."""

    pypi_names: list[str]  # as PyPI spells the project
    is_plugin: np.ndarray
    is_real: np.ndarray
    registry_rows: list[tuple[str, str]]
    repos: list[str]  # owner/name of GitHub repos that get commits, registry repos first


def normalize(name: str) -> str:
    """PEP 503 normalization, duplicated here so the generator needs no Dagster import."""
    return SEPARATORS.sub("-", name).lower()


def title(name: str) -> str:
    return "-".join(part.capitalize() for part in SEPARATORS.split(name))


def _plugin_name(rng: np.random.Generator, words: int) -> str:
    """One registry spelling; the style mix mirrors the real registry's inconsistency."""
    parts = [str(w) for w in rng.choice(_WORDS, size=words, replace=False)]
    style = rng.random()
    if style < 0.60:
        return "napari-" + "-".join(parts)
    if style < 0.70:
        return "napari_" + "_".join(parts)
    if style < 0.76:
        return "Napari-" + "-".join(p.capitalize() for p in parts)
    if style < 0.84:
        return "".join(p.capitalize() for p in parts)
    if style < 0.88:
        return "napari." + ".".join(parts) if rng.random() < 0.5 else "napari-" + ".".join(parts)
    return "-".join(parts) + "-napari"


def _untracked_names(rng: np.random.Generator, count: int) -> list[str]:
    """Real dependencies first, then made-up projects (some napari-looking) that are not plugins."""
    names = list(_REAL_UNTRACKED[:count])
    seen = {normalize(n) for n in names}
    while len(names) < count:
        parts = [str(w) for w in rng.choice(_WORDS, size=2, replace=False)]
        name = ("napari-" if rng.random() < 0.4 else "py") + "-".join(parts) + ("-legacy" if rng.random() < 0.3 else "")
        if normalize(name) not in seen:
            seen.add(normalize(name))
            names.append(name)
    return names


def _plugin_names(rng: np.random.Generator, count: int, taken: set[str]) -> list[str]:
    """Unique after PEP 503 normalization and distinct from every untracked project."""
    names: list[str] = []
    seen = set(taken)
    attempts = 0
    while len(names) < count:
        attempts += 1
        name = _plugin_name(rng, 2 if attempts < 20 * count else 3)
        if attempts > 60 * count:
            name = f"{name}-{attempts}"
        if normalize(name) not in seen:
            seen.add(normalize(name))
            names.append(name)
    return names


def _repo_name(rng: np.random.Generator, plugin: str) -> str:
    u = rng.random()
    if u < 0.6:
        return plugin
    if u < 0.85:
        return title(plugin)
    return SEPARATORS.sub("_", plugin)


def _registry_rows(rng: np.random.Generator, names: list[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """(name, code_repository) rows with URL quirks, plus the distinct GitHub repos they point at."""
    owner_p = 1.0 / np.arange(1, len(_OWNERS) + 1)
    owners = rng.choice(len(_OWNERS), size=len(names), p=owner_p / owner_p.sum())
    rows, repos = [], []
    for name, owner in zip(names, owners):
        repo = f"{_OWNERS[owner]}/{_repo_name(rng, name)}"
        u = rng.random()
        url = f"https://github.com/{repo}"
        if u < 0.05:
            url += "/"
        elif u < 0.09:
            url += ".git"
        elif u < 0.13:
            url, repo = "", None
        rows.append((name, url))
        repos.append(repo)
    for i in (3, 11):  # non-GitHub hosts
        if i < len(rows):
            rows[i] = (rows[i][0], f"https://gitlab.com/{_OWNERS[owners[i]].lower()}/{normalize(rows[i][0])}")
            repos[i] = None
    if len(rows) > 8:  # two plugins from one monorepo
        rows[8] = (rows[8][0], rows[7][1])
        repos[8] = repos[7]
    distinct = list(dict.fromkeys(r for r in repos if r))
    return rows, distinct


def build_catalog(seed: int, plugins: int, untracked: int) -> Catalog:
    rng = np.random.default_rng([seed, 0])
    others = _untracked_names(rng, untracked)
    names = _plugin_names(rng, plugins, {normalize(n) for n in others})
    rows, repos = _registry_rows(rng, names)
    pypi = [title(n) if rng.random() < 0.08 else n for n in names]  # PyPI's spelling may differ
    extra_repos = ["napari/napari", "scikit-image/scikit-image", "dask/dask"]
    extra_repos += [f"{_OWNERS[i % len(_OWNERS)]}/sandbox-{i}" for i in range(max(5, plugins // 20))]
    real = np.array([False] * plugins + [n in _REAL_UNTRACKED for n in others])
    return Catalog(
        pypi_names=pypi + others,
        is_plugin=np.arange(plugins + untracked) < plugins,
        is_real=real,
        registry_rows=rows,
        repos=repos + extra_repos,
    )


def write_registry(path: Path, rows: list[tuple[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["name", "code_repository"])
        writer.writerows(rows)
