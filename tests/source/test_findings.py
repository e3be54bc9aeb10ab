"""The engine's fast ways to make and move findings must give what the dataclass itself gives."""

from __future__ import annotations

import pickle
from dataclasses import replace

from porter.source.findings import Finding, new_finding, sort_key


def _made() -> Finding:
    return new_finding("a.py", 3, 5, "NRN101", "m", 4, 9, None, "cuda", "why")


def test_new_finding_is_the_constructors_finding():
    made = _made()
    built = Finding(path="a.py", line=3, col=5, rule_id="NRN101", message="m", end_line=4, end_col=9,
                    matched="cuda", manual="why")
    assert made == built and hash(made) == hash(built) and repr(made) == repr(built)
    assert made.to_dict() == built.to_dict()
    assert pickle.loads(pickle.dumps(made)) == built


def test_a_moved_finding_is_replaces_one():
    made = _made()
    assert made.at_lines(7, 8) == replace(made, line=7, end_line=8)
    assert made.line == 3  # the original is not changed


def test_the_sort_key_orders_as_the_dataclass_does():
    findings = [new_finding("b.py", 1, 1, "NRN1", "m", 1, 2, None, "", ""), _made(),
                new_finding("a.py", 3, 2, "NRN9", "m", 3, 4, None, "", ""),
                new_finding("a.py", 3, 5, "NRN100", "m", 4, 9, None, "cuda", "why")]
    assert sorted(findings, key=sort_key) == sorted(findings)
