"""`porter nki upgrade --verify`: run upgraded kernels on the NKI simulator and compare with a reference.

Runs in a child process (`python -m porter.translate.nki_upgrade.verify FILE [--reference REF]`) so a
kernel that hangs or crashes cannot take porter down, and prints one JSON line per check.

* With `--reference REF.py`: for every `inputs_<name>()` in REF, the kernel `<name>` of FILE runs on
  those NumPy inputs and is compared with `reference_<name>(*inputs)` (np.allclose with REF's
  `RTOL`/`ATOL`, default 1e-2 / 1e-4). The reference never imports the kernel file. An SPMD kernel
  (`nl.program_id`) is launched as `kernel[grid](*inputs)` on the grid `--grid 2,3` gives (every
  kernel of the run), else the one `grid_<name>(*inputs)` in REF returns (an int or a tuple, like the
  launch's subscript), else without a grid.
* Without: FILE's own checks: its `test_*` functions (with pytest when it has any), else its
  `if __name__ == "__main__":` block, which passes when it finishes without an exception.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import runpy
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any


def _load(path: Path, name: str) -> Any:
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _emit(**record: Any) -> None:
    print(json.dumps(record), flush=True)


def parse_grid(text: str) -> tuple[int, ...]:
    """`2,3` (or `2, 3`, `(2, 3)`, `4`) -> (2, 3); ValueError unless every dim is an int >= 1."""
    parts = [p.strip() for p in text.strip().strip("()[]").split(",")]
    if parts and parts[-1] == "" and len(parts) > 1:
        parts.pop()  # `(4,)`
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        raise ValueError(f"{text!r} is not a launch grid: give its dims as ints, e.g. 2,3") from None
    if not dims or any(d < 1 for d in dims):
        raise ValueError(f"{text!r}: every grid dim must be >= 1")
    return dims


def _as_grid(value: Any) -> tuple[int, ...]:
    """What a reference's grid_<name>() returned (an int or a sequence of ints) as a grid."""
    import numbers

    dims = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if not dims or not all(isinstance(d, numbers.Integral) and not isinstance(d, bool) and d >= 1 for d in dims):
        raise ValueError(f"returned {value!r}; a launch grid is an int >= 1 or a tuple of them")
    return tuple(int(d) for d in dims)


def _reads_program_id(kernel: Any) -> bool:
    import inspect

    try:
        source = inspect.getsource(getattr(kernel, "fn", kernel))
    except (OSError, TypeError):
        return False
    return "program_id" in source or "num_programs" in source


def _with_reference(kernel_file: Path, reference: Path, cli_grid: tuple[int, ...] | None = None) -> int:
    import numpy as np

    ref = _load(reference, "_porter_reference")
    kernels = _load(kernel_file, "_porter_upgraded")
    rtol, atol = getattr(ref, "RTOL", 1e-2), getattr(ref, "ATOL", 1e-4)
    names = sorted(n[len("inputs_"):] for n in dir(ref) if n.startswith("inputs_"))
    if not names:
        _emit(check=str(reference), status="error", detail="no inputs_<kernel>() functions in the reference")
        return 1
    failed = 0
    import nki

    for name in names:
        kernel = getattr(kernels, name, None)
        if kernel is None:
            _emit(check=name, status="error", detail=f"{kernel_file} has no kernel {name!r}")
            failed += 1
            continue
        inputs = getattr(ref, f"inputs_{name}")()
        inputs = inputs if isinstance(inputs, tuple) else (inputs,)
        grid = cli_grid
        if grid is None and callable(getattr(ref, f"grid_{name}", None)):
            try:
                grid = _as_grid(getattr(ref, f"grid_{name}")(*inputs))
            except Exception as exc:  # noqa: BLE001 - the reference's error, reported as such
                _emit(check=name, status="error", detail=f"grid_{name}(*inputs): {type(exc).__name__}: {exc}")
                failed += 1
                continue
        check = f"{name}[{', '.join(map(str, grid))}]" if grid else name
        try:
            launch = nki.jit(kernel)[grid] if grid else kernel
            got = nki.simulate(launch)(*[np.copy(a) if isinstance(a, np.ndarray) else a for a in inputs])
            want = getattr(ref, f"reference_{name}")(*inputs)
        except Exception as exc:  # the kernel's own error is the finding
            detail = f"{type(exc).__name__}: {exc}"
            if not grid and _reads_program_id(kernel):
                detail += (f"; the kernel reads nl.program_id: give its launch grid with grid_{name}(*inputs) "
                           "in the reference or --grid")
            _emit(check=check, status="error", detail=detail)
            failed += 1
            continue
        gots = got if isinstance(got, (tuple, list)) else (got,)
        wants = want if isinstance(want, (tuple, list)) else (want,)
        worst = 0.0
        ok = len(gots) == len(wants)
        for g, w in zip(gots, wants, strict=False):
            g, w = np.asarray(g, np.float64), np.asarray(w, np.float64)
            if g.shape != w.shape:
                ok = False
                continue
            err = float(np.max(np.abs(g - w))) if g.size else 0.0
            worst = err if np.isnan(err) or np.isnan(worst) else max(worst, err)  # a NaN output shows as nan
            ok &= bool(np.allclose(g, w, rtol=rtol, atol=atol))
        record = {"grid": list(grid)} if grid else {}
        if not ok and not grid and _reads_program_id(kernel):
            record["detail"] = (f"the kernel reads nl.program_id and ran without a grid (one instance): give its "
                                f"launch grid with grid_{name}(*inputs) in the reference or --grid")
        _emit(check=check, status="match" if ok else "mismatch", max_abs_error=worst, rtol=rtol, atol=atol,
              **record)
        failed += not ok
    return 1 if failed else 0


def _own_checks(kernel_file: Path) -> int:
    text = kernel_file.read_text(encoding="utf-8", errors="replace")
    if "def test_" in text:
        plugin = Path(__file__).with_name("_sim_plugin.py")
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "_sim_plugin",
             str(kernel_file)],
            capture_output=True, text=True, cwd=kernel_file.parent,
            env={**__import__("os").environ, "PYTHONPATH": f"{plugin.parent}:{kernel_file.parent}"},
        )
        tail = (proc.stdout.strip().splitlines() or [""])[-1]
        _emit(check=f"{kernel_file.name} (pytest)", status="match" if proc.returncode == 0 else "mismatch",
              detail=tail)
        return 0 if proc.returncode == 0 else 1
    if "__main__" in text:
        sys.path.insert(0, str(kernel_file.parent))
        try:
            runpy.run_path(str(kernel_file), run_name="__main__")
        except BaseException as exc:  # noqa: BLE001 - SystemExit(0) is a pass, anything else a failure
            if isinstance(exc, SystemExit) and exc.code in (0, None):
                _emit(check=f"{kernel_file.name} (__main__)", status="match")
                return 0
            _emit(check=f"{kernel_file.name} (__main__)", status="mismatch",
                  detail="".join(traceback.format_exception_only(type(exc), exc)).strip()[-400:])
            return 1
        _emit(check=f"{kernel_file.name} (__main__)", status="match")
        return 0
    _emit(check=kernel_file.name, status="skipped", detail="no reference given and no test_* functions or __main__")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m porter.translate.nki_upgrade.verify")
    parser.add_argument("file", type=Path)
    parser.add_argument("--reference", type=Path)
    parser.add_argument("--grid", type=parse_grid, help="SPMD launch grid for every kernel of the reference, e.g. 2,3")
    args = parser.parse_args(argv)
    import porter.nki

    porter.nki.install_simulator(force=True)
    if args.reference is not None:
        return _with_reference(args.file, args.reference, args.grid)
    return _own_checks(args.file)


if __name__ == "__main__":
    sys.exit(main())
