#!/usr/bin/env bash
# Installs what is needed, then writes and reads a simulated SPIM stack (examples/spim_demo.py).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh --minimal
exec "${PYTHON:-python3}" examples/spim_demo.py
