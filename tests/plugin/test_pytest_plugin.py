"""The pytest plugin (entry point pytest11): on a small sample project, a user's tests calling the
`porter_parity` fixture pass for a right port and fail for a wrong one with porter's table as the
message. One pytest run in a subprocess (pytester) holds all the cases."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("torch")

pytest_plugins = ["pytester"]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "dynamic"

USER_TESTS = """
    import pytest

    def test_right_port(porter_parity):
        result = porter_parity("attn", candidate_root="ported_right")
        assert result["passed"] and result["verdict_mode"] == "tolerance"

    @pytest.mark.porter_parity(candidate_dtype="bfloat16")
    def test_right_port_bf16(porter_parity):
        result = porter_parity(candidate_root="ported_right")
        assert result["verdict_mode"] == "ratio" and result["outputs"][0]["ratio"] == 1.0

    @pytest.mark.porter_parity(layers=True)
    def test_wrong_port(porter_parity):
        porter_parity("attn")

    def test_unknown_model(porter_parity):
        porter_parity("no_such_model", candidate_root="ported_right")
"""


def test_the_plugin_in_a_users_suite(pytester):
    """original/ (the reference), ported_right/ (a faithful port), ported_wrong/ (1/d attention
    scale in one block); the candidate root defaults to --porter-candidate-root."""
    shutil.copytree(FIXTURES / "attention", pytester.path / "original")
    shutil.copytree(FIXTURES / "attention", pytester.path / "ported_right")
    shutil.copytree(FIXTURES / "attention_broken", pytester.path / "ported_wrong")
    pytester.makeini("[pytest]\nporter_reference_root = original\n")
    pytester.makepyfile(test_port=USER_TESTS)
    result = pytester.runpytest_subprocess("--porter-candidate-root", "ported_wrong", "-rA")
    result.assert_outcomes(passed=2, failed=2)
    text = result.stdout.str()
    wrong = text[text.index("_ test_wrong_port _"):text.index("_ test_unknown_model _")]
    assert "porter parity attn: mismatch" in wrong
    assert "max abs" in wrong and "MISMATCH" in wrong
    assert "first diverging module: blocks.1.attn" in wrong  # the marker's layers=True reached porter
    assert "Traceback" not in wrong and "def check(" not in wrong  # porter's table, not the plugin's code
    assert "no [tool.porter.models.no_such_model]" in text
