#!/usr/bin/env bash
# Installs everything the demo and the tests need on a fresh Debian machine (idempotent): Debian
# packages, then the project's own virtual environment (.venv) with exactly the versions in
# requirements.lock. Re-installs whenever requirements.lock or pyproject.toml changes.
set -euo pipefail
cd "$(dirname "$0")/.."
BASE_PYTHON=${BASE_PYTHON:-python3}
VENV=${VENV:-.venv}
LOCK=requirements.lock
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
# uv trusts the system's certificate store where there is one (as pip and apt do; e.g. a proxy's CA).
[ ! -s /etc/ssl/certs/ca-certificates.crt ] || export UV_SYSTEM_CERTS=${UV_SYSTEM_CERTS:-1}

apt_install() {  # apt_install PACKAGE...: Debian packages, quietly, without prompts
  echo "setup: installing Debian package(s) $*"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  apt_install postgresql  # PostgreSQL server binaries for the local sink and the tests
fi
if ! command -v influxd >/dev/null 2>&1; then
  apt_install influxdb  # InfluxDB 1.x for the events sink tests
fi

# Debian's python3 refuses pip outside a venv (PEP 668); venv + ensurepip come with python3-venv.
if [ ! -x "$VENV/bin/python" ]; then
  if ! "$BASE_PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then apt_install python3-venv; fi
  echo "setup: creating the virtual environment $VENV ($("$BASE_PYTHON" --version))"
  "$BASE_PYTHON" -m venv "$VENV"
fi

stamp="$VENV/.installed-$(cat "$LOCK" pyproject.toml scripts/setup.sh | sha1sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  uv_version=$(sed -n 's/^uv==\([^ ]*\).*/\1/p' "$LOCK")
  echo "setup: installing $LOCK into $VENV (uv $uv_version)"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "uv==$uv_version"
  # sync: exactly the locked set (hash-checked), nothing else; then the project itself.
  # Bytecode compiled once here: with PYTHONDONTWRITEBYTECODE set, every process would recompile
  # each module it imports (~1.5 s for Dagster alone).
  "$VENV/bin/uv" pip sync -q --compile-bytecode --python "$VENV/bin/python" --require-hashes "$LOCK"
  "$VENV/bin/uv" pip install -q --python "$VENV/bin/python" --no-deps -e .
  if ! "$VENV/bin/uv" pip check -q --python "$VENV/bin/python"; then
    echo "setup: $LOCK does not satisfy pyproject.toml; run \`make lock\` and commit $LOCK" >&2
    exit 1
  fi
  rm -f "$VENV"/.installed-* && touch "$stamp"
fi
# Our own modules too (only the changed ones are rewritten): each run is a fresh process.
"$VENV/bin/python" -m compileall -q metrics_pipeline >/dev/null
