"""Arrow types of the demo files, in one place so writers and tests agree on them."""

from __future__ import annotations

from datetime import date

import pyarrow as pa

EPOCH = date(1970, 1, 1)

STRING = pa.string()
TIMESTAMP = pa.timestamp("us", tz="UTC")
NAME_VERSION = pa.struct([("name", STRING), ("version", STRING)])
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
        ("installer", NAME_VERSION),
        ("python", STRING),
        ("implementation", NAME_VERSION),
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
