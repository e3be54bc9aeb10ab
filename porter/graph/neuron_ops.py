"""The Neuron operator-coverage table (data/torchneuron_ops.json), read by `porter trace` and by the
emulated `neuron` device: one table, one lookup.

Verdicts are TorchNeuron's: Y (runs on the device), CPU_FALLBACK (runs on the CPU, result copied
back), N (not supported: raises). Each entry says on what basis it stands; see the file's `meta` and
scripts/build_neuron_op_table.py for where it comes from (the real per-release table could not be
obtained here, and the entries marked ASSUMED say so). An op not in the table is unknown.
Stdlib only.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

TABLE_PATH = Path(__file__).with_name("data") / "torchneuron_ops.json"

Y = "Y"
CPU_FALLBACK = "CPU_FALLBACK"
N = "N"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class OpVerdict:
    op: str  # aten op name without namespace or overload: "addmm", "add_"
    verdict: str  # Y, CPU_FALLBACK, N or unknown
    basis: str = ""  # doc-n, doc-fallback, doc-y, core-aten, decomposes, foreach ("" when unknown)
    note: str = ""

    @property
    def assumed(self) -> bool:
        return self.basis in ("core-aten", "decomposes", "foreach", "random-fill")


@functools.lru_cache(maxsize=1)
def _table() -> dict:
    try:
        return json.loads(TABLE_PATH.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RuntimeError(f"{TABLE_PATH}: cannot read the Neuron operator table: {exc}") from exc


def meta() -> dict:
    """Where the table comes from, what its verdicts and bases mean."""
    return dict(_table()["meta"])


def op_base(name: str) -> str:
    """`aten.addmm.default`, `aten::addmm.out`, `torch.ops.aten.addmm` → `addmm`."""
    text = name.replace("::", ".")
    if text.startswith("torch.ops."):
        text = text[len("torch.ops."):]
    parts = text.split(".")
    if parts and parts[0] == "aten":
        parts = parts[1:]
    return parts[0] if parts else text


@functools.lru_cache(maxsize=4096)
def lookup(name: str) -> OpVerdict:
    """The verdict for one ATen op (any spelling `op_base` accepts); `unknown` when the table has no entry."""
    base = op_base(name)
    entry = _table()["ops"].get(base)
    if entry is None:
        return OpVerdict(base, UNKNOWN)
    return OpVerdict(base, entry["verdict"], entry.get("basis", ""), entry.get("note", ""))


def basis_text(basis: str) -> str:
    return meta().get("bases", {}).get(basis, basis)
