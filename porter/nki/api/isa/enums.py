"""nki.isa enums, NeuronCore version query and virtual registers."""

from __future__ import annotations

from enum import Enum
from typing import Any

import numpy as np

from porter.nki import context, version
from porter.nki.api import _common as c
from porter.nki.errors import NkiValidationError
from porter.nki.tensor import NkiTensor, _scalar_value


class engine(Enum):  # noqa: N801 - NKI API name
    tensor = "tensor"
    vector = "vector"
    scalar = "scalar"
    gpsimd = "gpsimd"
    dma = "dma"
    sync = "sync"
    unknown = "unknown"


class reduce_cmd(Enum):  # noqa: N801
    idle = "idle"
    reset = "reset"
    reduce = "reduce"
    reset_reduce = "reset_reduce"
    load_reduce = "load_reduce"


class dge_mode(Enum):  # noqa: N801
    unknown = "unknown"
    swdge = "swdge"
    hwdge = "hwdge"
    none = "none"


class oob_mode(Enum):  # noqa: N801
    error = "error"
    skip = "skip"


class matmul_perf_mode(Enum):  # noqa: N801
    none = "none"
    double_row = "double_row"


class nc_version(Enum):  # noqa: N801
    """NeuronCore generation; ordered, so kernels can write `get_nc_version() >= nc_version.gen3`."""

    gen2 = 2
    gen3 = 3
    gen4 = 4

    def __lt__(self, other: object) -> bool:
        return self.value < other.value if isinstance(other, nc_version) else NotImplemented

    def __le__(self, other: object) -> bool:
        return self.value <= other.value if isinstance(other, nc_version) else NotImplemented

    def __gt__(self, other: object) -> bool:
        return self.value > other.value if isinstance(other, nc_version) else NotImplemented

    def __ge__(self, other: object) -> bool:
        return self.value >= other.value if isinstance(other, nc_version) else NotImplemented


class dma_engine(Enum):  # noqa: N801
    dma = "dma"
    gpsimd_dma = "gpsimd_dma"


tensor_engine = engine.tensor
vector_engine = engine.vector
scalar_engine = engine.scalar
gpsimd_engine = engine.gpsimd
unknown_engine = engine.unknown


def get_nc_version() -> nc_version:
    return nc_version(context.current().target.version)


class VirtualRegister:
    """A sequencer register holding one 32-bit integer."""

    def __init__(self, state: Any = None, frozen: bool = False) -> None:
        self.value = None if state is None else int(state)
        self.frozen = frozen

    def _nki_scalar_value(self) -> int:
        if self.value is None:
            raise NkiValidationError("read of an uninitialised VirtualRegister")
        return self.value

    def __int__(self) -> int:
        return self._nki_scalar_value()

    def __index__(self) -> int:
        return self._nki_scalar_value()

    def __bool__(self) -> bool:
        # `while reg:` was the pre-0.6 register loop: deprecated in 0.6, removed in 0.7.
        if version.at_least("0.7"):
            raise version.removed("`while register:` (a Python condition on a VirtualRegister)", "0.7",
                                  "nl.while_loop(init, body_fun)")
        version.deprecated("`while register:`", "0.6", "use nl.while_loop(init, body_fun)")
        return bool(self._nki_scalar_value())

    def __repr__(self) -> str:
        return f"VirtualRegister({self.value})"


def _register_api(name: str) -> None:
    if version.at_least("0.8"):
        version.deprecated(f"nisa.{name}", "0.8", "use nisa.scalar_load / nisa.scalar_store with NkiScalar",
                           stacklevel=4)


def register_alloc(x: int | None = None) -> VirtualRegister:
    _register_api("register_alloc")
    return VirtualRegister(x)


def register_move(dst: VirtualRegister, src: Any) -> None:
    _register_api("register_move")
    if not isinstance(dst, VirtualRegister):
        raise NkiValidationError("register_move: dst must be a VirtualRegister")
    dst.value = int(_scalar_value(src))
    c.record("nisa.register_move", "sync")


def register_load(dst: VirtualRegister, src: Any) -> None:
    _register_api("register_load")
    if not isinstance(dst, VirtualRegister):
        raise NkiValidationError("register_load: dst must be a VirtualRegister")
    if not isinstance(src, NkiTensor) or src.size != 1:
        raise NkiValidationError("register_load: src must be a tensor with exactly one element")
    if src.kind == "psum":
        raise NkiValidationError("register_load: src must be in HBM or SBUF")
    dst.value = int(np.asarray(src._read_raw()).reshape(-1)[0])
    c.record("nisa.register_load", "sync")


def register_store(dst: Any, src: VirtualRegister) -> None:
    _register_api("register_store")
    if not isinstance(dst, NkiTensor) or dst.size != 1:
        raise NkiValidationError("register_store: dst must be a tensor with exactly one element")
    dst._write(np.asarray(int(src)).reshape(dst.shape))
    c.record("nisa.register_store", "sync")
