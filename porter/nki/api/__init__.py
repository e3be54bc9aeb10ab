"""The simulated top-level `nki` module (registered as `nki` by porter.nki.install_simulator)."""

from __future__ import annotations

from typing import Any

from porter.nki.api import collectives, compiler, isa, language, tensor, typing  # noqa: F401
from porter.nki.errors import NkiSimulatorUnsupported, NkiValidationError, unsupported  # noqa: F401
from porter.nki.launch import jit, last_run_stats, simulate  # noqa: F401
from porter.nki.tensor import NkiTensor  # noqa: F401

IS_PORTER_SIMULATOR = True


def _unsupported(name: str):
    def fn(*args: Any, **kwargs: Any) -> Any:
        raise unsupported(f"nki.{name}", "it needs Neuron hardware")

    fn.__name__ = name
    return fn


baremetal = _unsupported("baremetal")
benchmark = _unsupported("benchmark")
profile = _unsupported("profile")


def __getattr__(name: str) -> Any:
    # The simulated release follows PORTER_NKI_VERSION, read at each access.
    if name == "__version__":
        from porter.nki.version import nki_version

        return f"{nki_version()}.0+porter.sim"
    raise AttributeError(f"module 'nki' has no attribute {name!r}")
