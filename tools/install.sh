#!/usr/bin/env bash
# Idempotent set-up of .venv for vidseg (encodes shared INSTALL_NOTES: torch 2.14.1 + torchvision 0.29.1,
# detectron2's Python code, pins that matter). A second run installs nothing: a stamp records the inputs.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
STAMP="$VENV/.vidseg-installed"
want="$(cat tools/requirements.txt tools/requirements-nodeps.txt tools/install.sh setup.py | sha256sum | cut -c1-16)"
# the extension is rebuilt when its sources or the CUDA switch change (FORCE_CUDA=1 make install adds the CUDA kernel)
ext_src="$( (find vidseg/layers/ms_deform_attn/csrc -type f 2>/dev/null || true) | sort | xargs -r cat | sha256sum \
  | cut -c1-16)-cuda${FORCE_CUDA:-0}"

if [ -f "$STAMP" ] && [ "$(sed -n 1p "$STAMP")" = "$want" ] && [ "$(sed -n 2p "$STAMP")" = "$ext_src" ]; then
  echo "[install] .venv up to date ($(sed -n 3p "$STAMP"))"; exit 0
fi
[ -x "$VENV/bin/python" ] || { echo "[install] creating $VENV"; "$PY" -m venv "$VENV"; }
P="$VENV/bin/python"
if [ "$(sed -n 1p "$STAMP" 2>/dev/null)" != "$want" ]; then
  "$P" -m pip install -q --upgrade pip 'setuptools<82' wheel
  echo "[install] torch 2.14.1 + torchvision 0.29.1 and requirements (first time: a few minutes)"
  "$P" -m pip install -q -r tools/requirements.txt
  "$P" -m pip install -q --no-deps -r tools/requirements-nodeps.txt  # see the comment in that file
fi
# detectron2: keep an importable one (e.g. a user's source build with _C); else the Python code of sal-detectron2.
if "$P" -c 'import detectron2' 2>/dev/null && [ ! -f "$VENV/.d2-from-sal" ]; then
  d2="preinstalled detectron2 $("$P" -c 'import detectron2;print(detectron2.__version__)')"
elif [ -f "$VENV/.d2-from-sal" ]; then
  d2="sal-detectron2==0.7.2 (Python code only, no _C)"
else
  purelib="$("$P" -c 'import sysconfig;print(sysconfig.get_paths()["purelib"])')"
  "$P" -m pip install -q --no-deps --target "$purelib" --upgrade --python-version 3.10 \
      --only-binary=:all: sal-detectron2==0.7.2
  touch "$VENV/.d2-from-sal"
  d2="sal-detectron2==0.7.2 (Python code only, no _C)"
fi
echo "[install] building vidseg (pip install -e . --no-build-isolation)"
"$P" -m pip install -q --no-deps --no-build-isolation -e .
"$P" -c 'import detectron2, vidseg' >/dev/null
printf '%s\n%s\n%s\n' "$want" "$ext_src" "$d2" > "$STAMP"
echo "[install] done; detectron2: $d2"
