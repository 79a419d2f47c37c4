#!/usr/bin/env bash
# Regenerates requirements.lock (exact versions + hashes) from pyproject.toml incl. the dev extra.
# Run after changing dependencies (`make lock`), then commit requirements.lock.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
[ ! -s /etc/ssl/certs/ca-certificates.crt ] || export UV_SYSTEM_CERTS=${UV_SYSTEM_CERTS:-1}
[ -x "$VENV/bin/uv" ] || { "${BASE_PYTHON:-python3}" -m venv "$VENV" && "$VENV/bin/python" -m pip install -q uv; }
# uv itself is locked too (scripts/lock-tools.in), so set-up installs the uv version that made the lock.
"$VENV/bin/uv" pip compile -q --universal --python-version 3.11 --generate-hashes --extra dev \
  --custom-compile-command "make lock" -o requirements.lock pyproject.toml scripts/lock-tools.in "$@"
echo "lock: wrote requirements.lock ($(grep -c '^[a-z0-9].*==' requirements.lock) packages)"
