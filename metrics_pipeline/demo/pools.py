"""Lookup arrays (file names, URLs, installers, client environments) that download rows index into."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from metrics_pipeline.demo.catalog import SEPARATORS, Catalog, title
from metrics_pipeline.demo.schema import STRING

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


@dataclass
class Pools:
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
        underscore = SEPARATORS.sub("_", name)
        spellings += [name, underscore.lower(), title(name)]
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


ENV_COLUMNS = (
    "python impl_name impl_version distro_name distro_version distro_id libc_lib libc_version "
    "system_name system_release cpu openssl setuptools rustc"
).split()


def build_pools(seed: int, catalog: Catalog) -> Pools:
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
    envs = [(None,) * len(ENV_COLUMNS)] + [_environment(rng) for _ in range(160)]
    env_weights = 1.0 / np.arange(1, len(envs)) ** 0.9
    return Pools(
        project_weights=np.array([0.75, 0.17, 0.08]),
        installer_names=pa.array(names, STRING),
        installer_versions=pa.array(versions, STRING),
        installer_weights=np.array(weights) / sum(weights),
        installer_has_env=np.array(has_env),
        env=pa.table({c: pa.array(col, STRING) for c, col in zip(ENV_COLUMNS, zip(*envs))}),
        env_weights=env_weights / env_weights.sum(),
        **files,
    )
