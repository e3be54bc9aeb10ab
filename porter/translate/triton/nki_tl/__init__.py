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

This package is that ``_tl`` namespace: the names a translated kernel calls, gathered from the modules that
implement them (core: context, dtypes, the block value; launch; memory; creation; elementwise; reductions;
blocks2d; host). ``__all__`` lists them (``translate.runtime_names`` reads it from this file's source).
"""

from porter.translate.triton.nki_tl.blocks2d import broadcast_to, dot, expand_dims, reshape, trans
from porter.translate.triton.nki_tl.branches import branches, retire
from porter.translate.triton.nki_tl.core import (
    _T,
    PMAX,
    PSUM_FMAX,
    Unsupported,
    bfloat16,
    constexpr,
    float16,
    float32,
    float64,
    int1,
    int8,
    int16,
    int32,
    int64,
    uint8,
    uint32,
)
from porter.translate.triton.nki_tl.creation import full, full_like, zeros, zeros_like
from porter.translate.triton.nki_tl.elementwise import (
    abs,
    cast,
    ceil,
    choose,
    clamp,
    cos,
    div_rn,
    erf,
    exp,
    exp2,
    fabs,
    fdiv,
    floor,
    fma,
    fmax,
    fmin,
    log,
    log1p,
    log2,
    maximum,
    minimum,
    pow,
    rsqrt,
    sigmoid,
    sin,
    sqrt,
    sqrt_rn,
    tanh,
    where,
)
from porter.translate.triton.nki_tl.host import LAUNCH_OPTIONS, host_launch, pick_runtime_config
from porter.translate.triton.nki_tl.launch import (
    WIDE_LANES,
    arange,
    assume,
    cdiv,
    cond,
    debug_barrier,
    device_assert,
    device_print,
    launch,
    max_constancy,
    max_contiguous,
    multiple_of,
    next_power_of_2,
    num_programs,
    program_id,
    pymax,
    pymin,
    range,
    split_factor,
    static_assert,
    static_print,
    static_range,
)
from porter.translate.triton.nki_tl.memory import load, store
from porter.translate.triton.nki_tl.reductions import argmax, argmin, cumsum, max, min, sum

__all__ = [
    "abs", "arange", "argmax", "argmin", "assume", "bfloat16", "branches", "broadcast_to", "cast", "cdiv", "ceil",
    "choose", "clamp", "cond", "constexpr", "cos", "cumsum", "debug_barrier", "device_assert", "device_print",
    "div_rn", "dot", "erf", "exp", "exp2", "expand_dims", "fabs", "fdiv", "float16", "float32", "float64", "floor",
    "fma", "fmax", "fmin", "full", "full_like", "host_launch", "int1", "int16", "int32", "int64", "int8", "launch",
    "LAUNCH_OPTIONS", "load", "log", "log1p", "log2", "max", "max_constancy", "max_contiguous", "maximum", "min",
    "minimum", "multiple_of", "next_power_of_2", "num_programs", "pick_runtime_config", "PMAX", "pow", "program_id",
    "PSUM_FMAX", "pymax", "pymin", "range", "reshape", "retire", "rsqrt", "sigmoid", "sin", "split_factor", "sqrt",
    "sqrt_rn", "static_assert", "static_print", "static_range", "store", "sum", "_T", "tanh", "trans", "uint32",
    "uint8", "Unsupported", "where", "WIDE_LANES", "zeros", "zeros_like",
]
