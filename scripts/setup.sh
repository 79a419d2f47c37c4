#!/usr/bin/env bash
# Installs everything the demo and the tests need on a fresh Debian machine (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "setup: installing PostgreSQL server binaries (Debian package postgresql)"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
fi

stamp=.metrics/.installed-$(sha1sum pyproject.toml | cut -c1-12)
if [ ! -f "$stamp" ]; then
  echo "setup: pip install -e '.[dev]'"
  "$PYTHON" -m pip install -q --disable-pip-version-check -e '.[dev]'
  mkdir -p .metrics && rm -f .metrics/.installed-* && touch "$stamp"
fi
