"""The child process of `porter parity`: user code runs here, never in the CLI's own process.

    python -P -m porter.parity.worker REQUEST.json RESULT.json    (-P on Python 3.11+)
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path


def isolate_path() -> None:
    """Take the working directory off sys.path: the models come from the roots the request names,
    never from wherever `porter parity` was started (on Python 3.11+ the CLI also starts this worker
    with `python -P`, which never puts it there)."""
    cwd = os.path.abspath(os.getcwd())
    sys.path[:] = [p for p in sys.path if p and os.path.abspath(p) != cwd]


def run_request(request: dict) -> dict:
    """The result of one parity request, or {"error", "kind", "traceback"}: kind "usage" (the request
    cannot be carried out as asked), "entrypoint" (a factory or inputs function cannot be loaded),
    "input" (a golden or weights file is unreadable), "porter" (a run porter made up, such as the
    reference cast to bfloat16, failed: `stage` and `op` say where) or "user code" (the user's code
    raised)."""
    from porter.graph.entrypoints import EntrypointError
    from porter.parity.golden import GoldenError
    from porter.parity.run import ParityRequest, UsageError, run_parity
    from porter.parity.stages import StageError
    from porter.parity.training import TrainingSetupError

    try:
        return run_parity(ParityRequest(**request))
    except (UsageError, EntrypointError, GoldenError, TrainingSetupError) as exc:
        kind = {UsageError: "usage", GoldenError: "input", TrainingSetupError: "usage"}.get(type(exc), "entrypoint")
        return {"error": str(exc), "kind": kind, "traceback": traceback.format_exc()}
    except StageError as exc:
        return {"error": exc.describe(), "kind": exc.kind, "stage": exc.stage, "op": exc.op, "where": exc.where,
                "traceback": traceback.format_exc()}
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}", "kind": "user code", "traceback": traceback.format_exc()}


def main(argv: list[str]) -> int:
    isolate_path()
    request_path, result_path = Path(argv[0]), Path(argv[1])
    result = run_request(json.loads(request_path.read_text(encoding="utf-8")))
    result_path.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
