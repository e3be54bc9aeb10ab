"""`porter port --verify`: Triton kernels of the ported tree get their verified NKI translations.

For each ported Python file with ``@triton.jit`` kernels, every kernel is translated and verified
(``porter.translate.triton.verify``: Triton's interpreter vs porter's NKI simulator, in child processes, so
this process never imports torch). Only verified kernels are applied: ``<file>_nki.py`` is written beside the
file and each launch ``kernel[grid](...)`` becomes ``_porter_triton_launch(kernel, grid, "kernel")(...)``,
which runs the NKI translation when a tensor argument is on a Neuron device and the Triton kernel otherwise
(CUDA keeps the original path). Kernels that fail verification or cannot be translated are listed with why.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from porter.rewrite.fileio import atomic_write
from porter.rewrite.launch_preconditions import TRITON_RULE, Lint, open_launch_preconditions
from porter.rewrite.linelength import configured_line_length

HELPER_NAME = "_porter_triton_launch"

HELPER = '''

_porter_nki_modules = {}


def _porter_triton_launch(kernel, grid, name):
    """Launch ``kernel[grid]``; on a Neuron device its NKI translation (verified by porter) instead."""

    def launch(*args, **kwargs):
        import os

        tensors = (*args, *kwargs.values())
        simulate = os.environ.get("PORTER_KERNELS_SIMULATE", "").lower() in ("1", "true", "yes", "on")
        on_neuron = any(getattr(getattr(t, "device", None), "type", None) in ("neuron", "xla") for t in tensors)
        if not (on_neuron or simulate):
            return kernel[grid](*args, **kwargs)
        if simulate and not on_neuron:  # CPU tensors through porter's NKI simulator, as porter.kernels does
            import porter.nki

            porter.nki.install_simulator()
        import importlib.util

        path = os.path.splitext(os.path.abspath(__file__))[0] + "_nki.py"
        module = _porter_nki_modules.get(path)
        if module is None:
            spec = importlib.util.spec_from_file_location(__name__ + "_nki", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            _porter_nki_modules[path] = module
        return getattr(module, name + "_launch")(grid, *args, _configs=getattr(kernel, "configs", None),
                                                 _autotuner=kernel, **kwargs)

    return launch
'''


@dataclass
class KernelOutcome:
    file: str
    line: int
    kernel: str
    status: str
    reason: str
    max_abs_error: float | None
    applied: bool

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _launch_sites(tree: ast.Module, names: set[str]) -> list[ast.Subscript]:
    """``name[grid]`` subscripts that are called, for the kernels in ``names``."""
    sites = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Subscript):
            sub = node.func
            if isinstance(sub.value, ast.Name) and sub.value.id in names:
                sites.append(sub)
    return sites


def _offset(lines: list[str], line: int, col: int) -> int:
    return sum(len(text) for text in lines[:line - 1]) + len(lines[line - 1].encode("utf-8")[:col].decode("utf-8"))


def _helper_position(tree: ast.Module, lines: list[str]) -> int:
    """Character offset after the file's opening imports (and docstring), where the helper goes."""
    last = 0
    for node in tree.body:
        is_doc = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and \
            isinstance(node.value.value, str)
        is_import = isinstance(node, (ast.Import, ast.ImportFrom)) or (
            isinstance(node, ast.Try) and all(isinstance(s, (ast.Import, ast.ImportFrom)) for s in node.body))
        if is_doc or is_import:
            last = node.end_lineno or node.lineno
        else:
            break
    return sum(len(text) for text in lines[:last])


def dispatch_launches(source: str, kernels: set[str]) -> str:
    """``kernel[grid](...)`` -> ``_porter_triton_launch(kernel, grid, "kernel")(...)`` for ``kernels``."""
    if not kernels or HELPER_NAME in source:
        return source
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    sites = _launch_sites(tree, kernels)
    if not sites:
        return source
    edits = []
    for sub in sites:
        start = _offset(lines, sub.lineno, sub.col_offset)
        end = _offset(lines, sub.end_lineno, sub.end_col_offset)
        grid = ast.get_source_segment(source, sub.slice)
        name = sub.value.id
        edits.append((start, end, f'{HELPER_NAME}({name}, {grid}, "{name}")'))
    out = source
    for start, end, text in sorted(edits, reverse=True):
        out = out[:start] + text + out[end:]
    pos = _helper_position(ast.parse(source), lines)
    return out[:pos] + HELPER + "\n" + out[pos:]


MARKER_PREFIX = "# porter: NRN406"


def remark_kernels(source: str, notes: dict[str, str]) -> str:
    """Replace port's generic NRN406 marker above each kernel in ``notes`` (its ``@triton.jit`` and its launch
    statements) with the kernel's own note: where its verified NKI translation is, or why it has none."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    targets: dict[int, str] = {}  # 0-based line index of a statement's first line -> note
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name in notes:
            first = min([d.lineno for d in node.decorator_list] + [node.lineno])
            targets[first - 1] = notes[node.name]
        elif isinstance(node, ast.stmt) and not isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            for call in ast.walk(node):
                if not isinstance(call, ast.Call):
                    continue
                f = call.func
                name = None
                if isinstance(f, ast.Subscript) and isinstance(f.value, ast.Name):
                    name = f.value.id
                elif isinstance(f, ast.Call) and isinstance(f.func, ast.Name) and f.func.id == HELPER_NAME \
                        and f.args and isinstance(f.args[0], ast.Name):
                    name = f.args[0].id
                if name in notes and not isinstance(node, (ast.If, ast.For, ast.While, ast.With, ast.Try)):
                    targets[node.lineno - 1] = notes[name]
    for idx, note in targets.items():
        above = idx - 1
        if above >= 0 and lines[above].lstrip().startswith(MARKER_PREFIX):
            indent = lines[above][:len(lines[above]) - len(lines[above].lstrip())]
            end = "\r\n" if lines[above].endswith("\r\n") else "\n"
            if note.startswith("NRN430"):  # keep port's own marker (a re-port recognises it), add the reason
                lines[above] = lines[above] + f"{indent}# porter: {note}{end}"
            else:
                lines[above] = f"{indent}# porter: NRN406 {note}{end}"
    return "".join(lines)


def _check_gradients(original: Path, ported: Path, classes: list[str], rel: str, tree: ast.Module
                     ) -> list[KernelOutcome]:
    """Run the autograd check worker (original in Triton's interpreter, port in the NKI simulator)."""
    import json
    import os
    import subprocess
    import sys

    lines = {n.name: n.lineno for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
    cmd = [sys.executable, "-m", "porter.translate.triton.autograd_check", str(original), str(ported), *classes]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900,
                              env=dict(os.environ, TRITON_INTERPRET="1"))
        out = proc.stdout
    except subprocess.TimeoutExpired:
        out = ""
    results = {}
    for line in out.splitlines():
        if line.startswith("{"):
            d = json.loads(line)
            results[d["class"]] = d
    outcomes = []
    for name in classes:
        d = results.get(name, {"status": "not checked", "reason": "the gradient check worker did not report"})
        outcomes.append(KernelOutcome(rel, lines.get(name, 0), name, f"autograd.Function: {d['status']}",
                                      d.get("reason", ""), d.get("max_abs_error"), d["status"] == "gradients verified"))
    return outcomes


def translate_tree(root: Path, files: list[Path], originals: dict[Path, Path] | None = None,
                   target: str | None = None) -> list[KernelOutcome]:
    """Translate, verify and apply the Triton kernels of ``files`` (paths of the ported tree under ``root``).

    ``originals`` maps a ported file to its original: autograd Functions launching verified kernels in forward
    and backward then get their gradients checked against the original's. ``target``: the port's (for the
    lint that decides which `.is_cuda` tests in front of dispatched launches open, see launch_preconditions)."""
    from porter.translate.triton.autograd_check import autograd_classes
    from porter.translate.triton.translate import nki_path_for
    from porter.translate.triton.verify import VERIFIED, verify_file

    outcomes: list[KernelOutcome] = []
    lint = None
    for path in files:
        text = path.read_text(encoding="utf-8")
        if "triton" not in text or path.name.endswith("_nki.py"):
            continue
        try:
            ft, reports = verify_file(path)
        except SyntaxError:
            continue
        rel = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
        verified = {r.name for r in reports if r.status == VERIFIED}
        for r in reports:
            outcomes.append(KernelOutcome(rel, r.line, r.name, r.status, r.reason.splitlines()[0] if r.reason else "",
                                          r.max_abs_error, r.name in verified))
        nki_name = nki_path_for(path).name
        notes = {}
        for r in reports:
            if r.name in verified:
                err = f", max abs error {r.max_abs_error:.1e}" if r.max_abs_error is not None else ""
                notes[r.name] = f"NKI translation in {nki_name} runs on Neuron devices (verified{err})"
            elif r.status.startswith("not translatable"):
                notes[r.name] = f"NRN430 not translated to NKI: {r.reason.splitlines()[0].replace(', NRN430)', ')')}"
            else:
                notes[r.name] = f"NRN430 NKI translation not applied ({r.status}): {r.reason.splitlines()[0]}"
        new = text
        if verified and ft.source is not None:
            atomic_write(nki_path_for(path), ft.source.encode("utf-8"))
            new = dispatch_launches(new, verified)
        new = remark_kernels(new, notes)
        if verified:
            new = open_launch_preconditions(new, HELPER, lint or (lint := _lint(root, target)),
                                            configured_line_length(path))
        if new != text:
            atomic_write(path, new.encode("utf-8"))
        original = (originals or {}).get(path)
        classes = autograd_classes(new, verified) if verified and original is not None else []
        if classes:
            outcomes.extend(_check_gradients(original, path, classes, rel, ast.parse(new)))
    return outcomes


def _lint(root: Path, target: str | None) -> Lint:
    """Port's lint of a text (its rules and settings for ``root``, but the triton package's rule), for
    launch_preconditions."""
    from porter.config import ConfigResolver, Overrides
    from porter.source.catalogue import load_catalogue
    from porter.source.engine import RuleIndex, analyse_source
    from porter.source.selection import ignored_rules, select_rules

    settings = ConfigResolver(Overrides(target=target)).for_path(root)
    catalogue = load_catalogue(settings.rule_paths)
    rules = [r for r in select_rules(catalogue, settings) if r.matchers and r.id != TRITON_RULE]
    index = RuleIndex.build(rules, also_match=ignored_rules(catalogue, settings), target=settings.target)
    return lambda text: analyse_source(text, str(root), index)


def check_verify_available() -> str | None:
    """Why ``--verify`` cannot run here (torch or triton missing), or None."""
    import importlib.util

    missing = [m for m in ("torch", "triton", "numpy") if importlib.util.find_spec(m) is None]
    if missing:
        return (f"--verify runs the original Triton kernels in Triton's interpreter and needs "
                f"{', '.join(missing)} (pip install 'neuron-porter[runtime,triton]')")
    return None


def translate_ported(path: Path, out: Path | None, result) -> list[KernelOutcome]:
    """Apply verified translations to the files ``porter port`` just wrote (``--out`` copy or in place)."""
    src_root = path.resolve() if path.is_dir() else path.parent.resolve()
    dest_root = out.resolve() if out is not None else src_root
    files = []
    originals = {}
    for f in result.files:
        if f.error or "triton" not in f.ported:
            continue
        src = Path(f.path).resolve()
        dest = dest_root / src.relative_to(src_root) if src.is_relative_to(src_root) else src
        files.append(dest)
        if out is not None:  # in place, the original text is gone: no side-by-side gradient check
            originals[dest] = src
    return translate_tree(dest_root, files, originals, result.target)


def kernel_lines(outcomes: list[dict]) -> str:
    """One line per Triton kernel for the port summary."""
    lines = []
    for o in outcomes:
        err = f", max abs error {o['max_abs_error']:.2e}" if o.get("max_abs_error") is not None else ""
        applied = "; NKI translation applied" if o["applied"] else ""
        why = f": {o['reason']}" if o["reason"] and not o["applied"] else ""
        lines.append(f"triton kernel {o['file']}:{o['line']} {o['kernel']}: {o['status']}{err}{applied}{why}")
    return "".join(line + "\n" for line in lines)
