"""Simulated `nki.typing`: annotation helpers such as `nt.tensor[128, 512]` (no runtime effect)."""

from __future__ import annotations

from typing import Any


class _Annotation:
    def __init__(self, kind: str, params: tuple) -> None:
        self.kind = kind
        self.params = params

    def __repr__(self) -> str:
        return f"nt.{self.kind}[{', '.join(map(repr, self.params))}]"


class tensor:  # noqa: N801 - NKI API name
    """`nt.tensor[shape..., dtype?]` annotation; the simulator does not enforce it."""

    def __class_getitem__(cls, params: Any) -> _Annotation:
        return _Annotation("tensor", params if isinstance(params, tuple) else (params,))


class scalar:  # noqa: N801
    def __class_getitem__(cls, params: Any) -> _Annotation:
        return _Annotation("scalar", params if isinstance(params, tuple) else (params,))


mutable_tensor = tensor
