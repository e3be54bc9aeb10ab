"""A legacy `mask=` on an instruction whose accesses are plain slices: the mask narrows the slices.

A legacy mask is a predicate over the instruction's iteration space, its grid axes aligned with the
accessed tile's dims by position (`nl.arange(128)[:, None, None]` is dim 0 of a 3-d access); the
instruction processes only the elements where it holds (SDK 2.26 `nki.api.shared`, "NKI API
Masking"). With grid subscripts the bounds go into the grid's slices (grids.translate_index); an
access written with slices (`in_flattened[s:s + 128, h0:h1, w0:w1]`, `t[nl.ds(p * 128, 128), :]`)
needs the same bounds on its dims, else dropping `mask=` silently widens the instruction past the
data (nki-samples' adaptive_avg_pool2d read past its input that way):

    nisa.dma_copy(src=a[s:s + 128, 0:w], dst=buf[b, :, :], mask=(s + ip < n))
    ->  nisa.dma_copy(src=a[s:s + min(128, n - s), 0:w], dst=buf[b][:min(128, n - s), :])

Only subscripts whose dims are leading integers (block or HBM indices, which drop their dim) then
slices are narrowed; anything else is left to the caller's checks.
"""

from __future__ import annotations

import libcst as cst

from porter.translate.nki_upgrade.grids import add, sub
from porter.translate.nki_upgrade.names import call_name, code


def _ds(node: cst.BaseExpression, aliases: dict[str, str]) -> tuple[str, str] | None:
    """`nl.ds(start, size)` -> (start, size) code."""
    if call_name(node, aliases) != "nki.language.ds":
        return None
    args = [a for a in node.args if a.keyword is None]
    if len(args) != 2 or len(args) != len(node.args):
        return None
    return code(args[0].value), code(args[1].value)


def _extent(start: str, stop: str) -> str:
    """stop - start, reading `s:s + n` as n."""
    return stop[len(start) + 3:] if stop.startswith(f"{start} + ") else sub(stop, start)


def narrow(node: cst.Subscript, ranges: dict[int, tuple[str, str]], aliases: dict[str, str]) -> cst.Subscript | None:
    """The subscript with mask ranges {dim: (lo, hi)} applied to its slice dims; None when it does not fit."""
    if not ranges or (isinstance(node.value, cst.Attribute) and node.value.attr.value in ("shape", "strides")):
        return None
    elems = list(node.slice)
    k = 0
    while k < len(elems) and isinstance(elems[k].slice, cst.Index) and _ds(elems[k].slice.value, aliases) is None:
        k += 1
    rest = elems[k:]
    if not rest or max(ranges) >= len(rest):
        return None
    out = elems[:k]
    for pos, e in enumerate(rest):
        s = e.slice
        if isinstance(s, cst.Slice):
            if s.step is not None:
                return None
            start = code(s.lower) if s.lower is not None else "0"
            extent = _extent(start, code(s.upper)) if s.upper is not None else None
        else:
            ds = _ds(s.value, aliases)
            if ds is None:
                return None
            start, extent = ds
        if pos not in ranges:
            out.append(e)
            continue
        lo, hi = ranges[pos]
        bounded = hi if extent is None or hi.startswith(f"min({extent}, ") else f"min({extent}, {hi})"
        stop = add(start, bounded)
        new = cst.Slice(lower=None if add(start, lo) == "0" else cst.parse_expression(add(start, lo)),
                        upper=cst.parse_expression(stop))
        out.append(e.with_changes(slice=new))
    return node.with_changes(slice=out)
