#!/usr/bin/env bash
# test.sh -- install what the tests need, build (plain, ASan+UBSan, libFuzzer) and run every
# suite under ctest: unit tests, the Arkime conformance run, integration tests with real
# processes, namespaces and an OpenSearch node, and bounded fuzzing.
#   scripts/test.sh            everything
#   scripts/test.sh -L unit    only some labels (passed to ctest)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
scripts/install-deps.sh --test
# pytest runs the integration suites; pyzmq lets a test speak raw ZeroMQ to the aggregator
python3 -c 'import pytest' 2>/dev/null || python3 -m pip install -q pytest
python3 -c 'import zmq' 2>/dev/null || python3 -m pip install -q pyzmq

scripts/build.sh build
scripts/build.sh build-asan -DASHIATO_SANITIZE=ON
scripts/build.sh build-fuzz -DASHIATO_FUZZ=ON -DCMAKE_C_COMPILER=clang -DASHIATO_TESTS=ON

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
status=0
echo "== ctest: release build (all suites)"
ctest --test-dir build --output-on-failure -j1 "$@" || status=1
echo "== ctest: ASan+UBSan build (unit, conformance, bad input)"
ctest --test-dir build-asan --output-on-failure -j2 -L 'unit|conformance|badinput' "$@" || status=1
echo "== ctest: libFuzzer targets (bounded time each)"
ctest --test-dir build-fuzz --output-on-failure -j2 -L fuzz "$@" || status=1
if [[ $status -ne 0 ]]; then
  echo "test.sh: FAILED" >&2
fi
exit $status
