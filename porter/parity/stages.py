"""Whose failure is it: each run of a parity check is a named stage, and an exception raised in it
carries the stage and the torch op that raised.

A stage porter made up (the reference cast to bfloat16, the reference on perturbed inputs, a run
on an emulated device) failing is porter's failure, reported as such with the op; a stage that runs
the user's code as written (the reference in its own dtype, the candidate) failing is the user's.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

PORTER_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class StageError(Exception):
    """A run of the parity check failed: `stage` names the run, `op` the torch op that raised (when
    one did), `where` the innermost line of model code, `porters` whether porter made the run up."""

    def __init__(self, stage: str, porters: bool, cause: BaseException, op: str | None, where: str | None) -> None:
        self.stage, self.porters, self.cause, self.op, self.where = stage, porters, cause, op, where
        super().__init__(self.describe())

    def describe(self) -> str:
        whose = "porter's own run failed" if self.porters else "the user's code raised"
        parts = [f"{whose} in stage '{self.stage}'"]
        if self.op:
            parts.append(f"in op {self.op}")
        if self.where:
            parts.append(f"at {self.where}")
        return " ".join(parts) + f": {type(self.cause).__name__}: {self.cause}"

    @property
    def kind(self) -> str:
        return "porter" if self.porters else "user code"


def _op_name(func: Any) -> str:
    """`torch.polar`, `torch.nn.functional.linear`, `Tensor.view`: the name a user writes."""
    name = getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or repr(func)
    module = getattr(func, "__module__", None) or ""
    for prefix in ("_VariableFunctionsClass.", "TensorBase.", "_TensorBase."):
        if name.startswith(prefix):
            return ("torch." if prefix.startswith("_V") else "Tensor.") + name[len(prefix):]
    if module.startswith("torch") and "." not in name:
        return f"{module.replace('torch._C._nn', 'torch.nn.functional')}.{name}"
    return name


def _model_line(exc: BaseException) -> str | None:
    """file:line of the innermost frame that is neither torch's nor porter's: the model's own line."""
    frames = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(frames):
        path = os.path.abspath(frame.filename)
        if path.startswith(PORTER_DIR) or f"{os.sep}torch{os.sep}" in path:
            continue
        line = (frame.line or "").strip()
        return f"{frame.filename}:{frame.lineno} ({line})" if line else f"{frame.filename}:{frame.lineno}"
    return None


class _FailingOp:
    """A TorchFunctionMode (made on first use: torch is imported lazily) that remembers the first,
    i.e. innermost, torch function that raised."""

    mode: Any = None

    @classmethod
    def make(cls) -> Any:
        if cls.mode is None:
            from torch.overrides import TorchFunctionMode

            class FailingOp(TorchFunctionMode):
                def __init__(self) -> None:
                    super().__init__()
                    self.failed: str | None = None

                def __torch_function__(self, func, types, args=(), kwargs=None):
                    try:
                        return func(*args, **(kwargs or {}))
                    except Exception:
                        if self.failed is None:
                            self.failed = _op_name(func)
                        raise

            cls.mode = FailingOp
        return cls.mode()


@contextmanager
def stage(name: str, porters: bool) -> Iterator[None]:
    """Run a block as the named stage: any exception becomes a StageError naming the failing op."""
    tracker = _FailingOp.make()
    try:
        with tracker:
            yield
    except StageError:
        raise
    except Exception as exc:
        raise StageError(name, porters, exc, tracker.failed, _model_line(exc)) from exc
