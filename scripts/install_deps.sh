#!/usr/bin/env bash
# Installs what sqeazy_filter needs on Debian (as root, or with sudo) and the package itself,
# editable, with its test extras. --minimal: only what the library and the demo need.
set -euo pipefail
cd "$(dirname "$0")/.."
APT_PACKAGES="build-essential pkg-config liblz4-dev libzstd-dev libhdf5-dev hdf5-tools"
EXTRAS="[test]"
if [ "${1:-}" = "--minimal" ]; then
  shift; EXTRAS=""
else
  APT_PACKAGES="$APT_PACKAGES clang libclang-rt-14-dev default-jdk-headless libsis-jhdf5-java libhdf5-java"
fi
missing=""
for p in $APT_PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  echo "installing Debian packages:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
PY=${PYTHON:-python3}
export PIP_BREAK_SYSTEM_PACKAGES=1 PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1
echo "installing sqeazy_filter (pip install -e .$EXTRAS)"
$PY -m pip install -q -e ".$EXTRAS" "$@"
