"""Register the simulator as `nki` in sys.modules when no working NKI is installed.

The real `nki` (Neuron SDK) always wins unless PORTER_NKI_SIMULATE=1 or force=True.
The PyPI `nki` placeholder raises ImportError on import, so it counts as "not available".
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import types

_SUBMODULES = ("language", "isa", "typing", "compiler", "collectives", "tensor")


def _is_ours(mod: object) -> bool:
    return bool(getattr(mod, "IS_PORTER_SIMULATOR", False))


def real_nki_available() -> bool:
    """True if an importable, non-simulator `nki` with `nki.language` exists."""
    current = sys.modules.get("nki")
    if current is not None:
        return not _is_ours(current)
    try:
        if importlib.util.find_spec("nki") is None:
            return False
    except (ImportError, ValueError):
        return False
    saved = {k: v for k, v in sys.modules.items() if k == "nki" or k.startswith("nki.")}
    try:
        importlib.import_module("nki")
        importlib.import_module("nki.language")
        return True
    except Exception:  # the placeholder raises ImportError; any failure means "not usable"
        for k in [k for k in sys.modules if k == "nki" or k.startswith("nki.")]:
            if k not in saved:
                del sys.modules[k]
        return False


def _env_forced() -> bool:
    return os.environ.get("PORTER_NKI_SIMULATE", "").strip().lower() in ("1", "true", "yes", "on")


def install_simulator(force: bool = False) -> bool:
    """Make `import nki` (and nki.language/isa/typing/compiler/collectives) use the simulator.

    Returns True when the simulator is (now) registered, False when a real NKI was kept.
    """
    if _is_ours(sys.modules.get("nki")):
        return True
    if not (force or _env_forced()) and real_nki_available():
        return False
    from porter.nki import api

    for k in [k for k in sys.modules if k == "nki" or k.startswith("nki.")]:
        del sys.modules[k]
    sys.modules["nki"] = api
    for sub in _SUBMODULES:
        mod = importlib.import_module(f"porter.nki.api.{sub}")
        sys.modules[f"nki.{sub}"] = mod
    return True


def uninstall_simulator() -> None:
    """Remove the simulator's `nki` entries from sys.modules (tests, or before importing the real SDK)."""
    for k in [k for k in sys.modules if k == "nki" or k.startswith("nki.")]:
        if isinstance(sys.modules[k], types.ModuleType) and (
            _is_ours(sys.modules[k]) or sys.modules[k].__name__.startswith("porter.nki.api")
        ):
            del sys.modules[k]
