#!/usr/bin/env bash
# `make check-cuda`: compile-only check of the MultiScaleDeformableAttention CUDA sources, runnable without a GPU.
# Compiles every csrc/cuda/*.cu with nvcc and csrc/vision.cpp with -DWITH_CUDA (plus the CPU kernel) against the
# venv's torch headers into a temp dir, links them into the extension and imports it (no kernel is launched), so
# the CUDA code cannot silently rot on machines that never build it.
# Env: PYTHON (default .venv/bin/python), CUDA_HOME (default: nvcc's own install dir),
#      TORCH_CUDA_ARCH_LIST (default "8.0;9.0"), KEEP_TMP=1 keeps the build dir.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
CSRC=vidseg/layers/ms_deform_attn/csrc

if [ -z "${CUDA_HOME:-}" ]; then
  command -v nvcc >/dev/null || { echo "[check-cuda] FAIL: nvcc not on PATH and CUDA_HOME unset" >&2; exit 1; }
  # nvcc on PATH may be a wrapper script: ask nvcc where it really lives.
  here="$(nvcc --dryrun -c -x cu /dev/null 2>&1 | sed -n 's/^#\$ _HERE_=//p' | head -n1)"
  CUDA_HOME="$(dirname "$here")"
fi
export CUDA_HOME
NVCC="$CUDA_HOME/bin/nvcc"
[ -x "$NVCC" ] || { echo "[check-cuda] FAIL: no nvcc at $NVCC (set CUDA_HOME)" >&2; exit 1; }
ARCHS="${TORCH_CUDA_ARCH_LIST:-8.0;9.0}"

TMP="$(mktemp -d)"
if [ "${KEEP_TMP:-0}" = 1 ]; then echo "[check-cuda] build dir: $TMP"; else trap 'rm -rf "$TMP"' EXIT; fi

# Flags from the venv's torch: include dirs, torch lib dir, extension suffix, torch's common nvcc flags.
"$PY" - "$ARCHS" > "$TMP/flags.sh" <<'EOF'
import shlex, sys, sysconfig
import torch
from torch.utils import cpp_extension as ce

archs = [a for a in sys.argv[1].replace(" ", ";").split(";") if a]
gencode = []
for arch in archs:
    num = arch.split("+")[0].replace(".", "")
    gencode.append(f"-gencode=arch=compute_{num},code=sm_{num}")
    if arch.endswith("+PTX"):
        gencode.append(f"-gencode=arch=compute_{num},code=compute_{num}")
inc = [f"-I{p}" for p in ce.include_paths("cuda")] + [f"-I{sysconfig.get_paths()['include']}"]
defs = ["-DTORCH_EXTENSION_NAME=MultiScaleDeformableAttention", "-DTORCH_API_INCLUDE_EXTENSION_H", "-DWITH_CUDA"]
out = {
    "INC": inc, "DEFS": defs, "NVCC_FLAGS": ce.COMMON_NVCC_FLAGS + gencode,
    "TORCH_LIB": [ce.TORCH_LIB_PATH], "SUFFIX": [sysconfig.get_config_var("EXT_SUFFIX")],
    "TORCH_VERSION": [torch.__version__],
}
for key, vals in out.items():
    print(f"{key}=({' '.join(shlex.quote(v) for v in vals)})")
EOF
# shellcheck disable=SC1091
source "$TMP/flags.sh"
echo "[check-cuda] torch ${TORCH_VERSION[0]}, $("$NVCC" --version | tail -n1), archs $ARCHS"

start=$(date +%s)
objs=()
for cu in "$CSRC"/cuda/*.cu; do
  obj="$TMP/$(basename "$cu").o"
  echo "[check-cuda] nvcc $cu"
  "$NVCC" -c "$cu" -o "$obj" -std=c++20 -O3 --compiler-options -fPIC "${NVCC_FLAGS[@]}" "${INC[@]}" "${DEFS[@]}"
  objs+=("$obj")
done
for cpp in "$CSRC"/vision.cpp "$CSRC"/cpu/*.cpp; do
  obj="$TMP/$(basename "$cpp").o"
  echo "[check-cuda] g++ $cpp (WITH_CUDA)"
  g++ -c "$cpp" -o "$obj" -std=c++20 -O3 -fPIC -fopenmp "${INC[@]}" "${DEFS[@]}"
  objs+=("$obj")
done
so="$TMP/MultiScaleDeformableAttention${SUFFIX[0]}"
echo "[check-cuda] link $so"
g++ -shared -fopenmp "${objs[@]}" -o "$so" -L"${TORCH_LIB[0]}" -L"$CUDA_HOME/lib64" \
  -lc10 -ltorch -ltorch_cpu -ltorch_python -lc10_cuda -ltorch_cuda -lcudart
"$PY" - "$so" <<'EOF'
import importlib.util, sys
import torch  # noqa: F401  (loads libtorch before the extension)

spec = importlib.util.spec_from_file_location("MultiScaleDeformableAttention", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
missing = [f for f in ("forward_cuda", "backward_cuda", "forward_cpu", "backward_cpu") if not hasattr(mod, f)]
if missing or not mod.with_cuda:
    sys.exit(f"[check-cuda] FAIL: built module lacks {missing or 'with_cuda'}")
print("[check-cuda] import OK: forward/backward for cpu and cuda are bound")
EOF
echo "[check-cuda] OK: CUDA sources compile, link and import ($(( $(date +%s) - start )) s)"
