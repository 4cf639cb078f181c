#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian machine: Python packages, the PyTorch
# 2.13 CPU wheel (parity tests and benchmarks only), and Debian's Chromium (browser tests).
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1

python -m pip install -q -r requirements-dev.txt
python -c "import torch" 2>/dev/null || python -m pip install -q torch==2.13.0

if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
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
