"""What the ported tree needs at run time that the original did not: a ready requirements snippet.

Read from the ported text itself (not from the rules that wrote it), so the list holds for code a
person edits afterwards too: an API counts when a ported file uses it and its original did not.

Minimum torch versions are the first release whose documentation lists the API (docs.pytorch.org,
versions 2.6 to 2.9, checked 2026-12): `torch.accelerator` appeared in 2.6 (is_available,
device_count, current_accelerator, current_stream, set_stream, synchronize); 2.7 added
`current_accelerator(check_available=...)`, `set_device_index` and `current_device_index`; 2.8 the
`device_index` context manager; 2.9 the memory functions (`torch.accelerator.memory`).
`torch.amp.GradScaler(device)` replaced `torch.cuda.amp.GradScaler` in 2.3.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# (pattern in the ported code, minimum torch, what needs it). An alias (`import torch as T`) still
# matches: the patterns start at the submodule. Each starts with its literal and looks behind for
# the word boundary: re then scans a whole file for the literal fast (a leading `\b` tries every
# position).
_TORCH_APIS: tuple[tuple[re.Pattern, tuple[int, int], str], ...] = tuple(
    (re.compile(pattern), version, what) for pattern, version, what in (
        (r"accelerator(?<=\baccelerator)\.(?:memory\.)?(?:empty_cache|memory_allocated|memory_reserved|max_memory_allocated|"
         r"max_memory_reserved|memory_stats|reset_peak_memory_stats|reset_accumulated_memory_stats)\b",
         (2, 9), "torch.accelerator memory functions"),
        (r"accelerator(?<=\baccelerator)\.device_index\(", (2, 8), "torch.accelerator.device_index"),
        (r"accelerator(?<=\baccelerator)\.(?:set_device_index|current_device_index)\b", (2, 7),
         "torch.accelerator.set_device_index / current_device_index"),
        (r"accelerator(?<=\baccelerator)\.current_accelerator\((?:check_available\s*=\s*)?True", (2, 7),
         "torch.accelerator.current_accelerator(check_available=True)"),
        (r"accelerator(?<=\baccelerator)\.(?:is_available|device_count|current_accelerator|current_stream|set_stream|synchronize)\b",
         (2, 6), "torch.accelerator"),
        (r"amp(?<=\bamp)\.GradScaler\b", (2, 3), "torch.amp.GradScaler"),
    ))
_KERNELS = re.compile(r"porter(?<=\bporter)\.kernels\b")
RUNTIME_EXTRA = "neuron-porter[runtime]"


def gained(pairs: Iterable[tuple[str, str, str]]) -> list[dict]:
    """Requirements the port added, from (path, original, ported) of each ported file.

    Each entry: {"requirement", "why", "file"} (the first file that needs it); torch once, at the
    highest minimum any file needs.
    """
    torch_need: tuple[tuple[int, int], str, str] | None = None
    kernels: str | None = None
    for path, original, ported in pairs:
        if ported == original:
            continue
        # What the port added is on lines the original does not have: only they are searched
        # (whole big files, once per pattern, were most of a tree port's report time).
        kept = set(original.splitlines())
        added = "\n".join(line for line in ported.splitlines() if line not in kept)
        for pattern, version, what in _TORCH_APIS:
            if pattern.search(added) and not pattern.search(original):
                if torch_need is None or version > torch_need[0]:
                    torch_need = (version, what, path)
        if kernels is None and _KERNELS.search(added) and not _KERNELS.search(original):
            kernels = path
    out = []
    if torch_need is not None:
        (major, minor), what, path = torch_need
        out.append({"requirement": f"torch>={major}.{minor}", "why": f"{what} (first in torch {major}.{minor})",
                    "file": path})
    if kernels is not None:
        out.append({"requirement": RUNTIME_EXTRA, "why": "swapped kernels import porter.kernels", "file": kernels})
    return out


def snippet(requirements: list[dict]) -> str:
    """requirements.txt lines, each with the reason as a comment."""
    width = max((len(r["requirement"]) for r in requirements), default=0)
    return "".join(f"{r['requirement']:<{width}}  # {r['why']}\n" for r in requirements)
