"""Python operators on NkiTensor tiles (`a + b`, `t += x`, `-t`, comparisons): the nki.language ops."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from porter.nki.errors import NkiValidationError

if TYPE_CHECKING:
    from porter.nki.tensor import NkiTensor


class TensorOperators:
    """Mixin of NkiTensor: each operator calls the element-wise op of porter.nki.api.language."""

    def _binop(name: str, reflected: bool = False):  # noqa: N805 - factory used at class creation
        def fn(self, other):
            from porter.nki.api.language import _math as m

            f = getattr(m, name)
            return f(other, self) if reflected else f(self, other)

        return fn

    def _inplace(name: str):  # noqa: N805
        def fn(self, other):
            from porter.nki.api.language import _math as m

            m._inplace(getattr(m, name), self, other)
            return self

        return fn

    __add__ = _binop("add")
    __radd__ = _binop("add", True)
    __sub__ = _binop("subtract")
    __rsub__ = _binop("subtract", True)
    __mul__ = _binop("multiply")
    __rmul__ = _binop("multiply", True)
    __truediv__ = _binop("divide")
    __rtruediv__ = _binop("divide", True)
    __pow__ = _binop("power")
    __rpow__ = _binop("power", True)
    __mod__ = _binop("fmod")
    __lt__ = _binop("less")
    __le__ = _binop("less_equal")
    __gt__ = _binop("greater")
    __ge__ = _binop("greater_equal")
    __and__ = _binop("bitwise_and")
    __or__ = _binop("bitwise_or")
    __xor__ = _binop("bitwise_xor")
    __lshift__ = _binop("left_shift")
    __rshift__ = _binop("right_shift")
    __iadd__ = _inplace("add")
    __isub__ = _inplace("subtract")
    __imul__ = _inplace("multiply")
    __itruediv__ = _inplace("divide")
    del _binop, _inplace

    def __eq__(self, other):  # type: ignore[override]
        from porter.nki.api.language import _math as m

        return m.equal(self, other)

    def __ne__(self, other):  # type: ignore[override]
        from porter.nki.api.language import _math as m

        return m.not_equal(self, other)

    __hash__ = object.__hash__

    def __neg__(self):
        from porter.nki.api.language import _math as m

        return m.negative(self)

    def __abs__(self):
        from porter.nki.api.language import _math as m

        return m.abs(self)

    def __invert__(self):
        from porter.nki.api.language import _math as m

        return m.invert(self)

    def __bool__(self) -> bool:
        raise NkiValidationError("the truth value of an NKI tensor is not defined at trace time")

    def broadcast_to(self, shape: Any) -> NkiTensor:
        from porter.nki.api.language import _math as m

        return m.broadcast_to(self, shape)

