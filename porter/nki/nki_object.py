"""nl.NKIObject: the documented base class of kernel dataclasses and configuration objects.

Documented as `__init__(self, **kwargs)`: keyword arguments become attributes. Configuration
classes are often written as `@dataclass class Cfg(nl.NKIObject): tile = None` (defaults without
annotations, so the dataclass has no fields and its generated `__init__` takes no arguments);
`Cfg(tile=128)` must still construct. The metaclass passes the keywords the class's own `__init__`
accepts and sets the others, which must name class attributes, after it.
"""

from __future__ import annotations

import inspect
from typing import Any


def _accepted(init: Any) -> tuple[set[str], bool]:
    try:
        params = list(inspect.signature(init).parameters.values())[1:]
    except (TypeError, ValueError):
        return set(), True
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return set(), True
    return {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}, False


class _NKIObjectMeta(type):
    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        names, takes_all = _accepted(cls.__init__)
        if takes_all:
            return super().__call__(*args, **kwargs)
        passed = {k: v for k, v in kwargs.items() if k in names}
        rest = {k: v for k, v in kwargs.items() if k not in names}
        unknown = [k for k in rest if not hasattr(cls, k)]
        if unknown:
            raise TypeError(f"{cls.__name__}() got unexpected keyword argument(s): {', '.join(unknown)}")
        obj = super().__call__(*args, **passed)
        for key, value in rest.items():
            setattr(obj, key, value)
        return obj


class NKIObject(metaclass=_NKIObjectMeta):
    """Base class of NKI kernel objects: `NKIObject(**kwargs)` sets each keyword as an attribute."""

    def __init__(self, **kwargs: Any) -> None:
        for key, value in kwargs.items():
            setattr(self, key, value)
