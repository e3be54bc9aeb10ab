"""nki.language element-wise math.  Each call is one engine instruction writing a new SBUF tile."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from porter.nki import dtypes
from porter.nki.api import _common as c
from porter.nki.api.language import _ops as ops
from porter.nki.errors import NkiValidationError
from porter.nki.tensor import NkiTensor, _scalar_value


def _operand(api: str, what: str, x: Any, as_int: bool) -> tuple[Any, str | None]:
    if isinstance(x, NkiTensor):
        if not x.onchip:
            raise NkiValidationError(f"{api}: {what} is in HBM; load it into SBUF first (nl.load / nisa.dma_copy)")
        raw = x._read_raw()
        return (raw.astype(np.int64) if as_int else dtypes.to_f32(raw)), x.dtype
    v = _scalar_value(x)
    if isinstance(v, (bool, int, float, np.number)):
        return (np.int64(v) if as_int and float(v).is_integer() else np.float32(v)), None
    raise NkiValidationError(f"{api}: {what} must be a tile or a scalar, got {type(x).__name__}")


def _result_dtype(args: tuple, tensor_dtypes: list[str | None], dtype: Any, default: str | None = None) -> str:
    if dtype is not None:
        return dtypes.normalize(dtype, "dtype")
    if default is not None:
        return default
    known = [d for d in tensor_dtypes if d is not None]
    if not known:
        return "float32"
    out = known[0]
    for d in known[1:]:
        out = dtypes.promote(out, d)
    if dtypes.is_int(out) and any(
        not isinstance(a, NkiTensor) and isinstance(_scalar_value(a), float) and not float(a).is_integer() for a in args
    ):
        return "float32"
    return out


def _same_layout(vals: list) -> list:
    """Tiles of different rank but the same partition size and elements per partition are combined
    element by element (the engines' rule: same partitions, same free size), e.g. (P, 1) and
    (P, 1, 1); NumPy broadcasting would align their trailing dims and build a (P, P, 1) result."""
    arrays = [v for v in vals if np.ndim(v) >= 2]
    if len(arrays) < 2 or len({np.ndim(v) for v in arrays}) == 1:
        return vals
    first = arrays[0]
    if any(np.shape(v)[0] != np.shape(first)[0] or np.size(v) != np.size(first) for v in arrays):
        return vals
    return [np.reshape(v, np.shape(first)) if np.ndim(v) >= 2 else v for v in vals]


def _compute(api: str, fn: Callable, args: tuple, int_ok: bool) -> tuple[np.ndarray, list[str | None]]:
    tdt = [a.dtype if isinstance(a, NkiTensor) else None for a in args]
    all_int = int_ok and all(d is None or dtypes.is_int(d) for d in tdt) and any(d is not None for d in tdt)
    vals, names = [], []
    for i, a in enumerate(args):
        v, d = _operand(api, f"operand {i}", a, all_int)
        vals.append(v)
        names.append(d)
    vals = _same_layout(vals)
    try:
        shape = np.broadcast_shapes(*[np.shape(v) for v in vals])
    except ValueError as exc:
        shapes = [a.shape for a in args if isinstance(a, NkiTensor)]
        raise NkiValidationError(f"{api}: operand shapes {shapes} are not broadcastable") from exc
    with np.errstate(all="ignore"):
        out = fn(*vals)
    return np.broadcast_to(out, shape), names


def _emit(api: str, engine: str, values: np.ndarray, dtype: str) -> NkiTensor:
    c.record(api, engine)
    if values.ndim == 0:
        values = values.reshape(1, 1)
    out = c.allocate(values.shape, dtype)
    out._write(values)
    return out


_NO_PSUM = ("rsqrt", "power")  # rsqrt rejects PSUM since NKI 0.5; power runs on GpSimd (no PSUM access)


def _reject_psum(api: str, name: str, args: tuple) -> None:
    if name in _NO_PSUM and any(isinstance(a, NkiTensor) and a.kind == "psum" for a in args):
        raise NkiValidationError(f"{api}: PSUM operands are not accepted; copy to SBUF first")


def _unary(name: str, impl: Callable[[np.ndarray], np.ndarray]) -> Callable:
    def fn(x: Any, dtype: Any = None) -> NkiTensor:
        _reject_psum(f"nl.{name}", name, (x,))
        vals, names = _compute(f"nl.{name}", impl, (x,), False)
        return _emit(f"nl.{name}", "scalar", vals, _result_dtype((x,), names, dtype))

    fn.__name__ = fn.__qualname__ = name
    ops.UNARY[fn] = impl
    return fn


def _binary(name: str, impl: Callable, kind: str = "arith") -> Callable:
    default_bool = kind in ("compare", "logical")

    def fn(x: Any, y: Any, dtype: Any = None) -> NkiTensor:
        api = f"nl.{name}"
        _reject_psum(api, name, (x, y))
        vals, names = _compute(api, impl, (x, y), kind != "float")
        out_dt = _result_dtype((x, y), names, dtype, "bool" if default_bool and dtype is None else None)
        if kind == "bitvec" and not dtypes.is_int(out_dt):
            raise NkiValidationError(f"{api}: bitwise operators need integer tiles, got {out_dt}")
        return _emit(api, "vector", vals, out_dt)

    fn.__name__ = fn.__qualname__ = name
    if kind == "bitvec":
        ops.BITVEC[fn] = impl
    else:
        ops.BINARY[fn] = impl
    if kind in ("compare", "logical"):
        ops.COMPARE.add(fn)
    return fn


# ---- unary / activation functions ------------------------------------------------------------
exp = _unary("exp", np.exp)
log = _unary("log", np.log)
tanh = _unary("tanh", np.tanh)
sigmoid = _unary("sigmoid", ops.sigmoid)
relu = _unary("relu", lambda x: np.maximum(x, np.float32(0)))
gelu = _unary("gelu", ops.gelu)
gelu_dx = _unary("gelu_dx", ops.gelu_dx)
gelu_apprx_tanh = _unary("gelu_apprx_tanh", ops.gelu_tanh)
gelu_apprx_sigmoid = _unary("gelu_apprx_sigmoid", ops.gelu_sigmoid)
silu = _unary("silu", ops.silu)
silu_dx = _unary("silu_dx", ops.silu_dx)
softplus = _unary("softplus", ops.softplus)
mish = _unary("mish", ops.mish)
rsqrt = _unary("rsqrt", ops.rsqrt)
sqrt = _unary("sqrt", np.sqrt)
reciprocal = _unary("reciprocal", ops.reciprocal)
square = _unary("square", np.square)
abs = _unary("abs", np.abs)  # noqa: A001 - NKI API name
negative = _unary("negative", np.negative)
sign = _unary("sign", np.sign)
sin = _unary("sin", np.sin)
cos = _unary("cos", np.cos)
tan = _unary("tan", np.tan)
arctan = _unary("arctan", np.arctan)
erf = _unary("erf", ops.erf)
erf_dx = _unary("erf_dx", ops.erf_dx)
ceil = _unary("ceil", np.ceil)
floor = _unary("floor", np.floor)
trunc = _unary("trunc", np.trunc)
identity = _unary("identity", lambda x: x)
bypass = _unary("bypass", lambda x: x)
exp2 = _unary("exp2", np.exp2)
log1p = _unary("log1p", np.log1p)

# ---- binary ALU operators --------------------------------------------------------------------
add = _binary("add", np.add)
subtract = _binary("subtract", np.subtract)
multiply = _binary("multiply", np.multiply)
divide = _binary("divide", np.divide)
maximum = _binary("maximum", np.maximum)
minimum = _binary("minimum", np.minimum)
power = _binary("power", lambda a, b: np.power(np.float32(a) if np.ndim(a) == 0 else a.astype(np.float32), b), "float")
fmod = _binary("fmod", np.fmod)
mod = _binary("mod", np.mod)
abs_max = _binary("abs_max", lambda a, b: np.maximum(np.abs(a), np.abs(b)))
abs_min = _binary("abs_min", lambda a, b: np.minimum(np.abs(a), np.abs(b)))
equal = _binary("equal", np.equal, "compare")
not_equal = _binary("not_equal", np.not_equal, "compare")
greater = _binary("greater", np.greater, "compare")
greater_equal = _binary("greater_equal", np.greater_equal, "compare")
less = _binary("less", np.less, "compare")
less_equal = _binary("less_equal", np.less_equal, "compare")
logical_and = _binary("logical_and", np.logical_and, "logical")
logical_or = _binary("logical_or", np.logical_or, "logical")
logical_xor = _binary("logical_xor", np.logical_xor, "logical")
bitwise_and = _binary("bitwise_and", np.bitwise_and, "bitvec")
bitwise_or = _binary("bitwise_or", np.bitwise_or, "bitvec")
bitwise_xor = _binary("bitwise_xor", np.bitwise_xor, "bitvec")
left_shift = _binary("left_shift", np.left_shift, "bitvec")
right_shift = _binary("right_shift", np.right_shift, "bitvec")


def logical_not(x: Any, dtype: Any = bool) -> NkiTensor:
    vals, _ = _compute("nl.logical_not", np.logical_not, (x,), True)
    return _emit("nl.logical_not", "vector", vals, dtypes.normalize(dtype, "dtype"))


def invert(x: Any, dtype: Any = None) -> NkiTensor:
    vals, names = _compute("nl.invert", np.invert, (x,), True)
    out_dt = _result_dtype((x,), names, dtype)
    if not dtypes.is_int(out_dt):
        raise NkiValidationError(f"nl.invert: needs an integer tile, got {out_dt}")
    return _emit("nl.invert", "vector", vals, out_dt)


ops.UNARY[logical_not] = np.logical_not
ops.BITVEC[invert] = lambda a, b=None: np.invert(a)


def where(condition: Any, x: Any, y: Any, dtype: Any = None) -> NkiTensor:
    api = "nl.where"
    vals, names = _compute(api, lambda cnd, a, b: np.where(cnd != 0, a, b), (condition, x, y), True)
    return _emit(api, "vector", vals, _result_dtype((x, y), names[1:], dtype))


def _inplace(fn: Callable, target: NkiTensor, other: Any) -> None:
    """`tile += x` and friends: compute fn(tile, other) and write it back into tile."""
    api = f"nl.{fn.__name__} (in-place)"
    impl = ops.BINARY.get(fn) or ops.BITVEC.get(fn)
    vals, _ = _compute(api, impl, (target, other), True)
    if vals.shape != target.shape:
        raise NkiValidationError(f"{api}: result shape {vals.shape} does not match target shape {target.shape}")
    c.record(api, "vector")
    target._write(vals)


def broadcast_to(x: Any, shape: Any, dtype: Any = None) -> NkiTensor:
    api = "nl.broadcast_to"
    t = c.require_tensor(api, "x", x)
    shape = c.normalize_shape(shape)
    if len(shape) != t.ndim:
        raise NkiValidationError(f"{api}: target shape {shape} must have the same rank as {t.shape}")
    try:
        vals = np.broadcast_to(t._read_raw(), shape)
    except ValueError as exc:
        raise NkiValidationError(f"{api}: cannot broadcast {t.shape} to {shape}") from exc
    out_dt = dtypes.normalize(dtype, "dtype") if dtype is not None else t.dtype
    c.record(api, "vector")
    out = c.allocate(shape, out_dt)
    out._write(vals if out_dt == t.dtype else dtypes.to_f32(vals))
    return out


def expand_dims(x: Any, axis: Any) -> NkiTensor:
    t = c.require_tensor("nl.expand_dims", "x", x)
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    out = t
    for a in sorted(int(v) % (t.ndim + len(axes)) for v in axes):
        out = out.expand_dim(a)
    return out


__all__ = [
    _n
    for _n, _v in list(globals().items())
    if not _n.startswith("_")
    and not isinstance(_v, type(np))
    and (isinstance(_v, str) or getattr(_v, "__module__", None) == __name__)
]
