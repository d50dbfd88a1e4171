#!/usr/bin/env bash
# Install algoeff into .venv and run the main job, writing everything under out/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
install_algoeff ""

out=out
mkdir -p "$out"
run() { echo "\$ algoeff $*" >&2; .venv/bin/algoeff "$@"; }

run ledger tables --write "$out/ledger-tables.md"
run trend --benchmark alexnet --plot "$out/alexnet-trend.png"
run study mnist1d --quick --out "$out/study-mnist1d"
run report --study "$out/study-mnist1d" --out "$out/site"
