"""Write a deterministic demo data set: plugin registry, daily PyPI download Parquet, commit files.

Usage: python -m metrics_pipeline.demo.generate --out DIR --start 2024-01-01 --end 2024-03-31
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import re
import sys
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

_SEPARATORS = re.compile(r"[-_.]+")
_DAY_US = 86_400_000_000
_EPOCH = date(1970, 1, 1)

STRING = pa.string()
TIMESTAMP = pa.timestamp("us", tz="UTC")
_NAME_VERSION = pa.struct([("name", STRING), ("version", STRING)])
FILE_TYPE = pa.struct([("filename", STRING), ("project", STRING), ("version", STRING), ("type", STRING)])
DISTRO_TYPE = pa.struct(
    [
        ("name", STRING),
        ("version", STRING),
        ("id", STRING),
        ("libc", pa.struct([("lib", STRING), ("version", STRING)])),
    ]
)
DETAILS_TYPE = pa.struct(
    [
        ("installer", _NAME_VERSION),
        ("python", STRING),
        ("implementation", _NAME_VERSION),
        ("distro", DISTRO_TYPE),
        ("system", pa.struct([("name", STRING), ("release", STRING)])),
        ("cpu", STRING),
        ("openssl_version", STRING),
        ("setuptools_version", STRING),
        ("rustc_version", STRING),
        ("ci", pa.bool_()),
    ]
)
DOWNLOAD_SCHEMA = pa.schema(
    [
        ("timestamp", TIMESTAMP),
        ("country_code", STRING),
        ("url", STRING),
        ("project", STRING),
        ("file", FILE_TYPE),
        ("details", DETAILS_TYPE),
        ("tls_protocol", STRING),
        ("tls_cipher", STRING),
    ]
)
COMMIT_SCHEMA = pa.schema(
    [
        ("repo", STRING),
        ("sha", STRING),
        ("author_id", STRING),
        ("commit_author_date", TIMESTAMP),
        ("commit_message", STRING),
        ("repo_url", STRING),
        ("ingestion_time", TIMESTAMP),
    ]
)

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
_REAL_WEIGHT = 0.5  # real libraries' popularity score is scaled by this, so they tend to rank high
_OWNERS = (
    "napari BioImageLab jdoe-lab CellImagingCore MorphoLab zhangLab kleinlab TissueVision QuantBio "
    "EMBL-Demo hdr-lab OpenScope-Demo mpicbg-demo BiAPoL-Demo AlLab ImagingHub RoyerLab-Demo "
    "chanzuck-demo SpotLab Neuro-Img pkoch mlee42 AnaSilva DrTanaka jsmith"
).split()
_COUNTRIES = ("US", "DE", "CN", "GB", "FR", "JP", "IN", "CA", "NL", "CH", "KR", "AU", "SE", "BR", "IT", "ES")
_COUNTRY_WEIGHTS = (30, 12, 10, 7, 6, 5, 5, 4, 4, 3, 3, 3, 2, 2, 2, 2)
_TLS = (
    ("TLSv1.3", "TLS_AES_128_GCM_SHA256", 55),
    ("TLSv1.3", "TLS_AES_256_GCM_SHA384", 20),
    ("TLSv1.3", "TLS_CHACHA20_POLY1305_SHA256", 5),
    ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256", 15),
    ("TLSv1.2", "ECDHE-RSA-AES256-GCM-SHA384", 5),
)
# (installer name, share, versions newest first); installers without an environment report none.
_INSTALLERS = (
    ("pip", 0.70, ("24.2", "24.0", "23.3.1", "25.0.1", "22.0.2", "21.3.1")),
    ("uv", 0.10, ("0.4.18", "0.5.2", "0.6.9", "0.2.37")),
    ("poetry", 0.04, ("1.8.3", "1.7.1", "1.5.1")),
    ("requests", 0.03, ("2.32.3", "2.31.0")),
    ("Browser", 0.02, (None,)),
    ("bandersnatch", 0.02, ("6.5.0", "6.3.0")),
    ("devpi", 0.01, ("6.2.0",)),
    ("pdm", 0.01, ("2.18.1", "2.12.4")),
    (None, 0.07, (None,)),
)
_NO_ENVIRONMENT = {None, "Browser", "bandersnatch", "devpi"}
_COMMIT_MESSAGES = (
    "Fix typo in README",
    "Bump version",
    "Add tests for reader",
    "Update CI workflow",
    "Merge pull request from fork",
    "Refactor widget layout",
    "Fix crash on empty layer",
    "Support napari 0.5",
    "Add sample data",
    "Pin numpy<2",
    "Update docs, examples and changelog",
    'Rename "Run" button',
    "Fix off-by-one in tiling\n\nCloses #12",
    "pre-commit autoupdate",
    "Initial commit",
    "Drop Python 3.8",
    "Speed up label counting",
    "Handle 3D stacks",
    "WIP",
    "Release 0.2.0",
)


@dataclass(frozen=True)
class DemoSummary:
    """What a run wrote, for the CLI and for tests to check against."""

    plugins: int
    download_rows: int
    commit_rows: int
    files: int


@dataclass
class _Catalog:
    """Every downloadable project (plugins first) and what the registry/commit files need."""

    pypi_names: list[str]  # as PyPI spells the project
    is_plugin: np.ndarray
    is_real: np.ndarray
    registry_rows: list[tuple[str, str]]
    repos: list[str]  # owner/name of GitHub repos that get commits, registry repos first


def normalize(name: str) -> str:
    """PEP 503 normalization, duplicated here so the generator needs no Dagster import."""
    return _SEPARATORS.sub("-", name).lower()


def _title(name: str) -> str:
    return "-".join(part.capitalize() for part in _SEPARATORS.split(name))


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
        return _title(plugin)
    return _SEPARATORS.sub("_", plugin)


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


def _catalog(seed: int, plugins: int, untracked: int) -> _Catalog:
    rng = np.random.default_rng([seed, 0])
    others = _untracked_names(rng, untracked)
    names = _plugin_names(rng, plugins, {normalize(n) for n in others})
    rows, repos = _registry_rows(rng, names)
    pypi = [_title(n) if rng.random() < 0.08 else n for n in names]  # PyPI's spelling may differ
    extra_repos = ["napari/napari", "scikit-image/scikit-image", "dask/dask"]
    extra_repos += [f"{_OWNERS[i % len(_OWNERS)]}/sandbox-{i}" for i in range(max(5, plugins // 20))]
    real = np.array([False] * plugins + [n in _REAL_UNTRACKED for n in others])
    return _Catalog(
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


@dataclass
class _Pools:
    """Small lookup arrays that rows index into, so per-row strings are pyarrow `take`s."""

    file_projects: pa.Array  # n_projects * 3 spellings
    project_weights: np.ndarray
    filenames: pa.Array  # n_projects * 4 versions * 2 types
    urls: pa.Array
    versions: pa.Array
    types: pa.Array
    installer_names: pa.Array
    installer_versions: pa.Array
    installer_weights: np.ndarray
    installer_has_env: np.ndarray
    env: pa.Table  # row 0 is all-null (no environment reported)
    env_weights: np.ndarray


def _file_pools(rng: np.random.Generator, names: list[str], seed: int) -> dict:
    spellings, filenames, urls, versions, types = [], [], [], [], []
    for name in names:
        underscore = _SEPARATORS.sub("_", name)
        spellings += [name, underscore.lower(), _title(name)]
        major, minor, patch = int(rng.random() < 0.2), int(rng.integers(1, 12)), int(rng.integers(0, 6))
        for k in range(4):
            version = f"{major}.{max(minor - k, 0)}.{patch if k == 0 else k}"
            for kind, filename in (
                ("bdist_wheel", f"{underscore}-{version}-py3-none-any.whl"),
                ("sdist", f"{name}-{version}.tar.gz"),
            ):
                digest = hashlib.blake2b(f"{seed}:{filename}".encode(), digest_size=32).hexdigest()
                filenames.append(filename)
                urls.append(f"/packages/{digest[:2]}/{digest[2:4]}/{digest[4:]}/{filename}")
                versions.append(version)
                types.append(kind)
    return {
        "file_projects": pa.array(spellings, STRING),
        "filenames": pa.array(filenames, STRING),
        "urls": pa.array(urls, STRING),
        "versions": pa.array(versions, STRING),
        "types": pa.array(types, STRING),
    }


def _environment(rng: np.random.Generator) -> tuple:
    """One client environment as the `details` fields other than installer and ci."""
    minor = int(rng.choice([8, 9, 10, 11, 12, 13], p=[0.08, 0.12, 0.25, 0.28, 0.2, 0.07]))
    python = f"3.{minor}.{int(rng.integers(0, 12))}"
    impl = ("PyPy", "7.3.16") if rng.random() < 0.02 else ("CPython", python)
    system = str(rng.choice(["Linux", "Darwin", "Windows"], p=[0.7, 0.15, 0.15]))
    if system == "Linux":
        distro = [
            ("Ubuntu", "22.04", "jammy", "glibc", "2.35"),
            ("Ubuntu", "24.04", "noble", "glibc", "2.39"),
            ("Debian GNU/Linux", "12", "bookworm", "glibc", "2.36"),
            ("Amazon Linux", "2", None, "glibc", "2.26"),
            ("CentOS Linux", "7", "Core", "glibc", "2.17"),
            ("Alpine Linux", "3.19.1", None, None, None),
        ][int(rng.integers(0, 6))]
        release, cpu = "5.15.0-1057-azure", str(rng.choice(["x86_64", "aarch64"], p=[0.9, 0.1]))
    elif system == "Darwin":
        distro = ("macOS", str(rng.choice(["13.6", "14.5", "15.1"])), None, None, None)
        release, cpu = "23.5.0", str(rng.choice(["arm64", "x86_64"]))
    else:
        distro, release, cpu = (None,) * 5, "10", "AMD64"
    openssl = str(rng.choice(["OpenSSL 3.0.2 15 Mar 2022", "OpenSSL 1.1.1w  11 Sep 2023", "OpenSSL 3.3.1 4 Jun 2024"]))
    setuptools = str(rng.choice(["69.5.1", "70.0.0", "65.5.0", "75.1.0"]))
    rustc = "1.76.0" if rng.random() < 0.15 else None
    return (python, *impl, *distro, system, release, cpu, openssl, setuptools, rustc)


_ENV_COLUMNS = (
    "python impl_name impl_version distro_name distro_version distro_id libc_lib libc_version "
    "system_name system_release cpu openssl setuptools rustc"
).split()


def _pools(seed: int, catalog: _Catalog) -> _Pools:
    rng = np.random.default_rng([seed, 1])
    files = _file_pools(rng, catalog.pypi_names, seed)
    names, versions, weights, has_env = [], [], [], []
    for name, share, known in _INSTALLERS:
        decay = 0.5 ** np.arange(len(known))
        for version, w in zip(known, decay / decay.sum()):
            names.append(name)
            versions.append(version)
            weights.append(share * w)
            has_env.append(name not in _NO_ENVIRONMENT)
    envs = [(None,) * len(_ENV_COLUMNS)] + [_environment(rng) for _ in range(160)]
    env_weights = 1.0 / np.arange(1, len(envs)) ** 0.9
    return _Pools(
        project_weights=np.array([0.75, 0.17, 0.08]),
        installer_names=pa.array(names, STRING),
        installer_versions=pa.array(versions, STRING),
        installer_weights=np.array(weights) / sum(weights),
        installer_has_env=np.array(has_env),
        env=pa.table({c: pa.array(col, STRING) for c, col in zip(_ENV_COLUMNS, zip(*envs))}),
        env_weights=env_weights / env_weights.sum(),
        **files,
    )


@dataclass
class _Rates:
    """Per-project expected downloads per day at the range start, trend, and first live day."""

    base: np.ndarray
    growth: np.ndarray  # per year
    first_day: np.ndarray


def _rates(seed: int, catalog: _Catalog, n_days: int) -> _Rates:
    """Zipf popularity over a shuffled ranking; a few plugins start late, two never download."""
    rng = np.random.default_rng([seed, 2])
    n = len(catalog.pypi_names)
    score = rng.random(n) * np.where(catalog.is_real, _REAL_WEIGHT, 1.0)
    rank = np.empty(n)
    rank[np.argsort(score, kind="stable")] = np.arange(1, n + 1)
    base = rank**-1.1
    base *= 5000.0 * n / 420.0 / base.sum()
    growth = rng.normal(0.15, 0.25, n)
    first_day = np.zeros(n, dtype=np.int64)
    plugins = np.flatnonzero(catalog.is_plugin)
    if plugins.size >= 10:
        picked = rng.choice(plugins, size=max(3, plugins.size // 25) + 2, replace=False)
        base[picked[:2]] = 0.0
        low = int(n_days * 0.2)
        first_day[picked[2:]] = rng.integers(low, max(int(n_days * 0.9), low + 1), picked.size - 2)
    return _Rates(base, growth, first_day)


def _struct(kind: pa.StructType, children: list[pa.Array]) -> pa.StructArray:
    return pa.StructArray.from_arrays(children, fields=[kind.field(i) for i in range(kind.num_fields)])


def _pick(rng: np.random.Generator, weights: np.ndarray, size: int) -> np.ndarray:
    """Weighted choice via one uniform draw and a CDF search; faster than Generator.choice with p."""
    cdf = np.cumsum(weights)
    return np.minimum(np.searchsorted(cdf / cdf[-1], rng.random(size), side="right"), len(weights) - 1)


_HOUR_WEIGHTS = np.array([4, 3, 3, 3, 3, 4, 5, 7, 9, 10, 10, 10, 10, 10, 10, 10, 9, 8, 7, 6, 6, 5, 5, 4], float)


def _day_offsets(rng: np.random.Generator, size: int) -> np.ndarray:
    """Microseconds into the day, sorted, with a daytime bump."""
    hours = _pick(rng, _HOUR_WEIGHTS, size)
    return np.sort(hours * 3_600_000_000 + rng.integers(0, 3_600_000_000, size))


def _ci_flags(rng: np.random.Generator, size: int) -> pa.Array:
    u = rng.random(size)
    return pa.array(u < 0.10, pa.bool_(), mask=(u >= 0.10) & (u < 0.25))


def _details(rng: np.random.Generator, pools: _Pools, size: int) -> pa.StructArray:
    inst = pa.array(_pick(rng, pools.installer_weights, size))
    env_idx = 1 + _pick(rng, pools.env_weights, size)
    env_idx[~pools.installer_has_env[inst.to_numpy()]] = 0
    env = pools.env.take(pa.array(env_idx))
    col = {name: env.column(name).combine_chunks() for name in _ENV_COLUMNS}
    return _struct(
        DETAILS_TYPE,
        [
            _struct(_NAME_VERSION, [pools.installer_names.take(inst), pools.installer_versions.take(inst)]),
            col["python"],
            _struct(_NAME_VERSION, [col["impl_name"], col["impl_version"]]),
            _struct(
                DISTRO_TYPE,
                [
                    col["distro_name"],
                    col["distro_version"],
                    col["distro_id"],
                    _struct(DISTRO_TYPE.field("libc").type, [col["libc_lib"], col["libc_version"]]),
                ],
            ),
            _struct(DETAILS_TYPE.field("system").type, [col["system_name"], col["system_release"]]),
            col["cpu"],
            col["openssl"],
            col["setuptools"],
            col["rustc"],
            _ci_flags(rng, size),
        ],
    )


_COUNTRY_ARRAY = pa.array(_COUNTRIES, STRING)
_TLS_PROTOCOLS = pa.array([t[0] for t in _TLS], STRING)
_TLS_CIPHERS = pa.array([t[1] for t in _TLS], STRING)
_TLS_WEIGHTS = np.array([t[2] for t in _TLS], float)


def _downloads_day(day: date, index: int, seed: int, catalog: _Catalog, pools: _Pools, rates: _Rates) -> pa.Table:
    """One UTC day of download rows; seeded by the day itself, so each file stands alone."""
    rng = np.random.default_rng([seed, 3, day.toordinal()])
    season = 0.6 if day.weekday() >= 5 else 1.0
    lam = rates.base * np.exp(rates.growth * index / 365.0) * season * rng.lognormal(0.0, 0.08)
    lam[rates.first_day > index] = 0.0
    project = np.repeat(np.arange(lam.size), rng.poisson(lam))
    rng.shuffle(project)
    size = project.size
    ts = (day - _EPOCH).days * _DAY_US + _day_offsets(rng, size)
    spelling = pa.array(project * 3 + _pick(rng, pools.project_weights, size))
    version = np.minimum(rng.geometric(0.55, size) - 1, 3)
    combo = pa.array(project * 8 + version * 2 + (rng.random(size) < 0.15))
    tls = pa.array(_pick(rng, _TLS_WEIGHTS, size))
    file_struct = _struct(
        FILE_TYPE,
        [
            pools.filenames.take(combo),
            pools.file_projects.take(spelling),
            pools.versions.take(combo),
            pools.types.take(combo),
        ],
    )
    return pa.Table.from_arrays(
        [
            pa.array(ts, TIMESTAMP),
            _COUNTRY_ARRAY.take(pa.array(_pick(rng, np.array(_COUNTRY_WEIGHTS, float), size))),
            pools.urls.take(combo),
            pa.array(catalog.pypi_names, STRING).take(pa.array(project)),
            file_struct,
            _details(rng, pools, size),
            _TLS_PROTOCOLS.take(tls),
            _TLS_CIPHERS.take(tls),
        ],
        schema=DOWNLOAD_SCHEMA,
    )


def write_downloads(out_dir: Path, start: date, end: date, seed: int, catalog: _Catalog) -> tuple[int, int]:
    """One Parquet file per day under downloads/YYYY/MM/; returns (rows, files)."""
    pools = _pools(seed, catalog)
    n_days = (end - start).days + 1
    rates = _rates(seed, catalog, n_days)
    rows = 0
    for index in range(n_days):
        day = start + timedelta(days=index)
        table = _downloads_day(day, index, seed, catalog, pools, rates)
        path = out_dir / "downloads" / f"{day:%Y}" / f"{day:%m}" / f"file_downloads-{day:%Y-%m-%d}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path)
        rows += table.num_rows
    return rows, n_days


def _hex_shas(rng: np.random.Generator, size: int) -> np.ndarray:
    raw = rng.integers(0, 256, (size, 20), dtype=np.uint8).tobytes().hex()
    return np.frombuffer(raw.encode("ascii"), dtype="S40").astype("U40")


def _commit_times(rng: np.random.Generator, n_repos: int, n_days: int) -> tuple[np.ndarray, np.ndarray]:
    """(repo index, seconds after start): bursts of commits, with most repos quiet for weeks."""
    bursts_per_month = np.exp(rng.normal(-0.5, 1.3, n_repos))
    burst_repo = np.repeat(np.arange(n_repos), rng.poisson(bursts_per_month * n_days / 30.4))
    burst_start = rng.integers(0, n_days * 86_400, burst_repo.size)
    per_burst = rng.geometric(0.3, burst_repo.size)
    row_burst = np.repeat(np.arange(burst_repo.size), per_burst)
    if row_burst.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    gaps = rng.exponential(2_700.0, row_burst.size)
    cum = np.cumsum(gaps)
    first = np.concatenate(([0], np.cumsum(per_burst)[:-1]))
    offset = cum - (cum[first] - gaps[first])[row_burst]
    seconds = burst_start[row_burst] + offset.astype(np.int64)
    keep = seconds < n_days * 86_400
    return burst_repo[row_burst][keep], seconds[keep]


def _alternate_case(repo: str) -> str:
    return repo.lower() if repo.lower() != repo else repo.title()


def _commit_table(seed: int, catalog: _Catalog, start: date, n_days: int) -> tuple[pa.Table, np.ndarray]:
    """All commits sorted by author date, and a mask of the ones that go to the CSV file."""
    rng = np.random.default_rng([seed, 4])
    repos = np.array(catalog.repos)
    repo_idx, seconds = _commit_times(rng, len(repos), n_days)
    size = repo_idx.size
    authors = rng.integers(10_000, 150_000_000, 400).astype(str)
    repo_authors = rng.integers(0, authors.size, (len(repos), 4))
    n_authors = rng.integers(1, 5, len(repos))
    author_col = (rng.random(size) ** 2 * n_authors[repo_idx]).astype(np.int64)
    alternate = np.array([_alternate_case(r) for r in repos])
    spelled = np.where(rng.random(size) < 0.10, alternate[repo_idx], repos[repo_idx])
    author_s = (start - _EPOCH).days * 86_400 + seconds
    ingest_s = author_s + np.maximum(3_600 * rng.lognormal(1.5, 1.0, size), 600).astype(np.int64)
    columns = {
        "repo": spelled,
        "sha": _hex_shas(rng, size),
        "author_id": authors[repo_authors[repo_idx, author_col]],
        "author_s": author_s,
        "message": rng.integers(0, len(_COMMIT_MESSAGES), size),
        "ingest_s": ingest_s,
    }
    dupes = np.flatnonzero(rng.random(size) < 0.01)
    order = np.argsort(np.concatenate([author_s, author_s[dupes]]), kind="stable")
    rows = {k: np.concatenate([v, v[dupes]])[order] for k, v in columns.items()}
    table = pa.Table.from_arrays(
        [
            pa.array(rows["repo"], STRING),
            pa.array(rows["sha"], STRING),
            pa.array(rows["author_id"], STRING),
            pa.array(rows["author_s"] * 1_000_000, TIMESTAMP),
            pa.array(_COMMIT_MESSAGES, STRING).take(pa.array(rows["message"])),
            pa.array(np.char.add("https://github.com/", rows["repo"].astype(str)), STRING),
            pa.array(rows["ingest_s"] * 1_000_000, TIMESTAMP),
        ],
        schema=COMMIT_SCHEMA,
    )
    return table, rng.random(table.num_rows) < 0.03


def _months(start: date, end: date) -> list[date]:
    months, month = [], start.replace(day=1)
    while month <= end:
        months.append(month)
        month = (month + timedelta(days=32)).replace(day=1)
    return months


def _iso_seconds(column: pa.ChunkedArray) -> pa.Array:
    """`2024-01-05T13:04:11Z`, the form commit exports use."""
    seconds = column.to_numpy().astype("datetime64[s]")
    return pa.array(np.char.add(np.datetime_as_string(seconds, unit="s").astype(str), "Z"), STRING)


def write_commits(out_dir: Path, start: date, end: date, seed: int, catalog: _Catalog) -> tuple[int, int]:
    """Monthly Parquet files by author month plus one CSV with a small share; returns (rows, files)."""
    table, to_csv = _commit_table(seed, catalog, start, (end - start).days + 1)
    folder = out_dir / "commits"
    folder.mkdir(parents=True, exist_ok=True)
    month_of = table.column("commit_author_date").to_numpy().astype("datetime64[M]")
    months = _months(start, end)
    for month in months:
        keep = (month_of == np.datetime64(f"{month:%Y-%m}", "M")) & ~to_csv
        pq.write_table(table.filter(pa.array(keep)), folder / f"commits-{month:%Y-%m}.parquet")
    extra = table.filter(pa.array(to_csv))
    for name in ("commit_author_date", "ingestion_time"):
        extra = extra.set_column(extra.schema.get_field_index(name), name, _iso_seconds(extra.column(name)))
    pacsv.write_csv(extra, folder / "extra-commits.csv")
    return table.num_rows, len(months) + 1


def generate(
    out_dir: Path, start: date, end: date, seed: int = 7, plugins: int = 300, untracked: int = 120
) -> DemoSummary:
    """Write the whole demo set; the same arguments always give byte-identical files."""
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    catalog = _catalog(seed, plugins, untracked)
    write_registry(out_dir / "registry.csv", catalog.registry_rows)
    download_rows, download_files = write_downloads(out_dir, start, end, seed, catalog)
    commit_rows, commit_files = write_commits(out_dir, start, end, seed, catalog)
    return DemoSummary(len(catalog.registry_rows), download_rows, commit_rows, 1 + download_files + commit_files)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--start", type=date.fromisoformat, required=True, help="first UTC day, inclusive")
    parser.add_argument("--end", type=date.fromisoformat, required=True, help="last UTC day, inclusive")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--plugins", type=int, default=300)
    parser.add_argument("--untracked", type=int, default=120)
    args = parser.parse_args(argv)
    summary = generate(args.out, args.start, args.end, args.seed, args.plugins, args.untracked)
    days = (args.end - args.start).days + 1
    print(
        f"wrote {summary.files} files to {args.out}: {summary.plugins} plugins, "
        f"{summary.download_rows} download rows ({summary.download_rows / days:.0f}/day), "
        f"{summary.commit_rows} commit rows"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
