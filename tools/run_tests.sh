#!/usr/bin/env bash
# Set up ./.venv from the project's files (tools/setup_env.sh, idempotent), lint the tree (ruff), then run the
# whole test suite on CPU.
#   bash tools/run_tests.sh [extra pytest args]
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$REPO/tools/setup_env.sh"
cd "$REPO"
export PYTHONHASHSEED=0 OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MPLBACKEND=Agg
echo "[run_tests] lint: ruff check + ruff format --check (settings in pyproject.toml)"
"$REPO/.venv/bin/ruff" check "$REPO"
"$REPO/.venv/bin/ruff" format --check "$REPO"
exec "$REPO/.venv/bin/python" -m pytest tests -q -p no:cacheprovider --timeout=900 --durations=15 "$@"
