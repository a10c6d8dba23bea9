#!/usr/bin/env bash
# Front door 1: the CLI. Compress the example model with examples/recipe.yaml on the
# bundled data and print the report. Usage: examples/cli_run.sh [OUT_DIR] [extra run flags]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-runs/example-cli}"
shift || true
EDGECOMPRESS="${EDGECOMPRESS:-.venv/bin/edgecompress}"
"$EDGECOMPRESS" run examples/recipe.yaml --model examples.model:build \
    --data fashion-mnist-subset --out "$OUT" --overwrite "$@"
