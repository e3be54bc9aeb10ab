"""Training parity (`porter parity --train-steps N`): both sides train from one seeded state, with
their own loss and optimizer; each faulty port below changes one thing in a copy of the project and
must be caught, naming what diverged first."""

from __future__ import annotations

import shutil

import pytest

from porter.parity.training import TrainingSetupError, parse_optimizer
from tests.dynamic.conftest import FIXTURES, outputs_by_name, parity_json, run_cli

TRAINING = FIXTURES / "training"
RECIPE = "torch.optim.AdamW(model.parameters(), lr=1e-2, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)"


def port_with(tmp_path, old: str, new: str):
    port = tmp_path / "port"
    shutil.copytree(TRAINING, port)
    model = port / "model.py"
    text = model.read_text()
    assert old in text
    model.write_text(text.replace(old, new))
    return port


def train(port, tmp_path, *extra):
    return parity_json("--root", TRAINING, "--candidate-root", port, "--train-steps", "3", *extra,
                       out=tmp_path / "r.json")


def test_a_faithful_port_trains_identically(parity_in_process, tmp_path):
    port = port_with(tmp_path, "", "")
    code, data = train(port, tmp_path, "--atol", "0", "--rtol", "0")
    assert code == 0, data
    rows = outputs_by_name(data)
    assert set(rows) >= {"step 3 loss", "step 3 gradients", "step 3 parameters", "step 3 optimizer state"}
    assert data["training"]["first_divergence"] is None


def test_dropped_weight_decay(parity_in_process, tmp_path):
    port = port_with(tmp_path, ", weight_decay=0.1)", ")")  # AdamW's default, 0.01, takes over
    code, data = train(port, tmp_path)
    assert code == 1
    assert data["training"]["hyperparameters"] == ["param_groups[0].weight_decay: 0.01, the reference has 0.1"]
    rows = outputs_by_name(data)
    assert rows["step 1 gradients"]["passed"]  # same weights, same gradients ...
    assert not rows["step 1 parameters"]["passed"]  # ... a different update
    assert not rows["step 2 gradients"]["passed"]
    assert data["training"]["first_gradient_divergence"] == {"step": 2, "parameter": "embed.weight"}


def test_changed_eps(parity_in_process, tmp_path):
    port = port_with(tmp_path, "eps=1e-8", "eps=1e-6")
    code, data = train(port, tmp_path)
    assert code == 1
    assert data["training"]["hyperparameters"] == ["param_groups[0].eps: 1e-06, the reference has 1e-08"]
    assert not outputs_by_name(data)["step 1 parameters"]["passed"]


def test_fused_adamw_is_judged_by_its_numbers(parity_in_process, tmp_path):
    port = port_with(tmp_path, "weight_decay=0.1)", "weight_decay=0.1, fused=True)")
    code, data = train(port, tmp_path)
    assert code == 0, data  # within fp32 tolerances: a different kernel, not a bug
    assert data["notes"] == ["param_groups[0].fused: True, the reference has None"]
    code, data = train(port, tmp_path, "--atol", "0", "--rtol", "0")  # exact: beyond tolerance
    assert code == 1
    first = data["training"]["first_divergence"]
    assert first["step"] == 1 and first["what"] == "parameters" and first["name"]
    assert outputs_by_name(data)["step 1 gradients"]["passed"]
    assert data["training"]["first_gradient_divergence"]["step"] == 2


def test_loss_in_bf16_instead_of_fp32(parity_in_process, tmp_path):
    port = port_with(tmp_path, "logits[:, :-1].float()", "logits[:, :-1].bfloat16()")
    code, data = train(port, tmp_path)
    assert code == 1
    rows = outputs_by_name(data)
    assert not rows["step 1 loss"]["passed"]
    assert data["training"]["first_divergence"] == {"step": 1, "what": "loss", "name": "loss"}
    assert data["training"]["first_gradient_divergence"] == {"step": 1, "parameter": "embed.weight"}
    assert "first gradient to diverge: embed.weight (step 1)" in data["first_divergence"]


def test_optimizer_given_on_the_command_line(parity_in_process, tmp_path):
    port = port_with(tmp_path, "", "")
    code, data = train(port, tmp_path, "--optimizer", "SGD(lr=0.1, momentum=0.9)")
    assert code == 0 and outputs_by_name(data)["step 3 optimizer state"]["passed"]
    assert parse_optimizer("AdamW(lr=1e-3, betas=(0.9, 0.95))") == ("AdamW", {"lr": 1e-3, "betas": (0.9, 0.95)})
    for bad in ("Nope", "AdamW(lr=x)", "AdamW(1e-3)", "1 +"):
        with pytest.raises(TrainingSetupError):
            parse_optimizer(bad)


def test_training_needs_a_loss(parity_in_process, tmp_path):
    port = port_with(tmp_path, "", "")
    code, data = parity_json("--root", TRAINING, "--candidate-root", port, "--model", "model:make_model",
                             "--inputs", "model:example_inputs", "--train-steps", "1", "--optimizer", "SGD(lr=0.1)",
                             out=tmp_path / "r.json")
    assert code == 2 and "needs a loss function" in data["error"]
    result = run_cli("parity", "--root", TRAINING, "--candidate-root", port, "--optimizer", "SGD")
    assert result.exit_code == 2 and "--train-steps" in result.stderr


def test_training_on_the_emulated_neuron_device(parity_in_process, tmp_path):
    port = port_with(tmp_path, "eps=1e-8", "eps=1e-6")
    code, data = train(port, tmp_path, "--candidate-device", "neuron")
    assert code == 1 and "on the emulated neuron device" in data["candidate"]
    assert data["training"]["hyperparameters"] == ["param_groups[0].eps: 1e-06, the reference has 1e-08"]
    assert outputs_by_name(data)["step 1 gradients"]["passed"]  # same gradients on the device at step 1
