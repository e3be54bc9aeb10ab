"""Float limits of the legacy dtypes: `nl.finfo(dt).max` and `nl.fp32.max` -> literals, or a run-time
lookup helper when the dtype is known only at specialisation."""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from porter.translate.nki_upgrade.names import code, dotted

if TYPE_CHECKING:
    from porter.translate.nki_upgrade.transform import Upgrader

FLOAT_LIMITS = {
    "float32": {"max": "3.4028234663852886e+38", "min": "-3.4028234663852886e+38",
                "tiny": "1.1754943508222875e-38", "eps": "1.1920928955078125e-07"},
    "bfloat16": {"max": "3.3895313892515355e+38", "min": "-3.3895313892515355e+38",
                 "tiny": "1.1754943508222875e-38", "eps": "0.0078125"},
    "float16": {"max": "65504.0", "min": "-65504.0", "tiny": "6.103515625e-05", "eps": "0.0009765625"},
}
DTYPE_ALIASES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16", "float32": "float32",
                 "bfloat16": "bfloat16", "float16": "float16"}


def finfo(up: Upgrader, original: cst.Attribute, updated: cst.Attribute) -> cst.BaseExpression:
    """`nl.finfo(dtype).field`: a literal for a named dtype, the run-time helper for a dtype expression."""
    call = original.value
    positional = [a for a in call.args if a.keyword is None]
    if len(positional) == 1:
        text = dotted(positional[0].value) or ""
        dtype = DTYPE_ALIASES.get(text.rsplit(".", 1)[-1])
        limit = FLOAT_LIMITS.get(dtype or "", {}).get(original.attr.value)
        if limit is not None:
            up._note("NRN709", f"nl.finfo({text}).{original.attr.value} -> literal")
            return cst.parse_expression(f"({limit})" if limit.startswith("-") else limit)
        field = original.attr.value
        if len(call.args) == 1 and field in FLOAT_LIMITS["float32"]:
            # A dtype known only when the kernel is specialised (`nl.finfo(t.dtype).min`): the same
            # table, looked up by the dtype's name at run time (an unknown dtype raises).
            up.need_finfo_helper = True
            up._note("NRN709", f"nl.finfo(<dtype>).{field} -> _porter_float_limit(<dtype>, ...)")
            dtype_arg = updated.value.args[0].value if isinstance(updated.value, cst.Call) else positional[0].value
            return cst.parse_expression(f"_porter_float_limit({code(dtype_arg)}, {field!r})")
    up._mark("NRN709", "nl.finfo is legacy API; write the limit as a literal")
    return updated


def finfo_helper() -> str:
    """The source of `_porter_float_limit`, added to a module that needs it."""
    rows = ",\n".join(
        f"    {dt!r}: {{" + ", ".join(f"{k!r}: {v}" for k, v in fields.items()) + "}"
        for dt, fields in FLOAT_LIMITS.items())
    return f'''
_PORTER_FLOAT_LIMITS = {{
{rows},
}}


def _porter_float_limit(dtype, field):
    """Legacy nl.finfo(dtype).<field> (max, min, tiny, eps) for float32, bfloat16 and float16."""
    name = str(getattr(dtype, "name", dtype)).rsplit(".", 1)[-1]
    if name not in _PORTER_FLOAT_LIMITS:
        raise ValueError(f"nl.finfo of {{dtype!r}}: porter knows {{', '.join(_PORTER_FLOAT_LIMITS)}}")
    return _PORTER_FLOAT_LIMITS[name][field]
'''
