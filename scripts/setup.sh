#!/usr/bin/env bash
# Creates .venv (once) and installs porter with everything: the core, the runtime extra
# (torch, numpy, ml_dtypes, onnx, onnxruntime) and the dev tools. constraints.txt pins the torch
# version; which build pip takes depends on where it looks: a local CPU wheel (pip's find-links)
# if there is one, else PyPI, whose Linux torch is the CUDA build (several GB). Without a local
# wheel, TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu installs the CPU build first. A torch
# already in .venv is kept; to use another version, edit constraints.txt.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
if [ -n "${TORCH_INDEX_URL:-}" ] && ! .venv/bin/python -c "import torch" 2>/dev/null; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --index-url "$TORCH_INDEX_URL" \
    "torch==$(sed -n 's/^torch==//p' constraints.txt)"
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[all]"
