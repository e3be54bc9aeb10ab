"""NKI CPU simulator: run NKI 0.6-0.8 kernels (`import nki`) with NumPy on any machine (PORTER_NKI_VERSION).

import porter.nki
porter.nki.install_simulator()   # only if the real Neuron `nki` is not importable
import nki, nki.language as nl, nki.isa as nisa
"""

from porter.nki.errors import NkiOutOfMemoryError, NkiSimulatorUnsupported, NkiValidationError
from porter.nki.install import install_simulator, real_nki_available, uninstall_simulator
from porter.nki.launch import jit, last_run_stats, simulate
from porter.nki.stats import RunStats

__all__ = [
    "NkiOutOfMemoryError",
    "NkiSimulatorUnsupported",
    "NkiValidationError",
    "RunStats",
    "install_simulator",
    "jit",
    "last_run_stats",
    "real_nki_available",
    "simulate",
    "uninstall_simulator",
]
