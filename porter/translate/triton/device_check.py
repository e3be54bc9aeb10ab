"""Verify a Triton device function (a ``@triton.jit`` function that returns a value) through a generated kernel.

Helpers such as activations (``def gelu(x): return ...``) are not kernels: they cannot be launched, and handing
them tensors compares nothing. The verifier writes a small elementwise kernel that loads one block per argument,
calls the helper and stores its result, appends it to the file's source, and verifies that kernel like any other:
the original wrapper in Triton's interpreter, its translation (which includes the helper's) in the NKI simulator.
Runs in the verification worker (imports torch and triton).
"""

from __future__ import annotations

import ast
import linecache
import tempfile
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .parse import Kernel, parse_source
from .roles import POINTER, infer_roles
from .synth import CannotSynthesise, flag_value, used_as_dtype
from .translate import KernelTranslation, translate_source
from .verify import UNCHECKED, KernelReport

INTERPRETER_FAILED = "Triton's interpreter could not run the original"

WRAPPER_PREFIX = "_porter_check_"
NOTE = "checked through a generated kernel that loads a block per argument, calls it and stores the result"


def wrapper_source(k: Kernel) -> str:
    """Triton source of an elementwise kernel calling ``k``; raises CannotSynthesise when it cannot be written."""
    returns = [n for n in ast.walk(k.node) if isinstance(n, ast.Return) and n.value is not None]
    if any(isinstance(r.value, ast.Tuple) for r in returns):
        raise CannotSynthesise("a device function returning several values")
    fixed = constant_params(k)
    values = [p for p in k.params if p not in fixed]
    if not values:
        raise CannotSynthesise("a device function without a value argument")
    ins = [f"porter_in_{i}" for i in range(len(values))]
    params = [*ins, "porter_out", "porter_n", *[f"{c}: tl.constexpr" for c in fixed],
              "PORTER_BLOCK: tl.constexpr"]
    call_args = [p if p in fixed else f"porter_a_{values.index(p)}" for p in k.params]
    lines = [
        "import triton as _porter_triton",
        "import triton.language as tl  # Triton's interpreter reads constexpr annotations as text: `tl.` only",
        "",
        "",
        "@_porter_triton.jit",
        f"def {WRAPPER_PREFIX}{k.name}({', '.join(params)}):",
        "    porter_offs = tl.program_id(0) * PORTER_BLOCK + tl.arange(0, PORTER_BLOCK)",
        "    porter_mask = porter_offs < porter_n",
        *[f"    porter_a_{i} = tl.load({name} + porter_offs, mask=porter_mask, other=1.0)"
          for i, name in enumerate(ins)],
        f"    tl.store(porter_out + porter_offs, {k.name}({', '.join(call_args)}), mask=porter_mask)",
    ]
    return "\n".join(lines) + "\n"


def constant_params(k: Kernel) -> list[str]:
    """Parameters the wrapper passes as constants: constexprs, and dtypes (``def cast(x, dtype)``)."""
    return [p for p in k.params if p in k.constexprs or used_as_dtype(k, p)]


def verify_device_function(k: Kernel, kt: KernelTranslation, path: Path, orig: Any,
                           verify_kernel: Callable[..., KernelReport]) -> KernelReport:
    """Verify device function ``k`` of ``path`` (``orig``: the loaded original module) through a wrapper kernel."""
    def unchecked(why: str) -> KernelReport:
        return KernelReport(k.name, k.line, UNCHECKED, why, kt.mode)

    try:
        wsrc = wrapper_source(k)
        config = {c: flag_value(k, c) for c in constant_params(k)}
    except CannotSynthesise as exc:
        return unchecked(f"{exc}: it is checked through the kernels that call it")
    roles = infer_roles(parse_source(path.read_text(encoding="utf-8"), path), k)
    if any(roles.roles.get(p) == POINTER for p in k.params):
        return unchecked("a device function taking pointers: it is checked through the kernels that call it")
    combined = path.read_text(encoding="utf-8").rstrip() + "\n\n\n" + wsrc
    name = WRAPPER_PREFIX + k.name
    ft = translate_source(combined, path)
    wkt = next(x for x in ft.kernels if x.name == name)
    if not wkt.translated or ft.source is None:
        return unchecked(f"the generated check kernel did not translate: {wkt.problem.text() if wkt.problem else ''}")
    wkt.config = config
    # Triton side: the wrapper runs in a copy of the original module's namespace, so it calls the helper itself;
    # its source is registered with linecache because triton.jit reads a function's source text.
    fake = f"<porter device check {path}:{k.name}>"
    linecache.cache[fake] = (len(wsrc), None, wsrc.splitlines(keepends=True), fake)
    mod = types.ModuleType(f"_porter_check_{abs(hash(fake))}")
    mod.__dict__.update({n: v for n, v in vars(orig).items() if not n.startswith("__")})
    exec(compile(wsrc, fake, "exec", dont_inherit=True), mod.__dict__)  # noqa: S102 - the kernel written above
    from .verify_worker import _load

    with tempfile.TemporaryDirectory(prefix="porter-device-") as tmp:
        nki_path = Path(tmp) / f"{path.stem}_check_{k.name}_nki.py"
        nki_path.write_text(ft.source, encoding="utf-8")
        nki_mod = _load(f"_porter_check_nki_{abs(hash(fake))}", nki_path)
    tf = parse_source(combined, path)
    wk = next(x for x in tf.kernels if x.name == name)
    report = verify_kernel(wk, wkt, infer_roles(tf, wk), mod, nki_mod, shim_module=orig)
    report.name, report.line, report.mode = k.name, k.line, kt.mode
    if report.status == UNCHECKED and report.reason.startswith(INTERPRETER_FAILED):
        # the kernel the interpreter could not run is the generated one: its 1-D blocks, not the original
        report.reason = ("Triton's interpreter could not run the generated check kernel (one 1-D block per "
                         f"argument){report.reason[len(INTERPRETER_FAILED):]}; the function may need blocks of "
                         "another shape: it is checked through the kernels that call it")
    report.config_note = NOTE + (f" (constexprs: {config})" if config else "")
    return report
