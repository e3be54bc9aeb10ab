"""Where a rule has an automatic fix but one site cannot take it, lint says so (no `[*]`) and port
marks that site instead of rewriting it into something that breaks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from porter.config import Settings
from porter.rewrite.file_port import port_source
from porter.source.catalogue import load_catalogue
from porter.source.engine import RuleIndex, analyse_source
from porter.source.selection import select_rules

CATALOGUE = load_catalogue()


def index(target: str = "neuron") -> RuleIndex:
    rules = [r for r in select_rules(CATALOGUE, Settings(root=Path("."), target=target)) if r.matchers]
    return RuleIndex.build(rules)


def port(code: str, target: str = "neuron") -> str:
    result = port_source(code, "snippet.py", index(target), CATALOGUE, target, False)
    assert result.error is None, result.error
    again = port_source(result.ported, "snippet.py", index(target), CATALOGUE, target, False)
    assert again.ported == result.ported, "a second port must change nothing"
    return result.ported


def findings(code: str) -> list[tuple[int, str, bool]]:
    """(line, rule, fixable at this site)"""
    return [(f.line, f.rule_id, not f.manual) for f in analyse_source(code, "snippet.py", index())]


def test_device_strings_stay_strings_where_they_flow_on():
    out = port('import torch\nDEVICE = "cuda"\ndef f(dev="cuda:0"):\n    return dev\n'
               'if DEVICE == "cuda":\n    pass\n')
    assert 'DEVICE = str(_porter_device())' in out
    assert 'def f(dev=str(_porter_device(0))):' in out
    assert 'if DEVICE == "neuron":' in out


def test_device_strings_that_are_printed_listed_or_keyed_are_marked_not_rewritten():
    code = ('import argparse\nimport torch\np = argparse.ArgumentParser()\n'
            'p.add_argument("--device", default="cuda", choices=["cpu", "cuda"])\n'
            'print("cuda")\ncounts = {"cuda": 0}\n')
    # a dict key naming a device kind (`{"cuda": 0}`) is a label, not a device: no finding at all
    assert findings(code) == [(4, "NRN105", True), (4, "NRN105", False), (5, "NRN105", False)]
    out = port(code)
    assert 'p.add_argument("--device", default=str(_porter_device()), choices=["cpu", "cuda"])' in out
    assert 'print("cuda")' in out and 'counts = {"cuda": 0}' in out
    assert out.count("# porter: NRN105 CUDA device string: not rewritten here") == 2


def test_ported_device_string_still_compares_and_concatenates():
    code = 'import torch\nDEVICE = "cuda"\nname = DEVICE + "!"\nok = DEVICE == "cuda"\nprint(name, ok)\n'
    out = port(code)
    run = subprocess.run([sys.executable, "-c", out], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["cpu!", "False"]  # no Neuron device here: the CPU's name


def test_map_location_lambda_keeps_working_for_storages(tmp_path):
    ckpt = tmp_path / "w.pt"
    code = ("import torch\n"
            f"torch.save({{'w': torch.ones(2)}}, {str(ckpt)!r})\n"
            f"state = torch.load({str(ckpt)!r}, map_location=lambda s, loc: s.cuda(), weights_only=True)\n"
            "print(state['w'].sum().item())\n")
    assert findings(code) == [(3, "NRN101", True)]  # the lambda's .cuda() alone, not NRN108 too
    out = port(code)
    assert "map_location=lambda s, loc: s.to(device=_porter_device())" in out
    run = subprocess.run([sys.executable, "-c", out], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "2.0"


def test_map_location_dict_is_marked_and_not_promised_as_fixable():
    code = 'import torch\nt = torch.load("f.pt", map_location={"cuda:1": "cuda:0"})\n'
    assert findings(code) == [(2, "NRN108", False)]
    assert "# porter: NRN108" in port(code)


def test_torch_device_inside_a_device_keyword_is_reported_once():
    code = 'import torch\nr = torch.randn(2, device=torch.device("cuda"))\n'
    assert findings(code) == [(2, "NRN102", True)]
    out = port(code)
    assert "r = torch.randn(2, device=_porter_device())" in out and "# porter:" not in out


@pytest.mark.parametrize(("code", "fixable"), [
    ("torch.backends.cudnn.benchmark = True\n", True),
    ("torch.backends.cuda.enable_flash_sdp(False)\n", True),
    ("v = torch.backends.cudnn.version()\n", False),
    ("if torch.backends.cudnn.is_available():\n    pass\n", False),
])
def test_remove_fixes_only_statements_that_do_nothing_else(code, fixable):
    code = "import torch\n" + code
    [(line, rule, can_fix)] = findings(code)
    assert can_fix is fixable
    out = port(code)
    if fixable:
        assert "torch.backends" not in out
    else:
        assert "torch.backends" in out and f"# porter: {rule}" in out


@pytest.mark.parametrize("target", ["neuron", "xla"])
def test_grad_scalers_keep_their_arguments_and_are_disabled_only_as_an_unsafe_fix(target):
    code = ('import torch\na = torch.amp.GradScaler("cuda")\nb = torch.amp.GradScaler()\n'
            'c = torch.GradScaler(device="cuda", init_scale=1024.0)\n'
            'd = torch.GradScaler(init_scale=4.0, enabled=use_fp16)\n')
    out = port(code, target)
    assert "a = torch.amp.GradScaler(_porter_device().type)" in out
    assert "b = torch.amp.GradScaler(device=_porter_device().type)" in out
    assert "c = torch.GradScaler(device=_porter_device().type, init_scale=1024.0)" in out
    assert "d = torch.GradScaler(init_scale=4.0, enabled=use_fp16, device=_porter_device().type)" in out
    assert out.count("# porter: NRN211") == 3  # the unsafe fix not applied is marked where it would go
    result = port_source(code, "snippet.py", index(target), CATALOGUE, target, True)
    assert "a = torch.amp.GradScaler(_porter_device().type, enabled=False)" in result.ported
    assert "b = torch.amp.GradScaler(device=_porter_device().type, enabled=False)" in result.ported
    assert "enabled=use_fp16" in result.ported and "# porter:" not in result.ported


def test_portable_grad_scaler_names_the_device_and_stays_enabled():
    out = port("import torch\nb = torch.amp.GradScaler()\n", "portable")
    assert "b = torch.amp.GradScaler(device=_porter_device().type)" in out


def test_nccl_held_in_a_variable_follows_the_target():
    code = ('import torch\nimport torch.distributed as dist\n'
            'backend = "nccl" if torch.cuda.is_available() else "gloo"\n'
            'if backend == "nccl":\n    pass\ndist.init_process_group(backend=backend)\n')
    assert findings(code) == [(3, "NRN308", True), (3, "NRN120", True), (4, "NRN308", False)]
    out = port(code)
    assert ('backend = ("neuron" if _porter_device().type == "neuron" else "gloo") '
            'if torch.accelerator.is_available() else "gloo"') in out
    assert "# porter: NRN308" in out and 'if backend == "nccl":' in out


def test_bare_compile_decorator_gets_the_backend():
    code = "import torch\n\n\n@torch.compile\ndef step(x):\n    return x * 2\n"
    assert findings(code) == [(4, "NRN502", True)]
    assert '@torch.compile(backend=("neuron" if _porter_device().type == "neuron" else "inductor"))' in port(code)


def test_a_name_only_referred_to_is_marked_not_rewritten_as_a_call():
    # a call-rewriting fix (guarded-call, replace) must never rewrite the call the name is an argument of
    code = ("import torch\n@register(torch.accelerator.synchronize, torch.cuda.synchronize)\ndef f():\n    pass\n"
            "ok = isinstance(s, torch.cuda.amp.GradScaler)\n")
    assert findings(code) == [(2, "NRN123", False), (5, "NRN203", False)]
    out = port(code)
    assert "@register(torch.accelerator.synchronize, torch.cuda.synchronize)" in out
    assert "ok = isinstance(s, torch.cuda.amp.GradScaler)" in out
    assert "# porter: NRN123" in out and "# porter: NRN203" in out


def test_cuda_with_a_device_string_becomes_one_helper_call():
    code = 'import torch\nx = torch.zeros(2).cuda("cuda:0")\n'
    assert findings(code) == [(2, "NRN101", True), (2, "NRN105", True)]
    assert "x = torch.zeros(2).to(_porter_device(0))" in port(code)


def test_a_config_entry_named_for_the_device_is_a_value():
    code = 'import torch\ncfg = {"device": "cuda", "name": "cuda", "dist_backend": "nccl"}\n'
    assert findings(code) == [(2, "NRN105", True), (2, "NRN105", False), (2, "NRN308", True)]
    out = port(code)
    assert '"device": str(_porter_device())' in out and '"name": "cuda"' in out
    assert '"dist_backend": ("neuron" if _porter_device().type == "neuron" else "gloo")' in out


@pytest.mark.parametrize("target", ["neuron", "portable", "xla"])
def test_fixes_inside_f_strings_use_the_other_quote(target):
    # before Python 3.12 an f-string expression cannot hold the f-string's own quote character
    code = ('import torch\ndevice_type = "cuda"\nprint(f"amp on: {device_type == \'cuda\'}")\n'
            'print(f"{torch.cuda.is_available()}")\nprint(f\'dev {torch.device("cuda")}\')\n')
    out = port(code, target)
    compile(out, "ported.py", "exec")
    assert "torch.cuda" not in out
    assert "print(f'dev {_porter_device()}')" in out
    if target != "portable":  # portable marks comparisons with "cuda" instead of rewriting them
        assert "'cuda'" not in out and f"{{device_type == '{target}'}}" in out


def test_cuda_seeding_leaves_the_cpu_generator_alone_on_a_cpu_run():
    code = ("import torch\ntorch.manual_seed(0)\na = torch.randn(3)\ntorch.cuda.manual_seed(1234)\n"
            "torch.cuda.manual_seed_all(1234)\ntorch.cuda.seed_all()\nprint(torch.randn(3).tolist())\n")
    original = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    ported = subprocess.run([sys.executable, "-c", port(code)], capture_output=True, text=True, timeout=120)
    assert ported.returncode == 0, ported.stderr
    assert ported.stdout == original.stdout


def test_compile_mode_held_in_a_variable_is_kept_with_the_backend_set():
    code = 'import torch\ncfg = {"mode": "max-autotune"}\nm = torch.compile(model, mode=cfg["mode"])\n'
    assert ('m = torch.compile(model, mode=cfg["mode"], '
            'backend=("neuron" if _porter_device().type == "neuron" else "inductor"))' in port(code))


def test_compile_backend_held_in_a_variable_is_kept_and_marked():
    out = port("import torch\nm = torch.compile(model, backend=backend, mode=mode)\n")
    assert "m = torch.compile(model, backend=backend, mode=mode)" in out
    assert "# porter: NRN501" in out and "backend=backend is the program's own value" in out


def test_formatted_device_strings_name_their_index():
    code = ('import torch\ni = 1\na = torch.device("cuda:{}".format(i))\nb = torch.device("cuda:%d" % i)\n'
            'c = torch.zeros(1, device="cuda:{}".format(i))\n')
    out = port(code)
    assert "a = _porter_device(i)" in out and "b = _porter_device(i)" in out
    assert "c = torch.zeros(1, device=_porter_device(i))" in out and "# porter:" not in out


def test_a_compile_backend_the_program_computes_is_kept_and_lint_says_so():
    code = ("import torch\nBACKEND = 'inductor'\nmodel = torch.nn.Linear(2, 2)\n"
            "fast = torch.compile(model, backend=BACKEND)\nslow = torch.compile(model, mode='max-autotune')\n")
    assert [(line, rule, fixable) for line, rule, fixable in findings(code) if rule == "NRN501"] == [
        (4, "NRN501", False), (5, "NRN501", True)]
    out = port(code)
    assert "fast = torch.compile(model, backend=BACKEND)\n" in out  # the program's own value, kept
    assert "# porter: NRN501" in out.split("fast =")[0].splitlines()[-1]  # and the site marked
    assert "mode=" not in out.split("slow =")[1]


@pytest.mark.parametrize("imports, call", [
    ("from flash_attn import flash_attn_func", "flash_attn_func"),
    ("import flash_attn as fa", "fa.flash_attn_func"),
    ("import flash_attn", "flash_attn.flash_attn_func"),
])
def test_a_device_test_in_front_of_a_swapped_kernel_is_fixable(imports, call):
    code = (f"import torch\n{imports}\ndef f(q):\n    if q.device.type == 'cuda':\n"
            f"        return {call}(q, q, q)\n    return q\n")
    assert (4, "NRN107", True) in findings(code)


def test_a_device_test_in_front_of_a_kernel_without_drop_in_stays():
    code = ("import torch\nfrom flash_attn import flash_attn_with_kvcache\ndef f(q):\n"
            "    if q.device.type == 'cuda':\n        return flash_attn_with_kvcache(q, q, q)\n    return q\n")
    assert (4, "NRN107", False) in findings(code)
