"""Triton-language operations on NKI tiles, evaluated while an NKI kernel is traced.

Every NKI kernel file porter translates from Triton imports this module as ``_tl`` (``porter kernels verify``
and ``porter port --verify`` write them). It is written for the current ``nki`` API (``nki.language as nl``,
``nki.isa as nisa``, ``dst=`` first) and runs unchanged in porter's NKI simulator.

How a Triton program maps onto a NeuronCore:

* ``rows`` mode (kernels with one-dimensional blocks: elementwise, one program per row, loops over column blocks):
  up to 128 programs of grid axis 0 run together, program *p* of the group on partition *p*. A block of ``B``
  lanes is an SBUF tile ``(P, B)``; a per-program scalar is ``(P, 1)``.
* ``program`` mode (kernels with two-dimensional blocks, ``tl.dot``): one program at a time; a block ``(M, N)``
  is a tile with ``M <= 128`` rows on partitions.

Index arithmetic (program ids, ``tl.arange``, offsets, masks) is plain NumPy at trace time: it is known before the
kernel runs. A load or store turns its offsets and mask into as few rectangular DMA transfers as the pattern
allows (one for a contiguous block). Offsets computed from loaded data (gathers) are not supported.
"""

import builtins as _b

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

    def __init__(self, tile, shape, dtype, layout="rows"):
        self.tile = tile
        self.shape = tuple(shape)
        self.dtype = dtype
        self.layout = layout  # "rows" | "2d" | "row" (1-D as (1, N)) | "col" (1-D as (N, 1)) | "scalar"

    def to(self, dtype, **_):
        return cast(self, dtype)

    def cast(self, dtype, **_):
        return cast(self, dtype)

    def __add__(self, o):
        return _binary(nl.add, self, o)

    def __radd__(self, o):
        return _binary(nl.add, o, self)

    def __sub__(self, o):
        return _binary(nl.subtract, self, o)

    def __rsub__(self, o):
        return _binary(nl.subtract, o, self)

    def __mul__(self, o):
        return _binary(nl.multiply, self, o)

    def __rmul__(self, o):
        return _binary(nl.multiply, o, self)

    def __truediv__(self, o):
        return _binary(nl.divide, self, o)

    def __rtruediv__(self, o):
        return _binary(nl.divide, o, self)

    def __neg__(self):
        return _binary(nl.multiply, self, -1.0)

    def __pos__(self):
        return self

    def __lt__(self, o):
        return _binary(nl.less, self, o)

    def __le__(self, o):
        return _binary(nl.less_equal, self, o)

    def __gt__(self, o):
        return _binary(nl.greater, self, o)

    def __ge__(self, o):
        return _binary(nl.greater_equal, self, o)

    def __eq__(self, o):
        return _binary(nl.equal, self, o)

    def __ne__(self, o):
        return _binary(nl.not_equal, self, o)

    def __and__(self, o):
        return _binary(nl.logical_and, self, o)

    def __or__(self, o):
        return _binary(nl.logical_or, self, o)

    __hash__ = object.__hash__

    def __getitem__(self, idx):
        return _index(self, idx)

    @property
    def T(self):
        return trans(self)


# ------------------------------------------------------------------------------------------------ launching

def _wrap_args(args):
    out = []
    for a in args:
        if hasattr(a, "ap") and hasattr(a, "shape") and hasattr(a, "dtype"):
            out.append(_Ptr(a, 0))
        else:
            out.append(a)
    return out


WIDE_LANES = 4096  # lanes per partition above which a program's block is split over several partitions


def split_factor(blocks):
    """Partitions per program for the largest block: 1 up to WIDE_LANES lanes, then doubling (at most 64)."""
    k = 1
    biggest = _b.max([int(b) for b in blocks if isinstance(b, (int, np.integer))] or [1])
    while biggest // k > WIDE_LANES and k < 64 and biggest % (2 * k) == 0:
        k *= 2
    return k


def launch(program, mode, grid, args, blocks=()):
    """Run ``program`` for every program id of ``grid`` (a tuple of up to 3 ints).

    ``blocks``: the block sizes the program uses (its ``tl.arange`` extents); in rows mode a block longer than
    WIDE_LANES is split over several partitions per program, so SBUF holds any block length.
    """
    grid = tuple(int(g) for g in grid) + (1,) * (3 - len(tuple(grid)))
    args = _wrap_args(args)
    _ctx.mode = mode
    _ctx.grid = grid
    k = split_factor(blocks) if mode == "rows" else 1
    for p2 in _b.range(grid[2]):
        for p1 in _b.range(grid[1]):
            if mode == "rows":
                for g0 in _b.range(0, grid[0], PMAX // k):
                    n = _b.min(PMAX // k, grid[0] - g0)
                    _ctx.pid = (np.arange(g0, g0 + n, dtype=np.int64).reshape(n, 1), p1, p2)
                    _ctx.P = n
                    _ctx.k = k
                    _ctx.active = None
                    _ctx.consts = {}
                    program(*args)
            else:
                for p0 in _b.range(grid[0]):
                    _ctx.pid = (p0, p1, p2)
                    _ctx.P = 1
                    _ctx.k = 1
                    _ctx.active = None
                    program(*args)


def program_id(axis=0):
    return _ctx.pid[int(axis)]


def num_programs(axis=0):
    return _ctx.grid[int(axis)]


def pymin(*args):
    """Python's ``min`` in a kernel: element-wise for per-program (NumPy) values."""
    if any(isinstance(a, np.ndarray) for a in args):
        out = args[0]
        for a in args[1:]:
            out = np.minimum(out, a)
        return out
    return _b.min(*args)


def pymax(*args):
    """Python's ``max`` in a kernel: element-wise for per-program (NumPy) values."""
    if any(isinstance(a, np.ndarray) for a in args):
        out = args[0]
        for a in args[1:]:
            out = np.maximum(out, a)
        return out
    return _b.max(*args)


def cdiv(a, b):
    return (a + b - 1) // b


def next_power_of_2(n):
    return 1 << _b.max(0, int(n) - 1).bit_length()


def arange(start, end):
    r = np.arange(int(start), int(end), dtype=np.int64)
    return r.reshape(1, -1) if _ctx.mode == "rows" else r


def cond(x):
    """Truth of an ``if`` / ``while`` test: a trace-time value, the same for every program of the group."""
    if _is_tile(x):
        raise Unsupported("a branch on a value loaded from memory (data-dependent control flow)")
    if isinstance(x, np.ndarray):
        v = x if _ctx.active is None else x[np.broadcast_to(_ctx.active, x.shape)]
        if v.size and v.all():
            return True
        if not v.any():
            return False
        raise Unsupported("a branch whose outcome differs between programs batched on partitions")
    return bool(x)


def range(start, stop=None, step=1, **_):  # noqa: A001 - stands for tl.range / range in kernels
    """``range`` / ``tl.range`` / ``tl.static_range``; bounds that differ per program deactivate finished ones."""
    if stop is None:
        start, stop = 0, start
    if not any(isinstance(v, np.ndarray) for v in (start, stop, step)):
        yield from _b.range(int(start), int(stop), int(step))
        return
    if isinstance(step, np.ndarray):
        step = int(np.unique(step)[0]) if np.unique(step).size == 1 else None
        if step is None:
            raise Unsupported("a loop whose step differs between programs")
    start = np.asarray(start, dtype=np.int64)
    stop = np.asarray(stop, dtype=np.int64)
    trips = np.maximum(0, (stop - start + step - (1 if step > 0 else -1)) // step)
    outer = _ctx.active
    k = 0
    while k < int(trips.max(initial=0)):
        value = start + k * step
        live = np.broadcast_to(k < trips, (_ctx.P, 1)).copy()
        _ctx.active = live if outer is None else (outer & live)
        yield value
        k += 1
    _ctx.active = outer


static_range = range


def multiple_of(x, _):
    return x


def max_contiguous(x, _):
    return x


def max_constancy(x, _):
    return x


def assume(*_):
    return None


def static_assert(c, msg=""):
    assert c, msg


def device_assert(*_, **__):
    return None


def debug_barrier():
    return None


def static_print(*_, **__):
    return None


def device_print(*_, **__):
    return None


# ------------------------------------------------------------------------------------------------- pointers

class _Ptr:
    """A base HBM tensor plus element offsets (a trace-time NumPy array or int)."""

    def __init__(self, base, offsets):
        self.base = base
        self.offsets = offsets

    def __add__(self, o):
        if _is_tile(o):
            raise Unsupported("a pointer offset computed from loaded data (gather/scatter)")
        return _Ptr(self.base, self.offsets + np.asarray(o, dtype=np.int64) if isinstance(o, np.ndarray)
                    else self.offsets + int(o))

    __radd__ = __add__

    def __sub__(self, o):
        return self.__add__(-o)

    def __getitem__(self, idx):
        return _Ptr(self.base, np.asarray(self.offsets)[idx])

    @property
    def dtype(self):
        return _PtrType(self.base.dtype)


class _PtrType:
    def __init__(self, element_ty):
        self.element_ty = element_ty


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


def _valid(mask, shape, store=False):
    p, f = _tile_shape(shape)
    v = np.ones((p, f), dtype=bool) if mask is None else _as_grid(np.asarray(mask, dtype=bool), shape).copy()
    if _ctx.active is not None:
        v &= np.repeat(np.broadcast_to(_ctx.active, (_ctx.P, 1)), _ctx.k, axis=0) if _ctx.k > 1 else \
            np.broadcast_to(_ctx.active, (p, f))
    # a per-program scalar is stored once, from the program's first partition; a load gives every partition of
    # the program its value (a row's mean or rstd is needed by all of the row's partitions)
    if store and _ctx.k > 1 and not shape:
        v &= (np.arange(p) % _ctx.k == 0).reshape(p, 1)
    return v


def _runs(off, valid):
    """Rectangles (p0, np, f0, nf, start, pstride, fstride) covering the valid elements of an offset grid."""
    p, f = off.shape
    rows = []
    for i in _b.range(p):
        cols = np.flatnonzero(valid[i])
        segs = []
        if cols.size:
            o = off[i, cols]
            s = 0
            while s < cols.size:
                e = s + 1
                if e < cols.size and cols[e] == cols[s] + 1:
                    st = o[e] - o[s]
                    while e < cols.size and cols[e] == cols[e - 1] + 1 and o[e] - o[e - 1] == st:
                        e += 1
                else:
                    st = 1
                segs.append((int(cols[s]), e - s, int(o[s]), int(st)))
                s = e
        rows.append(segs)
    rects = []
    open_ = {}
    for i, segs in enumerate(rows):
        nxt = {}
        for f0, nf, start, fs in segs:
            key = (f0, nf, fs)
            r = open_.get(key)
            if r is not None and r[0] + r[1] == i and (r[1] == 1 or start - r[4] == r[5] * r[1]):
                ps = start - r[4] if r[1] == 1 else r[5]
                r = (r[0], r[1] + 1, f0, nf, r[4], ps, fs)
                nxt[key] = r
            else:
                if r is not None:
                    rects.append(r)
                nxt[key] = (i, 1, f0, nf, start, 1, fs)
        for key, r in open_.items():
            if key not in nxt:
                rects.append(r)
            elif nxt[key][0] != r[0]:
                rects.append(r)
        open_ = nxt
    rects.extend(open_.values())
    return rects


def _hbm_view(base, start, ps, np_, fs, nf):
    return base.ap([[ps, np_], [fs, nf]], offset=start)


def _fill(tile, value, shape=None):
    if value is None:
        value = 0
    if isinstance(value, _T):  # `other=m`, a per-row value: its broadcast to the block, before the DMA
        if shape is None:
            raise Unsupported("a tensor as the `other=` of a masked load")
        nisa.tensor_copy(dst=tile, src=_materialize(value, shape, tile.dtype))
        return
    nisa.memset(dst=tile, value=float(value) if _is_float(tile.dtype) else int(value))


def _broadcast_partitions(dst, row):
    """Copy the (1, F) tile ``row`` into every partition of ``dst`` (P, F) through the Tensor Engine."""
    rows, width = dst.shape
    src = row
    if not _is_float(row.dtype) or str(row.dtype) not in ("float32", "bfloat16", "float16"):
        src = _new((1, width), nl.float32)
        nisa.tensor_copy(dst=src, src=row)
    ones = _new((1, rows), src.dtype)
    nisa.memset(dst=ones, value=1.0)
    for f0 in _b.range(0, width, PSUM_FMAX):
        fs = _b.min(PSUM_FMAX, width - f0)
        ps = nl.ndarray((rows, fs), dtype=nl.float32, buffer=nl.psum)
        nisa.nc_matmul(dst=ps, stationary=ones, moving=src[0:1, f0:f0 + fs], accumulate=False)
        nisa.tensor_copy(dst=dst[0:rows, f0:f0 + fs], src=ps)


def load(pointer, mask=None, other=None, **_):
    """``tl.load``: masked lanes hold ``other`` (0 when not given)."""
    if not isinstance(pointer, _Ptr):
        raise Unsupported("tl.load of something that is not a kernel pointer argument plus offsets")
    shape = _block_shape(np.broadcast(np.asarray(pointer.offsets), np.asarray(True if mask is None else mask)))
    p, f = _tile_shape(shape)
    off = _as_grid(pointer.offsets, shape)
    valid = _valid(mask, shape)
    dtype = pointer.base.dtype
    tile = _new((p, f), dtype)
    if not valid.all():
        _fill(tile, other, shape)
    # every partition reads the same lanes: one row, broadcast (not when `other` differs per partition)
    uniform = p > 1 and (off == off[0:1]).all() and (valid == valid[0:1]).all() and not (
        isinstance(other, _T) and not valid.all())
    if uniform and valid[0].any():
        row = _new((1, f), dtype)
        if not valid[0].all():
            _fill(row, other)
        for _, _, f0, nf, start, _, fs in _runs(off[0:1], valid[0:1]):
            nisa.dma_copy(dst=row[0:1, f0:f0 + nf], src=_hbm_view(pointer.base, start, 1, 1, fs, nf))
        wide = _new((p, f), nl.float32)
        _broadcast_partitions(wide, row)
        nisa.tensor_copy(dst=tile, src=wide)
    else:
        for p0, np_, f0, nf, start, ps, fs in _runs(off, valid):
            nisa.dma_copy(dst=tile[p0:p0 + np_, f0:f0 + nf], src=_hbm_view(pointer.base, start, ps, np_, fs, nf))
    return _T(tile, shape, dtype, _layout_of(shape))


def store(pointer, value, mask=None, **_):
    """``tl.store``: only unmasked lanes are written; the value is cast to the pointer's element type."""
    if not isinstance(pointer, _Ptr):
        raise Unsupported("tl.store to something that is not a kernel pointer argument plus offsets")
    shape = _block_shape(np.broadcast(np.asarray(pointer.offsets), np.asarray(True if mask is None else mask)))
    p, f = _tile_shape(shape)
    off = _as_grid(pointer.offsets, shape)
    valid = _valid(mask, shape, store=True)
    if not valid.any():
        return
    src = _materialize(value, shape, pointer.base.dtype)
    if str(src.dtype) != str(pointer.base.dtype):
        t = _new((p, f), pointer.base.dtype)
        nisa.tensor_copy(dst=t, src=src)
        src = t
    for p0, np_, f0, nf, start, ps, fs in _runs(off, valid):
        nisa.dma_copy(dst=_hbm_view(pointer.base, start, ps, np_, fs, nf), src=src[p0:p0 + np_, f0:f0 + nf])


# ------------------------------------------------------------------------------------------- tile creation

def _fit(tile, shape, layout):
    """``tile`` broadcast to the on-chip grid of ``shape`` (a (P, 1) or (1, F) tile widened when needed)."""
    p, f = _tile_shape(shape)
    tp, tf = tile.shape[0], int(np.prod(tile.shape[1:]))
    if (tp, tf) == (p, f):
        return tile
    if tp == p and tf == 1:
        out = _new((p, f), tile.dtype if _is_float(tile.dtype) else nl.float32)
        nisa.memset(dst=out, value=0.0)
        nisa.tensor_scalar(dst=out, data=out, op0=nl.add, operand0=_f32(tile))
        return out
    if tp == 1 and tf == f:
        out = _new((p, f), nl.float32)
        _broadcast_partitions(out, tile)
        return out
    if tp == 1 and tf == 1:
        out = _new((p, f), nl.float32)
        wide = _new((1, f), nl.float32)
        nisa.memset(dst=wide, value=0.0)
        nisa.tensor_scalar(dst=wide, data=wide, op0=nl.add, operand0=_f32(tile))
        _broadcast_partitions(out, wide)
        return out
    if tf == 1 and tp == f and p == 1:  # a column of M values where a row of M is wanted
        return _transpose_tile(tile, tile.dtype if _is_float(tile.dtype) else nl.float32)
    if tp == 1 and tf == p and f == 1:
        return _transpose_tile(tile, tile.dtype if _is_float(tile.dtype) else nl.float32)
    raise Unsupported(f"broadcasting a {tile.shape} tile to {(p, f)}")


def _from_index(arr, shape, dtype):
    """A trace-time array as a tile: affine ones with iota, 0/1 masks with memsets of rectangles."""
    p, f = _tile_shape(shape)
    a = np.asarray(_as_grid(arr, shape))
    tile = _new((p, f), dtype)
    if a.dtype == bool:
        nisa.memset(dst=tile, value=0)
        for p0, np_, f0, nf, _, _, _ in _runs(np.zeros((p, f), dtype=np.int64), a):
            nisa.memset(dst=tile[p0:p0 + np_, f0:f0 + nf], value=1)
        return tile
    if a.dtype.kind == "f" and not np.all(a == np.round(a)):
        if np.all(a == a.flat[0]):
            nisa.memset(dst=tile, value=float(a.flat[0]))
            return tile
        raise Unsupported("a non-affine trace-time float array used as data")
    ai = a.astype(np.int64)
    c0 = int(ai[0, 0])
    cf = int(ai[0, 1] - ai[0, 0]) if f > 1 else 0
    cp = int(ai[1, 0] - ai[0, 0]) if p > 1 else 0
    expect = c0 + cp * np.arange(p).reshape(p, 1) + cf * np.arange(f).reshape(1, f)
    if not np.array_equal(expect, ai):
        raise Unsupported("a non-affine index array used as data")
    if cf == 0 and cp == 0:
        nisa.memset(dst=tile, value=c0 if not _is_float(dtype) else float(c0))
        return tile
    it = _new((p, f), nl.int32)
    nisa.iota(dst=it, pattern=[[cf, f]], offset=c0, channel_multiplier=cp)
    nisa.tensor_copy(dst=tile, src=it)
    return tile


def _materialize(x, shape, dtype):
    """An SBUF tile on the grid of ``shape`` holding ``x`` (a block, a Python scalar or a trace-time array)."""
    p, f = _tile_shape(shape)
    if _is_tile(x):
        return _fit(x.tile, shape, x.layout)
    if isinstance(x, np.ndarray):
        return _from_index(x, shape, dtype if not _is_float(dtype) or x.dtype != bool else nl.uint8)
    t = _new((p, f), dtype)
    nisa.memset(dst=t, value=float(x) if _is_float(dtype) else int(x))
    return t


def zeros(shape, dtype=float32):
    return full(shape, 0, dtype)


def full(shape, value, dtype=float32):
    dtype = _dt(dtype)
    shape = tuple(int(s) for s in (shape if isinstance(shape, (list, tuple)) else [shape]))
    t = _new(_tile_shape(shape), dtype)
    nisa.memset(dst=t, value=float(value) if _is_float(dtype) else int(value))
    return _T(t, shape, dtype, _layout_of(shape))


def zeros_like(x):
    return zeros(x.shape, x.dtype)


def full_like(x, value):
    return full(x.shape, value, x.dtype)


# ------------------------------------------------------------------------------------------- arithmetic

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


# ------------------------------------------------------------------------------------------- reductions

def _free_axis(x, axis):
    if axis is None:
        if _ctx.mode == "rows" or len(x.shape) <= 1:
            return None
        raise Unsupported("a reduction over every axis of a two-dimensional block")
    return int(axis) % _b.max(1, len(x.shape))


def _reduced_shape(x, axis, keep_dims):
    if axis is None or len(x.shape) <= 1:
        return (1,) * len(x.shape) if keep_dims else ()
    return (x.shape[0], 1) if keep_dims else (x.shape[0],)


def _partition_reduce(op, x, keep_dims):
    """Reduce a (P, F) block over its rows: sums on the Tensor Engine (ones.T @ x), max/min via a transpose."""
    p, f = x.tile.shape[0], int(np.prod(x.tile.shape[1:]))
    shape = (1, f) if keep_dims else (f,)
    if _opname(op) == "add":
        src = _f32(x.tile)
        ones = _new((p, 1), nl.float32)
        nisa.memset(dst=ones, value=1.0)
        out = _new((1, f), nl.float32)
        for f0 in _b.range(0, f, PSUM_FMAX):
            fs = _b.min(PSUM_FMAX, f - f0)
            ps = nl.ndarray((1, fs), dtype=nl.float32, buffer=nl.psum)
            nisa.nc_matmul(dst=ps, stationary=ones, moving=src[0:p, f0:f0 + fs], accumulate=False)
            nisa.tensor_copy(dst=out[0:1, f0:f0 + fs], src=ps)
        return _T(out, shape, nl.float32, "2d" if keep_dims else "row")
    if f > PMAX:
        raise Unsupported(f"tl.max/tl.min over the rows of a block {f} columns wide (at most {PMAX})")
    t = _transpose_tile(x.tile, nl.float32)
    col = _new((f, 1), nl.float32)
    nisa.tensor_reduce(dst=col, op=op, data=t, axis=1, keepdims=True)
    return _T(_transpose_tile(col, nl.float32), shape, nl.float32, "2d" if keep_dims else "row")


def _selection(j):
    """(P*k, P*k) fp32 constant: column m picks partition (m // k) * k + j (j = -1: sums its whole group)."""
    key = ("sel", j)
    if key not in _ctx.consts:
        k, n = _ctx.k, _ctx.P * _ctx.k
        t = _new((n, n), nl.float32)
        nisa.memset(dst=t, value=0.0)
        for g in _b.range(_ctx.P):
            if j < 0:
                nisa.memset(dst=t[g * k:(g + 1) * k, g * k:(g + 1) * k], value=1.0)
            else:
                nisa.memset(dst=t[g * k + j:g * k + j + 1, g * k:(g + 1) * k], value=1.0)
        _ctx.consts[key] = t
    return _ctx.consts[key]


def _group_combine(op, part):
    """Combine the (P*k, 1) partial reductions of each program's k partitions; every partition gets the result.

    Sums: one matmul with a block-diagonal ones matrix. Max/min: one selection matmul per partition of the group
    (exact: one 1.0 x value product each), values clamped to the finite fp32 range first so 0 x inf never
    appears in the Tensor Engine."""
    n = part.shape[0]
    name = _opname(op)
    if name not in ("add", "maximum", "minimum"):
        raise Unsupported(f"a {name} reduction over a block split across partitions")
    src = part
    if name != "add":
        src = _new((n, 1), nl.float32)
        nisa.tensor_scalar(dst=src, data=part, op0=nl.maximum, operand0=-3.0e38, op1=nl.minimum, operand1=3.0e38)
    out = None
    for j in ([-1] if name == "add" else list(_b.range(_ctx.k))):
        ps = nl.ndarray((n, 1), dtype=nl.float32, buffer=nl.psum)
        nisa.nc_matmul(dst=ps, stationary=_selection(j), moving=src, accumulate=False)
        cur = _new((n, 1), nl.float32)
        nisa.tensor_copy(dst=cur, src=ps)
        if out is None:
            out = cur
        else:
            nxt = _new((n, 1), nl.float32)
            nisa.tensor_tensor(dst=nxt, data1=out, data2=cur, op=op)
            out = nxt
    return out


def _reduce(op, x, axis=None, keep_dims=False):
    if not _is_tile(x):
        return {"add": np.sum, "maximum": np.max, "minimum": np.min}[_opname(op)](x)
    if _free_axis(x, axis) == 0 and _ctx.mode == "program" and len(x.shape) == 2:
        return _partition_reduce(op, x, keep_dims)
    p = x.tile.shape[0]
    dtype = x.dtype if _is_float(x.dtype) else nl.float32
    dst = _new((p, 1), dtype if _ctx.k == 1 else nl.float32)
    nisa.tensor_reduce(dst=dst, op=op, data=x.tile, axis=1, keepdims=True)
    if _ctx.mode == "rows" and _ctx.k > 1:
        dst = _group_combine(op, dst)
    shape = _reduced_shape(x, axis, keep_dims)
    layout = "col" if (_ctx.mode == "program" and len(x.shape) == 2) else _layout_of(shape)
    return _T(dst, shape, dtype, layout)


def sum(x, axis=None, keep_dims=False, **_):  # noqa: A001 - tl.sum
    return _reduce(nl.add, x, axis, keep_dims)


def max(x, axis=None, keep_dims=False, **_):  # noqa: A001 - tl.max
    return _reduce(nl.maximum, x, axis, keep_dims)


def min(x, axis=None, keep_dims=False, **_):  # noqa: A001 - tl.min
    return _reduce(nl.minimum, x, axis, keep_dims)


def _arg_extreme(x, axis, keep_dims, want_max):
    if _ctx.mode == "rows" and _ctx.k > 1:
        raise Unsupported("tl.argmax/tl.argmin over a block split across partitions")
    m = max(x, axis, True) if want_max else min(x, axis, True)
    hit = x == m
    p, f = x.tile.shape[0], int(np.prod(x.tile.shape[1:]))
    idx = _new((p, f), nl.float32)
    it = _new((p, f), nl.int32)
    nisa.iota(dst=it, pattern=[[1, f]], offset=0, channel_multiplier=0)
    nisa.tensor_copy(dst=idx, src=it)
    big = _new((p, f), nl.float32)
    nisa.memset(dst=big, value=float(f))
    nisa.tensor_copy_predicated(dst=big, src=idx, predicate=hit.tile)
    first = _new((p, 1), nl.float32)
    nisa.tensor_reduce(dst=first, op=nl.minimum, data=big, axis=1, keepdims=True)
    out = _new((p, 1), nl.int32)
    nisa.tensor_copy(dst=out, src=first)
    shape = _reduced_shape(x, axis, keep_dims)
    return _T(out, shape, nl.int32, "col" if (_ctx.mode == "program" and len(x.shape) == 2) else _layout_of(shape))


def argmax(x, axis=None, keep_dims=False, **_):
    return _arg_extreme(x, axis, keep_dims, True)


def argmin(x, axis=None, keep_dims=False, **_):
    return _arg_extreme(x, axis, keep_dims, False)


def cumsum(x, axis=0, reverse=False, **_):
    if not _is_tile(x):
        return np.cumsum(x, axis=-1)
    if _ctx.mode == "rows" and _ctx.k > 1:
        raise Unsupported("tl.cumsum over a block split across partitions")
    _free_axis(x, axis)
    p, f = x.tile.shape[0], int(np.prod(x.tile.shape[1:]))
    dtype = x.dtype if _is_float(x.dtype) else nl.float32
    ones = _new((p, f), nl.float32)
    nisa.memset(dst=ones, value=1.0)
    dst = _new((p, f), dtype)
    nisa.tensor_tensor_scan(dst=dst, data0=ones, data1=x.tile, initial=0.0, op0=nl.multiply, op1=nl.add,
                            reverse0=False, reverse1=False)
    if reverse:
        raise Unsupported("tl.cumsum(reverse=True)")
    return _T(dst, x.shape, dtype, x.layout)


# ---------------------------------------------------------------------------------- two-dimensional blocks

def _transpose_tile(src, dtype=None):
    p, f = src.shape[0], int(np.prod(src.shape[1:]))
    if p > PMAX or f > PMAX:
        raise Unsupported(f"a transpose of a {p} x {f} block (at most {PMAX} x {PMAX})")
    ps = nl.ndarray((f, p), dtype=src.dtype if _is_float(src.dtype) else nl.float32, buffer=nl.psum)
    s = src
    if not _is_float(src.dtype):
        s = _new((p, f), nl.float32)
        nisa.tensor_copy(dst=s, src=src)
    nisa.nc_transpose(dst=ps, data=s)
    out = _new((f, p), dtype or s.dtype)
    nisa.tensor_copy(dst=out, src=ps)
    return out


def trans(x, *dims):
    if not _is_tile(x):
        return np.asarray(x).T
    if len(x.shape) == 2:
        return _T(_transpose_tile(x.tile), (x.shape[1], x.shape[0]), x.dtype, "2d")
    return x


def _index(x, idx):
    if not isinstance(idx, tuple):
        idx = (idx,)
    if _ctx.mode == "rows":
        raise Unsupported("indexing a block with [:, None] / [None, :] in a one-program-per-partition kernel")
    if len(x.shape) == 1 and len(idx) == 2:
        if idx[0] is None:  # [None, :] -> (1, N)
            tile = x.tile if x.layout == "row" else _transpose_tile(x.tile, x.dtype)
            return _T(tile, (1, x.shape[0]), x.dtype, "2d")
        if idx[1] is None:  # [:, None] -> (N, 1)
            tile = x.tile if x.layout == "col" else _transpose_tile(x.tile, x.dtype)
            return _T(tile, (x.shape[0], 1), x.dtype, "2d")
    raise Unsupported(f"indexing a block with {idx!r}")


def dot(a, b, acc=None, out_dtype=float32, **_):
    """``tl.dot``: (M, K) @ (K, N) on the Tensor Engine, fp32 accumulation in PSUM, K in steps of 128."""
    if len(a.shape) != 2 or len(b.shape) != 2:
        raise Unsupported("tl.dot of blocks that are not two-dimensional")
    m, k = a.shape
    n = b.shape[1]
    res = _new((m, n), nl.float32)
    for n0 in _b.range(0, n, PSUM_FMAX):
        ns = _b.min(PSUM_FMAX, n - n0)
        ps = nl.ndarray((m, ns), dtype=nl.float32, buffer=nl.psum)
        steps = list(_b.range(0, k, PMAX))
        for i, k0 in enumerate(steps):
            ks = _b.min(PMAX, k - k0)
            at = _transpose_tile(a.tile[0:m, k0:k0 + ks], a.dtype)
            nisa.nc_matmul(dst=ps, stationary=at, moving=b.tile[k0:k0 + ks, n0:n0 + ns], accumulate=i > 0)
        nisa.tensor_copy(dst=res[0:m, n0:n0 + ns], src=ps)
    out = _T(res, (m, n), nl.float32, "2d")
    if acc is not None:
        out = acc + out
    return out if str(out_dtype) == "float32" else cast(out, out_dtype)


def reshape(x, shape, **_):
    if not _is_tile(x):
        return np.reshape(x, shape)
    shape = tuple(int(s) for s in shape)
    if tuple(int(s) for s in x.shape if s != 1) == tuple(s for s in shape if s != 1):
        return _T(x.tile, shape, x.dtype, x.layout if len(shape) == len(x.shape) else _layout_of(shape))
    raise Unsupported("tl.reshape that moves data between partitions")


def broadcast_to(x, shape):
    shape = tuple(int(s) for s in shape)
    if not _is_tile(x):
        return np.broadcast_to(x, shape)
    return _T(_fit(x.tile, shape, x.layout), shape, x.dtype, _layout_of(shape))


def expand_dims(x, axis):
    if not _is_tile(x):
        return np.expand_dims(x, axis)
    idx = [slice(None)] * len(x.shape)
    idx.insert(int(axis), None)
    return _index(x, tuple(idx))


# ------------------------------------------------------------------------------------------ host side launch

LAUNCH_OPTIONS = ("num_warps", "num_stages", "num_ctas", "maxnreg", "enable_fp_fusion", "launch_cooperative_grid")


def pick_runtime_config(configs, mode):
    """The first autotune configuration whose block sizes fit (<= 128 in program mode), as a dict."""
    dicts = [dict(getattr(c, "kwargs", c)) for c in configs or ()]
    for d in dicts:
        ints = [v for v in d.values() if isinstance(v, int) and not isinstance(v, bool)]
        if mode != "program" or all(v <= PMAX for v in ints):
            return d
    return dicts[0] if dicts else None


def host_launch(kernel, params, grid, args, kwargs, config=None, heuristics=None, configs=None, mode="rows"):
    """Call the NKI translation ``kernel`` the way ``triton_kernel[grid](*args, **kwargs)`` calls the original.

    ``params`` are the Triton kernel's parameter names; ``config`` the autotune configuration porter picked
    (its values fill parameters the call leaves out); ``heuristics`` the ``@triton.heuristics`` functions.
    """
    bound = dict(zip(params, args, strict=False))
    for k, v in kwargs.items():
        if k in params:
            bound[k] = v
        elif k not in LAUNCH_OPTIONS:
            raise TypeError(f"{getattr(kernel, '__name__', kernel)}: unexpected keyword argument {k!r}")
    if config is None and configs:
        config = pick_runtime_config(configs, mode)
    for k, v in (config or {}).items():
        if k in params and k not in bound:
            bound[k] = v
    for k, fn in (heuristics or {}).items():
        if k not in bound:
            bound[k] = fn(dict(bound))
    missing = [p for p in params if p not in bound]
    if missing:
        raise TypeError(f"{getattr(kernel, '__name__', kernel)}: missing argument(s) {', '.join(missing)}")
    g = grid(dict(bound)) if callable(grid) else grid
    g = tuple(int(v) for v in (g if isinstance(g, (tuple, list)) else (g,)))
    return kernel(*[bound[p] for p in params], _grid=g)
