"""The environment variables through which `porter run` hands emulation to the program it starts.

`porter run` sets them, puts a bootstrap directory on PYTHONPATH whose `sitecustomize` reads them,
and so every Python process of the program (the script, DataLoader workers, torchrun's workers,
multiprocessing children) starts emulated. The names are shared by the neuron and cuda emulators:
the lead, `porter.emulate.neuron_device` and `porter.emulate.cuda` all read them from here.

Stdlib only: the bootstrap imports this before anything else.
"""

from __future__ import annotations

import os

# Which device to emulate in this process: "neuron" or "cuda". Unset: no emulation.
DEVICE = "PORTER_EMULATE_DEVICE"
# Neuron platform: "trn2" (default) or "trn3".
PLATFORM = "PORTER_EMULATE_PLATFORM"
# How many devices (NeuronCores, or CUDA GPUs) the emulated machine has.
CORES = "PORTER_EMULATE_CORES"
# "1": an op the device would run on the CPU (CPU_FALLBACK) raises instead.
STRICT = "PORTER_EMULATE_STRICT"
# "1": emulate even where a real Neuron SDK / GPU is present.
FORCE = "PORTER_EMULATE_FORCE"
# Directory where each emulated process writes its part of the run report (`<pid>.json`);
# the runner merges the parts into the report the user asked for.
REPORT_DIR = "PORTER_EMULATE_REPORT_DIR"
# The bootstrap directory (holds porter's sitecustomize.py); the bootstrap chains to any other
# sitecustomize on sys.path after this directory.
BOOTSTRAP_DIR = "PORTER_EMULATE_BOOTSTRAP_DIR"
# CUDA emulation options passed through by `porter run --device cuda --profile/--log`.
CUDA_PROFILE = "PORTER_EMULATE_CUDA_PROFILE"
CUDA_LOG = "PORTER_EMULATE_CUDA_LOG"

ALL = (DEVICE, PLATFORM, CORES, STRICT, FORCE, REPORT_DIR, BOOTSTRAP_DIR, CUDA_PROFILE, CUDA_LOG)


def flag(name: str, environ: dict[str, str] | None = None) -> bool:
    """A boolean variable: "1", "true", "yes", "on" (any case) are true."""
    value = (environ if environ is not None else os.environ).get(name, "")
    return value.strip().lower() in ("1", "true", "yes", "on")


def get(name: str, default: str = "", environ: dict[str, str] | None = None) -> str:
    return (environ if environ is not None else os.environ).get(name, default)
