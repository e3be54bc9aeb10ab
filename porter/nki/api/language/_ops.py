"""Registries that let nl.* functions double as operator arguments of nki.isa instructions.

nisa.tensor_tensor(op=nl.add) looks nl.add up here to find its NumPy semantics.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

UNARY: dict[Any, Callable[[np.ndarray], np.ndarray]] = {}  # activation / unary ALU functions (fp32)
BINARY: dict[Any, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {}  # arithmetic ALU ops
BITVEC: dict[Any, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {}  # integer bit-pattern ops
COMPARE: set = set()  # binary ops producing 0/1
REDUCE: dict[Any, tuple[Callable, float]] = {}  # op -> (ufunc, identity) for free-axis reductions
ALIASES: dict[Any, Any] = {}  # e.g. nl.max (reduction fn) -> nl.maximum (ALU op)


def op_name(op: Any) -> str:
    return getattr(op, "__name__", repr(op))


def resolve(op: Any) -> Any:
    return ALIASES.get(op, op)


# ---- fp32 NumPy kernels ----------------------------------------------------------------------
_SQRT2 = np.float32(np.sqrt(2.0))


def erf(x: np.ndarray) -> np.ndarray:
    """Vectorised erf (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7; enough for fp32)."""
    x = np.asarray(x, dtype=np.float64)
    s = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return (s * (1.0 - poly * np.exp(-a * a))).astype(np.float32)


def sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return (1.0 / (1.0 + np.exp(-x.astype(np.float64)))).astype(np.float32)


def gelu(x: np.ndarray) -> np.ndarray:
    return (0.5 * x * (1.0 + erf(x / _SQRT2))).astype(np.float32)


def gelu_dx(x: np.ndarray) -> np.ndarray:
    cdf = 0.5 * (1.0 + erf(x / _SQRT2))
    pdf = np.exp(-0.5 * x.astype(np.float64) ** 2) / np.sqrt(2 * np.pi)
    return (cdf + x * pdf).astype(np.float32)


def gelu_tanh(x: np.ndarray) -> np.ndarray:
    x64 = x.astype(np.float64)
    return (0.5 * x64 * (1.0 + np.tanh(np.sqrt(2 / np.pi) * (x64 + 0.044715 * x64**3)))).astype(np.float32)


def gelu_sigmoid(x: np.ndarray) -> np.ndarray:
    return (x * sigmoid(1.702 * x)).astype(np.float32)


def silu(x: np.ndarray) -> np.ndarray:
    return (x * sigmoid(x)).astype(np.float32)


def silu_dx(x: np.ndarray) -> np.ndarray:
    s = sigmoid(x)
    return (s * (1.0 + x * (1.0 - s))).astype(np.float32)


def softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x.astype(np.float64)).astype(np.float32)


def mish(x: np.ndarray) -> np.ndarray:
    return (x * np.tanh(softplus(x))).astype(np.float32)


def erf_dx(x: np.ndarray) -> np.ndarray:
    return (2.0 / np.sqrt(np.pi) * np.exp(-(x.astype(np.float64) ** 2))).astype(np.float32)


def rsqrt(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return (1.0 / np.sqrt(x)).astype(np.float32)


def reciprocal(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return (1.0 / x).astype(np.float32)
