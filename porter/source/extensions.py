"""The project's own compiled extension modules, found in the tree being ported.

A CUDA project often builds kernels of its own: `setup.py` declares
`CUDAExtension("fused_ops_cuda", [...])` (or `CppExtension("pkg._C", ...)`), or the code JIT-builds
them with `torch.utils.cpp_extension.load(name="fused_ops_cuda", ...)`. Those modules do not exist
on a Neuron machine, so `import fused_ops_cuda` at the top of a ported file would stop the package
from importing. Port guards such imports and marks them (NRN408) and lint reports them; this
module supplies the names and finds the imports.
Static, like the rest of port: the files are parsed with `ast`, never run.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterable
from pathlib import Path

from porter.source.astwalk import walk
from porter.source.engine import gc_paused
from porter.source.findings import Finding
from porter.source.matching import last_name
from porter.source.suppressions import mark_suppressed

# The rule their imports are reported, guarded and marked under.
EXTENSION_RULE = "NRN408"
EXTENSION_CLASSES = {"CUDAExtension", "CppExtension"}
LOADERS = {"load", "load_inline"}
# Cheap prefilter (lint runs it over every file of the tree): only a file with something that looks
# like a declaring call is parsed. `load(...)` counts only in a file that mentions cpp_extension.
_DECLARES = re.compile(r"""\b(?:CUDAExtension|CppExtension)\s*\((?:\s*[rb]?["']|[^()]*?\bname\s*=)""")
_LOADS = re.compile(r"""\bload(?:_inline)?\s*\((?:\s*[rb]?["']|[^()]*?\bname\s*=)""")


def _name_argument(call: ast.Call) -> str | None:
    for keyword in call.keywords:
        if keyword.arg == "name":
            value = keyword.value
            return value.value if isinstance(value, ast.Constant) and isinstance(value.value, str) else None
    if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
        return call.args[0].value
    return None


def extension_modules_in(source: str) -> set[str]:
    """Module names one file declares: `CUDAExtension(name, ...)`, `CppExtension(name=...)`, and
    `cpp_extension.load(name=...)` / `load_inline(name=...)` in a file that uses cpp_extension."""
    if not (("Extension" in source and _DECLARES.search(source))
            or ("cpp_extension" in source and _LOADS.search(source))):
        return set()
    with gc_paused():
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            return set()
        loaders_known = "cpp_extension" in source
        found: set[str] = set()
        for node in walk(tree):
            if not isinstance(node, ast.Call):
                continue
            callee = last_name(node.func)
            if callee in EXTENSION_CLASSES or (callee in LOADERS and loaders_known):
                name = _name_argument(node)
                if name and all(part.isidentifier() for part in name.split(".")):
                    found.add(name)
        return found


def discover_extension_modules(paths: Iterable[str], memo: dict[str, list] | None = None,
                               known: dict[str, list[str]] | None = None) -> frozenset[str]:
    """The extension module names the files declare. `memo` (absolute path → [size, mtime_ns,
    names]) remembers each file's names between runs, so an unchanged file is not parsed again;
    `known` (path as given → names) holds what `extension_modules_in` already found this run."""
    found: set[str] = set()
    for path in paths:
        try:
            stat = os.stat(path)
        except OSError:
            continue
        key = os.path.abspath(path)
        entry = memo.get(key) if memo is not None else None
        if isinstance(entry, list) and len(entry) == 3 and entry[:2] == [stat.st_size, stat.st_mtime_ns]:
            found.update(name for name in entry[2] if isinstance(name, str))
            continue
        if known is not None and path in known:
            names = set(known[path])
        else:
            try:
                text = Path(path).read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            names = extension_modules_in(text)
        if memo is not None:
            memo[key] = [stat.st_size, stat.st_mtime_ns, sorted(names)]
        found |= names
    return frozenset(found)


def imported_extension(module: str | None, names: list[str], level: int, path: str,
                       extensions: frozenset[str]) -> list[str]:
    """The extension modules an import statement brings in, as declared.

    `import fused_ops_cuda`, `import pkg._C`, `from pkg import _C`, `from pkg._C import f`, and the
    relative `from . import _C` inside `pkg/` all name a declared extension.
    """
    if not extensions:
        return []
    if level:
        package = list(Path(path).parent.parts)
        package = package[: len(package) - (level - 1)] if level > 1 else package
        base = [*package, *(module.split(".") if module else [])]
    else:
        base = module.split(".") if module else []
    hits = []
    for extension in sorted(extensions):
        parts = extension.split(".")
        candidates = [base] + [[*base, name] for name in names]
        for candidate in candidates:
            if not candidate:
                continue
            # absolute: the import names the extension itself or something inside it;
            # relative: the resolved path ends with the extension's dotted name.
            if (not level and candidate[:len(parts)] == parts) or (level and candidate[-len(parts):] == parts):
                hits.append(extension)
                break
    return hits


def extension_import_findings(source: str, path: str, extensions: frozenset[str], rule_id: str) -> list[Finding]:
    """Lint's view: each import of a declared extension module in one file, suppressions marked."""
    if not extensions or not any(e.rsplit(".", 1)[-1] in source for e in extensions):
        return []
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    findings = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            hits = [hit for alias in node.names for hit in imported_extension(alias.name, [], 0, path, extensions)]
        elif isinstance(node, ast.ImportFrom):
            names = [alias.name for alias in node.names if alias.name != "*"]
            hits = imported_extension(node.module, names, node.level, path, extensions)
        else:
            continue
        for hit in hits:
            findings.append(Finding(
                path, node.lineno, node.col_offset + 1, rule_id,
                f"`{hit}` is this project's own CUDA extension module (declared in the tree); it does not exist "
                "on Neuron", node.end_lineno or node.lineno, (node.end_col_offset or 0) + 1, matched=hit))
    return mark_suppressed(findings, source)
