"""NkiScalar (NKI >= 0.7): one integer computed on the device, from `nisa.scalar_load`.

A scalar's width (int32 or int64) is fixed when it is loaded; arithmetic wraps at that width and
never widens. Both widths support `+ - *` (binary and unary minus); int32 also `// % & | ^ << >>` and
comparisons, whose result only a 0.8 `nl.if_else` can consume. Python cannot read a device value
while the kernel is specialised, so `bool()`, `int()` and `range()` on a scalar raise; the simulator
itself reads it where NKI reads it on the device (loop bounds, offsets, conditions).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from porter.nki.errors import NkiValidationError

_BITS = {"int32": 32, "int64": 64}
_ALL_WIDTHS = {"add", "sub", "mul"}


def _wrap(value: int, dtype: str) -> int:
    bits = _BITS[dtype]
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >= 1 << (bits - 1) else value


class NkiScalar:
    """A device integer; see the module docstring for what it supports."""

    def __init__(self, state: Any, dtype: str = "int32", is_comparison: bool = False) -> None:
        if dtype not in _BITS:
            raise NkiValidationError(f"NkiScalar dtype must be int32 or int64, got {dtype}")
        self._value = _wrap(int(state), dtype)
        self.dtype = dtype
        self.is_comparison = is_comparison

    def _nki_scalar_value(self) -> int:
        if self.is_comparison:
            raise NkiValidationError(
                "the result of comparing NkiScalars can only be the condition of nl.if_else "
                "(it cannot be an offset, a loop bound or an operand)"
            )
        return self._value

    def _condition_value(self) -> int:
        return self._value

    def __repr__(self) -> str:
        return f"NkiScalar({self._value}, dtype={self.dtype})"

    # Python reading a device value at specialization time is the mistake NKI reports.
    def _host_read(self, what: str) -> Any:
        raise NkiValidationError(
            f"{what} of an NkiScalar: it is a device value, unknown while the kernel is specialised; "
            "use nl.if_else for a condition, nl.fori_loop for a loop bound, scalar_offset= for an offset"
        )

    def __bool__(self) -> bool:
        return self._host_read("bool()")

    def __int__(self) -> int:
        return self._host_read("int()")

    def __index__(self) -> int:
        return self._host_read("using as a Python int (range(), list index)")

    def __float__(self) -> float:
        return self._host_read("float()")

    def __hash__(self) -> int:
        return id(self)

    def _operand(self, other: Any, op: str) -> int | None:
        if isinstance(other, NkiScalar):
            if other.dtype != self.dtype:
                raise NkiValidationError(f"NkiScalar {op}: dtypes differ ({self.dtype} and {other.dtype})")
            return other._nki_scalar_value()
        if isinstance(other, bool) or not isinstance(other, int):
            return None
        return other

    def _check_width(self, op: str) -> None:
        if op not in _ALL_WIDTHS and self.dtype == "int64":
            raise NkiValidationError(f"NkiScalar {op}: an int64 scalar supports only +, - and *")


def _arith(name: str, fn: Callable[[int, int], int], reflected: bool = False) -> Callable:
    def method(self: NkiScalar, other: Any) -> Any:
        value = self._operand(other, name)
        if value is None:
            return NotImplemented
        self._check_width(name)
        a, b = (value, self._nki_scalar_value()) if reflected else (self._nki_scalar_value(), value)
        if name in ("floordiv", "mod") and b == 0:
            raise NkiValidationError(f"NkiScalar {name}: division by zero")
        return NkiScalar(fn(a, b), self.dtype)

    return method


def _compare(name: str, fn: Callable[[int, int], bool]) -> Callable:
    def method(self: NkiScalar, other: Any) -> Any:
        value = self._operand(other, name)
        if value is None:
            return NotImplemented
        if self.dtype == "int64":
            raise NkiValidationError(f"NkiScalar {name}: comparisons of int64 scalars are rejected")
        return NkiScalar(int(fn(self._nki_scalar_value(), value)), "int32", is_comparison=True)

    return method


for _name, _fn in (("add", operator.add), ("sub", operator.sub), ("mul", operator.mul),
                   ("floordiv", operator.floordiv), ("mod", operator.mod), ("and", operator.and_),
                   ("or", operator.or_), ("xor", operator.xor), ("lshift", operator.lshift),
                   ("rshift", operator.rshift)):
    setattr(NkiScalar, f"__{_name}__", _arith(_name, _fn))
    setattr(NkiScalar, f"__r{_name}__", _arith(_name, _fn, reflected=True))
for _name, _fn in (("lt", operator.lt), ("le", operator.le), ("gt", operator.gt), ("ge", operator.ge),
                   ("eq", operator.eq), ("ne", operator.ne)):
    setattr(NkiScalar, f"__{_name}__", _compare(_name, _fn))
NkiScalar.__neg__ = lambda self: NkiScalar(-self._nki_scalar_value(), self.dtype)  # type: ignore[attr-defined]
NkiScalar.__pos__ = lambda self: self  # type: ignore[attr-defined]


def is_device_value(value: Any) -> bool:
    """NkiScalar or VirtualRegister: known only on the device."""
    return isinstance(value, NkiScalar) or type(value).__name__ == "VirtualRegister"
