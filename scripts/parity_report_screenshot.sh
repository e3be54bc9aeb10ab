#!/usr/bin/env bash
# Ports examples/gpt_train, writes the parity HTML report of the three-run verdict at bfloat16 (the
# candidate on porter's emulated Neuron device, layer by layer) and screenshots it in headless
# Chromium (Debian: apt-get install chromium). Usage: scripts/parity_report_screenshot.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT="${1:-$(mktemp -d)}"
mkdir -p "$OUT"
porter=.venv/bin/porter
$porter port examples/gpt_train --out "$OUT/gpt_train" --force > /dev/null
$porter parity --root examples/gpt_train --candidate-root "$OUT/gpt_train" --name gpt \
  --candidate-dtype bfloat16 --layers --html "$OUT/parity.html" || true
BROWSER="$(command -v chromium || command -v chromium-browser || true)"
if [ -z "$BROWSER" ]; then
  echo "no chromium on PATH (apt-get install chromium): report written to $OUT/parity.html, no screenshot"
  exit 0
fi
"$BROWSER" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1200,2200 \
  --screenshot="$OUT/parity.png" "file://$(cd "$OUT" && pwd)/parity.html" 2> /dev/null
echo "report: $OUT/parity.html"
echo "screenshot: $OUT/parity.png"
