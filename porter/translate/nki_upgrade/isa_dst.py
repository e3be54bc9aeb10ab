"""Legacy `nisa.*` calls that returned a tile: where the new `dst=` tile lives and what shape it has.

Legacy `y = nisa.activation(op=nl.exp, data=x)` becomes
`y = nl.ndarray(x.shape, dtype=x.dtype, buffer=nl.sbuf)` + `nisa.activation(dst=y, op=nl.exp, data=x)`.
Each entry names the legacy positional parameters (to map them to keywords), the operand whose
shape and dtype the result takes, and the result's buffer. `nc_matmul` and `nc_transpose` compute
their shape; `tensor_reduce` uses a helper added to the file.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReturningOp:
    params: tuple[str, ...]  # legacy positional parameter names
    like: str  # operand whose shape (and default dtype) the result has
    buffer: str = "sbuf"
    shape: str | None = None  # a template over operand codes, e.g. "({stationary}.shape[1], {moving}.shape[1])"
    dtype: str | None = None  # fixed dtype (code), else the call's dtype= or the operand's dtype
    # legacy-only keywords. Not `mask=`: the grid pass folds it into the slices before this runs, so a
    # mask still here is one it could not translate; it stays for the marker (dropping it widened the
    # instruction to the whole tile, silently).
    drop: tuple[str, ...] = ()


RETURNING: dict[str, ReturningOp] = {
    "nc_matmul": ReturningOp(("stationary", "moving"), "stationary", "psum",
                             shape="({stationary}.shape[1], {moving}.shape[1])", dtype="nl.float32"),
    "nc_transpose": ReturningOp(("data",), "data", "psum", shape="({data}.shape[1], {data}.shape[0])"),
    "activation": ReturningOp(("op", "data"), "data"),
    "activation_reduce": ReturningOp(("op", "data"), "data"),
    "tensor_tensor": ReturningOp(("data1", "data2", "op"), "data1"),
    "tensor_scalar": ReturningOp(("data", "op0", "operand0"), "data"),
    "scalar_tensor_tensor": ReturningOp(("data", "op0", "operand0", "op1", "operand1"), "data"),
    "tensor_copy": ReturningOp(("src",), "src"),
    "reciprocal": ReturningOp(("data",), "data"),
    "tensor_reduce": ReturningOp(("op", "data", "axis"), "data",
                                 shape="_porter_reduced_shape({data}.shape, {axis})"),
    "tensor_tensor_scan": ReturningOp(("data0", "data1", "initial", "op0", "op1"), "data0"),
    "tensor_copy_predicated": ReturningOp(("src", "predicate"), "src"),
    "affine_select": ReturningOp(("pred", "on_true_tile", "on_false_value"), "on_true_tile"),  # after grids.py
    "memset": ReturningOp(("shape", "value", "dtype"), "", shape="{shape}"),
    "tensor_scalar_reduce": ReturningOp(("data", "op0", "operand0", "reduce_op", "reduce_res"), "data"),
    "bn_stats": ReturningOp(("data",), "data", shape="({data}.shape[0], 6)"),
    "bn_aggr": ReturningOp(("data",), "data", shape="({data}.shape[0], 2)"),
    "max8": ReturningOp(("src",), "src", shape="({src}.shape[0], 8)"),
    "dropout": ReturningOp(("data", "prob"), "data"),
    # keyword-only in the legacy API (Neuron 2.26 stubs); the result has the operand's shape
    "nc_match_replace8": ReturningOp((), "data"),
    "range_select": ReturningOp((), "on_true_tile"),
}

# Legacy keywords renamed in the current signature.
RENAMED = {"tensor_copy": {}, "nc_transpose": {}}

REDUCED_SHAPE_HELPER = '''
def _porter_reduced_shape(shape, axis):
    """The shape a legacy nisa.tensor_reduce returned: reduced free axes kept with extent 1."""
    axes = {a % len(shape) for a in (axis if isinstance(axis, (tuple, list)) else (axis,))}
    return tuple(1 if k in axes else n for k, n in enumerate(shape))
'''
