"""Target NeuronCore generation and its on-chip memory sizes.

The target comes from NEURON_PLATFORM_TARGET_OVERRIDE (trn1/inf2/gen2, trn2/gen3,
trn3/gen4).  Unset means trn2: this simulator never probes for a device.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from porter.nki.errors import NkiValidationError

KIB = 1024


@dataclass(frozen=True)
class Target:
    name: str  # trn1 / trn2 / trn3
    version: int  # NeuronCore version: 2, 3, 4
    sbuf_partition_bytes: int
    psum_partition_bytes: int = 16 * KIB
    psum_bank_bytes: int = 2 * KIB
    psum_banks: int = 8
    partitions: int = 128

    @property
    def gen(self) -> str:
        return f"gen{self.version}"


_TARGETS = {
    "trn1": Target("trn1", 2, 192 * KIB),
    "trn2": Target("trn2", 3, 224 * KIB),
    "trn3": Target("trn3", 4, 256 * KIB),
}
_ALIASES = {"inf2": "trn1", "gen2": "trn1", "gen3": "trn2", "gen4": "trn3"}


def current_target() -> Target:
    raw = os.environ.get("NEURON_PLATFORM_TARGET_OVERRIDE", "").strip().lower()
    if not raw:
        return _TARGETS["trn2"]
    name = _ALIASES.get(raw, raw)
    if name not in _TARGETS:
        raise NkiValidationError(
            f"NEURON_PLATFORM_TARGET_OVERRIDE={raw!r} is not a known target; use trn1|inf2|gen2, trn2|gen3, trn3|gen4"
        )
    return _TARGETS[name]


def psum_banks_usable() -> int:
    """Bank 7 is reserved when DMA transposes are lowered to PE transposes."""
    flag = os.environ.get("NKI_DMA_TRANSPOSE_AS_PE_TRANSPOSE", "").strip().lower()
    return 7 if flag in ("1", "true", "yes") else current_target().psum_banks
