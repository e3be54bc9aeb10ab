"""A masked legacy load into a name keeps the grid's whole tile: `t = nl.load(a[grid], mask=m)`.

Legacy `nl.load` of a grid subscript returned a tile shaped like the grid; `mask=` only limited
which elements the DMA wrote (SDK 2.26 `nki.api.shared` "NKI API Masking": the instruction processes
the sub-tile where the mask holds). The rest of the tile existed, unwritten, and a later instruction
could address it: nki-samples' maxpooling loads rows `< h_out` but pools rows `< h_in` and drops the
extra rows at the masked store. Folding the mask into the load's slices alone would give a tile of
the masked rows only, and the later read would reach past its end (the simulator refuses that, as
the hardware's access-pattern check would). So the upgrade allocates the grid's tile and loads
into its masked part:

    t = nl.ndarray((128, k, w), dtype=a.dtype, buffer=nl.sbuf)
    t[0:hi, :, :] = nl.load(a.ap(...))        # the masked rows, as before

Unwritten elements read as the simulator's NaN sentinel, so a kernel that used them in its result
(which was garbage on hardware too) shows it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from porter.translate.nki_upgrade import grids
from porter.translate.nki_upgrade.grid_iota import grid_tile_shape
from porter.translate.nki_upgrade.grids_ap import linear
from porter.translate.nki_upgrade.names import arg, call_name, code

if TYPE_CHECKING:
    from porter.translate.nki_upgrade.transform import Upgrader


def _load(stmt: cst.SimpleStatementLine, aliases: dict[str, str]) -> tuple[str, cst.Call] | None:
    """(target name, the nl.load call) of `name = nl.load(..., mask=...)`, else None."""
    if len(stmt.body) != 1 or not isinstance(stmt.body[0], cst.Assign):
        return None
    node = stmt.body[0]
    if len(node.targets) != 1 or not isinstance(node.targets[0].target, cst.Name):
        return None
    value = node.value
    if call_name(value, aliases) != "nki.language.load" or arg(value, "mask") is None:
        return None
    return node.targets[0].target.value, value


def grid_shape(scope: grids.GridScope, sub: cst.Subscript) -> list[str]:
    """The legacy tile a grid subscript addresses: one dim per grid position."""
    axes = []
    for e in sub.slice:
        if not isinstance(e.slice, cst.Index):
            raise grids.Untranslatable("slices next to grid indices")
        if scope.contains_grid(e.slice.value):
            axes.extend(a for a, _ in linear(scope, e.slice.value).terms)
    if not axes:
        raise grids.Untranslatable("no grid axis")
    return grid_tile_shape(axes)


def whole_tile(up: Upgrader, original: cst.SimpleStatementLine, new: cst.SimpleStatementLine,
               ranges: dict[int, tuple[str, str]]) -> cst.SimpleStatementLine:
    """`t = nl.load(<masked view>)` -> the grid-shaped allocation (into up.pending_before) and
    `t[<mask ranges>] = nl.load(<masked view>)`; the statement unchanged when it is not that."""
    found = _load(original, up.aliases)
    if found is None or not ranges or not isinstance(new.body[0], cst.Assign):
        return new
    name, call = found
    src = arg(call, "src", 0)
    if src is None or not isinstance(src.value, cst.Subscript) or not up.scope.contains_grid(src.value):
        return new
    try:
        shape = grid_shape(up.scope, src.value)
    except grids.Untranslatable:
        return new
    if max(ranges) >= len(shape):
        return new
    dtype = arg(call, "dtype")
    dtype_code = code(dtype.value) if dtype is not None else f"{code(src.value.value)}.dtype"
    alloc = cst.parse_statement(
        f"{name} = {up.nl}.ndarray(({', '.join(shape)}), dtype={dtype_code}, buffer={up.nl}.sbuf)")
    up.pending_before.append(alloc)
    parts = []
    for d in range(len(shape)):
        lo, hi = ranges.get(d, ("0", shape[d]))
        parts.append(f"{'' if lo == '0' else lo}:{hi}" if d in ranges else ":")
    target = cst.parse_expression(f"{name}[{', '.join(parts)}]")
    assign = new.body[0]
    up._note("NRN707", "masked load into a name: the grid's whole tile, loaded where the mask holds")
    return new.with_changes(body=[assign.with_changes(targets=[cst.AssignTarget(target)])])
