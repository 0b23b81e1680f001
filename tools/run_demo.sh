#!/usr/bin/env bash
# Set up ./.venv from the project's files (tools/setup_env.sh, idempotent), then run the end-to-end demo on
# built-in synthetic nuScenes data: generate -> convert -> train tiny AutoMoT (CPU) -> test under both planning
# protocols -> baselines -> latency benchmark. Everything lands in outputs/demo/ (override: --out DIR).
#   bash tools/run_demo.sh [--out DIR] [--scenes N] [--seed S]
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$REPO/tools/setup_env.sh"
cd "$REPO"
export MPLBACKEND=Agg
exec "$REPO/.venv/bin/python" tools/misc/run_demo.py "$@"
