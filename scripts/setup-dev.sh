#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian machine: Python packages, the PyTorch
# 2.13 CPU wheel (parity tests and benchmarks only), and Debian's Chromium (browser tests).
# Python packages go into the active virtual environment, else into .venv (created here, with
# the system's site packages visible, so packages already installed there are reused).
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi

if [ -n "${VIRTUAL_ENV:-}" ]; then
  PY=python
else
  if [ ! -x .venv/bin/python ]; then
    python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
      { echo "Python >= 3.11 is needed (Streamlit 1.67); python3 is $(python3 -V)" >&2; exit 1; }
    if ! python3 -m venv --system-site-packages .venv; then # Debian/Ubuntu: venv needs python3-venv
      rm -rf .venv
      $SUDO apt-get update -qq
      $SUDO apt-get install -y -qq python3-venv >/dev/null
      python3 -m venv --system-site-packages .venv
    fi
  fi
  PY=.venv/bin/python
fi

"$PY" -m pip install -q -r requirements-dev.txt
"$PY" -c "import torch" 2>/dev/null || "$PY" -m pip install -q torch==2.13.0

if ! command -v chromium >/dev/null 2>&1; then
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq chromium >/dev/null
fi
chromium --version

# --- PostgreSQL (class-store tests) -------------------------------------------------------------
# tests/classroom start a throwaway cluster of their own (initdb + pg_ctl on a free loopback port,
# as the postgres user when run as root); they only need Debian's server binaries installed.
if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && ! command -v initdb >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq postgresql >/dev/null
fi
# --- end PostgreSQL ------------------------------------------------------------------------------
