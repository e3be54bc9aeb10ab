#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs the main job on an example project.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
echo "== porter lint examples/gpt_train (target: neuron)"
.venv/bin/porter lint examples/gpt_train --no-cache --exit-zero
echo
echo "== per rule"
.venv/bin/porter lint examples/gpt_train --no-cache --statistics --exit-zero
