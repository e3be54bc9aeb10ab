"""`porter run`: run a program with an emulated device in every one of its Python processes.

The program runs as a child process with the PORTER_EMULATE_* variables set and porter's bootstrap
directory first on PYTHONPATH (its sitecustomize activates emulation and chains to any other). Its
exit code and output pass through unchanged; each emulated process writes its part of the report,
and the parts are merged into one report at the end, also when the program fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from porter.emulate import _env

BOOTSTRAP_DIR = Path(__file__).resolve().with_name("bootstrap")
DEVICES = ("neuron", "cuda")
PLATFORMS = ("trn2", "trn3")


class RunError(Exception):
    """Bad input to porter run (exit 2)."""


@dataclass
class RunOptions:
    command: list[str]
    device: str = "neuron"
    platform: str = "trn2"
    cores: int = 1
    strict: bool = False
    force: bool = False
    report: Path | None = None
    module: str | None = None
    cuda_profile: str | None = None
    cuda_log: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)


def build_command(options: RunOptions) -> list[str]:
    """`-m mod ARGS`, `python script.py ARGS`, `script.py ARGS` or any program (torchrun ...)."""
    if options.module:
        return [sys.executable, "-m", options.module, *options.command]
    command = list(options.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise RunError("nothing to run: give `-- python script.py ARGS` or `-m module ARGS`")
    if command[0] in ("python", "python3", Path(sys.executable).name):
        command[0] = sys.executable  # the interpreter porter runs in, which can import porter
    elif command[0].endswith(".py"):
        command = [sys.executable, *command]
    if command[0] != sys.executable and shutil.which(command[0]) is None:
        raise RunError(f"{command[0]}: no such program")
    return command


def check_device(options: RunOptions) -> None:
    if options.device not in DEVICES:
        raise RunError(f"--device: {options.device!r} is not one of {', '.join(DEVICES)}")
    if options.platform not in PLATFORMS:
        raise RunError(f"--platform: {options.platform!r} is not one of {', '.join(PLATFORMS)}")
    if options.cores < 1:
        raise RunError("--cores must be at least 1")
    if options.device == "neuron":
        from porter.emulate.neuron_device import EmulationError, check_torch, real_neuron_present

        try:
            check_torch()
        except EmulationError as exc:
            raise RunError(str(exc)) from None
        real = real_neuron_present()
        if real and not options.force:
            raise RunError(f"a real Neuron stack is present ({real}): run the program directly on it, or pass "
                           f"--force to emulate anyway")


def child_env(options: RunOptions, report_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(options.extra_env)
    env[_env.DEVICE] = options.device
    env[_env.PLATFORM] = options.platform
    env[_env.CORES] = str(options.cores)
    env[_env.STRICT] = "1" if options.strict else "0"
    env[_env.FORCE] = "1" if options.force else "0"
    env[_env.REPORT_DIR] = str(report_dir)
    env[_env.BOOTSTRAP_DIR] = str(BOOTSTRAP_DIR)
    if options.cuda_profile:
        env[_env.CUDA_PROFILE] = options.cuda_profile
    if options.cuda_log:
        env[_env.CUDA_LOG] = options.cuda_log
    if options.force:
        env["TORCH_DEVICE_BACKEND_AUTOLOAD"] = "0"  # keep a real torch_neuronx from claiming PrivateUse1
    existing = env.get("PYTHONPATH", "")
    env["PYTHONPATH"] = os.pathsep.join([str(BOOTSTRAP_DIR)] + ([existing] if existing else []))
    return env


def run(options: RunOptions) -> tuple[int, object]:
    """Run the program; returns (its exit code, the merged RunReport)."""
    from porter.emulate.report import RunReport

    check_device(options)
    command = build_command(options)
    with tempfile.TemporaryDirectory(prefix="porter-run-", ignore_cleanup_errors=True) as tmp:
        report_dir = Path(tmp)
        try:
            code = subprocess.call(command, env=child_env(options, report_dir))
        except KeyboardInterrupt:
            code = 130
        report = RunReport.from_dir(report_dir, command=command, exit_code=code)
    if command[0] == sys.executable and len(command) > 1 and not command[1].startswith("-") \
            and not Path(command[1]).exists():
        report.notes.append(f"{command[1]}: no such script")
    report.device = options.device
    return code, report
