#!/usr/bin/env bash
# The whole test suite: installs dependencies, builds, runs the C tests and pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
PY=${PYTHON:-python3}

echo "== C core tests"
cmake -S . -B build/ctest -DCMAKE_BUILD_TYPE=Release -DSQEAZY_CUDA=OFF >/dev/null
cmake --build build/ctest -j "$(nproc)" --target test_core >/dev/null
./build/ctest/test_core

echo "== Python tests"
$PY -m pytest -q tests "$@"
