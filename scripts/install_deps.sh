#!/usr/bin/env bash
# Installs what sqeazy_filter needs on Debian (root) and the package itself, editable.
set -euo pipefail
cd "$(dirname "$0")/.."
APT_PACKAGES="build-essential pkg-config liblz4-dev libzstd-dev libhdf5-dev hdf5-tools clang libclang-rt-14-dev default-jdk-headless libsis-jhdf5-java libhdf5-java"
missing=""
for p in $APT_PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi
PY=${PYTHON:-python3}
$PY -m pip install -q --disable-pip-version-check --root-user-action=ignore -e ".[test]" "$@"
