"""The simulated top-level `nki` module (registered as `nki` by porter.nki.install_simulator)."""

from __future__ import annotations

from typing import Any

from porter.nki.api import collectives, compiler, isa, language, tensor, typing  # noqa: F401
from porter.nki.errors import NkiSimulatorUnsupported, NkiValidationError, unsupported  # noqa: F401
from porter.nki.launch import jit, last_run_stats, simulate  # noqa: F401
from porter.nki.tensor import NkiTensor  # noqa: F401

__version__ = "0.6.0+porter.sim"
IS_PORTER_SIMULATOR = True


def _unsupported(name: str):
    def fn(*args: Any, **kwargs: Any) -> Any:
        raise unsupported(f"nki.{name}", "it needs Neuron hardware")

    fn.__name__ = name
    return fn


baremetal = _unsupported("baremetal")
benchmark = _unsupported("benchmark")
profile = _unsupported("profile")
