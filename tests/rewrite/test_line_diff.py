"""The changed blocks behind JSON/SARIF fix edits: exact where cheap, bounded where a file is long."""

from __future__ import annotations

import difflib
import random

import pytest

from porter.rewrite import line_diff
from porter.rewrite.line_diff import changed_blocks


def apply(a: list[str], blocks) -> list[str]:
    out, at = [], 0
    for _, i1, i2, j1, j2 in blocks:
        assert i1 >= at, "blocks must be in order and disjoint"
        out += a[at:i1]
        out.append(("new", j1, j2))
        at = i2
    return out + a[at:]


def rebuilt(a: list[str], b: list[str], blocks) -> list[str]:
    parts = []
    for item in apply(a, blocks):
        parts += b[item[1]:item[2]] if isinstance(item, tuple) else [item]
    return parts


def test_small_inputs_get_difflibs_own_blocks():
    rng = random.Random(1)
    for _ in range(200):
        a = [rng.choice("abcde") for _ in range(rng.randrange(0, 30))]
        b = [rng.choice("abcdf") for _ in range(rng.randrange(0, 30))]
        expected = [op for op in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
                    if op[0] != "equal"]
        assert changed_blocks(a, b) == expected


@pytest.mark.parametrize("seed", range(30))
def test_large_inputs_rebuild_the_other_side(monkeypatch, seed):
    monkeypatch.setattr(line_diff, "EXACT_PAIRS", 50)  # every path of the long-file diff, on short lists
    rng = random.Random(seed)
    a = [rng.choice(["    return x\n", "\n", f"x{rng.randrange(9)} = f()\n", f"def g{k}():\n"]) for k in range(300)]
    b = list(a)
    for _ in range(rng.randrange(1, 40)):
        k = rng.randrange(len(b) + 1)
        action = rng.choice(["insert", "delete", "edit"])
        if action == "insert":
            b.insert(k, f"y{rng.randrange(5)} = h()\n")
        elif b and k < len(b):
            if action == "delete":
                del b[k]
            else:
                b[k] = b[k].replace("f()", "f().to(d)")
    assert rebuilt(a, b, changed_blocks(a, b)) == b


def test_a_long_file_rewritten_line_by_line_gets_one_block_per_line(monkeypatch):
    # every line changes and the port adds a helper at the top: no line is left equal to tie on,
    # so the lines are tied by their heads (`x5 = `), not lumped into one block of the whole file
    monkeypatch.setattr(line_diff, "EXACT_PAIRS", 100)
    a = ["import torch\n"] + [f"x{k} = torch.randn(4).cuda()\n" for k in range(500)]
    b = ["import torch\n", "def _helper():\n", "    return 1\n"]
    b += [f"x{k} = torch.randn(4).to(d)\n" for k in range(500)]
    blocks = changed_blocks(a, b)
    assert rebuilt(a, b, blocks) == b
    assert max(i2 - i1 for _, i1, i2, _, _ in blocks) == 1
    assert ("insert", 1, 1, 1, 3) in blocks
