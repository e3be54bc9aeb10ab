#!/usr/bin/env bash
# Creates .venv (once) and installs porter with everything: the core, the runtime extra
# (torch, numpy, ml_dtypes, onnx, onnxruntime) and the dev tools. constraints.txt pins torch to
# the CPU build; to use another torch, install it into .venv first and edit constraints.txt.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[all]"
