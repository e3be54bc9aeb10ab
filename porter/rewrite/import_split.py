"""Cutting an import statement in two for a kernel swap: the names porter has a drop-in for now
come from `porter.kernels.compat`, the others stay (the port guards and marks them)."""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from porter.rewrite.transforms import code_name, expr


@dataclass
class ImportSplit:
    """An import statement cut in two by `split_swap_import`: what now comes from the shims, what stays."""

    swapped: cst.SimpleStatementLine | None
    rest: cst.SimpleStatementLine | None
    # original qualified name (as lint reports it) -> the name it is now imported from
    done: dict[str, str] = field(default_factory=dict)
    # original qualified name -> why it was not swapped
    kept: dict[str, str] = field(default_factory=dict)


def _last_without(items: list, attr: str, parenthesised: bool = False) -> list:
    """Commas/semicolons: the last item of a list cut out of a longer one takes none (inside parentheses
    an import's trailing comma may stay)."""
    if items and not parenthesised:
        items[-1] = items[-1].with_changes(**{attr: cst.MaybeSentinel.DEFAULT})
    return items


def _line_of(line: cst.SimpleStatementLine, smalls: list, leading: bool) -> cst.SimpleStatementLine | None:
    if not smalls:
        return None
    smalls = [s if i == len(smalls) - 1 or isinstance(s.semicolon, cst.Semicolon)
              else s.with_changes(semicolon=cst.Semicolon(whitespace_before=cst.SimpleWhitespace(""),
                                                          whitespace_after=cst.SimpleWhitespace(" ")))
              for i, s in enumerate(smalls)]
    return line.with_changes(body=_last_without(smalls, "semicolon"),
                             leading_lines=line.leading_lines if leading else [])


def split_swap_import(line: cst.SimpleStatementLine, swappable: dict[str, str]) -> ImportSplit:
    """`from flash_attn import flash_attn_func, flash_attn_with_kvcache` →
    `from porter.kernels.compat.flash_attn import flash_attn_func` + `from flash_attn import flash_attn_with_kvcache`.

    `swappable` maps each qualified name that has a drop-in to the package its shims live under
    (`porter.kernels.compat`, which mirrors the original packages' module paths and public names, so only the
    module path changes). Names with a drop-in move to the first statement; the others stay in the second
    (the port guards and marks it), each with the reason. Already swapped imports are kept as they are.
    """
    prefixes = set(swappable.values())
    swapped: list[cst.BaseSmallStatement] = []
    rest: list[cst.BaseSmallStatement] = []
    result = ImportSplit(None, None)
    for small in line.body:
        if isinstance(small, cst.ImportFrom) and small.module is not None and not small.relative:
            module = code_name(small.module)
            if any(module.startswith(p + ".") for p in prefixes):
                swapped.append(small)
                continue
            if isinstance(small.names, cst.ImportStar):
                result.kept[module] = f"`from {module} import *` cannot be swapped name by name"
                rest.append(small)
                continue
            moved, stay = [], []
            for alias in small.names:
                qualname = f"{module}.{code_name(alias.name)}"
                if qualname in swappable:
                    moved.append(alias)
                    result.done[qualname] = f"{swappable[qualname]}.{qualname}"
                else:
                    stay.append(alias)
                    result.kept[qualname] = f"porter has no drop-in for {qualname}"
            parenthesised = bool(small.lpar)
            # one shim package per statement: all of a statement's names are under one original package
            prefix = swappable[f"{module}.{code_name(moved[0].name)}"] if moved else ""
            if moved:
                swapped.append(small.with_changes(module=expr(f"{prefix}.{module}"),
                                                  names=_last_without(moved, "comma", parenthesised)))
            if stay:
                rest.append(small.with_changes(names=_last_without(stay, "comma", parenthesised)))
        elif isinstance(small, cst.Import):
            moved, stay = [], []
            for alias in small.names:
                module = code_name(alias.name)
                if any(module.startswith(p + ".") for p in prefixes):
                    moved.append(alias)
                elif module not in swappable:
                    stay.append(alias)
                    result.kept[module] = f"porter has no drop-in for module {module}"
                elif alias.asname is None and "." in module:
                    # `import a.b` binds `a`: the shim's `a` would have to stand in for all of the package.
                    stay.append(alias)
                    result.kept[module] = f"`import {module}` without an alias: use `import {module} as ...`"
                else:
                    # `import flash_attn` keeps binding the name `flash_attn`
                    asname = alias.asname or cst.AsName(name=cst.Name(module))
                    moved.append(alias.with_changes(name=expr(f"{swappable[module]}.{module}"), asname=asname))
                    result.done[module] = f"{swappable[module]}.{module}"
            if moved:
                swapped.append(small.with_changes(names=_last_without(moved, "comma")))
            if stay:
                rest.append(small.with_changes(names=_last_without(stay, "comma")))
        else:
            rest.append(small)
    result.swapped = _line_of(line, swapped, leading=True)
    result.rest = _line_of(line, rest, leading=result.swapped is None)
    return result
