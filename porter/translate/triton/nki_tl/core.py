"""The runtime's state and vocabulary: the per-launch context, Triton dtypes as NKI dtypes, the block value
``_T``, and where a Triton block shape sits on chip (partitions x free elements)."""

import nki.isa as nisa
import nki.language as nl
import numpy as np

PMAX = 128
PSUM_FMAX = 512

float32 = nl.float32
float16 = nl.float16
bfloat16 = nl.bfloat16
float64 = nl.float32  # no fp64 on the NeuronCore: computed in fp32
int1 = nl.uint8
int8 = nl.int8
int16 = nl.int16
int32 = nl.int32
int64 = nl.int32  # data only; index arithmetic stays in NumPy int64
uint8 = nl.uint8
uint32 = nl.uint32

def constexpr(value=None):
    """``tl.constexpr(v)`` at module level: the value itself (kernel arguments are trace-time Python values)."""
    return getattr(value, "value", value)

class Unsupported(NotImplementedError):
    """A construct the Triton-on-NKI runtime cannot express (the message names it)."""

class _Context:
    def __init__(self):
        self.mode = "rows"
        self.grid = (1, 1, 1)
        self.pid = (0, 0, 0)
        self.P = 1  # programs in this group
        self.k = 1  # partitions per program ("wide" rows: a long block split over k partitions)
        self.active = None
        self.when = None  # the per-program predicate of the branches on loaded data being traced (branches.py)
        self.retired = None  # programs a `return` under such a branch took out of later stores
        self.consts = {}


_ctx = _Context()

def _is_tile(x):
    return isinstance(x, _T)


def _float_dtype(*dts):
    names = [str(d) for d in dts]
    for want in ("float32", "float16", "bfloat16"):
        if any(want in n for n in names):
            return {"float32": nl.float32, "float16": nl.float16, "bfloat16": nl.bfloat16}[want]
    return nl.float32


def _promote(a, b):
    if not _is_tile(b):
        return a.dtype if _is_float(a.dtype) or not isinstance(b, float) else nl.float32
    if not _is_tile(a):
        return _promote(b, a)
    if _is_float(a.dtype) or _is_float(b.dtype):
        if "float32" in (str(a.dtype), str(b.dtype)) or not (_is_float(a.dtype) and _is_float(b.dtype)):
            return nl.float32
        return a.dtype if str(a.dtype) == str(b.dtype) else nl.float32
    return nl.int32


def _is_float(dt):
    return "float" in str(dt)


_TRITON_DTYPES = {"fp32": nl.float32, "fp16": nl.float16, "bf16": nl.bfloat16, "fp64": nl.float32,
                  "int32": nl.int32, "int64": nl.int32, "int16": nl.int16, "int8": nl.int8, "int1": nl.uint8,
                  "uint8": nl.uint8, "uint32": nl.uint32}


def _dt(dtype):
    """An NKI dtype for ``dtype`` (a Triton dtype passed as a constexpr argument is mapped by name)."""
    return _TRITON_DTYPES.get(str(getattr(dtype, "name", "")) or str(dtype), dtype) \
        if type(dtype).__module__.startswith("triton") else dtype


def _new(shape, dtype):
    return nl.ndarray(tuple(int(s) for s in shape), dtype=_dt(dtype), buffer=nl.sbuf)


def _f32(tile):
    """``tile`` as fp32 (per-partition scalar operands of tensor_scalar must be fp32)."""
    if str(tile.dtype) == "float32":
        return tile
    out = _new(tile.shape, nl.float32)
    nisa.tensor_copy(dst=out, src=tile)
    return out

class _T:
    """A Triton block held in an SBUF tile. ``shape`` is the Triton shape; ``layout`` says how it sits on chip."""

    # A trace-time NumPy array on the left (`cols[None, :] == target[:, None]`, `offs * x`) defers to the
    # reflected method here; without this NumPy applies the operator per element and yields an object array.
    __array_ufunc__ = None

    def __init__(self, tile, shape, dtype, layout="rows"):
        self.tile = tile
        self.shape = tuple(shape)
        self.dtype = dtype
        self.layout = layout  # "rows" | "2d" | "row" (1-D as (1, N)) | "col" (1-D as (N, 1)) | "scalar"

    def to(self, dtype, **_):
        return _elementwise.cast(self, dtype)

    def cast(self, dtype, **_):
        return _elementwise.cast(self, dtype)

    def __add__(self, o):
        return _elementwise._binary(nl.add, self, o)

    def __radd__(self, o):
        return _elementwise._binary(nl.add, o, self)

    def __sub__(self, o):
        return _elementwise._binary(nl.subtract, self, o)

    def __rsub__(self, o):
        return _elementwise._binary(nl.subtract, o, self)

    def __mul__(self, o):
        return _elementwise._binary(nl.multiply, self, o)

    def __rmul__(self, o):
        return _elementwise._binary(nl.multiply, o, self)

    def __truediv__(self, o):
        return _elementwise._binary(nl.divide, self, o)

    def __rtruediv__(self, o):
        return _elementwise._binary(nl.divide, o, self)

    def __neg__(self):
        return _elementwise._binary(nl.multiply, self, -1.0)

    def __pos__(self):
        return self

    def __lt__(self, o):
        return _elementwise._binary(nl.less, self, o)

    def __le__(self, o):
        return _elementwise._binary(nl.less_equal, self, o)

    def __gt__(self, o):
        return _elementwise._binary(nl.greater, self, o)

    def __ge__(self, o):
        return _elementwise._binary(nl.greater_equal, self, o)

    def __eq__(self, o):
        return _elementwise._binary(nl.equal, self, o)

    def __ne__(self, o):
        return _elementwise._binary(nl.not_equal, self, o)

    def __and__(self, o):
        return _elementwise._binary(nl.logical_and, self, o)

    def __or__(self, o):
        return _elementwise._binary(nl.logical_or, self, o)

    def __rand__(self, o):
        return _elementwise._binary(nl.logical_and, o, self)

    def __ror__(self, o):
        return _elementwise._binary(nl.logical_or, o, self)

    __hash__ = object.__hash__

    def __getitem__(self, idx):
        return _blocks2d._index(self, idx)

    @property
    def T(self):
        return _blocks2d.trans(self)

def _layout_of(shape):
    if _ctx.mode == "rows":
        return "rows"
    return {0: "scalar", 1: "row", 2: "2d"}.get(len(shape), None)


def _tile_shape(shape):
    """On-chip (partitions, free) for a Triton block shape."""
    if _ctx.mode == "rows":
        if len(shape) > 1:
            raise Unsupported("a two-dimensional block in a kernel translated one program per partition")
        k = _ctx.k
        if not shape:
            return (_ctx.P * k, 1)
        if int(shape[0]) % k:
            raise Unsupported(f"a block of {shape[0]} lanes next to one split over {k} partitions per program")
        return (_ctx.P * k, int(shape[0]) // k)
    if len(shape) == 0:
        return (1, 1)
    if len(shape) == 1:
        return (1, int(shape[0]))
    if len(shape) == 2:
        if shape[0] > PMAX:
            raise Unsupported(f"a block of {shape[0]} rows (at most {PMAX} fit on the partitions)")
        return (int(shape[0]), int(shape[1]))
    raise Unsupported("a block of more than two dimensions")


def _block_shape(arr):
    """Triton block shape of a trace-time index array."""
    shape = np.shape(arr)
    if _ctx.mode == "rows":
        return (shape[1],) if len(shape) == 2 and shape[1] > 1 else ()
    return tuple(shape)


def _as_grid(arr, shape):
    """Broadcast a trace-time array to the on-chip (P, F) grid of a block of Triton shape ``shape``."""
    p, f = _tile_shape(shape)
    a = np.asarray(arr)
    if _ctx.mode == "rows":
        if a.ndim == 0:
            a = a.reshape(1, 1)
        k = _ctx.k
        if k == 1:
            return np.broadcast_to(a, (p, f))
        if not shape:  # a per-program scalar: the same on each of its k partitions
            return np.repeat(np.broadcast_to(a, (_ctx.P, 1)), k, axis=0)
        return np.broadcast_to(a, (_ctx.P, f * k)).reshape(p, f)
    if a.ndim == 0:
        return a.reshape(1, 1)
    if a.ndim == 1:
        return np.broadcast_to(a.reshape(1, -1), (p, f))
    return np.broadcast_to(a, (p, f))


# _T's operators are operations of the modules that build on this one: imported last, as modules (looked up
# when an operator runs), so that importing any of them first works.
from porter.translate.triton.nki_tl import blocks2d as _blocks2d  # noqa: E402
from porter.translate.triton.nki_tl import elementwise as _elementwise  # noqa: E402
