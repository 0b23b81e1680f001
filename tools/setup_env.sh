#!/usr/bin/env bash
# Create (or update) ./.venv with the whole pinned mmautomot stack, from the project's own files only.
#
#   bash tools/setup_env.sh            # idempotent: a second run with unchanged requirements takes seconds
#
# Environment: PYTHON (interpreter for the venv, 3.10 or 3.11; default python3), VENV (default <repo>/.venv),
# MMAUTOMOT_CACHE (built-wheel cache, default ~/.cache/mmautomot), FORCE_CUDA=1 and TORCH_CUDA_ARCH_LIST
# (GPU hosts: build mmcv's CUDA ops), MAX_JOBS (parallel compile jobs).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${VENV:-$REPO/.venv}
PYTHON=${PYTHON:-python3}
cd "$REPO"

stamp_of() {
  cat requirements/*.txt setup.py tools/setup_env.sh tools/misc/install_mmcv.sh | sha256sum | awk '{print $1}'
}
STAMP_FILE="$VENV/.mmautomot-env-stamp"
if [ -f "$STAMP_FILE" ] && [ "$(cat "$STAMP_FILE")" = "$(stamp_of)" ] \
   && "$VENV/bin/python" -c "import mmautomot, mmcv.ops" >/dev/null 2>&1; then
  echo "[setup_env] $VENV is up to date"
  exit 0
fi

"$PYTHON" - <<'PYEOF'
import sys
if sys.version_info[:2] not in ((3, 10), (3, 11)):
    sys.exit(f'[setup_env] mmautomot needs Python 3.10 or 3.11, got {sys.version.split()[0]} '
             '(set PYTHON=/path/to/python3.11)')
PYEOF
if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup_env] creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
export PIP_DISABLE_PIP_VERSION_CHECK=1
T0=$(date +%s)
step() { echo "[setup_env] $(( $(date +%s) - T0 ))s: $*"; }

step "torch and build tools (requirements/build.txt; torch is ~5.5 GB, about 3 minutes)"
"$PY" -m pip install -q -r requirements/build.txt
step "mmcv with ops (tools/misc/install_mmcv.sh)"
bash tools/misc/install_mmcv.sh "$PY"
step "runtime requirements (requirements/runtime.txt, mminstall.txt)"
"$PY" -m pip install -q -r requirements/runtime.txt -r requirements/mminstall.txt -r requirements/tests.txt
step "mmdet, mmdet3d, nuscenes-devkit without their declared deps (requirements/nodeps.txt)"
"$PY" -m pip install -q --no-deps -r requirements/nodeps.txt
step "optional: CARLA client (requirements/optional.txt)"
"$PY" -m pip install -q -r requirements/optional.txt || echo "[setup_env] WARNING: carla client not installed; closed-loop adapter tests will be skipped"
step "optional: MetaDrive closed loop (requirements/metadrive.txt)"
"$PY" -m pip install -q -r requirements/metadrive.txt || echo "[setup_env] WARNING: metadrive-simulator not installed; MetaDrive closed-loop tests will be skipped"
# MetaDrive's headless camera renders through EGL (Mesa llvmpipe on CPU): libEGL + the Mesa drivers.
if ! ldconfig -p 2>/dev/null | grep -q 'libEGL.so.1' && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  step "optional: EGL / Mesa for MetaDrive's headless camera (apt-get: libegl1 libegl-mesa0 libgl1-mesa-dri)"
  { apt-get update -q >/dev/null && apt-get install -y -q libegl1 libegl-mesa0 libgl1-mesa-dri; } || echo "[setup_env] WARNING: EGL not installed; MetaDrive camera tests will fail"
fi
step "mmautomot itself (editable)"
"$PY" -m pip install -q --no-deps --no-build-isolation -e .
"$PY" -c "import mmautomot, mmcv.ops, mmdet3d.structures, transformers, diffusers, timm; print('[setup_env] imports OK: torch', __import__('torch').__version__, '| mmcv', __import__('mmcv').__version__, '| mmdet3d', __import__('mmdet3d').__version__, '| transformers', transformers.__version__)"
stamp_of > "$STAMP_FILE"
step "done"
