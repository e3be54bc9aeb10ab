"""NKI dtype names, their NumPy storage types and fp32-routed conversions.

NKI 0.6 spells dtypes as strings ('bfloat16', ...).  Each maps to a NumPy /
ml_dtypes storage type.  With NKI_PRECISE_FP=0 the low-precision float types are
stored as float32 (as in the official simulator) while capacity accounting keeps
using the real hardware element size.
"""

from __future__ import annotations

import os
from typing import Any

import ml_dtypes
import numpy as np

from porter.nki.errors import NkiValidationError

FLOAT_TYPES = (
    "float32",
    "bfloat16",
    "float16",
    "tfloat32",
    "float8_e4m3",
    "float8_e4m3fn",
    "float8_e5m2",
)
INT_TYPES = ("int8", "int16", "int32", "uint8", "uint16", "uint32")
ALL_TYPES = FLOAT_TYPES + INT_TYPES + ("bool",)
LOW_PRECISION = ("bfloat16", "float16", "tfloat32", "float8_e4m3", "float8_e4m3fn", "float8_e5m2")
UNSUPPORTED_PACKED = ("float8_e5m2_x4", "float8_e4m3fn_x4", "float4_e2m1fn_x4", "float8_e8m0fnu")

_PRECISE_STORAGE: dict[str, Any] = {
    "float32": np.float32,
    "bfloat16": ml_dtypes.bfloat16,
    "float16": np.float16,
    "tfloat32": np.float32,  # stored in fp32 containers, values rounded to 10 mantissa bits
    "float8_e4m3": ml_dtypes.float8_e4m3,
    "float8_e4m3fn": ml_dtypes.float8_e4m3fn,
    "float8_e5m2": ml_dtypes.float8_e5m2,
    "int8": np.int8,
    "int16": np.int16,
    "int32": np.int32,
    "uint8": np.uint8,
    "uint16": np.uint16,
    "uint32": np.uint32,
    "int64": np.int64,  # NKI >= 0.7, for device scalars (nisa.scalar_load); see normalize()
    "bool": np.bool_,
}

ITEMSIZE = {
    "float32": 4,
    "tfloat32": 4,
    "bfloat16": 2,
    "float16": 2,
    "float8_e4m3": 1,
    "float8_e4m3fn": 1,
    "float8_e5m2": 1,
    "int8": 1,
    "int16": 2,
    "int32": 4,
    "uint8": 1,
    "uint16": 2,
    "uint32": 4,
    "int64": 8,
    "bool": 1,
}

_ALIASES = {"bool_": "bool", "fp32": "float32", "bf16": "bfloat16", "fp16": "float16", "half": "float16"}


def precise_fp() -> bool:
    """NKI_PRECISE_FP: '1' (default, like the official simulator) keeps ml_dtypes storage; '0' stores fp32."""
    return os.environ.get("NKI_PRECISE_FP", "1").strip().lower() not in ("0", "false", "no", "off")


def normalize(dtype: Any, what: str = "dtype") -> str:
    """Return the NKI dtype name for a string, NumPy/ml_dtypes type or torch dtype."""
    if dtype is None:
        raise NkiValidationError(f"{what}: dtype is required")
    if dtype is bool:
        return "bool"
    if isinstance(dtype, str):
        name = _ALIASES.get(dtype, dtype)
    elif type(dtype).__module__.startswith("torch"):
        name = str(dtype).replace("torch.", "")
        name = {"float8_e4m3fn": "float8_e4m3fn", "float8_e5m2": "float8_e5m2"}.get(name, name)
    else:
        try:
            name = np.dtype(dtype).name
        except TypeError as exc:
            raise NkiValidationError(f"{what}: {dtype!r} is not a dtype") from exc
    if name == "int64":
        from porter.nki.version import at_least

        if at_least("0.7"):  # nl.int64 exists from NKI 0.7 (64-bit NkiScalar offsets)
            return name
    if name in ("int64", "uint64", "float64", "complex64", "complex128", "double", "long"):
        raise NkiValidationError(
            f"{what}: {name} is not a NKI dtype (NKI has no 64-bit types but nl.int64 from NKI 0.7); "
            "use int32/float32"
        )
    if name in UNSUPPORTED_PACKED:
        raise NkiValidationError(f"{what}: packed/MX dtype {name} is not supported by the CPU simulator")
    if name not in ALL_TYPES:
        raise NkiValidationError(f"{what}: unknown dtype {name!r}; expected one of {', '.join(ALL_TYPES)}")
    return name


def storage_type(name: str) -> np.dtype:
    """NumPy dtype used to hold values of NKI dtype `name` in this run."""
    if name in LOW_PRECISION and not precise_fp():
        return np.dtype(np.float32)
    return np.dtype(_PRECISE_STORAGE[name])


def is_float(name: str) -> bool:
    return name in FLOAT_TYPES


def is_int(name: str) -> bool:
    return name in INT_TYPES or name == "bool"


def sentinel(name: str) -> Any:
    """Fill value for fresh allocations: NaN for floats, 4 for ints (same as the official simulator)."""
    return np.nan if is_float(name) else (True if name == "bool" else 4)


def _round_tf32(x: np.ndarray) -> np.ndarray:
    # Round-to-nearest-even to 10 explicit mantissa bits; NaN/Inf pass through untouched.
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    finite = np.isfinite(x)
    lsb = (bits >> 13) & 1
    rounded = ((bits + 0x0FFF + lsb) & 0xFFFFE000).astype(np.uint32)
    out = np.where(finite, rounded, bits).astype(np.uint32)
    return out.view(np.float32)


def cast(values: Any, name: str) -> np.ndarray:
    """Convert values (any numeric array) to storage of NKI dtype `name`.

    Floats round to nearest even (ml_dtypes).  Float -> int rounds half to even and
    saturates at the type range; NaN becomes 0.  That is a simulator choice, documented.
    """
    arr = np.asarray(values)
    target = storage_type(name)
    if name == "bool":
        return arr.astype(np.float32) != 0 if arr.dtype != np.bool_ else arr
    if is_int(name):
        if arr.dtype.kind in "iub":
            info = np.iinfo(target)
            return np.clip(arr.astype(np.int64), info.min, info.max).astype(target)
        f = np.nan_to_num(np.rint(arr.astype(np.float64)), nan=0.0)
        info = np.iinfo(target)
        return np.clip(f, info.min, info.max).astype(target)
    if arr.dtype.kind in "iub":
        arr = arr.astype(np.float64)
    if name == "tfloat32":
        return _round_tf32(arr.astype(np.float32))
    if target == np.float32 and name in LOW_PRECISION:
        # NKI_PRECISE_FP=0: keep fp32 values, no rounding.
        return arr.astype(np.float32)
    if arr.dtype == target:
        return arr
    if target.itemsize < 4 and arr.dtype.itemsize > 4:
        arr = arr.astype(np.float32)
    return arr.astype(target)


def to_f32(arr: np.ndarray) -> np.ndarray:
    """Engine view of values: every compute engine does its math in fp32."""
    return np.asarray(arr).astype(np.float32)


def promote(a: str, b: str) -> str:
    """NKI type promotion for two operand dtypes (legacy doc rules)."""
    if a == b:
        return a
    fa, fb = is_float(a), is_float(b)
    if fa and not fb:
        return a
    if fb and not fa:
        return b
    if fa and fb:
        pair = {a, b}
        if pair == {"float16", "bfloat16"}:
            return "float32"
        if pair <= {"float8_e4m3", "float8_e5m2", "float8_e4m3fn"}:
            return "bfloat16"
        return a if ITEMSIZE[a] > ITEMSIZE[b] or (ITEMSIZE[a] == ITEMSIZE[b] and a == "float32") else b
    if a == "bool":
        return b
    if b == "bool":
        return a
    sa, sb = a.startswith("int"), b.startswith("int")
    if sa == sb:
        return a if ITEMSIZE[a] >= ITEMSIZE[b] else b
    signed, unsigned = (a, b) if sa else (b, a)
    if ITEMSIZE[signed] > ITEMSIZE[unsigned]:
        return signed
    wider = {1: "int16", 2: "int32"}.get(ITEMSIZE[unsigned])
    return wider or "float32"


def scalar_dtype(value: Any) -> str:
    """Dtype a Python scalar takes part in promotion with."""
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, (int, np.integer)):
        return "int32"
    return "float32"
