"""Find the Triton kernels of a Python file (``ast`` only: nothing is imported or run).

A kernel is a function decorated with ``@triton.jit`` (any alias), possibly under ``@triton.autotune`` and
``@triton.heuristics``. For each one this module records the parameters, which are ``tl.constexpr``, the autotune
configurations written as literals, and the heuristics' source text.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

TRITON = "triton"
TRITON_LANGUAGE = "triton.language"
LIBDEVICE_MODULES = (
    "triton.language.extra.libdevice",
    "triton.language.extra.cuda.libdevice",
    "triton.language.math",
    "triton.language.extra.cuda",
    "triton.language.extra",
)


@dataclass
class Config:
    """One ``triton.Config``: its constexpr values (literals only) and its source line."""

    values: dict[str, object]
    line: int


@dataclass
class Kernel:
    name: str
    node: ast.FunctionDef
    params: list[str]
    constexprs: list[str]
    line: int
    configs: list[Config] | None = None  # None: not autotuned
    configs_problem: str | None = None  # why the autotune configurations cannot be read statically
    heuristics: dict[str, str] = field(default_factory=dict)  # name -> lambda source, or a module function's name
    heuristics_problem: str | None = None
    heuristics_nodes: dict[str, ast.expr] = field(default_factory=dict)  # name -> the lambda or function name
    module_values: dict[str, ast.expr] = field(default_factory=dict)  # the file's module-level NAME = expr


@dataclass
class TritonFile:
    path: Path
    tree: ast.Module
    aliases: dict[str, str]  # local name -> qualified module/function ("tl" -> "triton.language")
    kernels: list[Kernel]
    module_values: dict[str, ast.expr]  # module-level NAME = <expr> assignments (for configs kept in variables)


def collect_aliases(tree: ast.Module) -> dict[str, str]:
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == TRITON:
                    if a.asname:
                        aliases[a.asname] = a.name
                    else:
                        aliases[a.name.split(".")[0]] = TRITON
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == TRITON:
                for a in node.names:
                    aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    return aliases


def qualified(node: ast.AST, aliases: dict[str, str]) -> str | None:
    """``tl.sum`` -> ``triton.language.sum`` through the file's imports; None for anything else."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in aliases:
        return None
    return ".".join([aliases[node.id], *reversed(parts)])


def _decorator_name(dec: ast.expr, aliases: dict[str, str]) -> str | None:
    target = dec.func if isinstance(dec, ast.Call) else dec
    return qualified(target, aliases)


def _is_constexpr(arg: ast.arg, aliases: dict[str, str]) -> bool:
    ann = arg.annotation
    if ann is None:
        return False
    q = qualified(ann, aliases)
    if q is not None:
        return q.endswith(".constexpr")
    return isinstance(ann, ast.Constant) and isinstance(ann.value, str) and ann.value.endswith("constexpr")


def _literal(node: ast.expr) -> object:
    return ast.literal_eval(node)


def _read_configs(call: ast.Call, aliases: dict[str, str], module_values: dict[str, ast.expr]
                  ) -> tuple[list[Config] | None, str | None]:
    expr = None
    for kw in call.keywords:
        if kw.arg == "configs":
            expr = kw.value
    if expr is None and call.args:
        expr = call.args[0]
    if isinstance(expr, ast.Name) and expr.id in module_values:
        expr = module_values[expr.id]
    if not isinstance(expr, (ast.List, ast.Tuple)):
        return None, "its autotune configurations are computed at run time (not a literal list)"
    configs = []
    for elt in expr.elts:
        if not (isinstance(elt, ast.Call) and (qualified(elt.func, aliases) or "").endswith("Config") and elt.args):
            return None, "an autotune configuration is not a literal triton.Config(...)"
        try:
            values = _literal(elt.args[0])
        except ValueError:
            return None, "an autotune configuration's values are not literals"
        if not isinstance(values, dict):
            return None, "an autotune configuration's values are not a dict"
        configs.append(Config(values, elt.lineno))
    if not configs:
        return None, "the autotune configuration list is empty"
    return configs, None


def _read_heuristics(call: ast.Call, module_values: dict[str, ast.expr]) -> tuple[dict[str, ast.expr], str | None]:
    """name -> a lambda, or the name of a function (``{'BLOCK': BLOCK_heuristic}``); what those read is checked
    when the kernel is translated."""
    expr = None
    for kw in call.keywords:
        if kw.arg == "values":
            expr = kw.value
    if expr is None and call.args:
        expr = call.args[0]
    if isinstance(expr, ast.Name) and expr.id in module_values:
        expr = module_values[expr.id]
    if not isinstance(expr, ast.Dict):
        return {}, "its @triton.heuristics values are not a literal dict"
    out = {}
    for k, v in zip(expr.keys, expr.values, strict=False):
        if not (isinstance(k, ast.Constant) and isinstance(k.value, str)):
            return {}, "a @triton.heuristics key is not a string literal"
        if isinstance(v, (ast.Name, ast.Lambda)):  # a function: of this file or imported (checked when translated)
            out[k.value] = v
        else:
            return {}, f"the @triton.heuristics value for {k.value!r} is neither a lambda nor a function's name"
    return out, None


def parse_source(source: str, path: Path) -> TritonFile:
    """Parse ``source`` (the text of ``path``); raises SyntaxError for a file that is not Python."""
    tree = ast.parse(source, filename=str(path))
    aliases = collect_aliases(tree)
    module_values = {t.id: node.value for node in tree.body if isinstance(node, ast.Assign)
                     for t in node.targets if isinstance(t, ast.Name)}
    module_values.update({node.target.id: node.value for node in tree.body if isinstance(node, ast.AnnAssign)
                          and isinstance(node.target, ast.Name) and node.value is not None})
    kernels = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef):
            continue
        names = [_decorator_name(d, aliases) for d in node.decorator_list]
        if not any(n in ("triton.jit", "triton.runtime.jit.jit", "triton.runtime.jit") for n in names):
            continue
        args = node.args
        all_args = [*args.posonlyargs, *args.args]
        k = Kernel(
            name=node.name,
            node=node,
            params=[a.arg for a in all_args],
            constexprs=[a.arg for a in all_args if _is_constexpr(a, aliases)],
            line=node.lineno,
            module_values=module_values,
        )
        for dec, name in zip(node.decorator_list, names, strict=False):
            if name == "triton.autotune" and isinstance(dec, ast.Call):
                k.configs, k.configs_problem = _read_configs(dec, aliases, module_values)
            elif name == "triton.heuristics" and isinstance(dec, ast.Call):
                h, problem = _read_heuristics(dec, module_values)
                k.heuristics.update({name: ast.unparse(v) for name, v in h.items()})
                k.heuristics_nodes.update(h)
                k.heuristics_problem = k.heuristics_problem or problem
        kernels.append(k)
    kernels.sort(key=lambda k: k.line)
    return TritonFile(path=path, tree=tree, aliases=aliases, kernels=kernels, module_values=module_values)


def module_functions(tree: ast.Module) -> dict[str, ast.FunctionDef]:
    """The plain functions defined at the top level of a file (host code: heuristics, config builders)."""
    return {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}


def parse_file(path: Path) -> TritonFile:
    return parse_source(path.read_text(encoding="utf-8"), path)
