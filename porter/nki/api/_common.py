"""Shared helpers for nki.language and nki.isa: allocation, validation, accounting."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from porter.nki import context, dtypes
from porter.nki.errors import NkiValidationError
from porter.nki.tensor import MemoryRegion, NkiTensor, region

ENGINE_NAMES = ("tensor", "vector", "scalar", "gpsimd", "dma", "sync", "unknown")


def record(api: str, engine: str) -> None:
    inst = context.current()
    inst.stats.record(api, engine)
    inst.memory.instruction_done()


def allocate(shape: Any, dtype: Any, buffer: Any = None, name: str = "", fill: Any = None) -> NkiTensor:
    """Allocate a new tensor in `buffer` (SBUF by default), filled with sentinels unless `fill`."""
    shape = normalize_shape(shape)
    dt = dtypes.normalize(dtype, "ndarray")
    reg: MemoryRegion = region(buffer)
    inst = context.current()
    if reg.name == "shared_hbm" and context.running_in_kernel():
        # SPMD: the i-th shared_hbm tensor of every instance is one tensor.
        idx = inst.shared_index
        inst.shared_index += 1
        shared = inst.launch.shared
        if idx < len(shared):
            a = shared[idx]
            if a.shape != shape or a.dtype != dt:
                raise NkiValidationError(
                    f"shared_hbm tensor #{idx} is {shape} {dt} in this SPMD instance but {a.shape} {a.dtype} in another"
                )
            return NkiTensor(a, shape, buffer=reg)
        alloc = inst.memory.allocate(reg.kind, shape, dt, name, fill)
        shared.append(alloc)
        return NkiTensor(alloc, shape, buffer=reg)
    alloc = inst.memory.allocate(reg.kind, shape, dt, name, fill)
    return NkiTensor(alloc, shape, buffer=reg)


def normalize_shape(shape: Any) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    try:
        out = tuple(int(s) for s in shape)
    except TypeError as exc:
        raise NkiValidationError(f"shape must be a tuple of ints, got {shape!r}") from exc
    if any(s < 0 for s in out):
        raise NkiValidationError(f"shape {out} has a negative dimension")
    return out


def require_tensor(api: str, what: str, x: Any) -> NkiTensor:
    if not isinstance(x, NkiTensor):
        raise NkiValidationError(f"{api}: {what} must be an NKI tensor, got {type(x).__name__}")
    return x


def require_buffer(api: str, what: str, t: NkiTensor, allowed: tuple[str, ...] = ("sbuf", "psum")) -> None:
    if t.kind not in allowed:
        names = " or ".join(a.upper() for a in allowed)
        raise NkiValidationError(f"{api}: {what} must be in {names}, got {t.kind.upper()}")


def check_partition(api: str, what: str, t: NkiTensor, limit: int = 128) -> int:
    if t.ndim < 1:
        raise NkiValidationError(f"{api}: {what} must have a partition dimension")
    p = t.shape[0]
    if p > limit:
        raise NkiValidationError(f"{api}: {what} partition dimension {p} exceeds maximum {limit}")
    return p


def free_size(t: NkiTensor) -> int:
    return math.prod(t.shape[1:]) if t.ndim > 1 else 1


def onchip_operand(api: str, what: str, t: Any, allowed: tuple[str, ...] = ("sbuf", "psum")) -> NkiTensor:
    t = require_tensor(api, what, t)
    require_buffer(api, what, t, allowed)
    check_partition(api, what, t)
    return t


def same_layout(api: str, a_name: str, a: NkiTensor, b_name: str, b: NkiTensor) -> None:
    """Same partition size and same element count per partition."""
    if a.shape[0] != b.shape[0]:
        raise NkiValidationError(
            f"{api}: {a_name} partition size {a.shape[0]} does not match {b_name} partition size {b.shape[0]}"
        )
    if free_size(a) != free_size(b):
        raise NkiValidationError(
            f"{api}: {a_name} has {free_size(a)} elements per partition but {b_name} has {free_size(b)}"
        )


def not_both_psum(api: str, a_name: str, a: Any, b_name: str, b: Any) -> None:
    if isinstance(a, NkiTensor) and isinstance(b, NkiTensor) and a.kind == "psum" and b.kind == "psum":
        raise NkiValidationError(f"{api}: {a_name} and {b_name} cannot both be in PSUM")


def as_2d(values: np.ndarray, p: int) -> np.ndarray:
    return np.asarray(values).reshape(p, -1)


def scalar_or_vector(api: str, what: str, value: Any, p: int, *, f32_only: bool = False) -> Any:
    """A compile-time scalar, or a (P, 1) tile broadcast along the free dim -> fp32 (P, 1) array."""
    if isinstance(value, NkiTensor):
        require_buffer(api, what, value)
        if value.shape[0] != p or free_size(value) != 1:
            raise NkiValidationError(f"{api}: {what} must be a scalar or a ({p}, 1) tile, got shape {value.shape}")
        if f32_only and value.dtype != "float32":
            raise NkiValidationError(f"{api}: {what} tile must be float32, got {value.dtype}")
        return value._read_f32().reshape(p, 1)
    if value is None:
        return None
    from porter.nki.tensor import _scalar_value

    v = _scalar_value(value)
    if not isinstance(v, (int, float, bool, np.number)):
        raise NkiValidationError(f"{api}: {what} must be a scalar or a ({p}, 1) tile, got {type(value).__name__}")
    return np.float32(v)


def engine_name(engine: Any) -> str:
    if engine is None:
        return "unknown"
    name = getattr(engine, "name", engine)
    if not isinstance(name, str) or name not in ENGINE_NAMES:
        raise NkiValidationError(f"unknown engine {engine!r}")
    return name


def version() -> int:
    return context.current().target.version


def require_version(api: str, minimum: int) -> None:
    v = version()
    if v < minimum:
        raise NkiValidationError(
            f"{api}: needs NeuronCore-v{minimum} or newer; target is {context.current().target.name} (v{v})"
        )
