#!/usr/bin/env bash
# Installs akt from the source tree into a private prefix, then builds and runs
# a separate project that finds it with find_package(akt CONFIG REQUIRED).
set -euo pipefail
src=$1
work=$2
rm -rf "$work"
mkdir -p "$work"
cmake -S "$src" -B "$work/akt-build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DAKT_BUILD_TESTS=OFF -DAKT_BUILD_EXAMPLES=OFF -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
  -DCMAKE_INSTALL_PREFIX="$work/prefix" >/dev/null
cmake --build "$work/akt-build" >/dev/null
cmake --install "$work/akt-build" >/dev/null
cmake -S "$src/tests/consumer" -B "$work/consumer-build" -G Ninja \
  -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/consumer-build" >/dev/null
"$work/consumer-build/consumer"
"$work/consumer-build/consumer_core_only"
