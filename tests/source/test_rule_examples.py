"""Every rule's VALID and INVALID examples from the catalogue, run through the real engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from porter.config import Settings
from porter.source.catalogue import load_catalogue
from porter.source.engine import RuleIndex, analyse_source
from porter.source.selection import select_rules

CATALOGUE = load_catalogue()


def _examples(kind: str):
    for rule in CATALOGUE:
        if not rule.has_examples:
            continue
        for i, example in enumerate(getattr(rule, kind)):
            yield pytest.param(rule, example, id=f"{rule.id}-{kind}-{i + 1}")


def _index(target: str) -> RuleIndex:
    # Default-off rules (opt-in swaps) are checked too: they run when selected by id.
    opt_in = tuple(r.id for r in CATALOGUE if not r.default)
    settings = Settings(root=Path("."), target=target, extend_select=opt_in)
    return RuleIndex.build(select_rules(CATALOGUE, settings))


INDEXES = {t: _index(t) for t in ("neuron", "portable", "xla")}


def _findings(rule, example):
    findings = analyse_source(example.code, "example.py", INDEXES[example.target])
    return [f for f in findings if f.rule_id == rule.id and not f.suppressed]


def test_every_rule_has_examples():
    missing = [r.id for r in CATALOGUE if r.has_examples and (not r.valid or not r.invalid)]
    assert not missing, f"rules without VALID and INVALID examples: {missing}"


@pytest.mark.parametrize(("rule", "example"), list(_examples("invalid")))
def test_invalid_example_is_reported(rule, example):
    found = _findings(rule, example)
    assert len(found) == example.count, (
        f"{rule.id} expected {example.count} finding(s) on target {example.target}, got "
        f"{[(f.line, f.col, f.message) for f in found]} for:\n{example.code}"
    )


@pytest.mark.parametrize(("rule", "example"), list(_examples("valid")))
def test_valid_example_is_clean(rule, example):
    targets = [example.target] if example.target != "neuron" else list(INDEXES)
    for target in targets:
        findings = analyse_source(example.code, "example.py", INDEXES[target])
        found = [f for f in findings if f.rule_id == rule.id]
        assert not found, f"{rule.id} on target {target} reported {[(f.line, f.message) for f in found]}"
