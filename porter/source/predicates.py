"""Value predicates: is this argument a CUDA device, an NCCL backend, a CUDA-only compile mode...

Each predicate takes the argument's ast node and the scope it is evaluated in, and answers yes/no.
The names are the `value = "..."` strings of docs/rule-format.md.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable

from porter.source.catalogue import glob_match
from porter.source.names import Scope, qualified_names

CUDA_DEVICE = re.compile(r"^cuda(:\d+)?$")
# Literal prefix of a formatted device string: "cuda:" + rank, "cuda:%d" % rank, f"cuda:{rank}".
CUDA_DEVICE_PREFIX = re.compile(r"^cuda(:|$)")
NCCL = re.compile(r"(^|[,:])\s*nccl\s*($|,)", re.IGNORECASE)
CUDA_COMPILE_MODES = {"reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"}
CUDA_COMPILE_BACKENDS = {"inductor", "cudagraphs"}


def string_value(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def fstring_text(node: ast.JoinedStr) -> str:
    """An f-string's literal text with `{}` standing for each field."""
    parts = []
    for value in node.values:
        text = string_value(value)
        parts.append(text if text is not None else "{}")
    return "".join(parts)


def formatted_prefix(node: ast.AST) -> str | None:
    """The literal text a string-building expression starts with, if it is one."""
    text = string_value(node)
    if text is not None:
        return text
    if isinstance(node, ast.JoinedStr):
        return fstring_text(node)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mod)):
        return formatted_prefix(node.left)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
    ):
        return string_value(node.func.value)
    return None


def is_cuda_device(node: ast.AST, scope: Scope) -> bool:
    text = string_value(node)
    if text is not None:
        return bool(CUDA_DEVICE.match(text.strip()))
    prefix = formatted_prefix(node)
    if prefix is not None:
        return bool(CUDA_DEVICE_PREFIX.match(prefix.strip()))
    # `torch.device("cuda")` is NRN102's, and a lambda's `.cuda()` NRN101's: each is reported (and
    # fixed) where it is, not again as the argument it sits in.
    if isinstance(node, ast.IfExp):
        return is_cuda_device(node.body, scope) or is_cuda_device(node.orelse, scope)
    if isinstance(node, ast.Dict):
        return any(v is not None and is_cuda_device(v, scope) for v in (*node.keys, *node.values))
    return False


def is_nccl(node: ast.AST, scope: Scope) -> bool:
    text = string_value(node)
    if text is not None:
        return bool(NCCL.search(text))
    if isinstance(node, ast.IfExp):
        return is_nccl(node.body, scope) or is_nccl(node.orelse, scope)
    return any(
        glob_match(q, ("torch.distributed*.Backend.NCCL",)) for q in qualified_names(node, scope)
    )


def is_true(node: ast.AST, scope: Scope) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def is_any(node: ast.AST, scope: Scope) -> bool:
    return True


def is_cuda_compile_mode(node: ast.AST, scope: Scope) -> bool:
    # A mode held in a variable is the user's value: it is kept (the Neuron backend ignores a mode
    # with a warning, Inductor on a CPU honours it).
    return string_value(node) in CUDA_COMPILE_MODES


def is_cuda_compile_backend(node: ast.AST, scope: Scope) -> bool:
    # A backend held in a variable may name Inductor: reported, and marked rather than replaced.
    # The backend choice a port wrote (it calls porter's device helper) is not.
    if isinstance(node, ast.Constant):
        return node.value in CUDA_COMPILE_BACKENDS
    return not isinstance(node, ast.JoinedStr) and not any(
        isinstance(sub, ast.Name) and sub.id.startswith("_porter_") for sub in ast.walk(node))


def is_cuda_compile_options(node: ast.AST, scope: Scope) -> bool:
    # Every torch.compile `options` key is an Inductor setting; none of them means anything to
    # the Neuron backend.
    if isinstance(node, ast.Dict):
        return any(k is not None for k in node.keys)
    return False


def is_float16(node: ast.AST, scope: Scope) -> bool:
    return bool(qualified_names(node, scope) & {"torch.float16", "torch.half"})


def is_cuda_tensor_type(node: ast.AST, scope: Scope) -> bool:
    return any(glob_match(q, ("torch.cuda.*Tensor",)) for q in qualified_names(node, scope))


_NOT_A_LITERAL = object()


def literal_value(node: ast.AST) -> object:
    """The value of a literal (`0.0`, `None`, `(-1, -1)`, `[-1, -1]` as a tuple), else a sentinel."""
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _NOT_A_LITERAL
    return tuple(value) if isinstance(value, list) else value


def _is_default(value: object, default: object) -> bool:
    if default is None or isinstance(default, bool):
        return value is default
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float)) and not isinstance(value, bool) and value == default
    return value == default


def not_default(*defaults: object) -> Callable[[ast.AST, Scope], bool]:
    """A predicate for an argument the kernel swap supports only at its default value: it matches every
    literal other than `defaults`, and every value that is not a literal (a variable, an expression),
    since porter cannot prove that one is the default."""

    def predicate(node: ast.AST, scope: Scope) -> bool:
        value = literal_value(node)
        return value is _NOT_A_LITERAL or not any(_is_default(value, d) for d in defaults)

    return predicate


def true_or_unknown(node: ast.AST, scope: Scope) -> bool:
    """The literal `True`, or a value that is not a literal (it may be true: `dynamic=args.dynamic`), but
    not the choice a port wrote (it calls porter's device helper)."""
    value = literal_value(node)
    if value is not _NOT_A_LITERAL:
        return value is True
    return not any(isinstance(sub, ast.Name) and sub.id.startswith("_porter_") for sub in ast.walk(node))


def is_cpu_device(node: ast.AST, scope: Scope) -> bool:
    return string_value(node) == "cpu"


PREDICATES: dict[str, Callable[[ast.AST, Scope], bool]] = {
    "cuda-device": is_cuda_device,
    "cpu-device": is_cpu_device,
    "nccl": is_nccl,
    "true": is_true,
    "any": is_any,
    "cuda-compile-mode": is_cuda_compile_mode,
    "cuda-compile-backend": is_cuda_compile_backend,
    "cuda-compile-options": is_cuda_compile_options,
    "float16": is_float16,
    "cuda-tensor-type": is_cuda_tensor_type,
    # kernel-swap arguments supported only at their default (rules/swaps.toml, NRN415, NRN418-NRN420)
    "not-none": not_default(None),
    "not-false": not_default(False),
    "true-or-unknown": true_or_unknown,
    "not-zero": not_default(0.0),
    "not-full-window": not_default((-1, -1)),
}
