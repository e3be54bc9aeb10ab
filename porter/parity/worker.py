"""The child process of `porter parity`: user code runs here, never in the CLI's own process.

    python -m porter.parity.worker REQUEST.json RESULT.json
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path


def main(argv: list[str]) -> int:
    from porter.parity.run import ParityRequest, run_parity

    request_path, result_path = Path(argv[0]), Path(argv[1])
    request = ParityRequest(**json.loads(request_path.read_text(encoding="utf-8")))
    try:
        result = run_parity(request)
    except Exception as exc:
        result = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    result_path.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
