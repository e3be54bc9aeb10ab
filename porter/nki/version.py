"""Which NKI release the simulator behaves as: PORTER_NKI_VERSION=0.6|0.7|0.8 (default the newest).

Each release accepts and rejects what its documentation says (docs/nki-simulator.md, "NKI versions"):
0.6 (Neuron 2.32) still runs `nl.dynamic_range` and `while register:` with a deprecation warning;
0.7 (2.33) specialises kernels by running them as Python, removes those two, deprecates the static
range helpers and adds `nisa.scalar_load` / `NkiScalar`; 0.8 (2.34) adds `nl.if_else` and deprecates
the VirtualRegister APIs.
"""

from __future__ import annotations

import os
import warnings

from porter.nki.errors import NkiValidationError

SUPPORTED: tuple[str, ...] = ("0.6", "0.7", "0.8")
NEWEST = SUPPORTED[-1]
ENV = "PORTER_NKI_VERSION"
# Neuron SDK release that shipped each simulated NKI version.
SDK_RELEASE = {"0.6": "2.32", "0.7": "2.33", "0.8": "2.34"}


def nki_version() -> str:
    """The simulated NKI version, read from the environment on every call (tests switch it)."""
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return NEWEST
    value = raw[:-2] if raw.endswith(".0") and raw.count(".") == 2 else raw
    if value not in SUPPORTED:
        raise NkiValidationError(
            f"{ENV}={raw!r} is not a simulated NKI version; choose one of {', '.join(SUPPORTED)}"
        )
    return value


def minor() -> int:
    return int(nki_version().split(".")[1])


def at_least(version: str) -> bool:
    return minor() >= int(version.split(".")[1])


def require(api: str, since: str) -> None:
    """`api` was added in NKI `since`: an older simulated version rejects it."""
    if not at_least(since):
        raise NkiValidationError(
            f"{api} was added in NKI {since} (Neuron {SDK_RELEASE[since]}); the simulator runs NKI "
            f"{nki_version()} ({ENV}). Set {ENV}={since} or newer."
        )


def removed(api: str, since: str, instead: str) -> NkiValidationError:
    return NkiValidationError(
        f"{api} was removed in NKI {since} (Neuron {SDK_RELEASE[since]}); use {instead} "
        f"(simulating NKI {nki_version()}, {ENV})"
    )


def deprecated(api: str, since: str, instead: str, stacklevel: int = 3) -> None:
    warnings.warn(
        f"{api} is deprecated since NKI {since} and will be removed in a future release; {instead}",
        DeprecationWarning,
        stacklevel=stacklevel,
    )
