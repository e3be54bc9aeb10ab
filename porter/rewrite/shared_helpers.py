"""One helper module per package instead of a copy of porter's helpers in every file.

`port_source` adds its helpers (`_porter_device`, the xla helpers, `_PorterMissing`) to each file that
needs them, so a single ported file runs alone. Over a tree, the files of a regular package (every
folder up to the package root has an `__init__.py`) import them from one module at the package root,
`<package>/_porter_helpers.py`, instead. How the file imports it follows how the file itself is
imported: relatively (`from .._porter_helpers import _porter_device`) when it already uses relative
imports or has no `__main__` block, absolutely (`from pkg._porter_helpers import ...`) when it imports
its own package absolutely. Two kinds of file keep their copy, because no shared module is importable
from them in every way they may be run: scripts and modules outside a regular package (`python
train.py` only finds modules beside it, a namespace package's folder is not on sys.path), and a
package file run as a script that never imports its own package.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst

from porter.rewrite.helpers import (
    DEVICE_HELPER,
    MISSING_HELPER,
    device_helper_source,
    extra_helper_source,
    missing_helper_source,
)
from porter.rewrite.imports import drop_unused_imports
from porter.rewrite.parsing import parse_statement
from porter.rewrite.placement import importing_torch_itself
from porter.rewrite.scopes import needs_module_import
from porter.rewrite.shape_facts import ORDER, CutFile, facts_of_tree

MODULE_NAME = "_porter_helpers"
# The module's docstring opens with this: porter recognises its own module on later ports.
SIGNATURE = "Helpers porter added for this package's ported code"
_TORCH_WORD = re.compile(r"\btorch\.")
_LAZY_TORCH_NOTE = "imported when called: importing this module does not import torch"


@dataclass
class SharedModule:
    path: Path
    names: set[str] = field(default_factory=set)
    existing: str | None = None  # the module's text when the tree already has it (a second port)


def _package_root(folder: Path) -> Path | None:
    if not (folder / "__init__.py").is_file():
        return None
    while (folder.parent / "__init__.py").is_file():
        folder = folder.parent
    return folder


@dataclass(frozen=True)
class HelperShape:
    """What sharing needs of a ported package file: where the helpers porter added are, and how
    the file imports. Computed where the file is ported (a worker), so the tree's main process
    does not parse every ported file again."""

    root: str  # the package root folder
    defs: tuple[tuple[str, int, int], ...]  # (name, first line, last line) of each helper, decorators included
    relative: bool  # the file uses relative imports
    absolute: bool  # the file imports its own package absolutely
    runs_as_script: bool  # an `if __name__ ...` block at top level
    # the line of the `import torch` the port added for the helpers alone, which goes with them; 0: none
    added_torch_line: int = 0


def helper_shape(path: Path, ported: str, original: str = "", cut: CutFile | None = None) -> HelperShape | None:
    """The file's shape, or None when it has no helper to share (or is not in a regular package).
    `original`: the file before the port; `cut`: how the narrow port spliced it, if it did (then the
    ported text need not be parsed whole, porter.rewrite.shape_facts)."""
    if path.suffix != ".py" or path.stem == MODULE_NAME or not any(name in ported for name in ORDER):
        return None
    root = _package_root(path.parent)
    if root is None:
        return None
    facts = cut.facts() if cut is not None else None
    if facts is None:
        try:
            facts = facts_of_tree(ast.parse(ported))
        except SyntaxError:
            return None
    if not facts.defs:
        return None
    return HelperShape(
        root=str(root),
        defs=facts.defs,
        relative=facts.relative,
        absolute=root.name in facts.heads,
        runs_as_script=facts.runs_as_script,
        added_torch_line=_added_torch_line(ported, facts.top_imports, facts.defs, original),
    )


def _import_line(shape: HelperShape, path: Path, names: list[str]) -> str | None:
    """The import of the shared module for this file, or None when the file keeps its copy."""
    root = Path(shape.root)
    depth = len(path.parent.relative_to(root).parts)
    listed = ", ".join(names)
    if shape.relative or not shape.runs_as_script and not shape.absolute:
        return f"from {'.' * (depth + 1)}{MODULE_NAME} import {listed}"
    if shape.absolute:
        return f"from {root.name}.{MODULE_NAME} import {listed}"
    return None


def _replace(text: str, defs: tuple[tuple[str, int, int], ...], import_line: str) -> str:
    """The helper definitions taken out; the import where the first one was (with its blank lines)."""
    lines = text.splitlines(keepends=True)
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    drop: set[int] = set()
    first = None
    for _, first_line, end in defs:
        start = first_line - 1
        while start > 0 and not lines[start - 1].strip():  # the blank lines porter put before it
            start -= 1
        drop.update(range(start, end))
        first = start if first is None else min(first, start)
    out = []
    for i, line in enumerate(lines):
        if i == first:
            out.append(import_line + newline)
        if i not in drop:
            out.append(line)
    return "".join(out)


_TORCH_WORD = re.compile(r"\btorch\b")


def _without_unused_torch(text: str, original: str) -> str:
    """The helpers were the file's last use of `torch` (`torch.device("cuda" if ...)` became
    `_porter_device()`): now that they live in the shared module, drop the import the port left
    unused. Only a file naming torch nowhere but its imports is checked (one parse, rarely)."""
    lines = text.splitlines(keepends=True)
    # comments cut roughly (a `#` in a string cuts too much: then the exact check below runs once more)
    rest = "".join(line.partition("#")[0] for line in lines if not line.lstrip().startswith(("import ", "from ")))
    if _TORCH_WORD.search(rest):
        return text
    try:
        return drop_unused_imports(cst.parse_module(text), original)[1]
    except (SyntaxError, cst.ParserSyntaxError):
        return text


# The line porter adds (placement.add_module_imports) when the file imports torch nowhere.
_PLAIN_TORCH_IMPORT = re.compile(r"^import torch[ \t]*\r?$", re.MULTILINE)


def _added_torch_line(ported: str, top_imports: tuple[int, ...], defs: tuple[tuple[str, int, int], ...],
                      original: str) -> int:
    """The line of the `import torch` the port added if it serves the helpers alone, so that it goes
    once they live in the shared module, else 0. It serves the file too if the file's own code reads
    torch from the module's namespace (scopes.needs_module_import): a test that stubs torch in each
    test function names torch everywhere, yet needs no import of it. The port adds that line only
    to a file that imports torch nowhere (one that only says `import torch` in a string, say):
    then, and only then, the ported file has one such line more than the original. Worked out with
    the shape, in the worker that ported the file."""
    if len(_PLAIN_TORCH_IMPORT.findall(ported)) <= len(_PLAIN_TORCH_IMPORT.findall(original)):
        return 0
    if needs_module_import(_replace(ported, defs, ""), "torch"):
        return 0
    lines = ported.split("\n")  # as ast counts them (a lone \r aside: then no line matches)
    for number in top_imports:  # the top-level `import` statements' lines, in order
        if _PLAIN_TORCH_IMPORT.match(lines[number - 1]):
            return number
    return 0


def _without_line(text: str, number: int) -> str:
    """The text without the port's `import torch` at line `number`, which comes before the helpers
    `_replace` took out (the port adds its imports above them): the same line in the shared text."""
    lines = text.split("\n")
    if number > len(lines) or not _PLAIN_TORCH_IMPORT.match(lines[number - 1]):
        return text
    return "\n".join(lines[: number - 1] + lines[number:])


def module_source(target: str, names: set[str]) -> str:
    """The shared module's text. Its helpers import torch when called, not the module when imported:
    a package file that never imported torch (`def to_gpu(x): return x.cuda()`) imports it no more
    once ported (importing torch takes seconds, and fails where torch is not installed)."""
    parts = [f'"""{SIGNATURE} (one module instead of a copy per file).\n\n'
             'Plain PyTorch: no porter is needed at run time. `porter port` keeps this module up to date.\n"""\n']
    for name in (n for n in ORDER if n in names):
        if name == DEVICE_HELPER:
            source = device_helper_source(target)
        elif name == MISSING_HELPER:
            source = missing_helper_source()
        else:
            source = extra_helper_source(name)
        if _TORCH_WORD.search(source) and source.startswith("def "):
            helper = parse_statement(source)
            source = cst.Module(body=[importing_torch_itself(helper, "torch", _LAZY_TORCH_NOTE)]).code
        parts.append("\n\n" + source)
    return "".join(parts)


def _names_in(text: str) -> set[str]:
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return set()
    return {s.name for s in tree.body if isinstance(s, (ast.FunctionDef, ast.ClassDef)) and s.name in ORDER}


def share(ports: list, target: str) -> dict[Path, str]:
    """Rewrite the ported text of package files to import porter's helpers from their package's module.

    `ports`: the tree's FilePorts (ported text changed in place). Returns the text of each shared
    module to write (path → text), including a module already in the tree that needs more names.
    """
    modules: dict[Path, SharedModule] = {}
    texts = {Path(p.path): p for p in ports}
    for port in ports:
        path = Path(port.path)
        if port.error or not port.changed:
            continue
        shape = port.helper_shape if port.helper_shape is not None else helper_shape(path, port.ported, port.original)
        if not shape:
            continue
        module_path = Path(shape.root) / MODULE_NAME
        module_file = module_path.with_suffix(".py")
        shared = modules.get(module_file)
        if shared is None:
            existing = None
            if module_file.is_file():
                existing = texts[module_file].original if module_file in texts else module_file.read_text()
                if SIGNATURE not in existing:
                    continue  # the package has a module of that name that is not porter's: keep the copies
            shared = modules[module_file] = SharedModule(module_file, _names_in(existing or ""), existing)
        names = [name for name, _, _ in shape.defs]
        line = _import_line(shape, path, [n for n in ORDER if n in names])
        if line is None:
            continue
        shared_text = _replace(port.ported, shape.defs, line)
        if shape.added_torch_line:
            shared_text = _without_line(shared_text, shape.added_torch_line)
        port.ported = _without_unused_torch(shared_text, port.original)
        port.helper_shape = None  # the text changed: the shape no longer describes it
        shared.names.update(names)
    out = {}
    for shared in modules.values():
        text = module_source(target, shared.names)
        if shared.existing is None or shared.names - _names_in(shared.existing):
            out[shared.path] = text
    return out
