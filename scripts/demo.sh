#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs the main job: lint a CUDA project, port it to Neuron, prove
# on CPU that the ported model computes what the original did, and run a ported training script.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"
bash scripts/setup.sh
OUT="${PORTER_DEMO_OUT:-$(mktemp -d)}"
export PYTHONDONTWRITEBYTECODE=1
porter=.venv/bin/porter

echo "== 1. porter lint examples/gpt_train (target: neuron)"
$porter lint examples/gpt_train --no-cache --statistics --exit-zero

echo
echo "== 2. porter port examples/gpt_train --out $OUT/gpt_train"
$porter port examples/gpt_train --out "$OUT/gpt_train" --force --report "$OUT/gpt_train-port.md"
echo "-- what changed in utils.py (first lines):"
diff -u examples/gpt_train/utils.py "$OUT/gpt_train/utils.py" | sed -n '1,40p' || true
echo "-- left for a person (markers):"
grep -rn "# porter: NRN" "$OUT/gpt_train" | sed 's/^/   /' | head -20

echo
echo "== 3. porter trace: what Neuron will make of the ported model's graph"
(cd "$OUT/gpt_train" && "$ROOT/.venv/bin/porter" trace --name gpt | head -16)

echo
echo "== 4. porter compile: neuronx-cc when the Neuron SDK is present, else the ONNX CPU stand-in"
(cd "$OUT/gpt_train" && "$ROOT/.venv/bin/porter" compile --name gpt --out "$OUT/gpt-compiled" 2>/dev/null)

echo
echo "== 5. porter parity: original (CPU, fp32) vs ported gpt model (emulated Neuron device, bfloat16), layer by layer"
$porter parity --root examples/gpt_train --candidate-root "$OUT/gpt_train" --name gpt --layers \
    --candidate-dtype bfloat16 --html "$OUT/parity.html"
echo "-- HTML report (tables, error through the layers, error distributions): $OUT/parity.html"

echo
echo "== 6. port examples/image_classifier and train it for one short epoch on this CPU"
$porter port examples/image_classifier --out "$OUT/image_classifier" --force
(cd "$OUT/image_classifier" && TORCH_COMPILE_DISABLE=1 "$ROOT/.venv/bin/python" train.py \
    --epochs 1 --train-size 512 --batch-size 64 --workers 0 --out model.pt)
echo
echo "== 7. porter run: the image classifier ported with --unsafe-fixes (fp16 -> bf16) on the emulated Neuron device"
$porter port examples/image_classifier --out "$OUT/image_classifier_bf16" --force --unsafe-fixes > /dev/null
(cd "$OUT/image_classifier_bf16" && "$ROOT/.venv/bin/porter" run -- \
    python train.py --epochs 1 --train-size 128 --batch-size 32 --workers 0 --out model.pt)

echo
echo "== 8. porter kernels test rmsnorm: an NKI kernel run in porter's simulator against its reference"
$porter kernels test rmsnorm

echo
echo "Done. Ported trees and the port report are in $OUT"
