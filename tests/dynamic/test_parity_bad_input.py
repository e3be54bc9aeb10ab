"""Bad input to `porter parity`: a timeout that is not a positive finite number, a timeout that must
end everything the user's code started, and goldens or weights that are not what they claim to be."""

from __future__ import annotations

import os
import pickle
import time

import pytest

from tests.dynamic.conftest import FIXTURES, parity_json, run_cli

OUTPUTS = FIXTURES / "outputs"
NESTED = ("--root", OUTPUTS, "--name", "nested")


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1", "0"])
def test_timeout_must_be_a_positive_finite_number(value, outputs_port):
    result = run_cli("parity", *NESTED, "--candidate-root", outputs_port, f"--timeout={value}")
    assert result.exit_code == 2
    assert "--timeout must be a positive number of seconds" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            state = next(line for line in f if line.startswith("State:"))
    except FileNotFoundError:
        return False
    return "Z" not in state.split()[1]  # a zombie is dead, only not yet reaped


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads process states from /proc")
def test_timeout_kills_the_workers_whole_process_group(outputs_port, tmp_path, monkeypatch):
    pidfile = tmp_path / "helper.pid"
    monkeypatch.setenv("PORTER_TEST_PIDFILE", str(pidfile))
    started = time.monotonic()
    result = run_cli("parity", "--root", OUTPUTS, "--name", "spawner", "--candidate-root", outputs_port,
                     "--timeout", "6")
    assert result.exit_code == 2 and "did not finish within 6 s" in result.stderr
    helper = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while _alive(helper) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(helper), "the helper process the model started outlived the timeout"
    # killed, not finished: the helper sleeps 120 s (waiting on its pipes, the old code returned only then)
    assert time.monotonic() - started < 100


def _golden(parity_in_process, tmp_path):
    golden = tmp_path / "golden"
    code, _ = parity_json(*NESTED, "--save-golden", golden, out=tmp_path / "save.json")
    assert code == 0
    return golden


def test_a_golden_that_is_not_safetensors_is_named_and_never_unpickled(parity_in_process, tmp_path):
    golden = _golden(parity_in_process, tmp_path)
    marker = tmp_path / "unpickled"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (golden / "golden.safetensors").write_bytes(pickle.dumps(Evil()))
    code, data = parity_json(*NESTED, "--golden", golden, "--candidate", "model:make_nested", out=tmp_path / "r.json")
    assert code == 2 and data["kind"] == "input"
    assert data["error"].startswith(f"not a safetensors file: {golden / 'golden.safetensors'}")
    assert not marker.exists()


def test_truncated_golden_weights_and_broken_golden_json(parity_in_process, tmp_path):
    golden = _golden(parity_in_process, tmp_path)
    weights = golden / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:20])
    code, data = parity_json(*NESTED, "--golden", golden, "--candidate", "model:make_nested", out=tmp_path / "r.json")
    assert code == 2 and data["error"].startswith(f"not a safetensors file: {weights}")
    (golden / "golden.json").write_text("{not json")
    code, data = parity_json(*NESTED, "--golden", golden, "--candidate", "model:make_nested", out=tmp_path / "j.json")
    assert code == 2 and "golden.json: not valid JSON" in data["error"]
