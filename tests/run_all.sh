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

# ---- CUDA backend (docs/GPU.md): compiled when nvcc exists; its CPU EMULATION test (no GPU) ----
echo "== CUDA backend: build if nvcc is present, CPU emulation test of its kernels"
cmake -S . -B build/cuda -DCMAKE_BUILD_TYPE=Release >/dev/null
if command -v nvcc >/dev/null; then cmake --build build/cuda -j 2 --target sqeazy_cuda >/dev/null; fi
if cmake --build build/cuda -j 2 --target test_cuda_emul sqeazy_cuda_emul >/dev/null 2>&1; then
  ./build/cuda/test_cuda_emul | tail -1
  export SQEAZY_CUDA_EMUL_DIR=$PWD/build/cuda   # tests/test_gpu.py uses these (else builds them with g++)
fi

echo "== Python tests"
$PY -m pytest -q tests "$@"

# ---- hardening (docs/HARDENING.md): fuzzing and sanitizers ----
# SQEAZY_FUZZ_SECONDS: seconds of fuzzing per target (default 60; 0 = corpus replay only).
# SQEAZY_SKIP_FUZZ=1 / SQEAZY_SKIP_SANITIZE=1 leave a step out (local runs).
if [ "${SQEAZY_SKIP_FUZZ:-0}" != 1 ]; then
  echo "== Fuzzing: corpus replay + ${SQEAZY_FUZZ_SECONDS:-60}s per target (tests/fuzz/run.sh)"
  FUZZ_SECONDS=${SQEAZY_FUZZ_SECONDS:-60} bash tests/fuzz/run.sh
fi
if [ "${SQEAZY_SKIP_SANITIZE:-0}" != 1 ]; then
  echo "== Sanitizers: ASan+UBSan build, C tests and the Python suite (tests/sanitize.sh)"
  bash tests/sanitize.sh
fi
