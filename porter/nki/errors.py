"""Exception types raised by the NKI CPU simulator."""

from __future__ import annotations

# Where the SDK explains how to remove block dimensions (removed with the legacy neuronxcc.nki API).
BLOCK_DIM_GUIDE = (
    "https://awsdocs-neuron.readthedocs-hosted.com/en/latest/nki/migration/index.html"
    "#nki-block-dimension-migration-guide"
)


class NkiValidationError(AssertionError):
    """A kernel broke a hardware rule (shape, buffer, dtype, engine, capacity).

    Subclasses AssertionError because the official simulator reports constraint
    violations as assertions; tests written against it keep working.
    """


class NkiOutOfMemoryError(NkiValidationError):
    """A live SBUF/PSUM allocation set does not fit the target's on-chip memory."""


class NkiSimulatorUnsupported(NotImplementedError):
    """The API exists in NKI but this CPU simulator does not model it."""


def unsupported(api: str, why: str = "") -> NkiSimulatorUnsupported:
    msg = f"{api} is not supported by the CPU simulator"
    return NkiSimulatorUnsupported(f"{msg}: {why}" if why else msg)
