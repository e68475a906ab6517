#!/usr/bin/env bash
# Installs the Debian packages iclab needs to build and test, if missing.
# Usage: bash scripts/install-deps.sh [--optional]   (--optional adds PyTorch for the parity test)
# libdnnl-dev: oneDNN, the matrix products in fp32 and bf16 (src/gemm.c)
# strace: tests/rundir_test.sh kills training at every rename/fsync with its syscall injection
# python3-numpy/-setuptools/-pip: the Python package and its tests (tests/python/test_iclab.py, for /usr/bin/python3)
# openmpi-bin/libopenmpi-dev: data-parallel training and sweeps over MPI (the build finds mpicc; tests/mpi_test.sh)
# chromium: tests/report_test.sh loads every kind of iclab report page in headless Chromium
set -euo pipefail
pkgs=(build-essential pkg-config libopenblas-dev libopenblas-openmp-dev libdnnl-dev liblapacke-dev libcmocka-dev libjansson-dev libzip-dev libyaml-dev clang libclang-rt-14-dev python3 strace python3-numpy python3-setuptools python3-pip chromium openmpi-bin libopenmpi-dev)
if [ "${1:-}" = "--optional" ]; then pkgs+=(python3-torch); fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
