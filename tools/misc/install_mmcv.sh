#!/usr/bin/env bash
# Install mmcv 2.1.0 with its compiled ops into the Python environment given as $1 (a python executable).
#
# PyPI has only mmcv's sdist, and building its ops takes 13-30 minutes on 2 cores, so the built wheel is cached
# per (mmcv, torch, python, arch, cpu|cuda) in $MMAUTOMOT_CACHE (default ~/.cache/mmautomot). A wheel built
# against another torch is never reused (pip's own wheel cache does not key on torch, so we bypass it).
# A CI cache `<repo>/../shared/wheels/torch-<ver>/` (or $MMAUTOMOT_WHEELS) is used when its torch folder and the
# wheel's python/arch tags match exactly and its SHA256 is listed in SHA256SUMS; it holds CPU-only builds, so it
# is skipped when FORCE_CUDA=1.
set -euo pipefail
PY=${1:?usage: install_mmcv.sh PYTHON}
MMCV_VERSION=2.1.0
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CACHE_ROOT=${MMAUTOMOT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mmautomot}
SHARED_WHEELS=${MMAUTOMOT_WHEELS:-$REPO/../shared/wheels}

read -r TORCH_VER PYTAG ARCH CUDA_TAG CXX_STD < <("$PY" - <<'PYEOF'
import os, platform, sys
import torch
ver = torch.__version__.split('+')[0]
pytag = f'cp{sys.version_info.major}{sys.version_info.minor}'
cuda = os.environ.get('FORCE_CUDA', '0') == '1' or torch.cuda.is_available()
tag = 'cpu'
if cuda:
    arch = os.environ.get('TORCH_CUDA_ARCH_LIST', 'native').replace(' ', '_').replace(';', '_')
    tag = f'cu{(torch.version.cuda or "unknown").replace(".", "")}-{arch}'
major, minor = (int(x) for x in ver.split('.')[:2])
# torch >= 2.10 headers use C++20 features; mmcv 2.1.0's setup.py hard-codes -std=c++17.
std = os.environ.get('MMCV_CXX_STD') or ('c++20' if (major, minor) >= (2, 10) else 'c++17')
print(ver, pytag, platform.machine(), tag, std)
PYEOF
)
KEY="mmcv-${MMCV_VERSION}/torch-${TORCH_VER}-${PYTAG}-${ARCH}-${CUDA_TAG}"
CACHE_DIR="$CACHE_ROOT/wheels/$KEY"
WHEEL_NAME="mmcv-${MMCV_VERSION}-${PYTAG}-${PYTAG}-linux_${ARCH}.whl"
echo "[install_mmcv] torch ${TORCH_VER}, ${PYTAG}, ${ARCH}, ${CUDA_TAG}; cache ${CACHE_DIR}"

if [ ! -f "$CACHE_DIR/$WHEEL_NAME" ] && [ "$CUDA_TAG" = cpu ]; then
  cand="$SHARED_WHEELS/torch-${TORCH_VER}/$WHEEL_NAME"
  if [ -f "$cand" ] && [ -f "$SHARED_WHEELS/SHA256SUMS" ]; then
    want=$(grep " torch-${TORCH_VER}/${WHEEL_NAME}\$" "$SHARED_WHEELS/SHA256SUMS" | awk '{print $1}' || true)
    have=$(sha256sum "$cand" | awk '{print $1}')
    if [ -n "$want" ] && [ "$want" = "$have" ]; then
      echo "[install_mmcv] using the prebuilt CI wheel $cand (sha256 ok)"
      mkdir -p "$CACHE_DIR" && cp "$cand" "$CACHE_DIR/$WHEEL_NAME.tmp" && mv "$CACHE_DIR/$WHEEL_NAME.tmp" "$CACHE_DIR/$WHEEL_NAME"
    else
      echo "[install_mmcv] ignoring $cand: checksum missing or different"
    fi
  fi
fi

if [ ! -f "$CACHE_DIR/$WHEEL_NAME" ]; then
  echo "[install_mmcv] building mmcv ${MMCV_VERSION} from source with ops (-std=${CXX_STD})."
  echo "[install_mmcv] This takes 13-30 minutes on 2 cores; it happens once per torch version."
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  "$PY" -m pip download --no-deps --no-binary :all: --no-cache-dir "mmcv==${MMCV_VERSION}" -d "$work" -q
  tar -xzf "$work"/mmcv-${MMCV_VERSION}.tar.gz -C "$work"
  src="$work/mmcv-${MMCV_VERSION}"
  sed -i "s/-std=c++17/-std=${CXX_STD}/g" "$src/setup.py"
  export MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)}
  ( cd "$src" && "$PY" -m pip wheel --no-build-isolation --no-deps --no-cache-dir -v . -w "$work/dist" \
      > "$work/build.log" 2>&1 ) &
  pid=$!
  start=$(date +%s)
  while kill -0 "$pid" 2>/dev/null; do
    sleep 30
    n=$(find "$src/build" -name '*.o' 2>/dev/null | wc -l)
    total=$(find "$src/mmcv/ops/csrc" -name '*.cpp' 2>/dev/null | wc -l)
    echo "[install_mmcv] $(( ($(date +%s) - start) / 60 )) min elapsed, ${n}/~${total} objects compiled"
  done
  if ! wait "$pid"; then
    tail -n 60 "$work/build.log"
    echo "[install_mmcv] build FAILED; full log above (last 60 lines)" >&2
    exit 1
  fi
  built=$(ls "$work"/dist/mmcv-*.whl)
  mkdir -p "$CACHE_DIR"
  cp "$built" "$CACHE_DIR/$WHEEL_NAME.tmp" && mv "$CACHE_DIR/$WHEEL_NAME.tmp" "$CACHE_DIR/$WHEEL_NAME"
  echo "[install_mmcv] built in $(( ($(date +%s) - start) / 60 )) min, cached at $CACHE_DIR/$WHEEL_NAME"
fi

"$PY" -m pip install --no-deps --force-reinstall -q "$CACHE_DIR/$WHEEL_NAME"
# mmcv's own runtime needs (its wheel metadata lists them; installed here with pins from requirements/).
"$PY" -m pip install -q addict packaging Pillow pyyaml yapf "opencv-python==4.11.0.86" "mmengine==0.10.7"
"$PY" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '${MMCV_VERSION}', mmcv.__version__; print('[install_mmcv] mmcv', mmcv.__version__, 'with ops OK')"
