"""Element-wise operations: the block operators, math functions (``tl.exp``, ``libdevice``), ``tl.where`` and
``tl.cast``; trace-time values go through NumPy."""

import nki.isa as nisa
import nki.language as nl
import numpy as np

from porter.translate.triton.nki_tl.core import (
    _T,
    Unsupported,
    _block_shape,
    _dt,
    _f32,
    _float_dtype,
    _is_float,
    _is_tile,
    _layout_of,
    _new,
    _promote,
    _tile_shape,
)
from porter.translate.triton.nki_tl.creation import _fit, _materialize
from porter.translate.triton.nki_tl.launch import cond

_COMPARE = ("less", "less_equal", "greater", "greater_equal", "equal", "not_equal", "logical_and", "logical_or")


def _opname(op):
    return getattr(op, "__name__", str(op))


def _shape_of(x):
    if _is_tile(x):
        return x.shape
    if isinstance(x, np.ndarray):
        return _block_shape(x)
    return ()


def _bshape(a, b):
    sa, sb = _shape_of(a), _shape_of(b)
    return tuple(np.broadcast_shapes(sa, sb))


def _binary(op, a, b):
    if not _is_tile(a) and not _is_tile(b):
        return _numpy_binary(op, a, b)
    shape = _bshape(a, b)
    name = _opname(op)
    is_cmp = name in _COMPARE
    tile_a = a if _is_tile(a) else None
    ref = tile_a if tile_a is not None else b
    if is_cmp:
        dtype = nl.uint8
    elif _is_tile(a) and _is_tile(b):
        dtype = _promote(a, b)
    else:
        other = b if _is_tile(a) else a
        dtype = ref.dtype if (_is_float(ref.dtype) or not isinstance(other, float)) else nl.float32
    p, f = _tile_shape(shape)
    dst = _new((p, f), dtype)
    if name in ("logical_and", "logical_or"):
        op = nl.multiply if name == "logical_and" else nl.maximum
    scalar_b = not _is_tile(b) and not isinstance(b, np.ndarray)
    scalar_a = not _is_tile(a) and not isinstance(a, np.ndarray)
    if scalar_b:
        nisa.tensor_scalar(dst=dst, data=_fit(a.tile, shape, a.layout), op0=op, operand0=_num(b))
        return _T(dst, shape, dtype, _layout_of(shape))
    if scalar_a:
        nisa.tensor_scalar(dst=dst, data=_fit(b.tile, shape, b.layout), op0=op, operand0=_num(a), reverse0=True)
        return _T(dst, shape, dtype, _layout_of(shape))
    ta = _materialize(a, _shape_of(a), b.dtype if _is_tile(b) else nl.float32) if not _is_tile(a) else a.tile
    tb = _materialize(b, _shape_of(b), a.dtype if _is_tile(a) else nl.float32) if not _is_tile(b) else b.tile
    fa, fb = int(np.prod(ta.shape[1:])), int(np.prod(tb.shape[1:]))
    if fb == 1 and ta.shape[0] == p and fa == f and tb.shape[0] == p and f > 1:
        nisa.tensor_scalar(dst=dst, data=ta, op0=op, operand0=_f32(tb))
    elif fa == 1 and tb.shape[0] == p and fb == f and ta.shape[0] == p and f > 1:
        nisa.tensor_scalar(dst=dst, data=tb, op0=op, operand0=_f32(ta), reverse0=True)
    else:
        nisa.tensor_tensor(dst=dst, data1=_fit(ta, shape, None), data2=_fit(tb, shape, None), op=op)
    return _T(dst, shape, dtype, _layout_of(shape))


def _num(x):
    if isinstance(x, (bool, np.bool_)):
        return float(x)
    return float(x) if isinstance(x, (float, np.floating)) else int(x)


_NP = {
    "add": np.add, "subtract": np.subtract, "multiply": np.multiply, "divide": np.true_divide,
    "maximum": np.maximum, "minimum": np.minimum, "less": np.less, "less_equal": np.less_equal,
    "greater": np.greater, "greater_equal": np.greater_equal, "equal": np.equal, "not_equal": np.not_equal,
    "logical_and": np.logical_and, "logical_or": np.logical_or, "power": np.power,
}


def _numpy_binary(op, a, b):
    return _NP[_opname(op)](a, b)


def _unary(op, x, np_fn):
    if not _is_tile(x):
        return np_fn(np.asarray(x, dtype=np.float64)) if isinstance(x, np.ndarray) else float(np_fn(float(x)))
    dtype = x.dtype if _is_float(x.dtype) else nl.float32
    dst = _new(x.tile.shape, dtype)
    nisa.activation(dst=dst, op=op, data=x.tile)
    return _T(dst, x.shape, dtype, x.layout)


def exp(x):
    return _unary(nl.exp, x, np.exp)


def exp2(x):
    return exp(x * 0.6931471805599453) if _is_tile(x) else np.exp2(x)


def log(x):
    return _unary(nl.log, x, np.log)


def log2(x):
    return log(x) * 1.4426950408889634 if _is_tile(x) else np.log2(x)


def log1p(x):
    return log(x + 1.0) if _is_tile(x) else np.log1p(x)


def sqrt(x):
    return _unary(nl.sqrt, x, np.sqrt)


sqrt_rn = sqrt


def rsqrt(x):
    return _unary(nl.rsqrt, x, lambda v: 1.0 / np.sqrt(v))


def sigmoid(x):
    return _unary(nl.sigmoid, x, lambda v: 1.0 / (1.0 + np.exp(-v)))


def tanh(x):
    return _unary(nl.tanh, x, np.tanh)


def sin(x):
    return _unary(nl.sin, x, np.sin)


def cos(x):
    return _unary(nl.cos, x, np.cos)


def erf(x):
    return _unary(nl.erf, x, np.vectorize(__import__("math").erf))


def abs(x):  # noqa: A001 - tl.abs
    return _unary(nl.abs, x, np.abs)


fabs = abs


def floor(x):
    return _unary(nl.floor, x, np.floor)


def ceil(x):
    return _unary(nl.ceil, x, np.ceil)


def maximum(a, b, **_):
    return _binary(nl.maximum, a, b)


def minimum(a, b, **_):
    return _binary(nl.minimum, a, b)


fmax = maximum
fmin = minimum


def div_rn(a, b):
    return a / b


def fdiv(a, b, **_):
    return a / b


def fma(a, b, c):
    return a * b + c


def pow(a, b):  # noqa: A001 - libdevice pow
    if _is_tile(b):
        return exp(log(a) * b)
    if _is_tile(a):
        if float(b) == 2.0:
            return a * a
        return exp(log(a) * float(b))
    return np.power(a, b)


def clamp(x, lo, hi, **_):
    return minimum(maximum(x, lo), hi)


def where(condition, x, y):
    """``tl.where``: a trace-time mask picks lanes statically; a data mask selects on chip."""
    if not _is_tile(condition):
        c = np.asarray(condition, dtype=bool)
        if c.all():
            return x
        if not c.any():
            return y
    shape = tuple(np.broadcast_shapes(_shape_of(condition), _shape_of(x), _shape_of(y)))
    dts = [v.dtype for v in (x, y) if _is_tile(v)]
    dtype = _float_dtype(*dts) if dts and any(_is_float(d) for d in dts) else (dts[0] if dts else nl.float32)
    if not dts and any(isinstance(v, float) for v in (x, y)):
        dtype = nl.float32
    pred = _materialize(condition, shape, nl.uint8)
    if str(pred.dtype) != "uint8":
        p8 = _new(pred.shape, nl.uint8)
        nisa.tensor_copy(dst=p8, src=pred)
        pred = p8
    out = _new(_tile_shape(shape), dtype)
    yb = _materialize(y, shape, dtype)
    nisa.tensor_copy(dst=out, src=yb)
    xb = _materialize(x, shape, dtype)
    if str(xb.dtype) != str(dtype):
        t = _new(xb.shape, dtype)
        nisa.tensor_copy(dst=t, src=xb)
        xb = t
    nisa.tensor_copy_predicated(dst=out, src=xb, predicate=pred)
    return _T(out, shape, dtype, _layout_of(shape))


def choose(test, then, otherwise):
    """``a if test else b`` in a kernel. A test known at trace time (the same for every program batched on
    the partitions) evaluates one side, as Python does; a test on loaded data, or one whose outcome differs
    between those programs, selects lane by lane between both sides (``where``): Triton's expressions have no
    side effects, so evaluating both changes nothing."""
    if not _is_tile(test):
        try:
            return then() if cond(test) else otherwise()
        except Unsupported:  # a trace-time test that differs between the batched programs
            pass
    return where(test, then(), otherwise())


def cast(x, dtype, **_):
    """``x.to(dtype)`` / ``tl.cast``: on-chip conversion for blocks, NumPy for trace-time values."""
    dtype = _dt(dtype)
    if _is_tile(x):
        if str(x.dtype) == str(dtype):
            return x
        dst = _new(x.tile.shape, dtype)
        nisa.tensor_copy(dst=dst, src=x.tile)
        return _T(dst, x.shape, dtype, x.layout)
    if isinstance(x, np.ndarray):
        return x.astype(np.float64) if _is_float(dtype) else x.astype(np.int64)
    return float(x) if _is_float(dtype) else int(x)
