#!/usr/bin/env bash
# Install everything the tests need on a fresh machine, then run the whole suite.
#   Debian's chromium + chromium-driver (browser tests), .venv with algoeff[test].
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k ledger`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  echo "==> installing Debian's chromium and chromium-driver" >&2
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
fi

install_algoeff test
echo "==> running the test suite" >&2
exec .venv/bin/python -m pytest -q "$@"
