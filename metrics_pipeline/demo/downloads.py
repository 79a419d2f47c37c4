"""Daily PyPI download Parquet files, shaped like BigQuery's `file_downloads` so the pipeline reads them unchanged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from metrics_pipeline.demo.catalog import Catalog
from metrics_pipeline.demo.pools import ENV_COLUMNS, Pools, build_pools
from metrics_pipeline.demo.schema import (
    DETAILS_TYPE,
    DISTRO_TYPE,
    DOWNLOAD_SCHEMA,
    EPOCH,
    FILE_TYPE,
    NAME_VERSION,
    STRING,
    TIMESTAMP,
)

_DAY_US = 86_400_000_000
_REAL_WEIGHT = 0.5  # real libraries' popularity score is scaled by this, so they tend to rank high
_COUNTRIES = ("US", "DE", "CN", "GB", "FR", "JP", "IN", "CA", "NL", "CH", "KR", "AU", "SE", "BR", "IT", "ES")
_COUNTRY_WEIGHTS = (30, 12, 10, 7, 6, 5, 5, 4, 4, 3, 3, 3, 2, 2, 2, 2)
_TLS = (
    ("TLSv1.3", "TLS_AES_128_GCM_SHA256", 55),
    ("TLSv1.3", "TLS_AES_256_GCM_SHA384", 20),
    ("TLSv1.3", "TLS_CHACHA20_POLY1305_SHA256", 5),
    ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256", 15),
    ("TLSv1.2", "ECDHE-RSA-AES256-GCM-SHA384", 5),
)


@dataclass
class _Rates:
    """Per-project expected downloads per day at the range start, trend, and first live day."""

    base: np.ndarray
    growth: np.ndarray  # per year
    first_day: np.ndarray


def _rates(seed: int, catalog: Catalog, n_days: int) -> _Rates:
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


def _details(rng: np.random.Generator, pools: Pools, size: int) -> pa.StructArray:
    inst = pa.array(_pick(rng, pools.installer_weights, size))
    env_idx = 1 + _pick(rng, pools.env_weights, size)
    env_idx[~pools.installer_has_env[inst.to_numpy()]] = 0
    env = pools.env.take(pa.array(env_idx))
    col = {name: env.column(name).combine_chunks() for name in ENV_COLUMNS}
    return _struct(
        DETAILS_TYPE,
        [
            _struct(NAME_VERSION, [pools.installer_names.take(inst), pools.installer_versions.take(inst)]),
            col["python"],
            _struct(NAME_VERSION, [col["impl_name"], col["impl_version"]]),
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


def _downloads_day(day: date, index: int, seed: int, catalog: Catalog, pools: Pools, rates: _Rates) -> pa.Table:
    """One UTC day of download rows; seeded by the day itself, so each file stands alone."""
    rng = np.random.default_rng([seed, 3, day.toordinal()])
    season = 0.6 if day.weekday() >= 5 else 1.0
    lam = rates.base * np.exp(rates.growth * index / 365.0) * season * rng.lognormal(0.0, 0.08)
    lam[rates.first_day > index] = 0.0
    project = np.repeat(np.arange(lam.size), rng.poisson(lam))
    rng.shuffle(project)
    size = project.size
    ts = (day - EPOCH).days * _DAY_US + _day_offsets(rng, size)
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


def write_downloads(out_dir: Path, start: date, end: date, seed: int, catalog: Catalog) -> tuple[int, int]:
    """One Parquet file per day under downloads/YYYY/MM/; returns (rows, files)."""
    pools = build_pools(seed, catalog)
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
